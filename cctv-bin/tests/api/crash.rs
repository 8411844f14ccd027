//! Kill `cctv serve` with SIGKILL under load, start it again: every detection that got a
//! 202 is processed exactly once.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) fn cctv(data_dir: &std::path::Path, listen: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cctv"));
    cmd.env("CCTV__DATA_DIR", data_dir)
        .env("CCTV__LISTEN", listen)
        .env("CCTV__INGEST__POLL_INTERVAL_MS", "100")
        .env("RUST_LOG", "warn");
    cmd
}

pub(crate) async fn start(data_dir: &std::path::Path, listen: &str) -> Child {
    let mut child = cctv(data_dir, listen)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cctv serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if try_send(listen, "GET", "/health", &[], vec![])
            .await
            .is_ok_and(|r| r.status == 200)
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("cctv serve did not become healthy");
}

/// The credential and the (branch, device) pairs of `cctv demo --json`'s output.
pub(crate) struct DemoEstate {
    pub key: String,
    pub secret: String,
    pub pairs: Vec<(i64, String)>,
}

pub(crate) fn demo_estate(stdout: &[u8]) -> DemoEstate {
    let estate: Value = serde_json::from_slice(stdout).unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    DemoEstate {
        key: text(&estate["credential"]["api_key"]),
        secret: text(&estate["credential"]["api_secret"]),
        pairs: estate["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["branch_id"].as_i64().unwrap(), text(&d["device_id"])))
            .collect(),
    }
}

/// Runs `cmd` with `user create … --password-stdin`, writing `password` to it.
pub(crate) fn create_user(mut cmd: Command, email: &str, name: &str, password: &str) {
    use std::io::Write;
    let mut user = cmd
        .args([
            "user",
            "create",
            "--email",
            email,
            "--name",
            name,
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = user.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(user.wait().unwrap().success());
}

pub(crate) fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_detection_and_counts_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    let out = cctv(dir.path(), &listen)
        .args(["demo", "--json"])
        .output()
        .expect("cctv demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let DemoEstate { key, secret, pairs } = demo_estate(&out.stdout);

    let mut server = start(dir.path(), &listen).await;
    // event id → job id of its 202, for every event that got one.
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let unacked: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (acked, unacked, stop, listen, key, secret, pairs) = (
            acked.clone(),
            unacked.clone(),
            stop.clone(),
            listen.clone(),
            key.clone(),
            secret.clone(),
            pairs.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (branch, device) = &pairs[(t + i) % pairs.len()];
                let body = json!({"re_id": format!("P{}", i % 50), "branch_id": branch, "device_id": device, "event_id": format!("e-{t}-{i}")});
                i += 1;
                let h = [("x-api-key", key.as_str()), ("x-api-secret", secret.as_str()), ("content-type", "application/json")];
                match try_send(&listen, "POST", "/api/v1/detection/log", &h, serde_json::to_vec(&body).unwrap()).await {
                    Ok(r) if r.status == 202 => {
                        acked.lock().unwrap().insert(body["event_id"].as_str().unwrap().to_owned(), r.body["data"]["job_id"].as_str().unwrap().to_owned());
                    }
                    _ => {
                        unacked.lock().unwrap().push(body);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let acked_before_kill = acked.lock().unwrap().len();
    assert!(
        acked_before_kill > 100,
        "the load was running ({acked_before_kill} acknowledged)"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }

    let mut server = start(dir.path(), &listen).await;
    // Devices retry what was not acknowledged, with the same event id.
    let retries: Vec<Value> = std::mem::take(&mut *unacked.lock().unwrap());
    let h = [
        ("x-api-key", key.as_str()),
        ("x-api-secret", secret.as_str()),
        ("content-type", "application/json"),
    ];
    for body in &retries {
        let r = send(
            &listen,
            "POST",
            "/api/v1/detection/log",
            &h,
            serde_json::to_vec(body).unwrap(),
        )
        .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        let event = body["event_id"].as_str().unwrap().to_owned();
        let job = r.body["data"]["job_id"].as_str().unwrap().to_owned();
        let mut acked = acked.lock().unwrap();
        if let Some(previous) = acked.get(&event) {
            assert_eq!(*previous, job, "a retried event keeps its job");
        }
        acked.insert(event, job);
    }
    let acked = acked.lock().unwrap().clone();
    let expected = acked.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let auth = [
        ("x-api-key", key.as_str()),
        ("x-api-secret", secret.as_str()),
    ];
    let total = loop {
        let r = send(
            &listen,
            "GET",
            "/api/v1/detections?per_page=1",
            &auth,
            vec![],
        )
        .await;
        let total = r.body["pagination"]["total"].as_u64().unwrap();
        if total >= expected || Instant::now() > deadline {
            break total;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(total, expected, "one detection row per acknowledged event");
    let jobs: HashSet<&String> = acked.values().collect();
    assert_eq!(
        jobs.len(),
        acked.len(),
        "distinct events have distinct jobs"
    );
    for job in jobs.iter().take(200) {
        let r = send(
            &listen,
            "GET",
            &format!("/api/v1/detection/status/{job}"),
            &auth,
            vec![],
        )
        .await;
        assert_eq!(r.body["data"]["status"], "completed", "{:?}", r.body);
    }
    let summary = send(&listen, "GET", "/api/v1/detection/summary", &auth, vec![]).await;
    assert_eq!(
        summary.body["data"]["summary"]["total_detected_count"]
            .as_u64()
            .unwrap(),
        expected
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The probes an orchestrator uses, on the real binary; and a default start says nothing
/// at warning level (an operator learns to ignore warnings that appear every time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_and_a_default_start_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    let log = dir.path().join("serve.log");
    let mut child = cctv(dir.path(), &listen)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let r = try_send(&listen, "GET", "/readyz", &[], vec![]).await;
        if let Ok(r) = r
            && r.status == 200
        {
            break r;
        }
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ready.body["data"]["status"], "ready");
    assert_eq!(ready.body["data"]["checks"]["database"], "ok");
    assert_eq!(ready.body["data"]["checks"]["pipeline"], "running");
    let live = send(&listen, "GET", "/livez", &[], vec![]).await;
    assert_eq!(
        (live.status, &live.body["data"]["status"]),
        (200, &json!("alive"))
    );
    assert_eq!(
        send(&listen, "GET", "/health", &[], vec![]).await.status,
        200
    );
    // `cctv probe` (the container health check) asks the configured address.
    for args in [&["probe"][..], &["probe", "--ready"]] {
        let probe = cctv(dir.path(), &listen).args(args).output().unwrap();
        assert!(probe.status.success(), "{args:?}: {:?}", probe);
    }
    let _ = child.kill();
    let _ = child.wait();
    let down = cctv(dir.path(), &listen)
        .args(["probe", "--timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(
        down.status.code(),
        Some(1),
        "a stopped server fails the probe"
    );
    assert!(String::from_utf8_lossy(&down.stderr).contains("no answer"));
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(!said.contains("WARN"), "a default start warned:\n{said}");
}

/// `cctv bench ingest` against the real server: it waits for its credential, so a wrong
/// one is an error before any load (not a report of 401s), and a right one is measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_benchmark_refuses_to_measure_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    let out = cctv(dir.path(), &listen)
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let estate_file = dir.path().join("estate.json");
    std::fs::write(&estate_file, &out.stdout).unwrap();
    let mut server = start(dir.path(), &listen).await;
    let bench = |secret: Option<&str>| {
        let mut cmd = cctv(dir.path(), &listen);
        cmd.args(["bench", "ingest", "--addr", &listen, "--estate"])
            .arg(&estate_file)
            .args([
                "--concurrency",
                "4",
                "--total",
                "40",
                "--duration",
                "30",
                "--credential-wait",
                "2",
                "--json",
            ]);
        if let Some(secret) = secret {
            cmd.args(["--api-secret", secret]);
        }
        cmd.output().unwrap()
    };
    let wrong = bench(Some(&"x".repeat(64)));
    assert!(!wrong.status.success());
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("did not accept the credential"), "{said}");
    let right = bench(None);
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let report: Value = serde_json::from_slice(
        right
            .stdout
            .rsplit(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report["accepted"], 40, "{report}");
    let _ = server.kill();
    let _ = server.wait();
}

/// `cctv migrate` says what it did: created the schema on a new database, nothing after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_says_whether_it_created_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    let run = || {
        let out = cctv(dir.path(), &listen).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run();
    assert!(
        first.starts_with("created the database schema ("),
        "{first}"
    );
    let second = run();
    assert!(
        second.starts_with("database schema is up to date ("),
        "{second}"
    );
}
