# netmon node agent image, as deploy/kubernetes and deploy/helm run it:
#   docker build -t ghcr.io/netmon/netmon:0.1.0 .
# Build context: the repository root (.dockerignore keeps target/ and .git out).

# --- build ---------------------------------------------------------------
# Rust 1.95 on Debian 12, plus what scripts/setup.sh installs for building:
# Debian's clang-19 compiles the C eBPF programs (crates/netmon-ebpf/build.rs),
# libbpf-dev and linux-libc-dev give them their headers.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        clang-19 llvm-19 libbpf-dev linux-libc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Two binaries ship: the agent (`netmon`) and the operator's CLI
# (`netmon-cli`, for `kubectl exec ds/netmon -- netmon-cli status`);
# netmon-loadgen is a benchmark tool and stays out.
RUN cargo build --release --locked -p netmon-agent -p netmon-cli \
    && mkdir -p /out \
    && strip --strip-debug -o /out/netmon target/release/netmon \
    && strip --strip-debug -o /out/netmon-cli target/release/netmon-cli

# --- runtime -------------------------------------------------------------
# glibc and libgcc only (the agent links nothing else: TLS is rustls); no
# shell, no package manager.
FROM gcr.io/distroless/cc-debian12
COPY --from=build /out/netmon /usr/local/bin/netmon
COPY --from=build /out/netmon-cli /usr/local/bin/netmon-cli
# Root, because loading and attaching eBPF programs needs capabilities (BPF,
# PERFMON, NET_ADMIN), and a root process keeps the ones its container is
# granted without file capabilities on the binary. The DaemonSet grants only
# those and drops the rest. Running as non-root is possible: give the binary
# file capabilities (setcap cap_bpf,cap_perfmon,cap_net_admin,cap_sys_resource+ep)
# and set runAsUser, at the price of allowPrivilegeEscalation.
USER 0
ENTRYPOINT ["/usr/local/bin/netmon"]
