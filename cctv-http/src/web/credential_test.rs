//! `GET /api-credentials/{id}/test` (admins): a page that calls the device API from the
//! browser with the key and a secret the admin types (never stored or sent to this page's
//! server other than as the API call itself), and shows status, time, rate-limit headers
//! and the body.

use cctv_admin::manage::Resource;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::json;

use super::guard::require;
use super::render::{base, error_page, page};
use crate::extract::{caller, client_ip};
use crate::state;

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    if !session.who.is_admin() {
        return error_page(
            res,
            &session,
            StatusCode::FORBIDDEN,
            "This page is for administrators.",
        );
    }
    let Some(id) = req.param::<i64>("id") else {
        return error_page(res, &session, StatusCode::NOT_FOUND, "Not found");
    };
    let ip = client_ip(req);
    match state
        .manage
        .show(caller(&session.who, &ip), Resource::Credentials, id)
        .await
    {
        Ok(credential) => {
            let mut ctx = base(&session, "api-credentials");
            ctx["credential"] = credential;
            ctx["endpoints"] = json!([
                "/api/v1/detections",
                "/api/v1/detection/summary",
                format!("/api/v1/api-credentials/{id}/test"),
                "/api/v1/person/REID_TEST_001",
            ]);
            page(res, StatusCode::OK, "credential_test.html", &ctx);
        }
        Err(_) => error_page(res, &session, StatusCode::NOT_FOUND, "No such credential."),
    }
}
