//! Files (issue 4): event image processing, signed file access, retention cleanup and
//! the API access log, through the real HTTP server on both backends.

mod access_log;
mod cleanup;
mod images;
mod s3;
mod signed;

use std::time::Duration;

use cctv_core::records::tables::{EVENT_LOG_FILES, STORAGE_FILES};
use cctv_core::records::{Filter, ListQuery, Order, Record, by_id};
use serde_json::Value;

use crate::helpers::TestApp;

/// A real JPEG of `w`×`h`: a dark gradient (no channel above 100, so near-white pixels
/// in the result can only be the watermark).
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 100 / w) as u8,
            (y * 100 / h) as u8,
            ((x + y) % 101) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&img)
        .unwrap();
    out
}

/// Posts `bytes` as the image of a detection and returns the event log id once the
/// detection is processed.
pub async fn post_image(app: &TestApp, re_id: &str, bytes: &[u8]) -> i64 {
    let branch = app.branch(0).to_string();
    let resp = app
        .post_multipart(
            &[
                ("re_id", re_id),
                ("branch_id", &branch),
                ("device_id", app.device(0)),
            ],
            Some(("image", "frame.jpg", bytes)),
        )
        .await;
    assert_eq!(resp.status, 202, "{:?}", resp.body);
    let done = app
        .wait_completed(resp.body["data"]["job_id"].as_str().unwrap())
        .await;
    done.body["data"]["result"]["event_log_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no event id in {:?}", done.body))
}

/// The event log row `event` as stored now.
pub async fn event_row(app: &TestApp, event: i64) -> Record {
    app.core
        .storage()
        .find_record(&EVENT_LOG_FILES, &by_id(event))
        .await
        .unwrap()
        .expect("the event exists")
}

/// Waits (up to 60 s: the million-row export test may share the cores) until the image job
/// has settled the event (processed or marked with an error).
pub async fn settled_event(app: &TestApp, event: i64) -> Record {
    for _ in 0..3000 {
        let row = event_row(app, event).await;
        if !row["thumbnail_path"].is_null() || !row["image_error"].is_null() {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the image of event {event} was not processed");
}

/// The registry row of `path`.
pub async fn registry_row(app: &TestApp, path: &str) -> Option<Record> {
    app.core
        .storage()
        .find_record(
            &STORAGE_FILES,
            &[Filter::Eq("file_path", Value::from(path))],
        )
        .await
        .unwrap()
}

/// All registry rows of an event.
pub async fn event_files(app: &TestApp, event: i64) -> Vec<Record> {
    let query = ListQuery {
        filters: vec![Filter::Eq("related_id", Value::from(event))],
        order: Order::asc("id"),
        page: 1,
        per_page: 100,
    };
    app.core
        .storage()
        .list_records(&STORAGE_FILES, &query)
        .await
        .unwrap()
        .0
}

/// A GET that keeps the raw body (files are not JSON).
pub async fn get_raw(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
) -> (u16, std::collections::HashMap<String, String>, Vec<u8>) {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(&app.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method("GET")
        .uri(path)
        .header("host", &app.addr);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = sender
        .send_request(req.body(Empty::<bytes::Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}
