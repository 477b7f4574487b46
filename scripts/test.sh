#!/usr/bin/env bash
# Runs netmon's whole test suite as root: formatting, lints, unit and
# property tests, and the end-to-end tests in network namespaces (which
# load the real eBPF programs). Tests that need root or a tool fail here
# instead of skipping (NMTEST_REQUIRE_*), so a green run means they ran.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
export NMTEST_REQUIRE_ROOT=1 NMTEST_REQUIRE_TOOLS=1
cargo test --locked --workspace -- --test-threads=2
benches/overhead.sh --smoke
benches/scale.sh --smoke
# The root-only event-path bench, briefly: a lost event fails it.
cargo bench --locked -p netmon-agent --bench event_path -- --smoke
