//! What a page handler does before its work: insist on a session (else send the browser to
//! the login page), accept a posted form only with the session's CSRF token (else show
//! "form expired"), and leave a one-time message for the next page. Kept apart from
//! `session` (which only reads and writes the session) so that `render`, which needs the
//! session's type, and these, which render, do not depend on each other both ways.

use salvo::{Request, Response};

use super::render;
use super::session::{FLASH_COOKIE, Session, csrf_matches, current, set_cookie};
use crate::AppState;
use crate::extract::form_fields;

/// The fields of a posted form whose CSRF token matches the session; otherwise the
/// "form expired" page is sent and `None` returned.
pub(crate) async fn checked_form(
    req: &mut Request,
    res: &mut Response,
    session: &Session,
) -> Option<std::collections::BTreeMap<String, String>> {
    let form = form_fields(req).await;
    if csrf_matches(form.get("_csrf").map(String::as_str), &session.csrf) {
        return Some(form);
    }
    render::error_page(
        res,
        session,
        salvo::http::StatusCode::FORBIDDEN,
        "The form expired. Reload and try again.",
    );
    None
}

/// Sets a message shown once on the next page.
pub(crate) fn flash(req: &Request, res: &mut Response, message: &str) {
    let encoded = render::percent_encode(message, b"-._");
    set_cookie(req, res, FLASH_COOKIE, &encoded, Some(60));
}

/// The session, or a redirect to the login page (`None` returned, response written).
pub(crate) async fn require(
    state: &AppState,
    req: &Request,
    res: &mut Response,
) -> Option<Session> {
    match current(state, req, res).await {
        Some(s) => Some(s),
        None => {
            let next = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let next = render::percent_encode(next, b"/-_.");
            render::redirect(res, &format!("/login?next={next}"));
            None
        }
    }
}
