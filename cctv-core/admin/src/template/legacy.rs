//! The original system's `{token}` placeholders (plain `str_replace`), kept working by
//! rewriting them to minijinja expressions.

use std::borrow::Cow;

/// A `{name}` placeholder: single braces (not part of `{{`/`}}`), an identifier inside.
struct Token<'a> {
    start: usize,
    end: usize,
    name: &'a str,
}

fn tokens(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' && (i == 0 || bytes[i - 1] != b'{') {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            let is_token = j > start
                && !bytes[start].is_ascii_digit()
                && bytes.get(j) == Some(&b'}')
                && bytes.get(j + 1) != Some(&b'}');
            if is_token {
                found.push(Token {
                    start: i,
                    end: j + 1,
                    name: &source[start..j],
                });
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Rewrites each `{name}` whose name is in `known` to `{{ name }}`; everything else,
/// including minijinja syntax and braces around unknown names, is left as written.
pub fn convert_legacy_tokens<'a>(source: &'a str, known: &[&str]) -> Cow<'a, str> {
    let tokens: Vec<Token<'_>> = tokens(source)
        .into_iter()
        .filter(|t| known.contains(&t.name))
        .collect();
    if tokens.is_empty() {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len() + tokens.len() * 4);
    let mut copied = 0;
    for token in tokens {
        out.push_str(&source[copied..token.start]);
        out.push_str("{{ ");
        out.push_str(token.name);
        out.push_str(" }}");
        copied = token.end;
    }
    out.push_str(&source[copied..]);
    Cow::Owned(out)
}

/// Names of `{name}` placeholders still present (after conversion these name no known
/// variable, e.g. a misspelt `{branch}`), in order of appearance.
pub fn leftover_legacy_tokens(source: &str) -> Vec<String> {
    tokens(source)
        .into_iter()
        .map(|t| t.name.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["branch_name", "re_id"];

    #[test]
    fn known_tokens_are_converted_and_everything_else_is_kept() {
        let cases = [
            ("{branch_name}", "{{ branch_name }}"),
            (
                "at {branch_name}: {re_id}.",
                "at {{ branch_name }}: {{ re_id }}.",
            ),
            ("{{ branch_name }}", "{{ branch_name }}"),
            ("{{branch_name}}", "{{branch_name}}"),
            ("{status}", "{status}"),
            ("{ branch_name }", "{ branch_name }"),
            (r#"{"json": 1}"#, r#"{"json": 1}"#),
            (
                "{% if re_id %}{re_id}{% endif %}",
                "{% if re_id %}{{ re_id }}{% endif %}",
            ),
            ("{branch_name}}", "{branch_name}}"),
            ("{1abc}", "{1abc}"),
            ("Cabang «{branch_name}»", "Cabang «{{ branch_name }}»"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(
                convert_legacy_tokens(input, KNOWN),
                expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn unchanged_sources_are_borrowed() {
        assert!(matches!(
            convert_legacy_tokens("no tokens {{ here }}", KNOWN),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn leftover_tokens_are_reported_in_order() {
        let source = "{{ branch_name }} {detection_time} {status} {{ x }} {9}";
        assert_eq!(leftover_legacy_tokens(source), ["detection_time", "status"]);
    }
}
