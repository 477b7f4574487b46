#!/usr/bin/env bash
# netmon scale benchmark: what does the agent cost, and how fast does it
# answer, with a million concurrent flows?
#
#   benches/scale.sh [--smoke] [--flows N] [--series S] [--rounds R]
#                    [--netmon-bin PATH] [--keep DIR]
#
# The real agent (release build) runs in a network namespace made by this
# script, attached to an interface that carries no traffic; its kernel
# flow maps are sized for N entries (flow.kernel_map_entries). `netmon-loadgen
# fill-flows` writes N distinct synthetic UDP flows straight into the flow
# map the agent's programs are writing into, right after a drain, so that
# the next drain takes all of them at once, as if N flows had each sent
# packets in that interval.
#
# Phase 1 (default metrics labels), N flows:
#   memory    kernel: memlock of the agent's maps (/proc/PID/fdinfo) per
#             flow; user: agent RSS after the flows are in, minus before
#   drain     the agent's own netmon_processing_duration_seconds (drain and
#             merge stages) over the one drain that took the N flows: the
#             first (N new records), then R-1 more rounds (N updates each)
#   API       GET /api/v1/flows?protocol=udp&limit=1000 (1,000 of N), and
#             GET /api/v1/stats/flows (counts all N)
#   /metrics  one scrape
# Phase 2: a fresh agent with export.prometheus.labels [dst_port], flows
# spread over ceil(S/3) ports, so netmon_bytes_total, netmon_packets_total
# and netmon_flows_opened_total have S (rounded up to a multiple of 3)
# per-port series: the /metrics scrape time with that many series.
#
# Every count is checked exactly: the drain took exactly N kernel entries,
# the agent reports exactly N active UDP flows, the page holds exactly 1,000
# flows each with exactly R x 1000 bytes and R x 10 packets, /metrics has
# exactly the expected per-port series. Targets (<= 200 B per flow kernel +
# user, scrape < 100 ms) print PASS/MISS and do not set the exit status.
# Exit status: 0 when everything ran and every exact check held; 1 when
# something failed; 2 on a usage error.
#
# --smoke: 20,000 flows, 3,000 series, 1 round, 1 s flush interval: checks
# that the machinery works (CI), in about 20 s after the build.
#
# --netmon-bin PATH runs that agent binary instead of the tree's release
# build (before/after comparisons of two builds).
#
# Needs root, iproute2, jq and curl.

# Functions run through traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

SMOKE=0
FLOWS=1000000
SERIES=50000
ROUNDS=3
KEEP_DIR=
NETMON_BIN=
while (($#)); do
    case "$1" in
    --smoke) SMOKE=1 ;;
    --flows)
        FLOWS=${2:?--flows needs a value}
        shift
        ;;
    --series)
        SERIES=${2:?--series needs a value}
        shift
        ;;
    --rounds)
        ROUNDS=${2:?--rounds needs a value}
        shift
        ;;
    --netmon-bin)
        NETMON_BIN=${2:?--netmon-bin needs a path}
        shift
        ;;
    --keep)
        KEEP_DIR=${2:?--keep needs a directory}
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "scale.sh: unknown argument: $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
FLUSH_S=10
if ((SMOKE)); then
    FLOWS=20000
    SERIES=3000
    ROUNDS=1
    FLUSH_S=1
