//! Two real `cctv serve` processes on one real PostgreSQL database (a schema of their
//! own), different data directories: live events cross nodes, images are processed and
//! served by either node (from a shared directory or one S3 bucket), and a node whose keys
//! or image store differ is refused at start.
//! Skipped without `CCTV_TEST_PG_URL`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cctv_admin::access::SecretBox;
use cctv_admin::files::UrlSigner;
use cctv_core::records::by_id;
use cctv_core::records::tables::EVENT_LOG_FILES;
use cctv_storage_postgres::{PgSettings, PgStore};
use serde_json::{Value, json};

use cctv_blob_s3::testing::S3Server;

use crate::crash::{create_user, demo_estate, free_addr};
use crate::helpers::*;
use crate::ws::open_ws;

/// One estate on a fresh schema, and what every node of it is started with.
struct Cluster {
    url: String,
    store: PgStore,
    storage_dir: tempfile::TempDir,
    log_dir: tempfile::TempDir,
    encryption_key: String,
    signing_key: String,
    /// The image store's environment when the nodes share an S3 bucket instead of a directory.
    s3_env: Vec<(String, String)>,
    key: String,
    secret: String,
    pairs: Vec<(i64, String)>,
}

impl Cluster {
    async fn new() -> Option<Self> {
        Self::with_s3_env(Vec::new()).await
    }

    /// A cluster whose nodes keep images in one fresh bucket of the S3 test server.
    async fn on_s3() -> Option<(Self, &'static S3Server, String)> {
        std::env::var("CCTV_TEST_PG_URL").ok()?;
        let server = S3Server::shared()?;
        let bucket = server.new_bucket("cluster");
        let cluster = Self::with_s3_env(server.env(&bucket, "nodes")).await?;
        Some((cluster, server, bucket))
    }

