#!/usr/bin/env bash
# The benchmark's one entry point: installs the anchors (Debian packages daemontools,
# runit, s6, supervisor, and strace) when missing, builds our release binaries, the
# C floor and the harness, and runs it; it prints Markdown tables.
# Usage: bench/run.sh [--quick] [harness options: bench/run.sh --help]
# Builds into $CARGO_TARGET_DIR when set (default target/), and runs what it built.
set -euo pipefail
cd "$(dirname "$0")/.."
# The target is named in .cargo/config.toml (a static build): the binaries are in
# its directory.
target="${CARGO_TARGET_DIR:-target}/$(rustc -vV | sed -n 's/^host: //p')"
need=()
for pair in svscan:daemontools runsv:runit s6-supervise:s6 supervisord:supervisor strace:strace cc:gcc; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq >&2
    # The packages must not start their own system-wide supervisors here.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  else
    echo "missing ${need[*]}: those columns will be left out (run as root with apt-get to install)" >&2
  fi
fi
# The binaries on their own: an example build turns on dev-dependencies, whose
# features would change the library's symbols and defeat link/supervise.ld.
cargo build --release --bins
cargo build --release --example bench-compare
if command -v cc >/dev/null; then
  cc -O2 -o "$target/release/floor" bench/floor.c
fi
# Freshly written binary pages count as dirty until written back (BENCHMARKING.md).
sync
# The binaries just built; options given to this script come after, and win.
exec "$target/release/examples/bench-compare" \
  --supervise "$target/release/supervise" --svc "$target/release/svc" \
  --host "$target/release/supervise-host" --floor "$target/release/floor" "$@"
