//! Template rendering and the small response helpers every page uses.

use std::sync::OnceLock;

use minijinja::Environment;
use minijinja::value::{Serde, Value as JinjaValue};
use salvo::Response;
use salvo::http::StatusCode;
use salvo::http::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use serde_json::{Value, json};

use cctv_core::storage::StorageError;

use super::session::Session;

/// The embedded templates (one environment for the process).
pub struct Templates;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    (
        "components.html",
        include_str!("../../templates/components.html"),
    ),
    ("login.html", include_str!("../../templates/login.html")),
    (
        "analytics.html",
        include_str!("../../templates/analytics.html"),
    ),
    (
        "dashboard.html",
        include_str!("../../templates/dashboard.html"),
    ),
    ("list.html", include_str!("../../templates/list.html")),
    ("form.html", include_str!("../../templates/form.html")),
    ("persons.html", include_str!("../../templates/persons.html")),
    ("person.html", include_str!("../../templates/person.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("secret.html", include_str!("../../templates/secret.html")),
    ("tokens.html", include_str!("../../templates/tokens.html")),
    ("live.html", include_str!("../../templates/live.html")),
    ("events.html", include_str!("../../templates/events.html")),
    ("event.html", include_str!("../../templates/event.html")),
    (
        "credential_test.html",
        include_str!("../../templates/credential_test.html"),
    ),
    ("queues.html", include_str!("../../templates/queues.html")),
    ("reports.html", include_str!("../../templates/reports.html")),
    (
        "schedule.html",
        include_str!("../../templates/schedule.html"),
    ),
    ("usage.html", include_str!("../../templates/usage.html")),
    (
        "api_docs.html",
        include_str!("../../templates/api_docs.html"),
    ),
];

impl Templates {
    pub fn env() -> &'static Environment<'static> {
        static ENV: OnceLock<Environment<'static>> = OnceLock::new();
        ENV.get_or_init(|| {
            let mut env = Environment::new();
            env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
            env.add_filter("urlencode", urlencode);
            env.add_filter("dt", local_time);
            for (name, source) in TEMPLATES {
                env.add_template(name, source)
                    .unwrap_or_else(|e| panic!("template {name}: {e}"));
            }
            env
        })
    }

    /// Renders `name`; a template error is logged and shown as a plain 500 page.
    pub fn render(name: &str, ctx: &Value) -> Result<String, String> {
        let env = Self::env();
        let template = env.get_template(name).map_err(|e| e.to_string())?;
        template
            .render(JinjaValue::from(Serde(ctx)))
            .map_err(|e| format!("{e:#}"))
    }
}

/// Percent-encodes every byte except ASCII letters, digits and the bytes in `keep`.
pub(crate) fn percent_encode(s: &str, keep: &[u8]) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || keep.contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Percent-encodes everything but unreserved characters (path segments, query values).
fn urlencode(value: JinjaValue) -> String {
    let s = value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    percent_encode(&s, b"-._~")
}

/// An RFC 3339 timestamp as `YYYY-MM-DD HH:MM:SS` in the timezone `tz` (the configured
/// one, passed by every page); anything else is shown as it is.
fn local_time(value: JinjaValue, tz: Option<String>) -> String {
    let raw = value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    let zone = tz
        .and_then(|name| jiff::tz::TimeZone::get(&name).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    match raw.parse::<jiff::Timestamp>() {
        Ok(t) => t
            .to_zoned_datetime(zone)
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) if value.is_none() || value.is_undefined() => String::new(),
        Err(_) => raw,
    }
}

/// Device id → name, for tables that list detections (`device_names[d.device_id]`).
pub(crate) fn device_names(estate: &cctv_core::estate::EstateSnapshot) -> Value {
    Value::Object(
        estate
            .devices
            .values()
            .map(|d| (d.device_id.clone(), Value::from(d.device_name.clone())))
            .collect(),
    )
}

/// Branch id (as text) → name.
pub(crate) fn branch_names(estate: &cctv_core::estate::EstateSnapshot) -> Value {
    Value::Object(
        estate
            .branches
            .values()
            .map(|b| (b.id.to_string(), Value::from(b.branch_name.clone())))
            .collect(),
    )
}

/// The context every page gets: who is logged in, navigation rights, CSRF token.
pub(crate) fn base(session: &Session, active: &str) -> Value {
    let who = &session.who;
    json!({
        "tz": session.tz,
        "user": {"name": who.name, "email": who.email, "role": who.role.as_str()},
        "is_admin": who.is_admin(),
        "can_manage": who.role != cctv_admin::access::Role::Viewer,
        "csrf": session.csrf,
        "active": active,
        "flash": session.flash,
    })
}

/// Writes an HTML page (its security headers are added by `security_headers`).
pub(crate) fn page(res: &mut Response, status: StatusCode, name: &str, ctx: &Value) {
    page_with_origin(res, status, name, ctx, None)
}

/// The Content-Security-Policy of pages: everything from this server only (camera
/// pictures come through the stream proxy), plus `origin` (the stream gateway's player)
/// for images, media and frames on the page that embeds it.
fn content_security_policy(origin: Option<&str>) -> String {
    let extra = origin.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data: blob:{extra}; media-src 'self' blob:{extra}; \
         frame-src 'self'{extra}; connect-src 'self' ws: wss:; style-src 'self'; \
         script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
}

/// Writes an HTML page that may embed pictures and players from `origin`.
pub(crate) fn page_with_origin(
    res: &mut Response,
    status: StatusCode,
    name: &str,
    ctx: &Value,
    origin: Option<&str>,
) {
    let html = match Templates::render(name, ctx) {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering failed");
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            "<!doctype html><title>Error</title><p>The page could not be rendered.</p>".into()
        }
    };
    if res.status_code.is_none() {
        res.status_code(status);
    }
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let csp = HeaderValue::from_str(&content_security_policy(origin))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    res.headers_mut().insert("content-security-policy", csp);
    let _ = res.write_body(html);
}

