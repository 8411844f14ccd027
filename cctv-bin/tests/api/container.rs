//! The container image as an operator runs it: an image built from this repository's
//! `Dockerfile`, named in `CCTV_TEST_IMAGE` (`docker build -t cctv .`, then
//! `CCTV_TEST_IMAGE=cctv cargo test -p cctv --test api container`). It starts with a
//! volume, answers `/livez`, passes its own healthcheck, runs as the unprivileged `cctv`
//! user, accepts and processes a detection, stops cleanly on SIGTERM, and a new
//! container on the same volume still has the data. Skipped with a message when the
//! variable is not set (building the image needs a container engine and a release build,
//! which the ordinary suite does not assume); `docker` is used, or `podman` when that is
//! what the machine has (`CCTV_CONTAINER_CLI` chooses).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::crash::free_addr;
use crate::helpers::*;

struct Engine {
    cli: String,
    image: String,
    name: String,
    volume: String,
}

impl Engine {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.cli)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{} {args:?}: {e}", self.cli))
    }

    /// Runs and insists on success, answering standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}\n{}",
            self.cli,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts a container of the image on the volume, published on `addr`.
    fn start(&self, addr: &str) {
        let publish = format!("{addr}:8080");
        self.start_with(&["-p", &publish]);
    }

    /// Starts a container of the image on the volume with these `run` options.
    fn start_with(&self, options: &[&str]) {
        let mount = format!("{}:/data", self.volume);
        let mut args = vec!["run", "-d", "--name", &self.name, "-v", &mount];
        args.extend_from_slice(&["-e", "CCTV__TIMEZONE=Asia/Jakarta"]);
        args.extend_from_slice(options);
        args.push(&self.image);
        self.ok(&args);
    }

    fn remove(&self) {
        let _ = self.run(&["rm", "-f", &self.name]);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.remove();
        let _ = self.run(&["volume", "rm", "-f", &self.volume]);
    }
}

/// The engine with a container and volume name of this test's own (`which`).
fn engine(which: &str) -> Option<Engine> {
    let image = std::env::var("CCTV_TEST_IMAGE").ok()?;
    let cli = std::env::var("CCTV_CONTAINER_CLI").unwrap_or_else(|_| {
        let works = |cli: &str| {
            Command::new(cli)
                .args(["image", "exists", &image])
                .output()
                .is_ok_and(|o| o.status.success())
                || Command::new(cli)
                    .args(["image", "inspect", &image])
                    .output()
                    .is_ok_and(|o| o.status.success())
        };
        if works("docker") { "docker" } else { "podman" }.to_owned()
    });
    let id = std::process::id();
    Some(Engine {
        cli,
        image,
        name: format!("cctv-test-{which}-{id}"),
        volume: format!("cctv-test-{which}-data-{id}"),
    })
}

async fn wait_live(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = try_send(addr, "GET", "/livez", &[], vec![]).await
            && r.status == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the container never answered /livez"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_unprivileged_answers_its_healthcheck_and_keeps_data_in_its_volume() {
    let Some(engine) = engine("sqlite") else {
        eprintln!("CCTV_TEST_IMAGE is not set: the container image test is skipped");
        return;
    };
    engine.remove();
    let addr = free_addr();
    engine.start(&addr);
    wait_live(&addr).await;

    // The process is the image's unprivileged user, and the healthcheck is the binary
    // asking its own /livez (the image has no curl).
    assert_eq!(engine.ok(&["exec", &engine.name, "id", "-u"]), "10001");
    assert_eq!(engine.ok(&["exec", &engine.name, "id", "-un"]), "cctv");
    engine.ok(&["exec", &engine.name, "cctv", "probe", "--timeout", "3"]);
    let health = engine.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        &engine.image,
    ]);
    assert!(health.contains("probe"), "{health}");
    // Small: what the Dockerfile adds to its Debian base is the binary, CA certificates
    // and time zones (the base's own size depends on where it came from).
    let size = |image: &str| -> u64 {
        engine
            .ok(&["image", "inspect", "--format", "{{.Size}}", image])
            .parse()
            .unwrap()
    };
    let (total, base) = (size(&engine.image), size("debian:bookworm-slim"));
    eprintln!(
        "image: {total} bytes, of which {} over debian:bookworm-slim",
        total - base
    );
    assert!(
        total - base < 80_000_000,
        "the image adds {} bytes to its base",
        total - base
    );

    let auth_owned = demo_detection(&engine, &addr).await;
    let auth: Vec<(&str, &str)> = auth_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // SIGTERM (the image's STOPSIGNAL) ends it cleanly; a new container on the same
    // volume has the credential and the detection.
    engine.ok(&["stop", "-t", "20", &engine.name]);
    let code = engine.ok(&["inspect", "--format", "{{.State.ExitCode}}", &engine.name]);
    assert_eq!(code, "0", "exit code after SIGTERM");
    engine.remove();
    engine.start(&addr);
    wait_live(&addr).await;
    let listed = send(
        &addr,
        "GET",
        "/api/v1/detections?re_id=CONTAINER-1",
        &auth,
        vec![],
    )
    .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["pagination"]["total"], 1, "{:?}", listed.body);
}

/// Seeds the demo estate inside the container, posts one detection through `addr` and
/// waits until it is processed; answers the demo credential's headers.
async fn demo_detection(engine: &Engine, addr: &str) -> Vec<(&'static str, String)> {
    let demo: serde_json::Value =
        serde_json::from_str(&engine.ok(&["exec", &engine.name, "cctv", "demo", "--json"]))
            .expect("demo --json prints JSON");
    let headers = vec![
        (
            "x-api-key",
            demo["credential"]["api_key"].as_str().unwrap().to_owned(),
        ),
        (
            "x-api-secret",
            demo["credential"]["api_secret"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    let auth: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let device = &demo["devices"][0];
    let body = json!({"re_id": "CONTAINER-1", "branch_id": device["branch_id"],
        "device_id": device["device_id"], "event_id": "container-1"});
    let r = send(
        addr,
        "POST",
        "/api/v1/detection/log",
        &auth,
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job = r.body["data"]["job_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = send(
            addr,
            "GET",
            &format!("/api/v1/detection/status/{job}"),
            &auth,
            vec![],
        )
        .await;
        if s.body["data"]["status"] == "completed" {
            return headers;
        }
        assert!(Instant::now() < deadline, "not processed: {:?}", s.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The same image on the machine's PostgreSQL (`CCTV_TEST_PG_URL`, a fresh schema), on
/// the host's network: the database URL is all it needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_on_postgresql_given_only_a_database_url() {
    let Some(engine) = engine("postgres") else {
        eprintln!("CCTV_TEST_IMAGE is not set: the container image test is skipped");
        return;
    };
    let Ok(base) = std::env::var("CCTV_TEST_PG_URL") else {
        eprintln!("CCTV_TEST_PG_URL is not set: the image's PostgreSQL test is skipped");
        return;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut settings = cctv_storage_postgres::PgSettings::new(base.clone());
    settings.schema = Some(schema.clone());
    settings.max_connections = 1;
    drop(
        cctv_storage_postgres::PgStore::open(&settings)
            .await
            .unwrap(),
    );
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("CCTV__DATABASE__URL={base}{sep}options=-c%20search_path%3D{schema}");
    let addr = free_addr();
    let listen = format!("CCTV__LISTEN={addr}");
    engine.remove();
    engine.start_with(&["--network", "host", "-e", &url, "-e", &listen]);
    wait_live(&addr).await;
    let ready = send(&addr, "GET", "/readyz", &[], vec![]).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    demo_detection(&engine, &addr).await;
}
