#!/usr/bin/env bash
# Builds netmon and runs the agent on this host. Extra arguments go to the
# agent, e.g. scripts/run-agent.sh --interface eth0 --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p netmon-agent
exec target/release/netmon "$@"
