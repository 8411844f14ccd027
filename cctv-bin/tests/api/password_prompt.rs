//! `cctv user create` without `--password-stdin` asks on the terminal, twice, without
//! echoing what is typed; without a terminal it refuses instead of reading stdin.
//! The terminal is a real pseudo-terminal from util-linux's `script` (skipped when absent).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::crash::cctv;

const PASSWORD: &str = "typed-at-the-prompt-7";

#[test]
fn the_password_is_asked_twice_on_the_terminal_and_never_echoed() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) is missing: terminal prompt test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let line = format!(
        "{} user create --email prompt@cctv.test --name Prompt --role admin",
        env!("CARGO_BIN_EXE_cctv")
    );
    let cmd = cctv(dir.path(), "127.0.0.1:0");
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Typed once each prompt is up (input that arrives before echo is switched off
    // would be echoed by the terminal itself, not by cctv).
    std::thread::sleep(Duration::from_millis(2500));
    writeln!(stdin, "{PASSWORD}").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    writeln!(stdin, "{PASSWORD}").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("Password for prompt@cctv.test"), "{shown}");
    assert!(shown.contains("Repeat the password"), "{shown}");
    assert!(shown.contains("created user prompt@cctv.test"), "{shown}");
    assert!(
        !shown.contains(PASSWORD),
        "the password was echoed: {shown}"
    );

    // Without a terminal and without --password-stdin nothing is read or created.
    let out = cctv(dir.path(), "127.0.0.1:0")
        .args([
            "user",
            "create",
            "--email",
            "other@cctv.test",
            "--name",
            "Other",
            "--role",
            "viewer",
        ])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "created without a terminal or --password-stdin"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--password-stdin"), "{err}");
}
