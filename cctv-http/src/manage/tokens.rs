//! `GET/POST /api/v1/admin/tokens`, `DELETE /api/v1/admin/tokens/{id}`: personal access
//! tokens, admins only (with a login, never with a personal access token). A new token
//! is in the answer once; the list shows scopes, expiry and last use, never a secret.

use cctv_admin::manage::NewPersonalToken;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::json;

use crate::envelope::{ApiError, Reply, respond};
use crate::extract::{caller, client_ip, json_body, person};
use crate::state;

#[handler]
pub async fn list(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = person(&state, req).await?;
        let ip = client_ip(req);
        let tokens = state.manage.personal_tokens(caller(&who, &ip)).await?;
        Ok(Reply::ok(
            "Personal access tokens retrieved successfully",
            json!(tokens),
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn create(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = person(&state, req).await?;
        let body = json_body(&state, req).await?;
        let new = NewPersonalToken::from_json(&body)?;
        let ip = client_ip(req);
        let issued = state
            .manage
            .create_personal_token(caller(&who, &ip), &new)
            .await?;
        let mut data = issued.listing;
        data["token"] = json!(issued.token);
        data["token_type"] = json!("Bearer");
        Ok(Reply::with_status(
            StatusCode::CREATED,
            "Personal access token created: copy it now, it is not shown again",
            data,
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn revoke(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = person(&state, req).await?;
        let id = req
            .param::<i64>("id")
            .filter(|id| *id > 0)
            .ok_or_else(|| ApiError::NotFound("Personal access token not found".into()))?;
        let ip = client_ip(req);
        state
            .manage
            .revoke_personal_token(caller(&who, &ip), id)
            .await?;
        Ok(Reply::ok("Personal access token revoked", json!(null)))
    }
    .await;
    respond(res, depot, result);
}
