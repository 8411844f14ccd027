//! A dashboard's view of a benchmark: one `/ws` connection that subscribes to live events
//! and counts them, so a run on several nodes can show that every node's dashboard heard
//! every detection, wherever it was processed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Events heard, by type.
#[derive(Debug, Clone, Default)]
pub struct ListenReport {
    pub by_type: BTreeMap<String, u64>,
    /// From the subscription to the last event heard.
    pub span: Duration,
}

/// Logs in through the JSON API; the bearer token.
pub async fn api_login(addr: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let body = json!({"email": email, "password": password}).to_string();
    let req = Request::builder()
        .method("POST")
        .uri("/api/login")
        .header("host", addr)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    match v["data"]["token"].as_str() {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => bail!("login at {addr} failed with status {status}"),
    }
}

/// Subscribes to `topics` and counts events until `max` has passed, or until `idle` has
/// passed without an event once at least one arrived.
pub async fn count_events(
    addr: &str,
    token: &str,
    topics: &[String],
    max: Duration,
    idle: Duration,
) -> anyhow::Result<ListenReport> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn.with_upgrades());
    let req = Request::builder()
        .uri("/ws")
        .header("host", addr)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))?;
    let resp = sender.send_request(req).await?;
    if resp.status() != 101 {
        bail!("/ws at {addr} answered {}", resp.status());
    }
    let upgraded = hyper::upgrade::on(resp).await?;
    let mut socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    socket
        .send(Message::text(json!({"subscribe": topics}).to_string()))
        .await?;
    let started = Instant::now();
    let deadline = started + max;
    let mut report = ListenReport::default();
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = if report.by_type.is_empty() {
            deadline - now
        } else {
            idle.min(deadline - now)
        };
        match tokio::time::timeout(wait, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let event: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let kind = event["type"].as_str().unwrap_or("other").to_owned();
                if topics.contains(&kind) {
                    *report.by_type.entry(kind).or_default() += 1;
                    report.span = started.elapsed();
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => bail!("the WebSocket failed: {e}"),
            Ok(None) => break,
            Err(_) => break,
        }
    }
    Ok(report)
}
