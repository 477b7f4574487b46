#!/usr/bin/env bash
# netmon overhead benchmark: what does running the agent cost the traffic it
# watches, and are its byte counts exact under load?
#
#   benches/overhead.sh [--smoke] [--rounds N] [--seconds S] [--no-agent]
#                       [--keep DIR]
#
# Two network namespaces made by this script (client, server) are joined by
# one veth pair with private addresses; nothing else is on that link. Rounds
# alternate between "none" (no agent) and "netmon" (the agent running in the
# server namespace, attached to the server's veth). A fresh agent is started
# for every netmon round, so each round's CPU time, peak RSS and flow table
# are its own; the agent's start-up is not part of any measurement. Each
# round measures, one after the other:
#   tcp1   TCP throughput, one stream   (iperf3 -t S)
#   tcp8   TCP throughput, 8 streams    (iperf3 -P 8 -t S)
#   conn   new TCP connections/s        (netmon-loadgen connect-rate)
#   udp64  64-byte UDP datagrams/s received (netmon-loadgen udp-flood/sink)
# and in netmon rounds the agent's CPU seconds per scenario, its peak RSS,
# and the byte error of the tcp1 run: the agent's bytes for iperf3's flows
# against the server veth's own link counters.
#
# The table prints medians; targets are printed with PASS/MISS but do not set
# the exit status (the machine is shared and noisy). Exit status: 0 when
# everything ran and the byte error is 0; 1 when something failed to run or
# the byte error is not 0; 2 on a usage error.
#
# --keep DIR keeps the raw results there (iperf3/loadgen JSON, agent logs,
# flow API answers, one "mode round key value" line per number).
#
# Needs root, iproute2, iperf3 (scripts/setup.sh installs them), jq and curl.

# Functions run through traps and "$@" look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail

usage() {
    # The header comment, up to its first blank line.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

SMOKE=0
ROUNDS=5
SECONDS_PER_RUN=10
WITH_AGENT=1
KEEP_DIR=
while (($#)); do
    case "$1" in
    --smoke) SMOKE=1 ;;
    --rounds)
        ROUNDS=${2:?--rounds needs a value}
        shift
        ;;
    --seconds)
        SECONDS_PER_RUN=${2:?--seconds needs a value}
        shift
        ;;
    --no-agent) WITH_AGENT=0 ;;
    --keep)
        KEEP_DIR=${2:?--keep needs a directory}
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "overhead.sh: unknown argument: $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
if ((SMOKE)); then
    ROUNDS=1
    SECONDS_PER_RUN=2
fi
if ! [[ $ROUNDS =~ ^[1-9][0-9]*$ && $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ ]]; then
    echo "overhead.sh: --rounds and --seconds take positive integers" >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "overhead.sh: run as root (it creates network namespaces and loads eBPF programs)" >&2
    exit 1
fi
for tool in ip iperf3 jq curl cargo awk; do
    if ! command -v "$tool" >/dev/null; then
        echo "overhead.sh: $tool not found (scripts/setup.sh installs what is needed)" >&2
        exit 1
    fi
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
START_TIME=$(date +%s)

# ---------------------------------------------------------------- build
packages=(-p netmon-loadgen)
((WITH_AGENT)) && packages+=(-p netmon-agent)
echo "== building release binaries (${packages[*]})"
if ! (cd "$ROOT" && cargo build --release --locked "${packages[@]}"); then
    echo "overhead.sh: FAILED: release build" >&2
    exit 1
fi
LOADGEN=$TARGET_DIR/release/netmon-loadgen
NETMON=$TARGET_DIR/release/netmon
BUILD_DONE=$(date +%s)

