//! The README's quick start, run as written (with `cargo run --release --` standing for
//! the built binary, and a free port for 8080) against a fresh data directory: the server
//! starts, `demo --env` puts a working key into the shell, the curl gets its 202, and the
//! demo admin's printed password logs in.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::crash::free_addr;
use crate::helpers::*;

/// The `sh` code blocks of the README's "Quick start" section, in order.
fn quick_start_blocks() -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("\n## Quick start")
        .expect("README has a Quick start section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().to_owned())
        .collect()
}

/// The server process, killed however the test ends (it must not outlive a failure).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A README command with the binary and the test's address in place.
fn as_run_here(block: &str, addr: &str) -> String {
    block
        .replace("cargo run --release --", "\"$CCTV_BIN\"")
        .replace("127.0.0.1:8080", addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_quick_start_works_as_written() {
    let blocks = quick_start_blocks();
    assert_eq!(blocks.len(), 2, "serve, then demo and curl: {blocks:?}");
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let shell = |script: String| {
        let mut cmd = Command::new("bash");
        cmd.args(["-ec", &script])
            .env("CCTV_BIN", env!("CARGO_BIN_EXE_cctv"))
            .env("CCTV__DATA_DIR", dir.path())
            .env("CCTV__LISTEN", &addr)
            .env("RUST_LOG", "warn");
        cmd
    };
    let _server = Server(
        shell(format!("exec {}", as_run_here(blocks[0].trim(), &addr)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !try_send(&addr, "GET", "/health", &[], vec![])
        .await
        .is_ok_and(|r| r.status == 200)
    {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let out = shell(as_run_here(&blocks[1], &addr)).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    let notes = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}\n{notes}");
    let answer: serde_json::Value =
        serde_json::from_str(said.trim()).unwrap_or_else(|_| panic!("{said}"));
    assert_eq!(answer["success"], true, "{said}");
    assert!(answer["data"]["job_id"].is_string(), "{said}");

    let password = notes
        .split("with password ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no admin password printed: {notes}"));
    let body = json!({"email": "demo@cctv.local", "password": password}).to_string();
    let login = send(
        &addr,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        body.into_bytes(),
    )
    .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
}
