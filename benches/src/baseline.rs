//! A trivial salvo handler: reads the body, answers 202 with a small JSON document.

use salvo::http::StatusCode;
use salvo::{Request, Response, Router, Server, Service, handler};

#[handler]
async fn accept(req: &mut Request, res: &mut Response) {
    let _ = req.payload_with_max_size(1024 * 1024).await;
    res.status_code(StatusCode::ACCEPTED);
    res.headers_mut().insert(
        "content-type",
        salvo::http::header::HeaderValue::from_static("application/json"),
    );
    let _ = res.write_body(
        &br#"{"success":true,"data":{"job_id":"00000000-0000-0000-0000-000000000000"}}"#[..],
    );
}

/// Serves the baseline handler on `listener` forever.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let acceptor = salvo::conn::tcp::TcpAcceptor::try_from(listener)?;
    let router = Router::with_path("{**rest}").post(accept);
    Server::new(acceptor).serve(Service::new(router)).await;
    Ok(())
}
