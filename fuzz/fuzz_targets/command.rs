//! The `-f` string splitter: any string is a plan or an error, never a panic. A shell
//! plan is the string itself, or the string with `exec ` put before its command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supervise::command::{Plan, plan};

fuzz_target!(|data: &[u8]| {
    let Ok(cmd) = std::str::from_utf8(data) else {
        return;
    };
    match plan(cmd) {
        Ok(Plan::Shell(script)) => {
            assert!(script == cmd || (script.len() == cmd.len() + 5 && script.contains("exec ")));
        }
        Ok(Plan::Direct(words)) => assert!(!words.is_empty()),
        Err(_) => {}
    }
});
