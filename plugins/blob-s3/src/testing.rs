//! A real S3-compatible server on loopback for tests: `moto_server` (from PyPI,
//! `pip install 'moto[server]'`), started once per test process on a free port.
//!
//! The server is started under a small shell watchdog that reads the test process's end of
//! a pipe: when the test process exits — normally, by a panic or by a signal — the pipe
//! closes and the watchdog stops the server, so no server outlives its tests.
//!
//! When `moto_server` is not installed the tests skip with a message, unless
//! `CCTV_TEST_S3=require` (set by `.ci/run` after it installed the server), where a missing
//! server fails the test instead of hiding it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{S3Credentials, S3Settings};

/// A running server; see the module docs.
pub struct S3Server {
    endpoint: String,
    port: u16,
    _watchdog: Mutex<Child>,
}

/// What every test client signs with (the server accepts any key).
pub const ACCESS_KEY_ID: &str = "cctv-test-key";
pub const SECRET_ACCESS_KEY: &str = "cctv-test-secret";
pub const REGION: &str = "us-east-1";

impl S3Server {
    /// The server of this test process, started on first use; `None` (with the reason on
    /// stderr) when it cannot be started and `CCTV_TEST_S3` is not `require`.
    pub fn shared() -> Option<&'static S3Server> {
        static SERVER: OnceLock<Result<S3Server, String>> = OnceLock::new();
        match SERVER.get_or_init(Self::start) {
            Ok(server) => Some(server),
            Err(why) if std::env::var("CCTV_TEST_S3").as_deref() == Ok("require") => {
                panic!("CCTV_TEST_S3=require but the S3 test server did not start: {why}")
            }
            Err(why) => {
                eprintln!("skipping an S3 test: {why} (pip install 'moto[server]')");
                None
            }
        }
    }

    fn start() -> Result<S3Server, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(
                "moto_server -H 127.0.0.1 -p \"$1\" >/dev/null 2>&1 & server=$!; \
                 cat >/dev/null; kill $server 2>/dev/null",
            )
            .arg("sh")
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _watchdog: Mutex::new(watchdog),
        };
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if server.request("GET", "/").is_ok_and(|s| s == 200) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err("moto_server did not answer on loopback within 40 s".into())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates a fresh bucket with a unique name and returns its name.
    pub fn new_bucket(&self, label: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("cctv-{label}-{}-{n}", std::process::id());
        let status = self
            .request("PUT", &format!("/{name}"))
            .unwrap_or_else(|e| panic!("creating bucket {name}: {e}"));
        assert_eq!(status, 200, "creating bucket {name}");
        name
    }

    /// Settings of a store on `bucket` with this server's test credentials.
    pub fn settings(&self, bucket: &str, prefix: &str) -> S3Settings {
        S3Settings {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: self.endpoint.clone(),
            region: REGION.into(),
            credentials: Some(S3Credentials {
                access_key_id: ACCESS_KEY_ID.into(),
                secret_access_key: SECRET_ACCESS_KEY.into(),
                session_token: None,
            }),
        }
    }

    /// The environment a `cctv` process needs to reach this server as its image store.
    pub fn env(&self, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        [
            ("CCTV__STORAGE__BACKEND", "s3"),
            ("CCTV__STORAGE__S3__BUCKET", bucket),
            ("CCTV__STORAGE__S3__PREFIX", prefix),
            ("CCTV__STORAGE__S3__ENDPOINT", self.endpoint.as_str()),
            ("CCTV__STORAGE__S3__REGION", REGION),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Keys under `prefix/` in `bucket`, read straight from the server (not through the store).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let body = self
            .get_body(&format!("/{bucket}?list-type=2&prefix={prefix}"))
            .unwrap_or_else(|e| panic!("listing {bucket}: {e}"));
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    /// An unsigned HTTP/1.1 request without a body; the status code.
    fn request(&self, method: &str, target: &str) -> Result<u16, String> {
        let (status, _) = self.exchange(method, target)?;
        Ok(status)
    }

    fn get_body(&self, target: &str) -> Result<String, String> {
        match self.exchange("GET", target)? {
            (200, body) => Ok(body),
            (status, body) => Err(format!("status {status}: {body}")),
        }
    }

    fn exchange(&self, method: &str, target: &str) -> Result<(u16, String), String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(
            stream,
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|e| e.to_string())?;
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "not an HTTP answer: {}",
                    answer.chars().take(80).collect::<String>()
                )
            })?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }
}
