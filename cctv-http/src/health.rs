//! Probes: `GET /livez` (the process answers), `GET /readyz` (the database answers, this
//! process's pipeline runs and the server is not stopping: send it traffic), and
//! `GET /health` (kept for the original's monitors: the database answers).

use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::json;

use crate::envelope::{ApiError, Reply, respond};
use crate::state;

#[handler]
pub async fn health(_req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let database = state
        .core
        .storage()
        .change_stamp(cctv_core::storage::ChangeTopic::Estate)
        .await;
    let result = match database {
        Ok(_) => Ok(Reply::with_status(
            StatusCode::OK,
            "healthy",
            json!({"status": "healthy", "database": "connected", "version": env!("CARGO_PKG_VERSION")}),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            Err(ApiError::Unavailable(
                "unhealthy: database unavailable".into(),
            ))
        }
    };
    respond(res, depot, result);
}

#[handler]
pub async fn livez(_req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let reply = Reply::with_status(StatusCode::OK, "alive", json!({"status": "alive"}));
    respond(res, depot, Ok(reply));
}

#[handler]
pub async fn readyz(_req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let stopping = state.stopping.load(std::sync::atomic::Ordering::Relaxed);
    let database = state
        .core
        .storage()
        .change_stamp(cctv_core::storage::ChangeTopic::Estate)
        .await
        .is_ok();
    let pipeline = state.core.worker_states().iter().any(|w| w.workers > 0);
    let checks = json!({
        "database": if database { "ok" } else { "unavailable" },
        "pipeline": if pipeline { "running" } else { "not running" },
        "stopping": stopping,
    });
    let result = if database && pipeline && !stopping {
        Ok(Reply::with_status(
            StatusCode::OK,
            "ready",
            json!({"status": "ready", "checks": checks}),
        ))
    } else {
        let why: Vec<&str> = [
            (!database, "database unavailable"),
            (!pipeline, "pipeline not running"),
            (stopping, "shutting down"),
        ]
        .into_iter()
        .filter_map(|(bad, what)| bad.then_some(what))
        .collect();
        Err(ApiError::Unavailable(format!(
            "not ready: {}",
            why.join(", ")
        )))
    };
    respond(res, depot, result);
}

#[handler]
pub async fn not_found(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    if let Some(allow) = crate::openapi::allowed_methods(req.uri().path()) {
        let method = req.method().as_str().chars().take(20).collect();
        return respond(
            res,
            depot,
            Err(ApiError::MethodNotAllowed { method, allow }),
        );
    }
    let path = req.uri().path().chars().take(200).collect::<String>();
    respond(
        res,
        depot,
        Err(ApiError::NotFound(format!("No route for {path}"))),
    );
}