fi
if ! [[ $FLOWS =~ ^[1-9][0-9]*$ && $SERIES =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
    echo "scale.sh: --flows, --series and --rounds take positive integers" >&2
    exit 2
fi
if [[ -n $NETMON_BIN ]]; then require_executable scale.sh --netmon-bin "$NETMON_BIN"; fi
if ((FLOWS < 1024 || FLOWS >= 16777216)); then
    echo "scale.sh: --flows must be between 1024 and 16777215" >&2
    exit 2
fi
PORTS=$(((SERIES + 2) / 3))
if ((PORTS > 65535)); then
    echo "scale.sh: --series must be at most 196605 (3 series per port)" >&2
    exit 2
fi
# Phase 2 needs flows on every port; a few per port, like real services.
SERIES_FLOWS=$((PORTS * 3))
if [[ $(id -u) -ne 0 ]]; then
    echo "scale.sh: run as root (it creates a network namespace and loads eBPF programs)" >&2
    exit 1
fi
for tool in ip jq curl cargo awk; do
    if ! command -v "$tool" >/dev/null; then
        echo "scale.sh: $tool not found" >&2
        exit 1
    fi
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

echo "== building release binaries (-p netmon-agent -p netmon-loadgen)"
if ! (cd "$ROOT" && cargo build --release --locked -p netmon-agent -p netmon-loadgen); then
    echo "scale.sh: FAILED: release build" >&2
    exit 1
fi
NETMON=${NETMON_BIN:-$TARGET_DIR/release/netmon}
LOADGEN=$TARGET_DIR/release/netmon-loadgen
START_TIME=$(date +%s)

# Unique names (PID) so concurrent runs and leftovers never collide.
NS=nmscale-$$
QUIET=nmsq$$
QUIET_PEER=nmsp$$
PORT_METRICS=19190
PORT_API=19191
WORK=$(mktemp -d "/tmp/netmon-scale.$$.XXXXXX")
PIDS=() # every process this script started, ended by PID at exit
FAILURES=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # A million flows take the agent a while to let go of.
    stop_all_started 100
    ip netns del "$NS" 2>/dev/null || true
    keep_and_remove_work
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "   FAILED: $*" >&2
    FAILURES=$((FAILURES + 1))
}
die() {
    echo "   FAILED: $*" >&2
    exit 1
}

echo "== set-up: namespace $NS, silent interface $QUIET"
ip netns add "$NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link set lo up
# The interface the agent attaches to: one end of a veth pair inside the
# namespace (this kernel has no dummy driver), up, without addresses or
# IPv6, so it carries no traffic at all and the flow maps hold only the
# synthetic flows.
ip -n "$NS" link add "$QUIET" type veth peer name "$QUIET_PEER"
ip -n "$NS" link set "$QUIET" up
ip -n "$NS" link set "$QUIET_PEER" up

in_ns() { ip netns exec "$NS" "$@"; }
url() { echo "http://127.0.0.1:$1$2"; }

AGENT_PID=
start_agent() { # config log
    local config=$1 log=$2 v code unset_netmon=()
    # None of the caller's NETMON_* settings (scripts/test.sh exports some).
    for v in $(compgen -e); do
        [[ $v == NETMON_* ]] && unset_netmon+=(-u "$v")
    done
    # Not through in_ns (a function: $! would be a subshell's PID);
    # `ip netns exec` and env exec, so $! is the agent itself.
    ip netns exec "$NS" env "${unset_netmon[@]}" "$NETMON" --config "$config" \
        --metrics-addr "127.0.0.1:$PORT_METRICS" --api-addr "127.0.0.1:$PORT_API" >"$log" 2>&1 &
    AGENT_PID=$!
    PIDS+=("$AGENT_PID")
    for _ in $(seq 300); do
        kill -0 "$AGENT_PID" 2>/dev/null || {
            tail -n 20 "$log" >&2
            die "agent exited during start-up"
        }
        code=$(in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$(url $PORT_METRICS /readyz)" || true)
        [[ $code == 200 ]] && return 0
        sleep 0.1
    done
    tail -n 20 "$log" >&2
    die "agent not ready after 30 s"
}

stop_agent() {
    local rc=0 p keep=()
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || rc=$?
    for p in "${PIDS[@]}"; do [[ $p == "$AGENT_PID" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    AGENT_PID=
    ((rc == 0)) || fail "agent did not exit cleanly (status $rc)"
}

scrape() { in_ns curl -sf --max-time 30 "$(url $PORT_METRICS /metrics)" >"$1"; }
# Sum of a metric's samples whose line matches an optional label pattern.
metric() { # file name [pattern]
    awk -v name="$2" -v pat="${3:-}" '
        { split($1, a, "{") }
        a[1] == name && (pat == "" || index($1, pat)) { s += $2; found = 1 }
        END { if (found) printf "%.9f\n", s; else print "nan" }' "$1"
}
CLK_TCK=$(getconf CLK_TCK)
# utime + stime of the agent (all threads), in seconds: on a shared, busy
# machine the agent's own CPU time says more than wall time.
agent_cpu() {
    local stat
    stat=$(cat "/proc/$AGENT_PID/stat") || return 1
    awk -v tck="$CLK_TCK" '{ printf "%.2f\n", ($12 + $13) / tck }' <<<"${stat##*) }"
}
cpu_delta() { awk -v a="$1" -v b="$2" -v n="${3:-1}" 'BEGIN { printf "%.3f", (b - a) / n }'; }
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "PASS" : "MISS") }'; }

# Scrapes into $WORK/TAG-merges-N.prom until the merge stage has been
# counted exactly N times more than C0; fails if it is counted more often.
wait_merges() { # c0 n tag
    local c0=$1 n=$2 tag=$3 out=$WORK/$3-merges-$2.prom c deadline=$((SECONDS + FLUSH_S * 3 + 60))
    while :; do
        scrape "$out" || die "scrape ($tag)"
        c=$(metric "$out" netmon_processing_duration_seconds_count 'stage="merge"')
        if awk -v a="$c0" -v b="$c" -v n="$n" 'BEGIN { exit !(b - a >= n) }'; then
            agent_cpu >"$WORK/$tag-merges-$n.cpu"
            break
        fi
        ((SECONDS < deadline)) || die "no drain within $((FLUSH_S * 3 + 60)) s ($tag)"
        sleep 0.1
    done
    awk -v a="$c0" -v b="$c" -v n="$n" 'BEGIN { exit !(b - a == n) }' ||
        die "expected drain $n after the fill, saw $((${c%.*} - ${c0%.*})) ($tag)"
}

# Writes the flows right after a drain and waits for the drain that takes
# them; sets DRAIN_S and MERGE_S to the seconds that drain spent in the
# drain and merge stages (wall time, the agent's own histogram), DRAIN_CPU_S
# to the agent's CPU seconds from the end of the drain before to the end of
# that one (the drain, plus the few /metrics scrapes of the wait), and
# checks it took exactly the flows written.
# Not run in a subshell, so that its failures count.
fill_and_drain() { # flows ports tag
    local flows=$1 ports=$2 tag=$3 before=$WORK/$3-before.prom after=$WORK/$3-after.prom
    local c0
    # Taken between drains (right after the previous round's, or after the
    # agent's start-up drain); the exact entry count below catches a drain
    # mistaken for the one that took the flows.
    scrape "$before" || die "scrape before the fill ($tag)"
    c0=$(metric "$before" netmon_processing_duration_seconds_count 'stage="merge"')
    # fill-flows writes right after drain k flipped the maps; drain k+1
    # takes the flows. "before" is read once drain k has finished (its merge
    # is counted), "after" once drain k+1 has.
    in_ns "$LOADGEN" fill-flows --pid "$AGENT_PID" --flows "$flows" --ports "$ports" \
        --after-drain --timeout-seconds $((FLUSH_S * 3 + 10)) >"$WORK/$tag-fill.json" ||
        die "fill-flows ($tag)"
    wait_merges "$c0" 1 "$tag"
    wait_merges "$c0" 2 "$tag"
    cp "$WORK/$tag-merges-1.prom" "$before"
    cp "$WORK/$tag-merges-2.prom" "$after"
    local entries
    entries=$(metric "$after" netmon_kernel_flow_map_entries)
    awk -v e="$entries" -v n="$flows" 'BEGIN { exit !(e == n) }' ||
        fail "the drain took $entries kernel entries, expected exactly $flows ($tag)"
    DRAIN_CPU_S=$(cpu_delta "$(cat "$WORK/$tag-merges-1.cpu")" "$(cat "$WORK/$tag-merges-2.cpu")")
    DRAIN_S=$(awk -v a="$(metric "$before" netmon_processing_duration_seconds_sum 'stage="drain"')" \
        -v b="$(metric "$after" netmon_processing_duration_seconds_sum 'stage="drain"')" 'BEGIN { print b - a }')
    MERGE_S=$(awk -v a="$(metric "$before" netmon_processing_duration_seconds_sum 'stage="merge"')" \
        -v b="$(metric "$after" netmon_processing_duration_seconds_sum 'stage="merge"')" 'BEGIN { print b - a }')
}

# Times `curl` of a path five times; prints the median seconds and the
# agent's CPU seconds per request; keeps the body.
timed_get() { # port path body
    local i t=() c0 c1
    c0=$(agent_cpu)
    for i in 1 2 3 4 5; do
        t+=("$(in_ns curl -sf --max-time 120 -o "$3" -w '%{time_total}' "$(url "$1" "$2")")") ||
            die "GET $2"
    done
    c1=$(agent_cpu)
    echo "$(printf '%s\n' "${t[@]}" | median) $(cpu_delta "$c0" "$c1" 5)"
}

config() { # file labels
    cat >"$1" <<EOF
capture: {interfaces: [$QUIET]}
kubernetes: {mode: off}
flow:
  max_flows: $((FLOWS + 100000))
  kernel_map_entries: $FLOWS
  flush_interval: ${FLUSH_S}s
  flow_timeout: 30m
export:
  prometheus:
    labels: [$2]
EOF
}

# ---------------------------------------------------------------- phase 1
echo "== phase 1: $FLOWS flows, kernel maps of $FLOWS entries, flush every ${FLUSH_S}s"
config "$WORK/phase1.yaml" ""
start_agent "$WORK/phase1.yaml" "$WORK/agent1.log"
# Settle: the first drains and the listeners' allocations happen before
# the baseline.
sleep $((FLUSH_S + 1))
RSS0=$(proc_kib "$AGENT_PID" VmRSS)

fill_and_drain "$FLOWS" 1 insert
D1=$DRAIN_S M1=$MERGE_S C1=$DRAIN_CPU_S
FILL_S=$(jq -r .seconds "$WORK/insert-fill.json")
RSS1=$(proc_kib "$AGENT_PID" VmRSS)
HWM1=$(proc_kib "$AGENT_PID" VmHWM)
UDP_ACTIVE=$(metric "$WORK/insert-after.prom" netmon_flows_active 'protocol="udp"')
awk -v a="$UDP_ACTIVE" -v n="$FLOWS" 'BEGIN { exit !(a == n) }' ||
    fail "the agent reports $UDP_ACTIVE active UDP flows, expected exactly $FLOWS"

UPDATES=() UPDATES_CPU=()
for r in $(seq 2 "$ROUNDS"); do
    fill_and_drain "$FLOWS" 1 "update$r"
    UPDATES+=("$(awk -v d="$DRAIN_S" -v m="$MERGE_S" 'BEGIN { print d + m }')")
    UPDATES_CPU+=("$DRAIN_CPU_S")
    echo "   round $r: drain $(ms "$DRAIN_S") ms + merge $(ms "$MERGE_S") ms, agent CPU $DRAIN_CPU_S s"
done
RSS2=$(proc_kib "$AGENT_PID" VmRSS)
HWM2=$(proc_kib "$AGENT_PID" VmHWM)

# Kernel memory: every map the agent holds, and the ones sized by
# flow.kernel_map_entries.
jq -r '.maps[] | "\(.name) \(.max_entries) \(.memlock_bytes)"' "$WORK/insert-fill.json" >"$WORK/maps.txt"
KERNEL_ALL=$(awk '{ s += $3 } END { print s }' "$WORK/maps.txt")
KERNEL_SIZED=$(awk -v n="$FLOWS" '$2 == n { s += $3 } END { print s + 0 }' "$WORK/maps.txt")
KERNEL_FLOWMAPS=$(awk '$1 ~ /^netmon_flows_/ { s += $3 } END { print s + 0 }' "$WORK/maps.txt")

read -r PAGE_S PAGE_CPU < <(timed_get $PORT_API "/api/v1/flows?protocol=udp&limit=1000" "$WORK/page.json")
[[ -n ${PAGE_CPU:-} ]] || die "GET /api/v1/flows"
PAGE_N=$(jq length "$WORK/page.json")
[[ $PAGE_N == 1000 ]] || fail "the page holds $PAGE_N flows, expected exactly 1000"
BAD=$(jq --argjson b $((ROUNDS * 1000)) --argjson p $((ROUNDS * 10)) \
    '[.[] | select(.tx_bytes != $b or .tx_packets != $p or .rx_bytes != 0)] | length' "$WORK/page.json")
[[ $BAD == 0 ]] || fail "$BAD flows of the page do not have exactly $ROUNDS x 1000 bytes / x 10 packets"
read -r STATS_S STATS_CPU < <(timed_get $PORT_API "/api/v1/stats/flows" "$WORK/stats.json")
[[ -n ${STATS_CPU:-} ]] || die "GET /api/v1/stats/flows"
STATS_UDP=$(jq '.by_protocol.udp // 0' "$WORK/stats.json")
[[ $STATS_UDP == "$FLOWS" ]] || fail "stats/flows counts $STATS_UDP UDP flows, expected $FLOWS"
read -r METRICS1_S METRICS1_CPU < <(timed_get $PORT_METRICS "/metrics" "$WORK/metrics1.prom")
[[ -n ${METRICS1_CPU:-} ]] || die "GET /metrics"
METRICS1_SERIES=$(grep -vc '^#' "$WORK/metrics1.prom")
RSS3=$(proc_kib "$AGENT_PID" VmRSS)
HWM3=$(proc_kib "$AGENT_PID" VmHWM)
stop_agent

# ---------------------------------------------------------------- phase 2
echo "== phase 2: $SERIES_FLOWS flows over $PORTS ports, labels [dst_port]"
config "$WORK/phase2.yaml" "dst_port"
start_agent "$WORK/phase2.yaml" "$WORK/agent2.log"
fill_and_drain "$SERIES_FLOWS" "$PORTS" series
read -r METRICS2_S METRICS2_CPU < <(timed_get $PORT_METRICS "/metrics" "$WORK/metrics2.prom")
[[ -n ${METRICS2_CPU:-} ]] || die "GET /metrics"
METRICS2_SERIES=$(grep -vc '^#' "$WORK/metrics2.prom")
PORT_SERIES=$(grep -c '^netmon_[a-z_]*{.*dst_port=' "$WORK/metrics2.prom" || true)
# UDP only: TCP connections elsewhere on the machine reach the table
# through the lifecycle tracepoint and have dst_port series too.
for family in netmon_bytes_total netmon_packets_total netmon_flows_opened_total; do
    n=$(grep -c "^$family{.*dst_port=.*protocol=\"udp\"\|^$family{.*protocol=\"udp\".*dst_port=" "$WORK/metrics2.prom" || true)
    [[ $n == "$PORTS" ]] || fail "$family has $n per-port series, expected exactly $PORTS"
done
stop_agent

# ---------------------------------------------------------------- report
per_flow() { awk -v b="$1" -v n="$2" 'BEGIN { printf "%.1f", b / n }'; }
USER_B=$(awk -v a="$RSS0" -v b="$RSS2" 'BEGIN { print (b - a) * 1024 }')
TOTAL_PER_FLOW=$(awk -v k="$KERNEL_SIZED" -v u="$USER_B" -v n="$FLOWS" 'BEGIN { printf "%.1f", (k + u) / n }')
UPDATE_MEDIAN=nan UPDATE_CPU_MEDIAN=nan
if ((${#UPDATES[@]})); then
    UPDATE_MEDIAN=$(printf '%s\n' "${UPDATES[@]}" | median)
    UPDATE_CPU_MEDIAN=$(printf '%s\n' "${UPDATES_CPU[@]}" | median)
fi

echo "== results: $FLOWS flows, $ROUNDS round(s), flush every ${FLUSH_S}s"
echo "fill-flows: $FLOWS kernel entries written in $(ms "$FILL_S") ms"
echo "kernel maps (memlock, /proc/PID/fdinfo):"
awk '{ printf "  %-22s %9d entries %12d B\n", $1, $2, $3 }' "$WORK/maps.txt"
echo "  all maps: $KERNEL_ALL B; sized by kernel_map_entries: $KERNEL_SIZED B; flow maps (2 generations): $KERNEL_FLOWMAPS B"
echo "kernel per flow: $(per_flow "$KERNEL_SIZED" "$FLOWS") B (flow maps alone: $(per_flow "$KERNEL_FLOWMAPS" "$FLOWS") B)"
echo "agent RSS: before ${RSS0} KiB, after first drain ${RSS1} KiB (peak ${HWM1}), after $ROUNDS round(s) ${RSS2} KiB (peak ${HWM2}), after the API/metrics reads ${RSS3} KiB (peak ${HWM3})"
echo "user per flow: $(per_flow "$USER_B" "$FLOWS") B (RSS after $ROUNDS round(s) - before)"
echo "kernel + user per flow: $TOTAL_PER_FLOW B   target <= 200 $(verdict "$TOTAL_PER_FLOW" 200)"
echo "drain of $FLOWS new flows: drain $(ms "$D1") ms + merge $(ms "$M1") ms wall; agent CPU $(ms "$C1") ms"
echo "drain of $FLOWS updated flows (median of $((ROUNDS - 1))): $(ms "$UPDATE_MEDIAN") ms wall (drain + merge); agent CPU $(ms "$UPDATE_CPU_MEDIAN") ms"
echo "(wall: the agent's netmon_processing_duration_seconds; CPU: its utime + stime, 10 ms ticks)"
echo "GET /api/v1/flows?protocol=udp&limit=1000 of $FLOWS: $(ms "$PAGE_S") ms wall (median of 5), agent CPU $(ms "$PAGE_CPU") ms per request"
echo "GET /api/v1/stats/flows over $FLOWS: $(ms "$STATS_S") ms wall, agent CPU $(ms "$STATS_CPU") ms per request"
echo "GET /metrics, default labels, $METRICS1_SERIES series: $(ms "$METRICS1_S") ms wall, agent CPU $(ms "$METRICS1_CPU") ms per scrape"
echo "GET /metrics, $METRICS2_SERIES series ($PORT_SERIES per-port): $(ms "$METRICS2_S") ms wall, agent CPU $(ms "$METRICS2_CPU") ms per scrape   target < 100 ms $(verdict "$METRICS2_S" 0.1)"
echo "elapsed: $(($(date +%s) - START_TIME)) s after the build"
if ((FAILURES)); then
    echo "scale.sh: $FAILURES check(s) FAILED" >&2
    exit 1
fi