/// 303 to `to` (after a POST, or to the login page).
pub(crate) fn redirect(res: &mut Response, to: &str) {
    res.status_code(StatusCode::SEE_OTHER);
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
}

/// An error page with the layout (403, 404, …).
/// The page of a feature the storage backend does not provide (501).
pub(crate) fn unsupported(res: &mut Response, session: &Session, error: &StorageError) {
    error_page(
        res,
        session,
        StatusCode::NOT_IMPLEMENTED,
        &error.to_string(),
    );
}

pub(crate) fn error_page(res: &mut Response, session: &Session, status: StatusCode, message: &str) {
    let mut ctx = base(session, "");
    ctx["status"] = json!(status.as_u16());
    ctx["message"] = json!(message);
    page(res, status, "error.html", &ctx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_with_an_empty_context() {
        let ctx = json!({"user": {"name": "n", "role": "admin"}, "tz": "Asia/Jakarta",
            "spec": {"editable": true, "columns": [{"key": "status", "label": "S"}, {"key": "created_at", "label": "C"}, {"key": "x", "label": "X"}], "filters": [{"name": "status", "options": ["active"]}]},
            "recent": [{"re_id": "a b/<c>", "detection_date": "2026-11-28", "detection_timestamp": "2026-11-27T17:30:00Z"}],
            "items": [{"id": 1, "re_id": "x y", "status": "active", "created_at": "2026-11-27T17:30:00Z", "x": [1, 2]}],
            "query": {"search": "q", "page": "2"}, "history": [{"re_id": "r"}],
            "pagination": {"page": 1, "per_page": 10, "total": 0, "last_page": 1}, "stats": {}, "day": {}});
        for (name, _) in TEMPLATES {
            if let Err(e) = Templates::render(name, &ctx) {
                panic!("{name}: {e}");
            }
        }
        let dashboard = Templates::render("dashboard.html", &ctx).unwrap();
        assert!(
            dashboard.contains("2026-11-28 00:30:00"),
            "times are shown in the configured timezone"
        );
        assert!(
            dashboard.contains("/persons/a%20b%2F%3Cc%3E?"),
            "path segments are encoded"
        );
    }
}
