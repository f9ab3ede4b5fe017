#!/usr/bin/env bash
# Builds the release binaries and runs the core benchmark; prints a Markdown table.
# Usage: bench/run.sh [--idle SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
# The binaries on their own: an example build turns on dev-dependencies, whose
# features would change the library's symbols and defeat link/supervise.order.
cargo build --release --bins
cargo build --release --example bench-core
# Freshly written binary pages count as dirty until written back (BENCHMARKING.md).
sync
exec target/release/examples/bench-core "$@"