    async fn with_s3_env(s3_env: Vec<(String, String)>) -> Option<Self> {
        let Ok(base) = std::env::var("CCTV_TEST_PG_URL") else {
            eprintln!("CCTV_TEST_PG_URL is not set: two-node test skipped");
            return None;
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut settings = PgSettings::new(base.clone());
        settings.schema = Some(schema.clone());
        settings.max_connections = 2;
        let store = PgStore::open(&settings).await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let mut cluster = Self {
            url,
            store,
            storage_dir: tempfile::tempdir().unwrap(),
            log_dir: tempfile::tempdir().unwrap(),
            encryption_key: SecretBox::generate_key(),
            signing_key: UrlSigner::generate_key(),
            s3_env,
            key: String::new(),
            secret: String::new(),
            pairs: Vec::new(),
        };
        let seed_dir = tempfile::tempdir().unwrap();
        let out = cluster
            .command(seed_dir.path())
            .args(["demo", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let demo = demo_estate(&out.stdout);
        (cluster.key, cluster.secret, cluster.pairs) = (demo.key, demo.secret, demo.pairs);
        create_user(
            cluster.command(seed_dir.path()),
            "ops@cctv.local",
            "Ops",
            "cluster-test-password",
        );
        Some(cluster)
    }

    /// A new credential limited to `limit` requests an hour: (key, secret).
    fn limited_credential(&self, limit: u32) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let out = self
            .command(dir.path())
            .args([
                "credential",
                "create",
                "--name",
                "limited",
                "--rate-limit",
                &limit.to_string(),
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["api_key"].as_str().unwrap().into(),
            v["api_secret"].as_str().unwrap().into(),
        )
    }

    fn command(&self, data_dir: &std::path::Path) -> Command {
        let mut cmd = crate::crash::cctv(data_dir, "127.0.0.1:0");
        cmd.env("CCTV__DATABASE__URL", &self.url)
            .env("CCTV__DATABASE__MAX_CONNECTIONS", "6")
            .env("CCTV__STORAGE__DIR", self.storage_dir.path())
            .env("CCTV__LOG__DIR", self.log_dir.path())
            .env("CCTV__SECURITY__ENCRYPTION_KEY", &self.encryption_key)
            .env("CCTV__STORAGE__SIGNING_KEY", &self.signing_key)
            .envs(self.s3_env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Starts a node and waits until it answers.
    async fn node(&self, dir: &std::path::Path) -> (Node, String) {
        self.node_with(dir, &[]).await
    }

    async fn node_with(&self, dir: &std::path::Path, env: &[(&str, &str)]) -> (Node, String) {
        let listen = free_addr();
        let mut command = self.command(dir);
        command.envs(env.iter().copied());
        // Owned by a `Node` at once: killed and waited for on every path, panics included.
        let mut node = Node(
            command
                .env("CCTV__LISTEN", &listen)
                .arg("serve")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if try_send(&listen, "GET", "/health", &[], vec![])
                .await
                .is_ok_and(|r| r.status == 200)
            {
                return (node, listen);
            }
            if let Ok(Some(status)) = node.0.try_wait() {
                let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
                panic!("node exited with {status}: {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node on {listen} did not become healthy");
    }

    /// Starts a node with `overrides` on top of the cluster's settings, expects it to refuse
    /// to start, and returns what it said.
    fn refused(&self, overrides: &[(&str, String)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = self.command(dir.path());
        cmd.env("CCTV__LISTEN", free_addr());
        for (k, v) in overrides {
            cmd.env(k, v);
        }
        let out = cmd.arg("serve").output().unwrap();
        assert!(!out.status.success(), "the node started with {overrides:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The credential's headers and a JSON content type.
    fn json_auth(&self) -> Vec<(&str, &str)> {
        let mut headers = self.auth();
        headers.push(("content-type", "application/json"));
        headers
    }

    fn auth(&self) -> Vec<(&str, &str)> {
        vec![
            ("X-API-Key", self.key.as_str()),
            ("X-API-Secret", self.secret.as_str()),
        ]
    }
}

/// A running node, killed when dropped (also when a test fails half-way).
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stop(node: Node) {
    drop(node);
}

async fn login(addr: &str) -> String {
    let body = json!({"email": "ops@cctv.local", "password": "cluster-test-password"});
    let r = send(
        addr,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["data"]["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_live_events_and_images() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (node_a, addr_a) = cluster.node(dir_a.path()).await;
    let (node_b, addr_b) = cluster.node(dir_b.path()).await;

    // A dashboard on B hears detections posted to A.
    let token = login(&addr_b).await;
    let bearer = format!("Bearer {token}");
    let mut socket = open_ws(&addr_b, &[("authorization", bearer.as_str())])
        .await
        .unwrap();
    socket.subscribe(&["detection_update"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (branch, device) = cluster.pairs[0].clone();
    // Each detection posted to A reaches B's dashboard within a second.
    for i in 0..10 {
        let re_id = format!("CLUSTER_{i}");
        let body = json!({"re_id": re_id, "branch_id": branch, "device_id": device});
        let headers = cluster.json_auth();
        let posted = Instant::now();
        let r = send(
            &addr_a,
            "POST",
            "/api/v1/detection/log",
            &headers,
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        loop {
            let left = Duration::from_secs(1).saturating_sub(posted.elapsed());
            let Some(event) = socket.next_event(left).await else {
                panic!("B's dashboard did not hear {re_id} within 1 s of its 202 from A");
            };
            if event["type"] == "detection_update" && event["data"]["re_id"] == re_id.as_str() {
                break;
            }
        }
    }

    image_posted_to_a_is_served_by_both(&cluster, [&addr_a, &addr_b], &bearer, [&dir_a, &dir_b])
        .await;
    stop(node_a);
    stop(node_b);
}

/// An image posted to the first node is processed (by whichever node claims the job) and
/// served by both; returns the thumbnail's store path.
async fn image_posted_to_a_is_served_by_both(
    cluster: &Cluster,
    [addr_a, addr_b]: [&str; 2],
    bearer: &str,
    [dir_a, dir_b]: [&tempfile::TempDir; 2],
) -> String {
    let (branch, device) = cluster.pairs[0].clone();
    let branch_text = branch.to_string();
    let png = png_2x1();
    let (content_type, body) = multipart(
        &[
            ("re_id", "CLUSTER_IMG"),
            ("branch_id", &branch_text),
            ("device_id", &device),
        ],
        Some(("image", "snap.png", &png)),
    );
    let mut headers = cluster.auth();
    headers.push(("content-type", content_type.as_str()));
    let r = send(addr_a, "POST", "/api/v1/detection/log", &headers, body).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job_id = r.body["data"]["job_id"].as_str().unwrap().to_owned();
    let event_id = event_of(cluster, addr_b, &job_id).await;
    let Some(thumb) = settled_thumbnail(cluster, event_id).await else {
        let log = |d: &tempfile::TempDir| {
            std::fs::read_to_string(d.path().join("serve.log")).unwrap_or_default()
        };
        panic!(
            "the image was not processed; A said:\n{}\nB said:\n{}",
            log(dir_a),
            log(dir_b)
        );
    };
    let signer = UrlSigner::from_base64(&cluster.signing_key).unwrap();
    let url = signer
        .sign(
            &thumb,
            cctv_core::jiff::Timestamp::now() + cctv_core::jiff::SignedDuration::from_secs(60),
        )
        .unwrap()
        .url();
    for addr in [addr_a, addr_b] {
        let r = send_raw(addr, "GET", &url, &[("authorization", bearer)], vec![]).await;
        assert_eq!(r.status, 200, "{addr}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("image/jpeg"), "{addr}");
    }
    thumb
}

/// The event log row of the latest detection, once its job (`job_id`) completed.
async fn event_of(cluster: &Cluster, addr: &str, job_id: &str) -> i64 {
    use cctv_core::records::RecordStore;
    use cctv_core::records::{ListQuery, Order};
    for _ in 0..500 {
        let r = send(
            addr,
            "GET",
            &format!("/api/v1/detection/status/{job_id}"),
            &cluster.auth(),
            vec![],
        )
        .await;
        if r.body["data"]["status"] == "completed" {
            let query = ListQuery {
                filters: vec![],
                order: Order::NEWEST_FIRST,
                page: 1,
                per_page: 1,
            };
            let (rows, _) = cluster
                .store
                .list_records(&EVENT_LOG_FILES, &query)
                .await
                .unwrap();
            return rows[0]["id"].as_i64().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {job_id} was not processed");
}

async fn settled_thumbnail(cluster: &Cluster, event: i64) -> Option<String> {
    use cctv_core::records::RecordStore;
    for _ in 0..1500 {
        let row = cluster
            .store
            .find_record(&EVENT_LOG_FILES, &by_id(event))
            .await
            .unwrap()
            .unwrap();
        assert!(row["image_error"].is_null(), "{row:?}");
        if let Some(thumb) = row["thumbnail_path"].as_str() {
            return Some(thumb.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_other_keys_or_another_image_store_is_refused_at_start() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let dir_a = tempfile::tempdir().unwrap();
    let (node_a, _) = cluster.node(dir_a.path()).await;

    let refused = |overrides: Vec<(&'static str, String)>| cluster.refused(&overrides);
    let own_storage = tempfile::tempdir().unwrap();
    let err = refused(vec![(
        "CCTV__STORAGE__DIR",
        own_storage.path().display().to_string(),
    )]);
    assert!(err.contains("shared image store"), "{err}");
    let own_logs = tempfile::tempdir().unwrap();
    let err = refused(vec![(
        "CCTV__LOG__DIR",
        own_logs.path().display().to_string(),
    )]);
    assert!(err.contains("shared log directory"), "{err}");
    let err = refused(vec![(
        "CCTV__SECURITY__ENCRYPTION_KEY",
        SecretBox::generate_key(),
    )]);
    assert!(err.contains("another encryption key"), "{err}");
    let err = refused(vec![(
        "CCTV__STORAGE__SIGNING_KEY",
        UrlSigner::generate_key(),
    )]);
    assert!(err.contains("another file-signing key"), "{err}");

    // With the same settings a second node joins.
    let dir_b = tempfile::tempdir().unwrap();
    let (node_b, _) = cluster.node(dir_b.path()).await;
    stop(node_b);
    stop(node_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_bucket_share_images_without_a_shared_directory() {
    let Some((cluster, server, bucket)) = Cluster::on_s3().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (node_a, addr_a) = cluster.node(dir_a.path()).await;
    let (node_b, addr_b) = cluster.node(dir_b.path()).await;
    let bearer = format!("Bearer {}", login(&addr_b).await);

    let thumb = image_posted_to_a_is_served_by_both(
        &cluster,
        [&addr_a, &addr_b],
        &bearer,
        [&dir_a, &dir_b],
    )
    .await;
    let keys = server.keys(&bucket, "nodes/events/");
    assert!(keys.contains(&format!("nodes/{thumb}")), "{keys:?}");
    assert_eq!(
        keys.len(),
        3,
        "upload, processed image, thumbnail: {keys:?}"
    );
    let local: Vec<_> = std::fs::read_dir(cluster.storage_dir.path())
        .unwrap()
        .collect();
    assert!(local.is_empty(), "nothing went to the directory: {local:?}");

    // A node that would keep its images on its own disk is refused.
    let own_disk = tempfile::tempdir().unwrap();
    let err = cluster.refused(&[
        ("CCTV__STORAGE__BACKEND", "fs".into()),
        ("CCTV__STORAGE__DIR", own_disk.path().display().to_string()),
    ]);
    assert!(err.contains("shared image store"), "{err}");
    // So is one whose bucket cannot be reached, before it joins.
    let err = cluster.refused(&[("CCTV__STORAGE__S3__BUCKET", "no-such-bucket".into())]);
    assert!(err.contains("S3 image store"), "{err}");
    stop(node_a);
    stop(node_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_starting_together_run_each_missed_schedule_slot_once() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    // The scheduler was last seen three days ago: each node catches up the daily slots
    // since then when it starts, and both start at the same moment.
    let pool = sqlx::PgPool::connect(&cluster.url).await.unwrap();
    let last_seen =
        cctv_core::jiff::Timestamp::now() - cctv_core::jiff::SignedDuration::from_hours(72);
    sqlx::query(
        "INSERT INTO schedule_runs (task, slot, node, started_at) \
         VALUES ('log_aggregation', $1::timestamptz, 'gone', $1::timestamptz)",
    )
    .bind(last_seen.to_string())
    .execute(&pool)
    .await
    .unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ((node_a, _), (node_b, _)) =
        tokio::join!(cluster.node(dir_a.path()), cluster.node(dir_b.path()));
    tokio::time::sleep(Duration::from_secs(3)).await;

    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let slots = count(
        "SELECT count(*) FROM schedule_runs WHERE task = 'log_aggregation' AND node <> 'gone'",
    )
    .await;
    let jobs = count("SELECT count(*) FROM jobs WHERE kind = 'aggregate_logs'").await;
    assert!(
        slots >= 2,
        "three days of daily slots were caught up: {slots}"
    );
    assert_eq!(
        jobs, slots,
        "one aggregation job per slot, whichever node ran it"
    );
    let by_nodes =
        count("SELECT count(DISTINCT node) FROM schedule_runs WHERE node <> 'gone'").await;
    assert!(by_nodes >= 1);
    stop(node_a);
    stop(node_b);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_limit_holds_across_two_nodes() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let small = cluster.limited_credential(5);
    let large = cluster.limited_credential(100);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_node_a, addr_a) = cluster.node(dir_a.path()).await;
    let (_node_b, addr_b) = cluster.node(dir_b.path()).await;
    let (branch, device) = cluster.pairs[0].clone();
    let body = json!({"re_id": "LIMITED", "branch_id": branch, "device_id": device}).to_string();
    for ((key, secret), limit, requests) in [(small, 5, 12), (large, 100, 150)] {
        let headers = [
            ("X-API-Key", key.as_str()),
            ("X-API-Secret", secret.as_str()),
            ("content-type", "application/json"),
        ];
        let mut accepted = 0;
        for i in 0..requests {
            let addr = if i % 2 == 0 { &addr_a } else { &addr_b };
            let r = send(
                addr,
                "POST",
                "/api/v1/detection/log",
                &headers,
                body.clone().into_bytes(),
            )
            .await;
            match r.status {
                202 => accepted += 1,
                429 => assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers),
                other => panic!("{other}: {:?}", r.body),
            }
        }
        assert_eq!(accepted, limit, "a limit of {limit} across two nodes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_are_counted_across_two_nodes() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_node_a, addr_a) = cluster.node(dir_a.path()).await;
    let (_node_b, addr_b) = cluster.node(dir_b.path()).await;
    let wrong = json!({"email": "ops@cctv.local", "password": "not-the-password"}).to_string();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let addr = if i % 2 == 0 { &addr_a } else { &addr_b };
        let r = send(
            addr,
            "POST",
            "/api/login",
            &[("content-type", "application/json")],
            wrong.clone().into_bytes(),
        )
        .await;
        statuses.push(r.status);
    }
    // Five failures in the window (the default), wherever they were tried; then refused.
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    let right = json!({"email": "ops@cctv.local", "password": "cluster-test-password"}).to_string();
    let r = send(
        &addr_b,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        right.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 429, "the account stays throttled on every node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_run_loses_nothing_and_counts_nothing_twice() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Short leases: B takes over A's claimed jobs within seconds.
    let (node_a, addr_a) = cluster
        .node_with(dir_a.path(), &[("CCTV__INGEST__LEASE_SECS", "3")])
        .await;
    let (_node_b, addr_b) = cluster
        .node_with(dir_b.path(), &[("CCTV__INGEST__LEASE_SECS", "3")])
        .await;
    let headers = cluster.json_auth();
    // 2,000 detections with event ids, alternating between the nodes; A is killed half
    // way, and what A did not acknowledge is retried on B with the same event id.
    let mut acked: std::collections::HashMap<String, String> = Default::default();
    let mut node_a = Some(node_a);
    for i in 0..2000 {
        if i == 1000 {
            drop(node_a.take());
        }
        let (branch, device) = &cluster.pairs[i % cluster.pairs.len()];
        let event = format!("kill-{i}");
        let body =
            json!({"re_id": format!("K{}", i % 40), "branch_id": branch, "device_id": device,
            "event_id": event, "detected_count": 2})
            .to_string();
        let first = if i % 2 == 0 && node_a.is_some() {
            &addr_a
        } else {
            &addr_b
        };
        let r = match try_send(
            first,
            "POST",
            "/api/v1/detection/log",
            &headers,
            body.clone().into_bytes(),
        )
        .await
        {
            Ok(r) if r.status == 202 => r,
            _ => {
                send(
                    &addr_b,
                    "POST",
                    "/api/v1/detection/log",
                    &headers,
                    body.into_bytes(),
                )
                .await
            }
        };
        assert_eq!(r.status, 202, "{:?}", r.body);
        acked.insert(event, r.body["data"]["job_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(acked.len(), 2000);
    let auth = cluster.auth();
    let deadline = Instant::now() + Duration::from_secs(90);
    let total = loop {
        let r = send(
            &addr_b,
            "GET",
            "/api/v1/detections?per_page=1",
            &auth,
            vec![],
        )
        .await;
        let total = r.body["pagination"]["total"].as_u64().unwrap();
        if total >= 2000 || Instant::now() > deadline {
            break total;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(total, 2000, "one detection row per acknowledged event");
    // Nothing counted twice: the day's detected_count is exactly 2 per detection, and the
    // person-days add up to the same.
    let summary = send(&addr_b, "GET", "/api/v1/detection/summary", &auth, vec![]).await;
    assert_eq!(
        summary.body["data"]["summary"]["total_detected_count"], 4000,
        "{:?}",
        summary.body
    );
    let persons: i64 = person_day_total(&cluster).await;
    assert_eq!(persons, 4000, "person-days add up to every detection once");
}

/// Sum of `total_actual_count` over all person-days, read through the registry API.
async fn person_day_total(cluster: &Cluster) -> i64 {
    use cctv_core::records::RecordStore;
    use cctv_core::records::{ListQuery, Order};
    let query = ListQuery {
        filters: vec![],
        order: Order::asc("id"),
        page: 1,
        per_page: 1000,
    };
    let (rows, _) = cluster
        .store
        .list_records(&cctv_admin::manage::tables::PERSON_DAYS, &query)
        .await
        .unwrap();
    rows.iter()
        .map(|r| r["total_actual_count"].as_i64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_api_usage_summary_counts_requests_of_every_node() {
    use cctv_admin::files::tables::API_USAGE_SUMMARY;
    use cctv_core::records::RecordStore;
    use cctv_core::records::{ListQuery, Order};
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_node_a, addr_a) = cluster.node(dir_a.path()).await;
    let (_node_b, addr_b) = cluster.node(dir_b.path()).await;
    let auth = cluster.auth();
    for (addr, n) in [(&addr_a, 3), (&addr_b, 4)] {
        for _ in 0..n {
            let r = send(addr, "GET", "/api/v1/detections?per_page=1", &auth, vec![]).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
    }
    let today = cctv_core::jiff::Timestamp::now()
        .to_zoned_datetime(cctv_core::jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let query = ListQuery {
        filters: vec![],
        order: Order::asc("id"),
        page: 1,
        per_page: 100,
    };
    let mut total = 0;
    for _ in 0..50 {
        let out = cluster
            .command(dir_a.path())
            .args(["access-log", "aggregate", "--date", &today])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (rows, _) = cluster
            .store
            .list_records(&API_USAGE_SUMMARY, &query)
            .await
            .unwrap();
        total = rows
            .iter()
            .map(|r| r["total_requests"].as_i64().unwrap_or(0))
            .sum::<i64>();
        if total >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        total, 7,
        "3 requests to A and 4 to B, folded by one aggregation"
    );
}
