//! The event webhook endpoints of an event settings row (see [`crate::notify::webhook`]).
//!
//! - Only admins set `webhook_urls`: a URL makes the server send requests wherever it
//!   points, so it is not a branch operator's choice. Operators may still switch
//!   `webhook_enabled` on and off, and get back an unchanged list as unchanged.
//! - A URL keeps its secret across edits; a new URL gets a new one; `webhook_rotate: true`
//!   issues new secrets for every endpoint (receivers must be given them).
//! - Admins see the URLs and their secrets (`webhook_secrets`, URL → secret), which is how a
//!   receiver is set up; everyone else sees each endpoint as its label (origin and a short
//!   hash), never a path, token or secret.

use serde_json::{Map, Value};

use super::Manager;
use super::form::Form;
use crate::AdminCore;
use crate::access::Principal;
use crate::notify::webhook::{MAX_ENDPOINTS, WebhookEndpoint, endpoint_label, endpoints};
use cctv_core::records::Record;

const URLS: &str = "webhook_urls";
const ROTATE: &str = "webhook_rotate";

/// The endpoints as `who` sees them in `webhook_urls`.
fn shown(who: &Principal, stored: &[WebhookEndpoint]) -> Vec<String> {
    stored
        .iter()
        .map(|e| {
            if who.is_admin() {
                e.url.clone()
            } else {
                endpoint_label(&e.url)
            }
        })
        .collect()
}

/// Why `url` cannot be an endpoint, if it cannot.
fn refusal(url: &str) -> Option<&'static str> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Some("must start with http:// or https://");
    }
    if url.len() > 2000 {
        return Some("may not be longer than 2000 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("may not contain spaces or control characters");
    }
    crate::stream_url::origin(url)
        .is_none()
        .then_some("has no host")
}

/// Validates `webhook_urls` and `webhook_rotate` of the body into the sealed `webhooks`
/// column (left out of the record when nothing changes).
pub(super) fn seal(m: &Manager, who: &Principal, f: &mut Form<'_>, existing: Option<&Record>) {
    let rotate = f.boolean(ROTATE).unwrap_or(false);
    f.record.remove(ROTATE);
    let secrets = m.core.secrets();
    let stored = existing
        .map(|e| endpoints(e.get("webhooks"), secrets))
        .unwrap_or_default();
    let urls = match f.string_list(URLS, MAX_ENDPOINTS) {
        Some(urls) => urls,
        None if rotate => shown(who, &stored),
        None => return,
    };
    f.record.remove(URLS);
    if urls == shown(who, &stored) && !rotate {
        return;
    }
    if !who.is_admin() {
        let field = if rotate { ROTATE } else { URLS };
        f.errors.add(
            field,
            "Only admins may change webhook endpoints: the server sends requests to them.",
        );
        return;
    }
    let mut next: Vec<WebhookEndpoint> = Vec::with_capacity(urls.len());
    for url in urls {
        if let Some(why) = refusal(&url) {
            f.errors.add(URLS, format!("{url:?} {why}."));
            return;
        }
        if next.iter().any(|e| e.url == url) {
            continue;
        }
        let kept = stored.iter().find(|e| e.url == url && !rotate).cloned();
        next.push(kept.unwrap_or_else(|| WebhookEndpoint::new(url)));
    }
    let sealed = next.iter().map(|e| Value::from(e.seal(secrets))).collect();
    f.record.insert("webhooks".into(), Value::Array(sealed));
}

/// Adds `webhook_urls` (and, for admins, `webhook_secrets`) to a presented row.
pub(super) fn present(m: &Manager, who: &Principal, record: &Record, out: &mut Map<String, Value>) {
    let stored = endpoints(record.get("webhooks"), m.core.secrets());
    out.insert(URLS.into(), Value::from(shown(who, &stored)));
    if who.is_admin() {
        let secrets: Map<String, Value> = stored
            .into_iter()
            .map(|e| (e.url, Value::from(e.secret)))
            .collect();
        out.insert("webhook_secrets".into(), Value::Object(secrets));
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn endpoint_urls_must_be_http_with_a_host() {
        assert_eq!(refusal("https://hooks.example.com/T0K3N"), None);
        assert_eq!(refusal("http://10.0.0.5:8080/in"), None);
        for bad in [
            "ftp://h/x",
            "hooks.example.com",
            "https:///path",
            "https://h/a b",
            "javascript:alert(1)",
        ] {
            assert!(refusal(bad).is_some(), "{bad}");
        }
    }
}
