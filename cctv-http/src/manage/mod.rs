//! The management JSON API: people log in (`/api/login`, bearer tokens) and manage the
//! estate and access under `/api/v1/…`. Handlers only parse, call
//! [`cctv_core::manage::Manager`] (which enforces roles, scope and validation) and map
//! its errors to the envelope.

mod accounts;
mod resources;
mod tokens;

use cctv_core::access::{Principal, TokenScope};
use cctv_core::manage::{Caller, ManageError};
use salvo::{Request, Router};
use serde_json::Value;

use crate::AppState;
use crate::envelope::ApiError;

pub use resources::routes as resource_routes;

/// `/api/login`, `/api/me`, `/api/logout`, `/api/register` (refused).
pub fn account_routes() -> Router {
    Router::new()
        .push(Router::with_path("login").post(accounts::login))
        .push(Router::with_path("me").get(accounts::me))
        .push(Router::with_path("logout").post(accounts::logout))
        .push(Router::with_path("register").post(accounts::register))
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Unauthorized(m) => ApiError::Unauthorized(m.into()),
            ManageError::Forbidden(m) => ApiError::Forbidden(m),
            ManageError::NotFound(m) => ApiError::NotFound(m),
            ManageError::Validation(v) => ApiError::Validation(v),
            ManageError::Conflict(m) => ApiError::Conflict(m),
            ManageError::Throttled(d) => ApiError::TooManyAttempts(d),
            ManageError::Storage(s) => ApiError::from(s),
            other => ApiError::Server(other.to_string()),
        }
    }
}

/// The client address, for throttling and the audit log.
pub(crate) fn client_ip(req: &Request) -> String {
    req.remote_addr()
        .clone()
        .into_std()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The person behind the bearer token of this request.
pub(crate) async fn person(state: &AppState, req: &Request) -> Result<Principal, ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let header = header.ok_or_else(|| ApiError::Unauthorized("Unauthenticated.".into()))?;
    let principal = state.manage.authenticate(header).await?;
    crate::access_log::note_user(principal.user_id);
    allowed_for_token(&principal, req)?;
    Ok(principal)
}

/// A personal access token is accepted only on the reads its scopes name.
pub(crate) fn allowed_for_token(who: &Principal, req: &Request) -> Result<(), ApiError> {
    let Some(scopes) = &who.scopes else {
        return Ok(());
    };
    match TokenScope::required_for(req.method().as_str(), req.uri().path()) {
        Some(needed) if scopes.contains(&needed) => Ok(()),
        Some(needed) => Err(ApiError::Forbidden(format!(
            "This personal access token lacks the {needed} scope."
        ))),
        None => Err(ApiError::Forbidden(
            "A personal access token may only read reports, exports, metrics or detections.".into(),
        )),
    }
}

/// For read-only `GET` endpoints a page links to (report reads and exports, signed
/// files): the bearer token, or, without one, the web session cookie. Changes never
/// accept the cookie (SameSite=Lax keeps cross-site GETs cookie-less in any case).
pub(crate) async fn reader(state: &AppState, req: &Request) -> Result<Principal, ApiError> {
    if req.headers().get("authorization").is_none()
        && req.method() == salvo::http::Method::GET
        && let Some(p) = crate::web::session_principal(state, req).await
    {
        crate::access_log::note_user(p.user_id);
        return Ok(p);
    }
    person(state, req).await
}

pub(crate) fn caller<'a>(who: &'a Principal, ip: &'a str) -> Caller<'a> {
    Caller { who, ip }
}

/// A JSON object body (an empty body counts as `{}`).
pub(crate) async fn json_body(state: &AppState, req: &mut Request) -> Result<Value, ApiError> {
    let essence = req
        .content_type()
        .map(|m| m.essence_str().to_owned())
        .unwrap_or_default();
    let bytes = req
        .payload_with_max_size(state.settings.max_json_bytes)
        .await
        .map_err(|e| match e {
            salvo::http::ParseError::PayloadTooLarge => ApiError::PayloadTooLarge(format!(
                "The request body is larger than {} bytes, the most this server accepts \
                 (http.max_json_bytes)",
                state.settings.max_json_bytes
            )),
            other => ApiError::validation(
                "body",
                format!("The request body could not be read: {other}"),
            ),
        })?;
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    if essence != "application/json" {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json".into(),
        ));
    }
    if let Some(field) = cctv_core::input::too_deep_json_member(bytes) {
        return Err(ApiError::validation(
            &field,
            cctv_core::input::too_deep_message(&field),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::validation(
            "body",
            "The request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::validation("body", format!("Malformed JSON: {e}"))),
    }
}
