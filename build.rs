//! Link-time layout for the `supervise` binary: the functions it runs first in .text.
//!
//! supervise's memory is mostly its own code pages, and the kernel maps code in 64 kB
//! windows around each page executed. `link/supervise.ld` (made by
//! `bench/gen-link-order.sh`) gathers the functions supervise runs into one output
//! section placed before .text, so the windows holding code it never runs (std's
//! backtrace printer is half the binary) are never mapped. It relies on lld's
//! `INSERT BEFORE`, and lld is what rustc uses on x86_64 Linux since 1.90; anywhere
//! else the layout is left alone. In the static build, `link/supervise-bss.ld.in`
//! also puts glibc's unwritten table of pthread keys after the rest of the
//! zero-filled data, so that the variables start-up writes share pages, and
//! `link/supervise-relro.ld` starts the writable data on pages of its own, so that
//! the pages supervise writes are as few as their contents allow.
//! `SUPERVISE_LINK_ORDER=0` turns all three off.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link/supervise.ld");
    println!("cargo:rerun-if-changed=link/supervise-bss.ld.in");
    println!("cargo:rerun-if-changed=link/supervise-relro.ld");
    println!("cargo:rerun-if-env-changed=SUPERVISE_LINK_ORDER");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=.cargo/config.toml");
    if env::var("SUPERVISE_LINK_ORDER").as_deref() == Ok("0") {
        return;
    }
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") || !rustc_links_with_lld() {
        return;
    }
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let script = dir.join("link").join("supervise.ld");
    if script.exists() {
        println!(
            "cargo:rustc-link-arg-bin=supervise=-Wl,-T,{}",
            script.display()
        );
    }
    // The static glibc's data laid out so that what start-up writes shares pages.
    if crt_static() {
        bss_script(&dir);
        relro_script(&dir);
    }
    // Relative relocations packed (DT_RELR): ld.so reads 2 kB instead of 18 kB at
    // every start of supervise and svc. glibc understands them from 2.36 on.
    if glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // The unwinder linked in from libgcc_eh.a instead of loading libgcc_s.so: one
    // shared library fewer for ld.so to open, map and relocate at every exec (svc,
    // and `supervise -p` in an operator's loop), and 8 kB fewer dirty pages in every
    // supervise. With these definitions in the binary, --as-needed drops libgcc_s.
    // (A static build links libgcc_eh.a itself.)
    if let Some(eh) = libgcc_eh().filter(|_| !crt_static()) {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--push-state,--whole-archive,{},--pop-state",
            eh.display()
        );
    }
}

/// `link/supervise-bss.ld.in` with its anchor (the last zero-filled output section of
/// this glibc: a linker script inserting after a section that is not there fails the
/// link), written to OUT_DIR and passed to supervise's link.
fn bss_script(dir: &std::path::Path) {
    let Ok(template) = std::fs::read_to_string(dir.join("link").join("supervise-bss.ld.in")) else {
        return;
    };
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let last = if glibc_at_least(2, 38) {
        ".bss"
    } else {
        "__libc_freeres_ptrs"
    };
    let script = out.join("supervise-bss.ld");
    if std::fs::write(&script, template.replace("@LAST_BSS@", last)).is_ok() {
        println!(
            "cargo:rustc-link-arg-bin=supervise=-Wl,-T,{}",
            script.display()
        );
    }
}

/// `link/supervise-relro.ld`: the writable segment starts on a page of its own, so the
/// relocated read-only data spans 8 pages for 8 pages' worth, not 9, and .data/.bss
/// 5, not 6. Every supervise writes all of them: 8 kB of private memory per service
/// (docs/BENCHMARKS.md, "Issue 20, third pass"). Its anchors (.tdata, .data) are those
/// of the static build; a dynamic one may have no .tdata, and an insertion before a
/// section that is not there fails the link.
fn relro_script(dir: &std::path::Path) {
    let script = dir.join("link").join("supervise-relro.ld");
    if script.exists() {
        println!(
            "cargo:rustc-link-arg-bin=supervise=-Wl,-T,{}",
            script.display()
        );
    }
}

/// Whether the binaries are linked statically (`.cargo/config.toml`).
fn crt_static() -> bool {
    env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|f| f.split(',').any(|x| x == "crt-static"))
}

/// The C compiler's static unwinder archive, if it has one.
fn libgcc_eh() -> Option<PathBuf> {
    let cc = env::var_os("CC").unwrap_or_else(|| "cc".into());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // Without the archive, cc prints the bare name back.
    (path.is_absolute() && path.is_file()).then_some(path)
}

/// Whether the C library the binaries will run with is glibc of this version or later
/// (the build machine's: this project builds where it runs).
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

/// rustc 1.90 and later link x86_64-unknown-linux-gnu with its bundled rust-lld.
fn rustc_links_with_lld() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(release) = text.lines().find_map(|l| l.strip_prefix("release: ")) else {
        return false;
    };
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    // Someone who picked another linker keeps it.
    (major, minor) >= (1, 90) && !flags.contains("linker")
}
