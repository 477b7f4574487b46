#!/usr/bin/env bash
# Builds netmon (the agent, netmon-cli and netmon-server) and runs the agent
# on this host.
# Extra arguments go to the agent, e.g.
#   scripts/run-agent.sh --interface eth0 --log-level debug
# and target/release/netmon-cli talks to it (status, flows, top, doctor).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p netmon-agent -p netmon-cli -p netmon-server
exec target/release/netmon "$@"
