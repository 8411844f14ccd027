//! `/admin/tokens`: personal access tokens — the list (scopes, expiry, last use), a form
//! to issue one (shown once), and revoking. The same manager calls and audit entries as
//! `/api/v1/admin/tokens`.

use cctv_admin::access::TokenScope;
use cctv_admin::manage::{ManageError, NewPersonalToken};
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::admin::admin;
use super::guard::{checked_form, flash};
use super::render::{base, error_page, page, redirect};
use super::session::Session;
use crate::extract::{caller, client_ip};
use crate::{AppState, state};

/// The form field of each scope's checkbox.
fn field(scope: TokenScope) -> String {
    format!("scope_{}", scope.as_str().replace(':', "_"))
}

async fn show(
    state: &AppState,
    req: &Request,
    res: &mut Response,
    session: &Session,
    status: StatusCode,
    extra: Value,
) {
    let ip = client_ip(req);
    let tokens = match state
        .manage
        .personal_tokens(caller(&session.who, &ip))
        .await
    {
        Ok(t) => t,
        Err(_) => {
            return error_page(
                res,
                session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Tokens are unavailable right now.",
            );
        }
    };
    let mut ctx = base(session, "tokens");
    ctx["tokens"] = json!(tokens);
    ctx["scopes"] = json!(
        TokenScope::ALL
            .iter()
            .map(|s| json!({"name": s.as_str(), "field": field(*s)}))
            .collect::<Vec<_>>()
    );
    if let (Value::Object(ctx), Value::Object(extra)) = (&mut ctx, extra) {
        ctx.extend(extra);
    }
    page(res, status, "tokens.html", &ctx);
}

#[handler]
pub async fn list(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = admin(&state, req, res).await else {
        return;
    };
    show(&state, req, res, &session, StatusCode::OK, json!({})).await;
}

#[handler]
pub async fn create(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = admin(&state, req, res).await else {
        return;
    };
    let Some(form) = checked_form(req, res, &session).await else {
        return;
    };
    let text = |k: &str| form.get(k).map(String::as_str).unwrap_or("").to_owned();
    let scopes: Vec<&str> = TokenScope::ALL
        .iter()
        .filter(|s| form.contains_key(&field(**s)))
        .map(|s| s.as_str())
        .collect();
    let body = json!({
        "user_email": text("user_email"), "name": text("name"), "scopes": scopes,
        "expires": text("expires"),
    });
    let ip = client_ip(req);
    let issued = match NewPersonalToken::from_json(&body) {
        Ok(new) => {
            state
                .manage
                .create_personal_token(caller(&session.who, &ip), &new)
                .await
        }
        Err(e) => Err(e),
    };
    match issued {
        Ok(issued) => {
            let extra = json!({"issued": issued.listing, "token": issued.token});
            show(&state, req, res, &session, StatusCode::CREATED, extra).await;
        }
        Err(ManageError::Validation(errors)) => {
            let extra = json!({"error": errors.to_string(), "form": body});
            show(
                &state,
                req,
                res,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                extra,
            )
            .await;
        }
        Err(_) => error_page(
            res,
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            "The token could not be created right now.",
        ),
    }
}

#[handler]
pub async fn revoke(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = admin(&state, req, res).await else {
        return;
    };
    if checked_form(req, res, &session).await.is_none() {
        return;
    }
    let id = req.param::<i64>("id").unwrap_or(0);
    let ip = client_ip(req);
    match state
        .manage
        .revoke_personal_token(caller(&session.who, &ip), id)
        .await
    {
        Ok(()) => {
            flash(req, res, "The token was revoked.");
            redirect(res, "/admin/tokens");
        }
        Err(ManageError::NotFound(m)) => error_page(res, &session, StatusCode::NOT_FOUND, &m),
        Err(_) => error_page(
            res,
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable right now.",
        ),
    }
}
