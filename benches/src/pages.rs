//! Page timing: logs in through the login form like a browser, then requests each main
//! page repeatedly and records how long the server took to answer in full (loopback, one
//! connection per request, so the figure is server time plus a local round trip).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use tokio::net::TcpStream;

use crate::stats::Latencies;

/// One request's status, cookies set and body.
struct Answer {
    status: u16,
    cookies: Vec<String>,
    body: String,
}

async fn request(
    addr: &str,
    method: &str,
    path: &str,
    cookie: &str,
    form: Option<String>,
) -> anyhow::Result<Answer> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("cookie", cookie);
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(form.unwrap_or_default())))?)
        .await?;
    let status = resp.status().as_u16();
    let cookies = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let body = String::from_utf8_lossy(&resp.into_body().collect().await?.to_bytes()).into_owned();
    Ok(Answer {
        status,
        cookies,
        body,
    })
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Logs in and returns the session cookie (`cctv_session=…`).
pub async fn login(addr: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let form = request(addr, "GET", "/login", "", None).await?;
    let cookie = form.cookies.join("; ");
    let at = form
        .body
        .find("name=\"_csrf\" value=\"")
        .context("no CSRF field on /login")?
        + 20;
    let csrf = form.body.get(at..at + 64).context("short CSRF token")?;
    let body = format!(
        "_csrf={csrf}&email={}&password={}",
        enc(email),
        enc(password)
    );
    let done = request(addr, "POST", "/login", &cookie, Some(body)).await?;
    match done
        .cookies
        .into_iter()
        .find(|c| c.starts_with("cctv_session="))
    {
        Some(session) if done.status == 303 => Ok(session),
        _ => bail!("login failed with status {}", done.status),
    }
}

/// Timings of one page.
#[derive(Debug, Clone)]
pub struct PageTiming {
    pub path: String,
    /// The first (warm-up) request: cold caches, nothing remembered yet.
    pub first: Duration,
    pub latencies: Latencies,
}

/// Requests each path `rounds` times (after one warm-up request) with the session.
pub async fn time_pages(
    addr: &str,
    session: &str,
    paths: &[String],
    rounds: usize,
) -> anyhow::Result<Vec<PageTiming>> {
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let started = Instant::now();
        let warm = request(addr, "GET", path, session, None).await?;
        let first = started.elapsed();
        if warm.status != 200 {
            bail!("{path} answered {}", warm.status);
        }
        let mut micros = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let answer = request(addr, "GET", path, session, None).await?;
            let took = started.elapsed().min(Duration::from_secs(4000));
            if answer.status != 200 {
                bail!("{path} answered {}", answer.status);
            }
            micros.push(took.as_micros() as u32);
        }
        out.push(PageTiming {
            path: path.clone(),
            first,
            latencies: Latencies::new(micros),
        });
    }
    Ok(out)
}

/// The links under `prefix` (e.g. `/persons/`) on the page at `list`, in page order: real
/// detail pages and ids to time.
pub async fn links(
    addr: &str,
    session: &str,
    list: &str,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let page = request(addr, "GET", list, session, None).await?;
    let html = page.body.replace("&#x2f;", "/").replace("&amp;", "&");
    let needle = format!("href=\"{prefix}");
    Ok(html
        .match_indices(&needle)
        .filter_map(|(at, _)| html[at + 6..].split('"').next().map(str::to_owned))
        .collect())
}
