//! What a handler reads from a request, shared by the JSON API and the web pages: the
//! client address, the person behind a bearer token or a session cookie (and what a
//! personal access token may do), cookies, a JSON body and form fields. Handlers of both
//! kinds call these; none of them renders anything.

use std::collections::BTreeMap;

use cctv_admin::access::{Principal, TokenScope};
use cctv_admin::manage::Caller;
use salvo::Request;
use serde_json::Value;

use crate::AppState;
use crate::envelope::ApiError;

/// The cookie a browser session rides in (a bearer token, `"<id>|<secret>"`).
pub const SESSION_COOKIE: &str = "cctv_session";

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
        && let Some(p) = session_principal(state, req).await
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
    if let Some(field) = crate::body_shape::too_deep_json_member(bytes) {
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

/// The person behind the session cookie of `req`, if any (for `/storage/file`).
pub(crate) async fn session_principal(
    state: &crate::AppState,
    req: &salvo::Request,
) -> Option<cctv_admin::access::Principal> {
    let token = cookie(req, SESSION_COOKIE)?;
    state
        .manage
        .authenticate_login(&format!("Bearer {token}"))
        .await
        .ok()
}

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    cookie_in(
        req.headers()
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()),
        name,
    )
}

/// The first value of cookie `name` in `Cookie` header values (`a=1; b=2`).
pub(crate) fn cookie_in<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The fields of an `application/x-www-form-urlencoded` (or multipart) body.
pub(crate) async fn form_fields(req: &mut Request) -> BTreeMap<String, String> {
    match req.form_data_max_size(256 * 1024).await {
        Ok(data) => data
            .fields
            .iter_all()
            .filter_map(|(k, v)| v.last().map(|v| (k.clone(), v.clone())))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}
