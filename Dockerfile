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
# Only the agent crate has a binary to ship (`netmon`); netmon-loadgen is a
# benchmark tool. When the netmon-cli crate joins the workspace, add
# `-p netmon-cli` here and copy its binary below too.
RUN cargo build --release --locked -p netmon-agent \
    && mkdir -p /out \
    && strip --strip-debug -o /out/netmon target/release/netmon

# --- runtime -------------------------------------------------------------
# glibc and libgcc only (the agent links nothing else: TLS is rustls); no
# shell, no package manager.
FROM gcr.io/distroless/cc-debian12
COPY --from=build /out/netmon /usr/local/bin/netmon
# Root, because loading and attaching eBPF programs needs capabilities (BPF,
# PERFMON, NET_ADMIN), and a root process keeps the ones its container is
# granted without file capabilities on the binary. The DaemonSet grants only
# those and drops the rest. Running as non-root is possible: give the binary
# file capabilities (setcap cap_bpf,cap_perfmon,cap_net_admin,cap_sys_resource+ep)
# and set runAsUser, at the price of allowPrivilegeEscalation.
USER 0
ENTRYPOINT ["/usr/local/bin/netmon"]