# ---------------------------------------------------------------- set-up
# Unique names (PID) so concurrent runs and leftovers of a killed run never
# collide; interface names stay within IFNAMSIZ (15).
NS_C=nmbench-c-$$
NS_S=nmbench-s-$$
VETH_C=nmbc$$
VETH_S=nmbs$$
# Private addresses that exist only inside this script's namespaces.
IP_C=10.203.0.1
IP_S=10.203.0.2
PORT_IPERF=5201
PORT_CONN=7001
PORT_UDP=7002
PORT_METRICS=19090
PORT_API=19091
FLUSH_INTERVAL_S=1
WORK=$(mktemp -d "/tmp/netmon-bench.$$.XXXXXX")
PIDS=() # every process this script started, ended by PID at exit

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Give the agent time to detach its programs; then insist.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # Deleting a namespace deletes the veth end inside it (and its peer).
    ip netns del "$NS_C" 2>/dev/null || true
    ip netns del "$NS_S" 2>/dev/null || true
    if [[ -n $KEEP_DIR ]]; then
        if mkdir -p "$KEEP_DIR"; then cp -r "$WORK/." "$KEEP_DIR/" || true; fi
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a command in the background, remembering its PID for cleanup.
# `ip netns exec` execs the command, so $! is the command itself.
spawn() {
    local out=$1
    shift
    "$@" >"$out" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# Ends one process this script started, by PID, and forgets it.
stop_pid() {
    local pid=$1 sig=${2:-TERM} rc=0
    kill -"$sig" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || rc=$?
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    return "$rc"
}

echo "== set-up: namespaces $NS_C, $NS_S; veth $VETH_C <-> $VETH_S"
ip netns add "$NS_C"
ip netns add "$NS_S"
for ns in "$NS_C" "$NS_S"; do
    # No IPv6 at all on the test link: no router/neighbour solicitations,
    # no MLD reports, so the link counters hold only the test's traffic.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip link add "$VETH_C" netns "$NS_C" type veth peer name "$VETH_S" netns "$NS_S"
ip -n "$NS_C" addr add "$IP_C/30" dev "$VETH_C"
ip -n "$NS_S" addr add "$IP_S/30" dev "$VETH_S"
MAC_C=$(ip -n "$NS_C" -j link show dev "$VETH_C" | jq -r '.[0].address')
MAC_S=$(ip -n "$NS_S" -j link show dev "$VETH_S" | jq -r '.[0].address')
# Static neighbours: no ARP on the link, ever.
ip -n "$NS_C" neigh replace "$IP_S" lladdr "$MAC_S" dev "$VETH_C" nud permanent
ip -n "$NS_S" neigh replace "$IP_C" lladdr "$MAC_C" dev "$VETH_S" nud permanent
# ~30k connections/s for several seconds: TIME_WAIT stays on the server
# (it closes first), but keep the client safe from port exhaustion anyway.
ip netns exec "$NS_C" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
    net.ipv4.ip_local_port_range="1024 65535"
ip -n "$NS_C" link set "$VETH_C" up
ip -n "$NS_S" link set "$VETH_S" up
for _ in $(seq 50); do
    [[ $(ip -n "$NS_S" -j link show dev "$VETH_S" | jq -r '.[0].operstate') == UP ]] && break
    sleep 0.1
done

cat >"$WORK/netmon.yaml" <<EOF
flow:
  flush_interval: ${FLUSH_INTERVAL_S}s
EOF

# Long-lived servers in the server namespace, shared by all rounds: they
# are the same in both modes, so they are not part of the difference.
spawn "$WORK/iperf3-server.log" ip netns exec "$NS_S" iperf3 -s -B "$IP_S" -p "$PORT_IPERF"
spawn "$WORK/accept-server.log" ip netns exec "$NS_S" "$LOADGEN" accept-server \
    --listen "$IP_S:$PORT_CONN" --threads 2
for _ in $(seq 100); do
    ss_out=$(ip netns exec "$NS_S" ss -Hltn)
    if grep -q ":$PORT_IPERF\b" <<<"$ss_out" && grep -q ":$PORT_CONN\b" <<<"$ss_out"; then
        break
    fi
    sleep 0.1
done

# ---------------------------------------------------------------- helpers
RESULTS=$WORK/results # lines: mode round key value
FAILURES=0
record() { echo "$1 $2 $3 $4" >>"$RESULTS"; }
fail() {
    echo "   FAILED: $*" >&2
    FAILURES=$((FAILURES + 1))
}

# Server veth link counters, as `ip -s link` shows them.
link_counters() { # prints "bytes packets" (rx + tx)
    ip -n "$NS_S" -s -j link show dev "$VETH_S" |
        jq -r '.[0].stats64 | "\(.rx.bytes + .tx.bytes) \(.rx.packets + .tx.packets)"'
}

CLK_TCK=$(getconf CLK_TCK)
# utime + stime of a process (all its threads), in seconds.
cpu_seconds() {
    local stat
    stat=$(cat "/proc/$1/stat") || return 1
    # Fields after the command name (which may contain spaces): utime and
    # stime are the 12th and 13th.
    awk -v tck="$CLK_TCK" '{ printf "%.3f\n", ($12 + $13) / tck }' <<<"${stat##*) }"
}

in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

AGENT_PID=
start_agent() {
    local log=$1
    # The agent takes NETMON_* variables as settings and rejects unknown
    # ones: none of the caller's (scripts/test.sh exports NETMON_REQUIRE_*)
    # may change or break the configuration under test.
    local unset_netmon=()
    local v
    for v in $(compgen -e); do
        [[ $v == NETMON_* ]] && unset_netmon+=(-u "$v")
    done
    spawn "$log" ip netns exec "$NS_S" env "${unset_netmon[@]}" "$NETMON" --config "$WORK/netmon.yaml" \
        --metrics-addr "127.0.0.1:$PORT_METRICS" --api-addr "127.0.0.1:$PORT_API"
    AGENT_PID=$LAST_PID
    local code
    for _ in $(seq 300); do
        if ! kill -0 "$AGENT_PID" 2>/dev/null; then
            echo "   agent exited during start-up; its log:" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        code=$(in_s curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
            "http://127.0.0.1:$PORT_METRICS/readyz" || true)
        [[ $code == 200 ]] && return 0
        sleep 0.1
    done
    echo "   agent not ready after 30 s; its log:" >&2
    tail -n 20 "$log" >&2
    return 1
}

stop_agent() {
    local rc=0
    stop_pid "$AGENT_PID" TERM || rc=$?
    AGENT_PID=
    return "$rc"
}

# Runs one scenario; in netmon rounds also records the agent's CPU seconds
# and the link's byte/packet deltas during it (the per-GB and per-packet
# cost denominators).
scenario() {
    local mode=$1 round=$2 name=$3
    shift 3
    local cpu0 cpu1 l0 l1
    if [[ $mode == netmon ]] && ! cpu0=$(cpu_seconds "$AGENT_PID"); then
        fail "agent not running before $name (round $round)"
        return 0
    fi
    l0=$(link_counters)
    if ! "$@"; then
        fail "$name ($mode, round $round)"
        return 0
    fi
    l1=$(link_counters)
    record "$mode" "$round" "$name.link_bytes" $((${l1% *} - ${l0% *}))
    record "$mode" "$round" "$name.link_packets" $((${l1#* } - ${l0#* }))
    if [[ $mode == netmon ]]; then
        if ! cpu1=$(cpu_seconds "$AGENT_PID"); then
            fail "agent died during $name (round $round)"
            return 0
        fi
        record "$mode" "$round" "$name.cpu_s" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.3f", b - a }')"
    fi
}

run_tcp1() {
    local mode=$1 round=$2
    local out=$WORK/tcp1-$mode-$round.json
    in_c iperf3 -c "$IP_S" -p "$PORT_IPERF" -t "$SECONDS_PER_RUN" -J >"$out" || {
        jq -r '.error // empty' "$out" >&2 2>/dev/null || true
        return 1
    }
    record "$mode" "$round" tcp1 "$(jq -r '.end.sum_received.bits_per_second / 1e9' "$out")"
    TCP1_DATA_PORT=$(jq -r '.start.connected[0].local_port' "$out")
}

run_tcp8() {
    local mode=$1 round=$2
    local out=$WORK/tcp8-$mode-$round.json
    in_c iperf3 -c "$IP_S" -p "$PORT_IPERF" -P 8 -t "$SECONDS_PER_RUN" -J >"$out" || {
        jq -r '.error // empty' "$out" >&2 2>/dev/null || true
        return 1
    }
    record "$mode" "$round" tcp8 "$(jq -r '.end.sum_received.bits_per_second / 1e9' "$out")"
}

run_conn() {
    local mode=$1 round=$2
    local out=$WORK/conn-$mode-$round.json
    in_c "$LOADGEN" connect-rate --addr "$IP_S:$PORT_CONN" --seconds "$SECONDS_PER_RUN" \
        --threads 4 >"$out" || return 1
    local errors
    errors=$(jq -r '.errors' "$out")
    if ((errors > 0)); then
        echo "   note: $errors connection errors ($mode, round $round)" >&2
    fi
    record "$mode" "$round" conn "$(jq -r '.per_second' "$out")"
}

# Small-packet rate, counted by the receiving socket. Not iperf3 -u: 3.12 is
# single-threaded and only reports the receiver as "sent - lost" (its
# receive buffer overflows long before the link does). On a veth the
# receive path (TC ingress included, so the agent's per-packet eBPF cost)
# runs in the sender's softirq, so two sender threads keep both cores busy
# and the sink, which saw no loss in trials, counts exactly what arrived.
run_udp() {
    local mode=$1 round=$2
    local out=$WORK/udp-$mode-$round.json
    spawn "$out" ip netns exec "$NS_S" "$LOADGEN" udp-sink --listen "$IP_S:$PORT_UDP" \
        --idle-ms 500 --max-wait-seconds 30
    local sink=$LAST_PID
    for _ in $(seq 50); do
        grep -q listening "$out" 2>/dev/null && break
        sleep 0.1
    done
    if ! in_c "$LOADGEN" udp-flood --addr "$IP_S:$PORT_UDP" --seconds "$SECONDS_PER_RUN" \
        --size 64 --threads 2 >"$WORK/udp-flood-$mode-$round.json"; then
        stop_pid "$sink" TERM || true
        return 1
    fi
    # The sink ends by itself 0.5 s after the last datagram.
    local rc=0
    wait "$sink" || rc=$?
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$sink" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    ((rc == 0)) || return 1
    record "$mode" "$round" udp64 "$(grep '^{' "$out" | jq -r '.per_second')"
}

# Byte exactness: after one flush interval (twice, to be safe) the agent's
# bytes for iperf3's flows (the data connection and iperf3's control
# connection, which also crossed the link) must equal the link counters'
# delta over the same time. Nothing else crosses the link (static
# neighbours, no IPv6), and the agent's own API traffic is on loopback.
byte_check() {
    local round=$1 l0=$2 flows l1 attempt
    for attempt in 1 2 3 4 5; do
        sleep $((2 * FLUSH_INTERVAL_S)).5
        l1=$(link_counters)
        flows=$(in_s curl -sf --max-time 5 \
            "http://127.0.0.1:$PORT_API/api/v1/flows?port=$PORT_IPERF&protocol=tcp") || {
            echo "   flow API did not answer" >&2
            return 1
        }
        echo "$flows" >"$WORK/flows-$round.json"
        local link_bytes=$((${l1% *} - ${l0% *}))
        local agent_bytes data_bytes
        agent_bytes=$(jq '[.[] | .tx_bytes + .rx_bytes] | add // 0' <<<"$flows")
        data_bytes=$(jq --argjson p "${TCP1_DATA_PORT:-0}" \
            '[.[] | select(.src_port == $p) | .tx_bytes + .rx_bytes] | add // 0' <<<"$flows")
        local diff=$((agent_bytes - link_bytes))
        diff=${diff#-}
        # A difference may only mean a drain still to come: retry a few
        # times before calling it an error.
        if ((diff == 0 || attempt == 5)); then
            echo "   bytes: link $link_bytes, agent $agent_bytes (data connection $data_bytes," \
                "$(jq length <<<"$flows") flows), |difference| $diff"
            record netmon "$round" byte_error "$diff"
            record netmon "$round" byte_link "$link_bytes"
            record netmon "$round" byte_data "$data_bytes"
            return 0
        fi
    done
}

round() {
    local mode=$1 round=$2
    echo "== round $round: $mode"
    if [[ $mode == netmon ]]; then
        if ! start_agent "$WORK/agent-$round.log"; then
            fail "agent start (round $round)"
            return 0
        fi
    fi
    local l0 round_cpu0=
    l0=$(link_counters)
    if [[ $mode == netmon ]]; then round_cpu0=$(cpu_seconds "$AGENT_PID") || true; fi
    TCP1_DATA_PORT=
    scenario "$mode" "$round" tcp1 run_tcp1 "$mode" "$round"
    if [[ $mode == netmon ]]; then
        if [[ -n $TCP1_DATA_PORT ]]; then
            local c0 c1
            c0=$(cpu_seconds "$AGENT_PID") || true
            byte_check "$round" "$l0" || fail "byte check (round $round)"
            c1=$(cpu_seconds "$AGENT_PID") || true
            # The flush wait is idle time for the traffic but not for the
            # agent (it drains and merges): charge it to tcp1.
            record netmon "$round" tcp1.cpu_s_flush "$(awk -v a="${c0:-0}" -v b="${c1:-${c0:-0}}" 'BEGIN { printf "%.3f", b - a }')"
        fi
    fi
    scenario "$mode" "$round" tcp8 run_tcp8 "$mode" "$round"
    scenario "$mode" "$round" conn run_conn "$mode" "$round"
    scenario "$mode" "$round" udp64 run_udp "$mode" "$round"
    if [[ $mode == netmon ]]; then
        if kill -0 "$AGENT_PID" 2>/dev/null; then
            # Whole round, flush waits included: the agent's cost per GB and
            # per packet of everything that crossed the link.
            local round_cpu1 l1
            round_cpu1=$(cpu_seconds "$AGENT_PID") || true
            l1=$(link_counters)
            record netmon "$round" round.cpu_s "$(awk -v a="${round_cpu0:-0}" -v b="${round_cpu1:-0}" 'BEGIN { printf "%.3f", b - a }')"
            record netmon "$round" round.link_bytes $((${l1% *} - ${l0% *}))
            record netmon "$round" round.link_packets $((${l1#* } - ${l0#* }))
            local hwm
            hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT_PID/status")
            record netmon "$round" rss_kib "$hwm"
            if ! stop_agent; then
                fail "agent did not stop cleanly on SIGTERM (round $round)"
            fi
        else
            fail "agent died during round $round"
            stop_agent || true
        fi
    fi
    # One line per round so a long run shows progress.
    awk -v m="$mode" -v r="$round" '$1 == m && $2 == r && $3 ~ /^(tcp1|tcp8|conn|udp64)$/ {
        printf "   %s=%s", $3, $4 } END { print "" }' "$RESULTS" 2>/dev/null || true
}

# ---------------------------------------------------------------- rounds
: >"$RESULTS"
MODES=(none)
((WITH_AGENT)) && MODES+=(netmon)
echo "== $ROUNDS round(s) of ${MODES[*]}, $SECONDS_PER_RUN s per run" \
    "($(nproc) cores, Linux $(uname -r), $(date -u +%Y-%m-%d))"
for ((r = 1; r <= ROUNDS; r++)); do
    for mode in "${MODES[@]}"; do
        round "$mode" "$r"
    done
done

# ---------------------------------------------------------------- report
# median of the values recorded for (mode, key); empty if none.
median() {
    awk -v m="$1" -v k="$2" '$1 == m && $3 == k { v[n++] = $4 }
        END {
            if (n == 0) exit
            # insertion sort: a handful of values
            for (i = 1; i < n; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
            m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
            # whole numbers for rates, no exponent notation in the table
            if (m >= 1000) printf "%.0f\n", m; else printf "%.4g\n", m
        }' "$RESULTS"
}
# per-round ratio a/b (for cost per unit), then the median over rounds.
median_ratio() { # mode key_num key_den scale
    awk -v m="$1" -v a="$2" -v b="$3" -v s="$4" '$1 == m { x[$2, $3] = $4; rounds[$2] = 1 }
        END {
            for (r in rounds) if (((r, a) in x) && ((r, b) in x) && x[r, b] > 0) v[n++] = x[r, a] / x[r, b] * s
            if (n == 0) exit
            for (i = 1; i < n; i++) { y = v[i]; for (j = i - 1; j >= 0 && v[j] > y; j--) v[j + 1] = v[j]; v[j + 1] = y }
            printf "%.4g\n", (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
        }' "$RESULTS"
}
maximum() {
    awk -v m="$1" -v k="$2" '$1 == m && $3 == k { if (n++ == 0 || $4 > max) max = $4 } END { if (n) print max }' "$RESULTS"
}

echo
echo "== results: median of $ROUNDS round(s), $SECONDS_PER_RUN s per run"
printf '%-8s %-10s %10s %10s %7s %8s %-5s %8s %9s %13s\n' \
    scenario unit none netmon ratio target "" "agent s" "cpu s/GB" "cpu s/100kpkt"
declare -A UNIT=([tcp1]=Gbit/s [tcp8]=Gbit/s [conn]=conn/s [udp64]=pkt/s)
declare -A TARGET=([tcp1]=0.98 [tcp8]=0.98 [conn]=0.95 [udp64]=0.95)
for s in tcp1 tcp8 conn udp64; do
    none=$(median none "$s")
    net=$(median netmon "$s")
    ratio="" verdict="" cpu="" per_gb="" per_pkt=""
    if [[ -n $none && -n $net ]]; then
        ratio=$(awk -v a="$net" -v b="$none" 'BEGIN { if (b > 0) printf "%.3f", a / b }')
        verdict=$(awk -v r="$ratio" -v t="${TARGET[$s]}" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }')
    fi
    if [[ -n $net ]]; then
        cpu=$(median netmon "$s.cpu_s")
        per_gb=$(median_ratio netmon "$s.cpu_s" "$s.link_bytes" 1e9)
        per_pkt=$(median_ratio netmon "$s.cpu_s" "$s.link_packets" 1e5)
    fi
    printf '%-8s %-10s %10s %10s %7s %8s %-5s %8s %9s %13s\n' "$s" "${UNIT[$s]}" \
        "${none:--}" "${net:--}" "${ratio:--}" ">=${TARGET[$s]}" "$verdict" \
        "${cpu:--}" "${per_gb:--}" "${per_pkt:--}"
done
if ((WITH_AGENT)); then
    printf '%-8s %-10s %10s %10s %7s %8s %-5s %8s %9s %13s\n' round "" - - - - "" \
        "$(median netmon round.cpu_s)" "$(median_ratio netmon round.cpu_s round.link_bytes 1e9)" \
        "$(median_ratio netmon round.cpu_s round.link_packets 1e5)"
fi
# The medians hide how noisy the machine is; the spread says whether a
# ratio is a difference or noise.
if ((ROUNDS > 1)); then
    echo "spread over rounds (min-max):"
    for s in tcp1 tcp8 conn udp64; do
        awk -v k="$s" -v u="${UNIT[$s]}" '$3 == k {
                if (!($1 in lo) || $4 < lo[$1]) lo[$1] = $4
                if (!($1 in hi) || $4 > hi[$1]) hi[$1] = $4
            }
            END {
                printf "  %-8s", k
                fmt = "  %s %.4g-%.4g %s"
                for (m in hi) if (hi[m] >= 1000) fmt = "  %s %.0f-%.0f %s"
                n = split("none netmon", modes, " ")
                for (i = 1; i <= n; i++) if (modes[i] in lo)
                    printf fmt, modes[i], lo[modes[i]], hi[modes[i]], u
                print ""
            }' "$RESULTS"
    done
fi
BYTE_ERROR=
if ((WITH_AGENT)); then
    rss=$(maximum netmon rss_kib)
    BYTE_ERROR=$(maximum netmon byte_error)
    byte_verdict=MISS
    [[ $BYTE_ERROR == 0 ]] && byte_verdict=PASS
    echo "netmon peak RSS (VmHWM, max over rounds): ${rss:--} KiB"
    echo "tcp1 byte error |agent - link| (max over rounds): ${BYTE_ERROR:--} bytes" \
        "(target 0) ${BYTE_ERROR:+$byte_verdict}"
fi
NOW=$(date +%s)
echo "elapsed: $((NOW - START_TIME)) s ($((NOW - BUILD_DONE)) s after the build)"

if ((FAILURES)); then
    echo "overhead.sh: FAILED: $FAILURES step(s) did not run (see above)" >&2
    exit 1
fi
if ((WITH_AGENT)) && [[ $BYTE_ERROR != 0 ]]; then
    echo "overhead.sh: FAILED: byte counts are not exact" >&2
    exit 1
fi
exit 0
