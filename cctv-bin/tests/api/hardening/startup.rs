//! A taken port is one clear error and a non-zero exit, with nothing opened or started.

use std::time::{Duration, Instant};

use crate::crash::cctv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_one_clear_error_with_nothing_started() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let started = Instant::now();
    let out = cctv(dir.path(), &listen)
        .env("RUST_LOG", "info")
        .arg("serve")
        .output()
        .expect("run cctv serve");
    assert!(!out.status.success(), "exit code {:?}", out.status.code());
    assert!(started.elapsed() < Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains(&format!("cannot listen on {listen}")) && stderr.contains("in use"),
        "{stderr}"
    );
    let errors = format!("{stdout}{stderr}")
        .lines()
        .filter(|l| l.contains("ERROR") || l.starts_with("Error"))
        .count();
    assert_eq!(errors, 1, "one error line:\n{stdout}\n{stderr}");
    assert!(
        !dir.path().join("cctv.db").exists(),
        "no database was opened"
    );
    drop(taken);
}
