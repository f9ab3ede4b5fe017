//! What tripped a newcomer in the first minute (issue 19), each held here so that it
//! cannot come back.

mod common;

use std::process::Command;

use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn no_status_directory_is_tracked() {
    if !std::path::Path::new(ROOT).join(".git").exists() {
        eprintln!("not a git checkout: skipped");
        return;
    }
    let out = Command::new("git")
        .args(["ls-files", "status"])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "tracked under status/: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let ignore = std::fs::read_to_string(std::path::Path::new(ROOT).join(".gitignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l.trim_matches('/') == "status"),
        "status/ is ignored"
    );
}

#[test]
fn the_license_cargo_names_is_there() {
    let cargo = std::fs::read_to_string(std::path::Path::new(ROOT).join("Cargo.toml")).unwrap();
    assert!(cargo.contains("license = \"MIT\""));
    let license = std::fs::read_to_string(std::path::Path::new(ROOT).join("LICENSE")).unwrap();
    assert!(license.starts_with("MIT License"));
}

#[test]
fn svc_and_supervise_say_their_version() {
    for (bin, name) in [
        (common::bin(env!("CARGO_BIN_EXE_svc")), "svc"),
        (common::bin(env!("CARGO_BIN_EXE_supervise")), "supervise"),
    ] {
        for flag in ["-v", "--version"] {
            let out = Command::new(bin).arg(flag).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{name} {flag}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
            );
        }
    }
    let out = Command::new(common::bin(env!("CARGO_BIN_EXE_svc")))
        .arg("-Z")
        .arg("x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("(see svc -h)").count(), 1, "{err}");
}

#[test]
fn a_missing_named_config_is_an_error_and_an_unknown_key_is_said_on_stderr() {
    let sb = Sandbox::new();
    let mut sup = sb.spawn_with(
        "app",
        &["-F", "/nonexistent/supervise.conf", "-f", "sleep 1"],
    );
    let err = sup.stderr();
    assert_eq!(sup.wait_exit().code(), Some(100));
    assert!(err.contains("/nonexistent/supervise.conf"), "{err}");
    sb.config("[app]\nmax_tris : 3\n");
    let mut sup = sb.spawn_with("app", &["-f", "sleep 1000"]);
    sup.wait_pid();
    sup.send("dx");
    let err = sup.stderr();
    sup.wait_exit();
    assert!(err.contains("max_tris") && err.contains("warning"), "{err}");
}
