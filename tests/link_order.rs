//! `link/supervise.ld` kept current (issue 20): the functions supervise runs while it
//! supervises must be in the section the link order gathers at the head of its code
//! (`.text.supervise_hot`), or an idle supervise maps more of its binary than it needs
//! (docs/BENCHMARKS.md, "Where the memory goes"). A function renamed or added on those
//! paths falls out of the list silently; this test says so, and what to run.

mod common;

use std::process::Command;

/// Functions of the loop, by a piece of their mangled names: the idle wait first.
const LOOP: [&str; 6] = [
    "6memory16release_and_wait17h",
    "10Supervisor3run17h",
    "10Supervisor8dispatch17h",
    "10Supervisor7publish17h",
    "10Supervisor10on_signals17h",
    "5child5spawn17h",
];

/// What a binutils program prints, or `None` (said once) when it cannot be run: the
/// check is then skipped.
fn tool(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success());
    if out.is_none() {
        eprintln!("{program} (binutils) cannot be run: not checked");
    }
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn the_loop_is_in_the_gathered_section() {
    let bin = common::supervise_bin();
    let Some(sections) = tool("readelf", &["-SW", bin]) else {
        return;
    };
    let Some(hot) = sections.lines().find(|l| l.contains(".text.supervise_hot")) else {
        // build.rs lays out only x86_64 Linux with lld, and SUPERVISE_LINK_ORDER=0
        // turns it off.
        eprintln!("{bin} has no .text.supervise_hot: link order not in use, not checked");
        return;
    };
    let fields: Vec<&str> = hot.split(']').nth(1).unwrap().split_whitespace().collect();
    let start = u64::from_str_radix(fields[2], 16).unwrap();
    let end = start + u64::from_str_radix(fields[4], 16).unwrap();
    let symbols = tool("nm", &[bin]).expect("nm");
    let outside: Vec<&str> = LOOP
        .iter()
        .copied()
        .filter(|piece| {
            !symbols.lines().any(|l| {
                let mut f = l.split_whitespace();
                let addr = f.next().and_then(|a| u64::from_str_radix(a, 16).ok());
                l.contains(piece) && addr.is_some_and(|a| (start..end).contains(&a))
            })
        })
        .collect();
    assert!(
        outside.is_empty(),
        "not in .text.supervise_hot of {bin}: {outside:?}; run bench/gen-link-order.sh \
         (needs valgrind) and commit link/supervise.ld"
    );
}

/// `link/supervise-bss.ld.in`: the static glibc's 16 kB of pthread keys, which supervise
/// never writes, come after every other zero-filled variable, so that those that
/// start-up writes share pages (two dirty pages of .bss instead of three).
#[test]
fn the_unwritten_keys_come_after_the_rest_of_bss() {
    let bin = common::supervise_bin();
    let Some(symbols) = tool("nm", &["-S", bin]) else {
        return;
    };
    let bss: Vec<(u64, u64, &str)> = symbols
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, size) = (u64::from_str_radix(f.first()?, 16).ok()?, f.get(1)?);
            let size = u64::from_str_radix(size, 16).ok()?;
            matches!(*f.get(2)?, "b" | "B").then_some((addr, size, *f.get(3)?))
        })
        .collect();
    let Some(&(keys, _, _)) = bss.iter().find(|s| s.2 == "__pthread_keys") else {
        eprintln!("{bin} has no __pthread_keys: not a static glibc build, not checked");
        return;
    };
    let after: Vec<&str> = bss.iter().filter(|s| s.0 > keys).map(|s| s.2).collect();
    assert!(
        after.is_empty(),
        "after __pthread_keys in {bin}: {after:?} (link/supervise-bss.ld.in not in use?)"
    );
}

/// `link/supervise-relro.ld`: the relocated read-only data (GNU_RELRO) and `.data`
/// each start on a page, so each takes as few pages as its size allows. Every
/// supervise writes all of those pages; one more for either is 4 kB more per service.
#[test]
fn the_written_data_starts_on_a_page() {
    let bin = common::supervise_bin();
    let Some(sections) = tool("readelf", &["-SW", bin]) else {
        return;
    };
    let headers = tool("readelf", &["-lW", bin]).expect("readelf -l");
    // build.rs adds the script to the static build only (its anchors are that
    // build's), with the link order (x86_64 Linux, lld).
    if !sections.contains(".text.supervise_hot") || headers.contains("INTERP") {
        eprintln!("{bin}: not a static build with the link order, not checked");
        return;
    }
    let field = |line: &str, n: usize| -> Option<u64> {
        let f: Vec<&str> = line.split_whitespace().collect();
        u64::from_str_radix(f.get(n)?.trim_start_matches("0x"), 16).ok()
    };
    let relro = headers
        .lines()
        .find(|l| l.trim_start().starts_with("GNU_RELRO"))
        .and_then(|l| field(l, 2));
    let data = sections
        .lines()
        .find(|l| l.contains("] .data "))
        .and_then(|l| field(l.split(']').nth(1)?, 2));
    let (Some(relro), Some(data)) = (relro, data) else {
        panic!("no GNU_RELRO or .data in {bin}:\n{headers}\n{sections}");
    };
    assert!(
        relro % 4096 == 0 && data % 4096 == 0,
        "GNU_RELRO at {relro:#x}, .data at {data:#x} in {bin}: not on a page boundary \
         (link/supervise-relro.ld not in use?)"
    );
}
