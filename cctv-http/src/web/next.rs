//! Where the browser goes after logging in (`next`): only a path on this site.
//!
//! Browsers are lenient with a `Location`: they drop tabs and newlines anywhere, read `\`
//! as `/`, and treat `//host` as another site, so `/\t/evil.example` or `/\evil.example`
//! lead off-site although they start with one `/`. Our own links never need any of that:
//! the `next` the login page receives was percent-encoded by us from a request path, so
//! it is plain visible ASCII. Anything else is refused, and so is anything that would
//! become one of those shapes once percent-decoded (a proxy or a later redirect may
//! decode it).

/// Where to go when `next` is missing or refused.
pub(crate) const DEFAULT_NEXT: &str = "/dashboard";

/// Longest `next` followed; longer ones are not ours.
const MAX_LEN: usize = 2048;

/// `next` when it is a same-site absolute path, else [`DEFAULT_NEXT`].
pub(crate) fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| is_local_path(n))
        .unwrap_or(DEFAULT_NEXT)
        .to_owned()
}

/// Whether `candidate` is a path on this site, also after any number of percent-decodings.
pub(crate) fn is_local_path(candidate: &str) -> bool {
    if candidate.len() > MAX_LEN || !candidate.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let mut current = candidate.as_bytes().to_vec();
    // Each round removes at least two bytes per escape, so this ends; the bound only
    // keeps a hostile input cheap.
    for _ in 0..8 {
        if !path_shape_is_local(&current) {
            return false;
        }
        match percent_decode_once(&current) {
            Some(decoded) => current = decoded,
            None => return true,
        }
    }
    false
}

/// One `/`, then anything but a second `/` or `\`; no backslash or control character.
fn path_shape_is_local(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !bytes.contains(&b'\\')
        && !text.chars().any(char::is_control)
}

/// The bytes with every `%XX` escape decoded, or `None` when there is none.
fn percent_decode_once(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut decoded_any = false;
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escape {
            Some(b) => {
                out.push(b);
                decoded_any = true;
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    decoded_any.then_some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn local_paths_with_queries_are_followed() {
        assert_eq!(safe_next(Some("/persons?x=1&y=%20")), "/persons?x=1&y=%20");
        assert_eq!(safe_next(Some("/persons/a%2Fb")), "/persons/a%2Fb");
        assert_eq!(safe_next(Some("/")), "/");
    }

    #[test]
    fn other_sites_and_browser_quirks_fall_back_to_the_dashboard() {
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%255C%255Cevil",
            "/%252F/evil",
            "/a\nb",
            "/a%0Db",
            "/a%C2%85b",
            "/ spaced",
            "/caf\u{e9}",
            "",
            "dashboard",
        ] {
            assert_eq!(safe_next(Some(bad)), DEFAULT_NEXT, "{bad:?}");
        }
        assert_eq!(safe_next(None), DEFAULT_NEXT);
        assert_eq!(
            safe_next(Some(&format!("/{}", "a".repeat(3000)))),
            DEFAULT_NEXT
        );
    }

    /// Strings built from the characters that matter here, so the search space holds the
    /// tricky shapes rather than random letters only.
    fn tricky() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("/".to_owned()),
                Just("\\".to_owned()),
                Just("%".to_owned()),
                Just("%2F".to_owned()),
                Just("%2f".to_owned()),
                Just("%5C".to_owned()),
                Just("%25".to_owned()),
                Just("%09".to_owned()),
                Just("%00".to_owned()),
                Just("%C2%85".to_owned()),
                "[0-9a-fA-F]{1,2}",
                "[a-z.:?=&#@ ]{1,3}",
                any::<char>().prop_map(String::from),
                prop::char::range('\0', '\u{1f}').prop_map(String::from),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    fn assert_local(accepted: &str) {
        let bytes = accepted.as_bytes();
        assert!(bytes.first() == Some(&b'/'), "{accepted:?} starts with /");
        assert!(bytes.get(1) != Some(&b'/'), "{accepted:?} is not //…");
        assert!(!accepted.contains('\\'), "{accepted:?} has no backslash");
        assert!(
            !accepted.chars().any(char::is_control),
            "{accepted:?} has no control character"
        );
    }

    proptest! {
        #![proptest_config(crate::props::config(256))]

        #[test]
        fn whatever_is_accepted_is_a_local_path_also_when_decoded(
            input in prop_oneof![tricky(), tricky().prop_map(|s| format!("/{s}"))]
        ) {
            let next = safe_next(Some(&input));
            prop_assert!(next == input || next == DEFAULT_NEXT);
            assert_local(&next);
            let mut current = next.into_bytes();
            while let Some(decoded) = percent_decode_once(&current) {
                assert_local(&String::from_utf8_lossy(&decoded));
                current = decoded;
            }
        }

        #[test]
        fn plain_paths_are_accepted_unchanged(path in "/[a-zA-Z0-9_.~-][a-zA-Z0-9/_.~?=&-]{0,40}") {
            prop_assert_eq!(safe_next(Some(&path)), path);
        }
    }
}
