//! Browser sessions: the session cookie holds a bearer token of the same store as the API
//! (`"<id>|<secret>"`, hashed at rest), marked HttpOnly and SameSite=Lax (and Secure
//! behind TLS). Each form carries a CSRF token derived from the session secret, so it
//! needs no storage and changes with every login; the login form uses a double-submit
//! cookie because there is no session yet.

use cctv_admin::access::Principal;
use salvo::Request;
use salvo::Response;
use salvo::http::header::{HeaderValue, SET_COOKIE};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::extract::{SESSION_COOKIE, cookie};

pub(crate) const LOGIN_CSRF_COOKIE: &str = "cctv_login_csrf";
pub(crate) const FLASH_COOKIE: &str = "cctv_flash";

/// A logged-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub who: Principal,
    pub csrf: String,
    /// A one-time message from the previous request (set by [`flash`]).
    pub flash: Option<String>,
    /// IANA name of the configured timezone (times are shown in it).
    pub tz: String,
}

fn behind_tls(req: &Request) -> bool {
    req.headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
        || req.uri().scheme_str() == Some("https")
}

/// Adds a `Set-Cookie` (HttpOnly, SameSite=Lax, Path=/, Secure behind TLS).
pub(crate) fn set_cookie(
    req: &Request,
    res: &mut Response,
    name: &str,
    value: &str,
    max_age: Option<u64>,
) {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if behind_tls(req) {
        c.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(SET_COOKIE, v);
    }
}

pub(crate) fn clear_cookie(req: &Request, res: &mut Response, name: &str) {
    set_cookie(req, res, name, "", Some(0));
}

/// The CSRF token of a session (or of a login form's random cookie).
pub(crate) fn csrf_for(secret: &str) -> String {
    let digest = Sha256::digest(format!("cctv-csrf:{secret}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of a submitted token with the expected one.
pub(crate) fn csrf_matches(submitted: Option<&str>, expected: &str) -> bool {
    submitted.is_some_and(|s| {
        s.len() == expected.len() && bool::from(s.as_bytes().ct_eq(expected.as_bytes()))
    })
}

pub(crate) fn decode_flash(raw: &str) -> String {
    cctv_admin::stream_url::percent_decode(raw)
}

/// The session of this request, if its cookie holds a live token.
pub(crate) async fn current(
    state: &AppState,
    req: &Request,
    res: &mut Response,
) -> Option<Session> {
    let token = cookie(req, SESSION_COOKIE)?;
    let who = state
        .manage
        .authenticate_login(&format!("Bearer {token}"))
        .await
        .ok()?;
    let secret = token.split_once('|').map_or(token, |(_, s)| s);
    let flash = cookie(req, FLASH_COOKIE)
        .filter(|f| !f.is_empty())
        .map(decode_flash);
    if flash.is_some() {
        clear_cookie(req, res, FLASH_COOKIE);
    }
    Some(Session {
        who,
        csrf: csrf_for(secret),
        flash,
        tz: state
            .core
            .timezone()
            .iana_name()
            .unwrap_or("UTC")
            .to_owned(),
    })
}
