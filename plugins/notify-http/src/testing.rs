//! A fake HTTP provider on loopback for notifier tests: it records every request and
//! answers from a script (status, body, extra headers, delay). It binds 127.0.0.1 only.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use cctv_notify_http::testing::{FakeProvider, Reply};
//!
//! let fake = FakeProvider::start(vec![
//!     Reply::new(429, r#"{"message":"slow down"}"#).with_header("retry-after", "7"),
//!     Reply::new(200, r#"{"id":"m1"}"#),
//! ])
//! .await;
//! let http = cctv_notify_http::client("demo", std::time::Duration::from_secs(5)).unwrap();
//! let first = cctv_notify_http::execute(http.post(format!("{}/send", fake.url))).await;
//! assert_eq!(first.unwrap_err().retry_after(), Some(std::time::Duration::from_secs(7)));
//! let second = cctv_notify_http::execute(http.post(format!("{}/send", fake.url))).await;
//! assert_eq!(second.unwrap().json["id"], "m1");
//! assert_eq!(fake.requests().len(), 2);
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use salvo::conn::tcp::TcpAcceptor;
use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, Server, Service, async_trait};

/// One request as the provider saw it (header names lower-case).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON (panics when it is not: a test helper).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Reply {
    /// Answers `status` with `body` (sent as `application/json`).
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header to the answer (e.g. `retry-after`).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers after `delay` (to exercise timeouts).
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    /// Answers in order; the last one repeats.
    replies: Mutex<VecDeque<Reply>>,
}

/// The running fake; `url` is its base (`http://127.0.0.1:PORT`).
pub struct FakeProvider {
    pub url: String,
    state: Arc<State>,
}

impl FakeProvider {
    /// Starts on 127.0.0.1 with a free port; the server lives as long as the test runtime.
    pub async fn start(replies: Vec<Reply>) -> Self {
        let state = Arc::new(State {
            replies: Mutex::new(replies.into()),
            ..State::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let acceptor = TcpAcceptor::try_from(listener).unwrap();
        let router = Router::with_path("{**rest}").goal(Fake(state.clone()));
        tokio::spawn(Server::new(acceptor).serve(Service::new(router)));
        Self { url, state }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The single request so far (panics otherwise).
    pub fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(
            requests.len(),
            1,
            "expected exactly one request: {requests:?}"
        );
        requests.into_iter().next().unwrap()
    }
}

struct Fake(Arc<State>);

#[async_trait]
impl Handler for Fake {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let body = req
            .payload_with_max_size(16 << 20)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        self.0.requests.lock().unwrap().push(Recorded {
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            headers,
            body,
        });
        let reply = {
            let mut replies = self.0.replies.lock().unwrap();
            if replies.len() > 1 {
                replies.pop_front()
            } else {
                replies.front().cloned()
            }
        }
        .unwrap_or_else(|| Reply::new(200, "{}"));
        tokio::time::sleep(reply.delay).await;
        res.status_code(StatusCode::from_u16(reply.status).unwrap());
        res.add_header("content-type", "application/json", true)
            .unwrap();
        for (name, value) in &reply.headers {
            let name = salvo::http::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
            res.add_header(name, value.as_str(), true).unwrap();
        }
        res.write_body(reply.body).unwrap();
    }
}
