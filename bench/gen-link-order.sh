#!/usr/bin/env bash
# Regenerates link/supervise.ld: a linker-script fragment that gathers the functions
# supervise executes into one output section placed before .text (see build.rs), so
# the code supervise never runs (std's backtrace printer, error paths) stays in pages
# that are never mapped. Memory, not speed: see docs/BENCHMARKS.md.
#
# It runs supervise under callgrind through start-up (daemonized), two restarts, every
# control letter, SIGHUP and dx, and lists every function of the binary that ran, in
# two groups: what the loop runs every day (restarts, letters: from Supervisor::run to
# the first reload) first, then start-up, reload and exit. Once up, supervise unmaps its code (src/memory.rs), so what it maps
# again while it runs is the loop's windows only, and the fewer they are the better.
# Patterns match function sections by name with the legacy-mangling hash replaced by
# `*`, so the list survives rebuilds and dependency changes; run this again after
# adding or renaming functions on those paths (a stale list only costs memory: new
# functions land in .text with the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
export CARGO_TARGET_DIR=target/link-order
SUPERVISE_LINK_ORDER=0 cargo build --release --bin supervise
# The target is named in .cargo/config.toml: the binary is under its directory.
bin=$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release/supervise
# A static build (.cargo/config.toml) has libc's code in the binary too: the members
# of libc.a that hold the functions supervise runs are gathered with its own.
libc_a=$(cc -print-file-name=libc.a)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/cg"
(
  cd "$work"
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$out.%p" \
    --dump-before='_ZN9supervise10supervisor10Supervisor3run17h*' \
    --dump-before='_ZN9supervise10supervisor10Supervisor6reload17h*' \
    "$OLDPWD/$bin" -p status/app -f "sleep 1000" 2>"$work/valgrind.log"
  pidof() { od -An -j16 -N4 -tu4 status/app/status | tr -d ' '; }
  sleep 2
  kill -9 "$(pidof)"; sleep 1.5
  kill -9 "$(pidof)"; sleep 0.5
  printf 'pcushaitq12onZ\n' > status/app/control; sleep 0.5
  printf 'u' > status/app/control; sleep 1.2
  kill -HUP "$(cat status/app/lock)"; sleep 0.3
  printf 'r' > status/app/control; sleep 0.3
  printf 'dx' > status/app/control; sleep 2
)
python3 - "$bin" "$work" "$libc_a" <<'PY'
import glob, os, re, subprocess, sys
binary, work, libc_a = sys.argv[1], sys.argv[2], sys.argv[3]
# Callgrind dumps at the entry of Supervisor::run and of every reload: part 2 of the
# daemon is the loop in its everyday work (restarts, letters), before any reload.
# A function ran when it has costs of its own (cost lines not right after `calls=`):
# callers merely on the stack at the dump (main, around the loop) only have calls.
loop, start = set(), set()
for path in glob.glob(f"{work}/cg.*"):
    names, ran, part, current, after_call = {}, set(), 1, None, False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("part:"):
            part = int(line.split()[1])
        m = re.match(r"^(c?)fn=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                # Callgrind marks recursion levels with 'N; the symbol has none.
                names[m.group(2)] = re.sub(r"'\d+$", "", m.group(3))
            if not m.group(1):
                current = names.get(m.group(2))
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        if line[:1].isdigit() or line[:1] in "+-*":
            if not after_call:
                ran.add(current)
            after_call = False
    (loop if part == 2 else start).update(ran)
nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True)
# callgrind names a function by one of its symbols; a section is named after the
# symbol that defined it, which may be another alias at the same address.
by_name, by_addr = {}, {}
for parts in (l.split() for l in nm.stdout.splitlines()):
    if len(parts) == 3 and parts[1] in "tTwW":
        addr = int(parts[0], 16)
        by_name[parts[2]] = addr
        by_addr.setdefault(addr, []).append(parts[2])
def sections(ran):
    ran = {alias for name in ran if name in by_name for alias in by_addr[by_name[name]]}
    # Legacy-mangled names end in a hash of the crate's build; match any hash.
    return {re.sub(r"17h[0-9a-f]{16}E$", "17h*", n) for n in ran & set(by_name)}
# The service's child runs in supervise's memory until its exec (src/child.rs), on
# the loop's code pages, but in another process, which callgrind does not follow.
child_side = {n for n in by_name if re.search(r"5child(8in_child|9run_child)17h", n)}
hot_loop = sections(loop | child_side)
if not hot_loop:
    sys.exit("no loop functions recorded: was Supervisor::run or reload inlined? "
             "(callgrind dumps at their entry)")
hot_start = sections(start) - hot_loop
# libc.a's members are compiled into one .text each: a member is named by the
# archive, and gathered whole (they are small: one function and its helpers).
members = {}
if os.path.isabs(libc_a) and os.path.isfile(libc_a) and "static-pie" in subprocess.run(
        ["file", "-L", binary], capture_output=True, text=True).stdout:
    out = subprocess.run(["nm", "-A", "--defined-only", libc_a], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TtWi":
            members.setdefault(parts[2], parts[0].split(":")[1])
def libc_members(ran):
    return {members[n] for n in ran if n in members}
# The child calls these between clone and exec (src/child.rs), in supervise's memory:
# callgrind does not see it, as above.
child_libc = {"_exit", "chdir", "dup2", "execve", "fcntl64", "ioctl", "__libc_sigaction",
              "prctl", "pthread_sigmask", "setgroups", "setpgid", "setresgid", "setresuid",
              "setrlimit", "setsid", "sigaction", "__sigprocmask", "umask"}
lib_loop = libc_members(loop | child_libc)
lib_start = libc_members(start) - lib_loop
with open("link/supervise.ld", "w") as f:
    f.write("/* Generated by bench/gen-link-order.sh: the functions supervise runs. */\n")
    # Right after .init and .fini (run at start and exit), with the start-up code of
    # crt (_start and friends, in plain .text sections of crt*.o): the loop's code
    # first, so that it shares as few windows as it can, then start-up's.
    f.write("SECTIONS\n{\n  .text.supervise_hot : {\n")
    # First, side by side: what runs between letting the code go and the wait
    # (src/memory.rs, release_and_wait), so that the wait keeps one window mapped.
    f.write("    *(.text._ZN9supervise6memory16release_and_wait17h*)\n")
    if members:
        f.write("    *libc.a:madvise.o(.text .text.*)\n    *libc.a:poll.o(.text .text.*)\n")
    for name in sorted(hot_loop):
        # LLVM files cold functions (std's once-only and panic paths) under
        # .text.unlikely., and some start-up code under .text.startup.
        f.write(f"    *(.text.{name} .text.unlikely.{name} .text.startup.{name} .text.hot.{name})\n")
    for m in sorted(lib_loop):
        f.write(f"    *libc.a:{m}(.text .text.*)\n")
    f.write("    *crt*.o(.text)\n")
    for name in sorted(hot_start):
        f.write(f"    *(.text.{name} .text.unlikely.{name} .text.startup.{name} .text.hot.{name})\n")
    for m in sorted(lib_start):
        f.write(f"    *libc.a:{m}(.text .text.*)\n")
    f.write("  }\n}\nINSERT AFTER .fini;\n")
print(f"link/supervise.ld: {len(hot_loop)} + {len(lib_loop)} libc members for the loop, "
      f"{len(hot_start)} + {len(lib_start)} for start-up only, of {len(by_name)} functions")
PY
