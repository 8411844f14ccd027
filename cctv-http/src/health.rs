//! `GET /health`: liveness and readiness (the database answers).

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
pub async fn not_found(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let path = req.uri().path().chars().take(200).collect::<String>();
    respond(
        res,
        depot,
        Err(ApiError::NotFound(format!("No route for {path}"))),
    );
}
