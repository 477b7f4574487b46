#!/usr/bin/env bash
# Installs what netmon needs to build, run and test on Debian 12 (as root).
# Idempotent: installs only missing packages, mounts only missing
# filesystems. Called by scripts/run-agent.sh and scripts/test.sh.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: run as root (netmon loads eBPF programs and creates network namespaces)" >&2
    exit 1
fi

# clang-19/llvm-19/libbpf-dev: build the C eBPF programs; bpftool: inspect
# them; iproute2/nftables/ethtool/iputils-ping/iperf3: end-to-end tests and
# benchmarks (jq/curl read the agent in benches/overhead.sh); prometheus:
# promtool validates the metrics exposition and the dashboard's PromQL.
# The DNS and protocol-detection tests (tests/e2e_dns.rs,
# tests/e2e_app_protocols.rs) run real servers and clients in their pod
# namespaces: dnsmasq-base (the resolver binary, without the dnsmasq
# package's system service, which would hold port 53 on every host
# interface) and bind9-dnsutils (dig); python3 (Debian's /usr/bin/python3:
# an HTTP/1.1 server) and python3-grpcio (gRPC's C-core library, client and
# server); nghttp2-server (nghttpd, cleartext HTTP/2; curl is the client);
# openssl (s_server, s_client, the test certificate); redis-server (with
# redis-cli from redis-tools); postgresql (initdb and postgres under
# /usr/lib/postgresql/*/bin, psql); mariadb-server-core (mariadbd,
# mariadb-install-db) and mariadb-client-core (mariadb), the binaries
# without the mariadb system service. ss (iproute2) tells when a server
# listens, setpriv (util-linux, essential) runs postgres as its own user.
# nfdump: nfcapd, the IPFIX collector tests/e2e_ipfix.rs exports to, and
# nfdump, which reads what it collected (its nfdump.service runs nothing).
# clickhouse-server (18.16 on Debian 12): the netmon-server tests start their
# own server on loopback in a temporary directory; the package's service is
# kept from starting like the others' and is disabled below.
# softflowd and pmacct (pmacctd): the pcap-based flow exporters
# benches/overhead.sh compares netmon with; it runs its own instances in its
# server namespace, so their system services are kept from starting like the
# others' and disabled below.
packages=(clang-19 llvm-19 libbpf-dev linux-libc-dev bpftool iproute2 nftables ethtool
          iputils-ping iperf3 prometheus procps jq curl
          dnsmasq-base bind9-dnsutils python3 python3-grpcio nghttp2-server openssl
          redis-server postgresql mariadb-server-core mariadb-client-core
          nfdump clickhouse-server softflowd pmacct)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl renders deploy/kubernetes (`kubectl kustomize`) in the manifest
# tests. Any kubectl will do; Debian's is the kubernetes-client package.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if ((${#missing[@]})); then
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Server packages (redis, postgresql, mariadb, prometheus) start their
    # system services on install; the tests start their own servers on their
    # own addresses, so a policy-rc.d forbids those starts for the install.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    # The prometheus package may try to start its service; netmon does not
    # need it running (only promtool), so a failed start is not an error.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if ((own_policy)); then rm -f "$policy"; fi
fi

# Debian's prometheus package starts a Prometheus server on :9090, netmon's
# default metrics port. netmon only needs its promtool: when this script is
# what installed the package, stop and disable that service again.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null \
    && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

# Likewise redis-server and postgresql come with system services (on the
# host's loopback, ports 6379 and 5432) that the tests do not use: they
# start their own servers inside their namespaces. The policy-rc.d above
# kept them from starting; where systemd runs, also stop (if something
# started them anyway) and disable what this script installed.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    for unit in redis-server:redis-server postgresql:postgresql clickhouse-server:clickhouse-server \
        softflowd:softflowd pmacct:pmacctd; do
        package=${unit%%:*} service=${unit#*:}
        if [[ " ${missing[*]} " == *" $package "* ]]; then
            systemctl disable --now "$service" >/dev/null 2>&1 || true
        fi
    done
fi

if ! command -v cargo >/dev/null; then
    echo "setup.sh: cargo not found: install Rust 1.95 with rustup (https://rustup.rs) and re-run" >&2
    exit 1
fi

# Tracepoints are attached through tracefs; bpffs is where operators pin.
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
