//! Scopes of personal access tokens: what a long-lived read token may be used for.
//!
//! A login token acts with its user's full role. A personal access token carries scopes
//! and is accepted only on the reads they name, still within its user's role and branches;
//! every other request made with it is refused, so a token leaked from a BI tool cannot
//! change anything.

use std::fmt;

use serde::Serialize;

/// One permission of a personal access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TokenScope {
    /// Reports and visitor analytics as JSON: `GET /api/v1/reports/{daily,monthly,dashboard}`,
    /// `GET /api/v1/analytics/*`.
    #[serde(rename = "reports:read")]
    ReportsRead,
    /// Files: `GET /api/v1/reports/*/export`, `/api/v1/exports/persons`, `/api/v1/exports/events`.
    #[serde(rename = "exports:read")]
    ExportsRead,
    /// `GET /metrics` (an admin's token only: the metrics cover every branch).
    #[serde(rename = "metrics:read")]
    MetricsRead,
    /// Detection rows: `GET /api/v1/exports/detections`.
    #[serde(rename = "detections:read")]
    DetectionsRead,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] = [
        TokenScope::ReportsRead,
        TokenScope::ExportsRead,
        TokenScope::MetricsRead,
        TokenScope::DetectionsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::ReportsRead => "reports:read",
            TokenScope::ExportsRead => "exports:read",
            TokenScope::MetricsRead => "metrics:read",
            TokenScope::DetectionsRead => "detections:read",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s.trim())
    }

    /// The scope a request needs when made with a personal access token; `None`: no
    /// personal access token may make it (every change, and reads outside the scopes).
    pub fn required_for(method: &str, path: &str) -> Option<Self> {
        if method != "GET" && method != "HEAD" {
            return None;
        }
        let path = path.trim_end_matches('/');
        if path == "/metrics" {
            return Some(TokenScope::MetricsRead);
        }
        let api = path.strip_prefix("/api/v1/")?;
        match api.split('/').collect::<Vec<_>>().as_slice() {
            ["reports", "daily" | "monthly" | "dashboard"] => Some(TokenScope::ReportsRead),
            ["analytics", _] => Some(TokenScope::ReportsRead),
            ["reports", "daily" | "monthly" | "dashboard", "export"] => {
                Some(TokenScope::ExportsRead)
            }
            ["exports", "persons" | "events"] => Some(TokenScope::ExportsRead),
            ["exports", "detections"] => Some(TokenScope::DetectionsRead),
            _ => None,
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TokenScope::{self, *};

    #[test]
    fn reads_map_to_their_scope_and_nothing_else_is_allowed() {
        let cases = [
            ("GET", "/api/v1/reports/dashboard", Some(ReportsRead)),
            ("GET", "/api/v1/analytics/visits", Some(ReportsRead)),
            ("GET", "/api/v1/reports/daily/export", Some(ExportsRead)),
            ("GET", "/api/v1/exports/events", Some(ExportsRead)),
            ("GET", "/api/v1/exports/detections", Some(DetectionsRead)),
            ("GET", "/metrics", Some(MetricsRead)),
            ("POST", "/api/v1/reports/dashboard", None),
            ("GET", "/api/v1/users", None),
            ("GET", "/api/v1/admin/tokens", None),
            ("DELETE", "/api/v1/admin/tokens/1", None),
            ("GET", "/api/me", None),
            ("GET", "/api/v1/reports/daily/export/x", None),
        ];
        for (method, path, scope) in cases {
            assert_eq!(
                TokenScope::required_for(method, path),
                scope,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn scopes_parse_from_their_names() {
        for s in TokenScope::ALL {
            assert_eq!(TokenScope::parse(s.as_str()), Some(s));
        }
        assert_eq!(TokenScope::parse("admin"), None);
    }
}
