#!/usr/bin/env bash
# Regenerates link/supervise.order: the functions supervise executes, so that the
# linker (lld, --symbol-ordering-file, see build.rs) packs them together at the start
# of .text and the code supervise never runs (std's backtrace printer, error paths)
# stays in pages that are never mapped. Memory, not speed: see docs/BENCHMARKS.md.
#
# It runs supervise under callgrind through start-up (daemonized), two restarts, every
# control letter, SIGHUP and dx, and lists every function of the binary that ran.
# Run it after changes that add or rename functions on those paths; a stale list is
# harmless (unknown names are skipped, new functions just land after the listed ones).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
export CARGO_TARGET_DIR=target/link-order
SUPERVISE_LINK_ORDER=0 cargo build --release --bin supervise
bin=$CARGO_TARGET_DIR/release/supervise
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/cg"
(
  cd "$work"
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$out.%p" \
    "$OLDPWD/$bin" -p status/app -f "sleep 1000" 2>"$work/valgrind.log"
  pidof() { od -An -j16 -N4 -tu4 status/app/status | tr -d ' '; }
  sleep 2
  kill -9 "$(pidof)"; sleep 1.5
  kill -9 "$(pidof)"; sleep 0.5
  printf 'pcushaitq12onrZ\n' > status/app/control; sleep 0.5
  printf 'u' > status/app/control; sleep 1.2
  kill -HUP "$(cat status/app/lock)"; sleep 0.3
  printf 'dx' > status/app/control; sleep 2
)
python3 - "$bin" "$work" <<'PY'
import glob, re, subprocess, sys
binary, work = sys.argv[1], sys.argv[2]
ran = set()
for path in glob.glob(f"{work}/cg.*"):
    names = {}
    for line in open(path, errors="replace"):
        m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2)
            ran.add(names.get(m.group(1)))
nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True)
ours = {p[2] for p in (l.split() for l in nm.stdout.splitlines()) if len(p) == 3 and p[1] in "tTwW"}
hot = sorted(ran & ours)
with open("link/supervise.order", "w") as f:
    f.write("\n".join(hot) + "\n")
print(f"link/supervise.order: {len(hot)} functions of {len(ours)}")
PY
