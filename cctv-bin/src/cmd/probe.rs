//! `cctv probe`: asks a running server's `/livez` (or `/readyz`) and exits 0 when it answers
//! 200, 1 otherwise. For container health checks and service managers, so the runtime image
//! needs no HTTP client of its own; plain HTTP/1.0 over a blocking socket with a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Probe arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Ask `/readyz` (database reachable, pipeline running) instead of `/livez`.
    #[arg(long)]
    pub ready: bool,
    /// The server's address (default: `listen` of the configuration; 0.0.0.0 is asked on
    /// 127.0.0.1).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

/// The status code the server answered, or why there was none.
pub fn status(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, String> {
    let addr = match addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(
            if ip.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            },
            addr.port(),
        ),
        _ => addr,
    };
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

/// Runs the probe; `Ok(true)` when the server answered 200.
pub fn run(listen: SocketAddr, args: &Args) -> bool {
    let path = if args.ready { "/readyz" } else { "/livez" };
    let addr = args.addr.unwrap_or(listen);
    match status(addr, path, Duration::from_secs(args.timeout.max(1))) {
        Ok(200) => {
            println!("{path}: 200");
            true
        }
        Ok(code) => {
            eprintln!("{path}: {code}");
            false
        }
        Err(why) => {
            eprintln!("{path}: no answer ({why})");
            false
        }
    }
}
