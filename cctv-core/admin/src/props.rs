//! Property tests of the admin application's parsers of outside input: message
//! templates, CSV cells, phone numbers and signed file URLs. Each property says what must
//! hold for *any* input — above all, that nothing panics and nothing unbounded comes out.
//!
//! `CCTV_PROPTEST_CASES` raises the number of cases for a long run (see TESTING.md), e.g.
//! `CCTV_PROPTEST_CASES=1000000 cargo test --release -p cctv-admin props::`.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use crate::export::neutralise;
use crate::files::UrlSigner;
use crate::phone::normalize_phone;
use crate::template::{MessageTemplate, TemplateVars, convert_legacy_tokens, validate_template};

/// `default` cases, or `CCTV_PROPTEST_CASES` when set.
fn config(default: u32) -> ProptestConfig {
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

fn now() -> Timestamp {
    "2026-11-28T10:00:00Z".parse().unwrap()
}

/// Pieces of template syntax, glued at random.
fn template_source() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{{ branch_name }}".to_owned()),
        Just("{re_id}".to_owned()),
        Just("{camera}".to_owned()),
        Just("{% for i in range(9) %}".to_owned()),
        Just("{% for i in range(100000) %}".to_owned()),
        Just("{% endfor %}".to_owned()),
        Just("{% if detected_count > 1 %}".to_owned()),
        Just("{% endif %}".to_owned()),
        Just("{{ re_id * 99999 }}".to_owned()),
        Just("{{ ".to_owned()),
        Just(" }}".to_owned()),
        "[{}%a-z _|()]{0,12}",
        ".{0,12}",
    ];
    prop::collection::vec(piece, 0..10).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(config(512))]

    /// Any template: compiling, checking and rendering never panic and stay within budget.
    #[test]
    fn templates_never_panic_and_stay_within_budget(source in template_source()) {
        let started = std::time::Instant::now();
        let _ = convert_legacy_tokens(&source, &crate::template::VARIABLES);
        let _ = validate_template(&source);
        if let Ok(t) = MessageTemplate::compile(&source)
            && let Ok(out) = t.render(&TemplateVars::sample())
        {
            prop_assert!(out.len() <= crate::template::MAX_OUTPUT_BYTES);
        }
        prop_assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// Whatever the text, the CSV field never starts a formula and keeps the text.
    #[test]
    fn no_text_cell_is_written_as_a_formula(text in any::<String>()) {
        let field = neutralise(&text);
        prop_assert!(!field.starts_with(['=', '+', '-', '@', '\t', '\r']));
        prop_assert!(field.ends_with(text.as_str()));
    }

    /// Any string: normalisation never panics, and what it accepts is 8–15 digits.
    #[test]
    fn phone_normalisation_is_total(raw in prop_oneof![".{0,24}", "[+0-9 ().-]{0,24}"]) {
        if let Ok(n) = normalize_phone(&raw) {
            prop_assert!(n.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!((8..=15).contains(&n.len()));
        }
    }

    /// A forged or edited file URL never verifies, and verifying never panics.
    #[test]
    fn only_signed_file_urls_verify(
        path in prop_oneof![".{0,40}", "events/[0-9]{4}/[0-9]{2}/[0-9]{2}/[a-z0-9_]{1,12}\\.jpg"],
        expires in any::<i64>(),
        sig in ".{0,60}",
    ) {
        let signer = UrlSigner::ephemeral();
        prop_assert!(signer.verify(&path, expires, &sig, now()).is_err());
        if let Ok(signed) = signer.sign(&path, now() + SignedDuration::from_secs(60)) {
            prop_assert!(signer.verify(&path, signed.expires, &signed.sig, now()).is_ok());
            prop_assert!(signer.verify(&path, signed.expires + 1, &signed.sig, now()).is_err());
        }
    }
}
