//! Whether a browser's `Origin` is ours. A WebSocket handshake is not covered by the
//! same-origin policy or by SameSite=Lax cookies, so without this check any site a
//! logged-in person visits could open `/ws` with their session and read live events.

/// Whether `origin` (the header's value) is this server's own origin — same host and
/// port as the `Host` the browser sent, over http or https — or one of `allowed`
/// (configured, e.g. a console served from another host).
pub(crate) fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = normalize(origin) else {
        return false;
    };
    let own = host.is_some_and(|h| {
        let authority = origin.split_once("://").map_or("", |(_, a)| a);
        // The Host header carries no scheme; either scheme of the same authority is us
        // (a TLS proxy in front may not say which one the browser used).
        let host = h.trim().to_ascii_lowercase();
        authority == strip_default_port(&host, "http")
            || authority == strip_default_port(&host, "https")
    });
    own || allowed
        .iter()
        .filter_map(|a| normalize(a))
        .any(|a| a == origin)
}

/// `scheme://host[:port]` lower-cased without a default port, or `None` when it is not
/// an http(s) origin (`null`, `file://`, anything with a path or user info).
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    if !matches!(scheme, "http" | "https")
        || authority.is_empty()
        || authority.contains(['/', '@', '?', '#', '\\'])
    {
        return None;
    }
    Some(format!(
        "{scheme}://{}",
        strip_default_port(authority, scheme)
    ))
}

fn strip_default_port<'a>(authority: &'a str, scheme: &str) -> &'a str {
    let default = if scheme == "https" { ":443" } else { ":80" };
    authority.strip_suffix(default).unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_origin_is_allowed_over_either_scheme_and_others_are_not() {
        let host = Some("cctv.example:8080");
        assert!(origin_allowed("http://cctv.example:8080", host, &[]));
        assert!(origin_allowed("https://CCTV.example:8080/", host, &[]));
        assert!(!origin_allowed("http://evil.example", host, &[]));
        assert!(!origin_allowed("http://cctv.example:8081", host, &[]));
        assert!(!origin_allowed("http://cctv.example", host, &[]));
        assert!(!origin_allowed("null", host, &[]));
        assert!(!origin_allowed(
            "http://cctv.example:8080@evil.example",
            host,
            &[]
        ));
        assert!(!origin_allowed("http://cctv.example:8080", None, &[]));
    }

    #[test]
    fn default_ports_and_the_allow_list_compare_as_browsers_send_them() {
        assert!(origin_allowed(
            "https://cctv.example",
            Some("cctv.example:443"),
            &[]
        ));
        assert!(origin_allowed(
            "http://cctv.example",
            Some("cctv.example:80"),
            &[]
        ));
        let allowed = vec!["https://console.example:443/".to_owned()];
        assert!(origin_allowed(
            "https://console.example",
            Some("x"),
            &allowed
        ));
        assert!(!origin_allowed(
            "http://console.example",
            Some("x"),
            &allowed
        ));
    }
}
