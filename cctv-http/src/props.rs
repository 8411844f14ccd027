//! Property tests of the HTTP layer's own parsers of outside input (cookies, the flash
//! cookie, bearer tokens); the login page's `next` parser has its own in `web::next`.
//! `CCTV_PROPTEST_CASES` raises the case count for a long run (see TESTING.md).

use proptest::prelude::*;

use crate::extract::cookie_in;
use crate::web::render::percent_encode;
use crate::web::session::decode_flash;

/// `default` cases, or `CCTV_PROPTEST_CASES` when set.
pub(crate) fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("CCTV_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Any header values: looking a cookie up never panics, and a value it returns was
    /// written after that very name.
    #[test]
    fn cookie_lookup_is_total(
        headers in prop::collection::vec("[ -~]{0,60}", 0..4),
        name in "[a-z_]{1,12}",
    ) {
        if let Some(v) = cookie_in(headers.iter().map(String::as_str), &name) {
            let needle = format!("{name}={v}");
            prop_assert!(headers.iter().any(|h| h.contains(&needle)));
        }
    }

    /// Cookies written as `name=value` pairs are found, the first one winning.
    #[test]
    fn written_cookies_are_found(
        pairs in prop::collection::vec(("[a-z_]{1,8}", "[A-Za-z0-9|._-]{0,20}"), 1..6),
    ) {
        let header = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let (name, value) = &pairs[0];
        prop_assert_eq!(cookie_in([header.as_str()], name), Some(value.as_str()));
    }

    /// The flash cookie decodes whatever arrives, and round-trips what we encode.
    #[test]
    fn flash_decoding_is_total_and_round_trips(raw in ".{0,80}", message in ".{0,80}") {
        let _ = decode_flash(&raw);
        prop_assert_eq!(decode_flash(&percent_encode(&message, b"-._")), message);
    }

    /// Any `Authorization` value: bearer parsing never panics.
    #[test]
    fn bearer_parsing_is_total(header in prop_oneof![".{0,80}", "Bearer [0-9]{0,6}\\|[ -~]{0,70}"]) {
        let _ = cctv_admin::access::parse_bearer(&header);
    }
}
