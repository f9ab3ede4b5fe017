#!/usr/bin/env bash
# Fuzzes each target for a bounded time (default 60 s each) with cargo-fuzz/libFuzzer.
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP lets the installed stable
# toolchain accept them for this build only (the product is built without it).
# A crash leaves its input in fuzz/artifacts/<target>/; reproduce with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>
# and turn it into a regression test next to the code it broke.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(config letters status command adopt times)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  echo "== $t: ${secs} s"
  cargo fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=1024 2>&1 | grep -E "^(#[0-9]+.*(DONE|pulse)|Done|==|SUMMARY|thread|panicked)" | tail -3
done
