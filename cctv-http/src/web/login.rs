//! `GET/POST /login`, `POST /logout`.

use cctv_admin::manage::ManageError;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::json;

use super::next::safe_next;
use super::render::{page, redirect};
use super::session::{
    LOGIN_CSRF_COOKIE, clear_cookie, csrf_for, csrf_matches, current, set_cookie,
};
use crate::extract::{SESSION_COOKIE, client_ip, cookie, form_fields};
use crate::state;

fn login_page(
    req: &Request,
    res: &mut Response,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) {
    let secret = cctv_core::credential::random_alphanumeric(32);
    set_cookie(req, res, LOGIN_CSRF_COOKIE, &secret, Some(3600));
    // Only a local path is carried through the form (it is checked again on submit).
    let next = req
        .query::<String>("next")
        .filter(|n| super::next::is_local_path(n));
    let ctx = json!({"csrf": csrf_for(&secret), "email": email, "error": error, "next": next});
    page(res, status, "login.html", &ctx);
}

#[handler]
pub async fn form(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    if current(&state, req, res).await.is_some() {
        return redirect(res, "/dashboard");
    }
    login_page(req, res, StatusCode::OK, "", None);
}

#[handler]
pub async fn submit(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let fields = form_fields(req).await;
    let email = fields
        .get("email")
        .map(String::as_str)
        .unwrap_or_default()
        .to_owned();
    let expected = cookie(req, LOGIN_CSRF_COOKIE)
        .map(csrf_for)
        .unwrap_or_default();
    if expected.is_empty() || !csrf_matches(fields.get("_csrf").map(String::as_str), &expected) {
        return login_page(
            req,
            res,
            StatusCode::FORBIDDEN,
            &email,
            Some("The form expired. Please try again."),
        );
    }
    let password = fields
        .get("password")
        .map(String::as_str)
        .unwrap_or_default();
    if email.is_empty() || password.is_empty() {
        return login_page(
            req,
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            &email,
            Some("Enter your e-mail and password."),
        );
    }
    match state.manage.login(&email, password, &client_ip(req)).await {
        Ok(outcome) => {
            let ttl = (outcome.expires_at.as_second() - jiff::Timestamp::now().as_second()).max(60)
                as u64;
            set_cookie(req, res, SESSION_COOKIE, &outcome.token, Some(ttl));
            clear_cookie(req, res, LOGIN_CSRF_COOKIE);
            redirect(res, &safe_next(fields.get("next").map(String::as_str)));
        }
        Err(ManageError::Throttled(wait)) => {
            let msg = format!(
                "Too many attempts. Try again in {} minutes.",
                wait.as_secs().div_ceil(60)
            );
            login_page(req, res, StatusCode::TOO_MANY_REQUESTS, &email, Some(&msg));
        }
        Err(ManageError::Unauthorized(_)) => login_page(
            req,
            res,
            StatusCode::UNAUTHORIZED,
            &email,
            Some("The provided credentials do not match our records."),
        ),
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            login_page(
                req,
                res,
                StatusCode::SERVICE_UNAVAILABLE,
                &email,
                Some("Login is unavailable right now."),
            );
        }
    }
}

#[handler]
pub async fn logout(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let fields = form_fields(req).await;
    if let Some(session) = current(&state, req, res).await {
        if !csrf_matches(fields.get("_csrf").map(String::as_str), &session.csrf) {
            res.status_code(StatusCode::FORBIDDEN);
            return;
        }
        let _ = state.manage.logout(&session.who).await;
    }
    clear_cookie(req, res, SESSION_COOKIE);
    redirect(res, "/login");
}
