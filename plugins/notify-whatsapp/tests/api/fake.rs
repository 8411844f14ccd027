//! A fake provider on loopback: records every request and answers from a script.

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
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

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

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

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
        res.write_body(reply.body).unwrap();
    }
}
