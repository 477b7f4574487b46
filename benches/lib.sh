# Shared by benches/overhead.sh and benches/scale.sh (sourced, not run):
# option lists, and ending what a script started when it exits. Each
# script keeps its own PIDS array and WORK / KEEP_DIR variables.

# Reads a comma-separated option value into the array named OUT, keeping
# ALLOWED's order whatever the order asked and each choice once; an unknown
# choice or an empty list is a usage error (exit 2), as for any bad flag.
#   parse_choices SCRIPT OPTION VALUE OUT ALLOWED...
parse_choices() {
    local script=$1 option=$2 value=$3
    local -n out=$4
    shift 4
    local -A asked=()
    local choice allowed
    local -a requested=()
    IFS=, read -r -a requested <<<"$value"
    for choice in "${requested[@]}"; do
        for allowed in "$@"; do [[ $choice == "$allowed" ]] && break; done
        if [[ $choice != "$allowed" ]]; then
            local names
            names=$(printf '%s, ' "$@")
            echo "$script: $option: unknown choice '$choice' (${names%, })" >&2
            exit 2
        fi
        asked[$choice]=1
    done
    out=()
    for allowed in "$@"; do
        if [[ -n ${asked[$allowed]:-} ]]; then out+=("$allowed"); fi
    done
    if ((${#out[@]} == 0)); then
        echo "$script: $option is empty" >&2
        exit 2
    fi
}

# A usage error (exit 2) unless PATH is an executable file: a wrong
# --netmon-bin is said at once, not as an agent that "failed to start".
#   require_executable SCRIPT OPTION PATH
require_executable() {
    if [[ ! -f $3 || ! -x $3 ]]; then
        echo "$1: $2: $3 is not an executable file" >&2
        exit 2
    fi
}

# Ends every process in PIDS: SIGTERM to all, then up to GRACE_TENTHS tenths
# of a second each to exit (the agent detaches its programs), then SIGKILL.
#   stop_all_started GRACE_TENTHS
stop_all_started() {
    local grace=$1 pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq "$grace"); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# Copies the work directory to KEEP_DIR when one was asked for, then
# removes it.
keep_and_remove_work() {
    if [[ -n $KEEP_DIR ]]; then
        if mkdir -p "$KEEP_DIR"; then cp -r "$WORK/." "$KEEP_DIR/" || true; fi
    fi
    rm -rf "$WORK"
}
