//! Camera URLs and their credentials.
//!
//! A camera's user name and password live in their own encrypted columns; the URL next to
//! them is stored without user info. Neither ever leaves the server: pages and API
//! responses show `public_url` (user info removed, credential-looking query values and
//! any literal occurrence of a stored secret masked), and browsers get the picture through
//! the server's proxy or a gateway. [`split_user_info`] moves `user:pass@` typed into a
//! URL field into the credential columns when a device or stream is saved.
//!
//! The parser is deliberately suspicious: everything before the last `@` that precedes the
//! query counts as user info, so an unencoded `/` or `@` in a typed password cannot push
//! the password into what is shown as the host or path.

/// Query parameters whose values are masked when a URL is shown (cameras that take their
/// credentials in the query string, e.g. `snapshot.cgi?user=admin&pwd=…`).
const SECRET_QUERY_KEYS: &[&str] = &[
    "user",
    "username",
    "usr",
    "login",
    "pwd",
    "pass",
    "passwd",
    "password",
    "psw",
    "token",
    "auth",
    "key",
    "apikey",
    "api_key",
    "access_token",
    "secret",
];

/// What replaces a masked value.
pub(crate) const MASK: &str = "***";

/// `(scheme "://", user info, rest)`; user info is `None` when the URL has none.
fn parts(url: &str) -> Option<(&str, Option<&str>, &str)> {
    let at = url.find("://")? + 3;
    let (scheme, rest) = url.split_at(at);
    let before_query = rest.find(['?', '#']).unwrap_or(rest.len());
    Some(match rest[..before_query].rfind('@') {
        Some(i) => (scheme, Some(&rest[..i]), &rest[i + 1..]),
        None => (scheme, None, rest),
    })
}

/// `scheme://host[:port]` of a URL: no user info, path, query or fragment. `None` without
/// `://` or without a host.
pub(crate) fn origin(url: &str) -> Option<String> {
    let at = url.find("://")?;
    let authority = url[at + 3..]
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    (!host.is_empty() && !host.starts_with(':')).then(|| format!("{}://{host}", &url[..at]))
}

/// The URL without user info, and the user info's user name and password (percent-decoded).
pub fn split_user_info(url: &str) -> (String, Option<(String, Option<String>)>) {
    match parts(url) {
        Some((scheme, Some(info), rest)) => {
            let (user, password) = match info.split_once(':') {
                Some((u, p)) => (u, Some(percent_decode(p))),
                None => (info, None),
            };
            let user = percent_decode(user);
            let credentials = (!user.is_empty() || password.is_some()).then_some((user, password));
            (format!("{scheme}{rest}"), credentials)
        }
        _ => (url.to_owned(), None),
    }
}

/// The URL as pages and API responses may show it: no user info, credential-looking query
/// values masked, and every literal occurrence of `secrets` (the stored password, and the
/// user name for people who may not see it) masked too.
pub(crate) fn public_url(url: &str, secrets: &[&str]) -> String {
    let (bare, _) = split_user_info(url);
    let mut shown = mask_query(&bare);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        shown = shown.replace(secret, MASK);
        let encoded = percent_encode(secret);
        if encoded != *secret {
            shown = shown.replace(&encoded, MASK);
        }
    }
    shown
}

fn mask_query(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v))
                if !v.is_empty()
                    && SECRET_QUERY_KEYS.contains(&percent_decode(k).to_lowercase().as_str()) =>
            {
                format!("{k}={MASK}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{head}?{}", masked.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The URL with `user:password@` embedded (reserved characters percent-encoded): the
/// form RTSP clients take credentials in. Server-side only.
pub(crate) fn with_user_info(url: &str, user: Option<&str>, password: Option<&str>) -> String {
    let (bare, _) = split_user_info(url);
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return bare;
    };
    let userinfo = match password.filter(|p| !p.is_empty()) {
        Some(p) => format!("{}:{}", percent_encode(user), percent_encode(p)),
        None => percent_encode(user),
    };
    match bare.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{userinfo}@{rest}"),
        None => bare,
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes `%XX` sequences; anything malformed stays as it is (URL user info here, path
/// segments and cookie values in the HTTP layer).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode_like_the_router() {
        assert_eq!(percent_decode("CAM%2001"), "CAM 01");
        assert_eq!(percent_decode("abc"), "abc");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E2%9C%93"), "✓");
    }

    #[test]
    fn user_info_is_split_off_and_decoded() {
        assert_eq!(
            split_user_info("rtsp://adm%20in:p%40ss%3A1@10.0.0.5:554/live"),
            (
                "rtsp://10.0.0.5:554/live".into(),
                Some(("adm in".into(), Some("p@ss:1".into())))
            )
        );
        assert_eq!(
            split_user_info("http://cam/x.m3u8?a=b@c"),
            ("http://cam/x.m3u8?a=b@c".into(), None),
            "an @ in the query is not user info"
        );
        assert_eq!(
            split_user_info("rtsp://u@cam/live"),
            ("rtsp://cam/live".into(), Some(("u".into(), None)))
        );
    }

    #[test]
    fn an_unencoded_slash_or_at_in_a_typed_password_stays_out_of_the_host() {
        let (bare, creds) = split_user_info("rtsp://admin:pa/ss@wd@10.0.0.5/live");
        assert_eq!(bare, "rtsp://10.0.0.5/live");
        assert_eq!(creds, Some(("admin".into(), Some("pa/ss@wd".into()))));
    }

    #[test]
    fn public_urls_mask_user_info_query_credentials_and_stored_secrets() {
        assert_eq!(
            public_url("rtsp://u:p@10.0.0.5:554/live", &[]),
            "rtsp://10.0.0.5:554/live"
        );
        assert_eq!(
            public_url("http://cam/snap.cgi?chn=1&USER=admin&pwd=s3cret#x", &[]),
            "http://cam/snap.cgi?chn=1&USER=***&pwd=***#x"
        );
        assert_eq!(
            public_url("http://cam/live/hunter2/stream.mjpg", &["hunter2"]),
            "http://cam/live/***/stream.mjpg",
            "a password typed into the path is masked too"
        );
        assert_eq!(
            public_url("http://cam/a%2Fb/x", &["a/b"]),
            "http://cam/***/x",
            "also in its percent-encoded form"
        );
    }

    #[test]
    fn credentials_are_embedded_with_escaping_for_server_side_clients() {
        assert_eq!(
            with_user_info("rtsp://old:x@10.0.0.5/live", Some("adm in"), Some("p@ss:1")),
            "rtsp://adm%20in:p%40ss%3A1@10.0.0.5/live"
        );
        assert_eq!(
            with_user_info("http://cam/x.m3u8", None, Some("p")),
            "http://cam/x.m3u8"
        );
        assert_eq!(
            with_user_info("rtsp://cam/x", Some("u"), None),
            "rtsp://u@cam/x"
        );
    }
}
