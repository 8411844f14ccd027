//! Stream health probes against real sockets on loopback: a listening RTSP port, a
//! closed port, and HTTP endpoints answering 200 and 401.

use std::sync::Arc;
use std::time::Duration;

use cctv_actors::stream_health::{StreamHealthSettings, sweep};
use cctv_admin::FullStorage;
use cctv_admin::manage::tables::STREAMS;
use cctv_admin::{AdminBuilder, AdminCore};
use cctv_core::Core;
use cctv_core::records::{Filter, Record, WriteOp};
use cctv_testkit::seed;
use serde_json::Value;
use support::open_sqlite;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

/// A one-line HTTP server answering every request with `status`.
async fn http_server(status: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                let reply =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_marks_reachable_streams_online_and_others_offline_or_error() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn FullStorage> = Arc::new(open_sqlite(dir.path()).await);
    let estate = seed(store.as_ref()).await;
    let core = Core::builder().full_storage(store).build().await.unwrap();

    let rtsp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rtsp_port = rtsp.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ok_port = http_server("200 OK").await;
    let denied_port = http_server("401 Unauthorized").await;
    let cases = [
        (
            "rtsp",
            format!("rtsp://127.0.0.1:{rtsp_port}/live"),
            "online",
        ),
        (
            "rtsp",
            format!("rtsp://127.0.0.1:{closed_port}/live"),
            "offline",
        ),
        (
            "hls",
            format!("http://127.0.0.1:{ok_port}/live.m3u8"),
            "online",
        ),
        (
            "http",
            format!("http://127.0.0.1:{denied_port}/snapshot.jpg"),
            "error",
        ),
    ];
    let mut ops = Vec::new();
    for (i, (protocol, url, _)) in cases.iter().enumerate() {
        let mut r = Record::new();
        r.insert("branch_id".into(), Value::from(estate.branches[0].id));
        r.insert(
            "device_id".into(),
            Value::from(estate.devices[0].device_id.clone()),
        );
        r.insert("stream_name".into(), Value::from(format!("S{i}")));
        r.insert(
            "url_encrypted".into(),
            Value::from(core.secrets().encrypt(url)),
        );
        r.insert("stream_protocol".into(), Value::from(*protocol));
        ops.push(WriteOp::Insert {
            table: &STREAMS,
            record: r,
            link: None,
        });
    }
    core.storage().apply(&ops).await.unwrap();

    let client = reqwest::Client::new();
    let health = StreamHealthSettings {
        timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let first = sweep(&core, &client, &health).await.unwrap();
    assert_eq!((first.checked, first.online, first.changed), (4, 2, 4));
    for (i, (_, _, want)) in cases.iter().enumerate() {
        let row = core
            .storage()
            .find_record(
                &STREAMS,
                &[Filter::Eq("stream_name", Value::from(format!("S{i}")))],
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row["status"], *want, "stream {i}");
        assert!(row["last_checked_at"].is_string());
    }
    drop(rtsp);
    let second = sweep(&core, &client, &health).await.unwrap();
    assert_eq!(
        (second.online, second.changed),
        (1, 1),
        "the RTSP port went away"
    );
}
