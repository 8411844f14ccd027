//! Phone numbers as WhatsApp wants them: international digits only (`6281234567890`).
//!
//! Unlike the original, which deleted every non-digit and prefixed `62` to anything not
//! already starting with it, input with letters is refused and numbers written in
//! international form (`+44…`, `0044…`, `44…`) keep their own country code. Only a
//! national number (one leading `0`) gets the default country code.

/// Country code given to national numbers when none is configured (Indonesia).
pub const DEFAULT_COUNTRY_CODE: &str = "62";

/// E.164 allows at most 15 digits; shorter than 8 is no real subscriber number.
const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number contains `{0}`; use digits, spaces, dashes, parentheses or a leading +")]
    InvalidCharacter(char),
    #[error("phone number has {0} digits; at least 8 are needed")]
    TooShort(usize),
    #[error("phone number has {0} digits; at most 15 are allowed")]
    TooLong(usize),
    #[error("country code `{0}` must be 1 to 3 digits")]
    InvalidCountryCode(String),
}

/// Normalises with the [`DEFAULT_COUNTRY_CODE`].
pub fn normalize_phone(raw: &str) -> Result<String, PhoneError> {
    normalize_phone_with(raw, DEFAULT_COUNTRY_CODE)
}

/// Strips spaces, dashes, dots, parentheses and `+`; `00` (international call prefix) is
/// dropped; one leading `0` becomes `country_code`; the result must have 8–15 digits.
pub fn normalize_phone_with(raw: &str, country_code: &str) -> Result<String, PhoneError> {
    if country_code.is_empty()
        || country_code.len() > 3
        || !country_code.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(PhoneError::InvalidCountryCode(country_code.to_owned()));
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut digits = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.char_indices() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            other => return Err(PhoneError::InvalidCharacter(other)),
        }
    }
    let international = if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("{country_code}{rest}")
    } else {
        digits
    };
    match international.len() {
        0 => Err(PhoneError::Empty),
        n if n < MIN_DIGITS => Err(PhoneError::TooShort(n)),
        n if n > MAX_DIGITS => Err(PhoneError::TooLong(n)),
        _ => Ok(international),
    }
}

/// The WAHA chat id of a normalised number.
pub fn whatsapp_chat_id(normalised: &str) -> String {
    format!("{normalised}@c.us")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_international_digits() {
        let cases = [
            ("081234567890", "6281234567890"),
            ("0812-3456-7890", "6281234567890"),
            ("(0812) 3456 7890", "6281234567890"),
            ("+62 812 3456 7890", "6281234567890"),
            ("6281234567890", "6281234567890"),
            ("0062 812 3456 7890", "6281234567890"),
            ("+44 20 7946 0958", "442079460958"),
            (" 0812.3456.789 ", "628123456789"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                normalize_phone(raw).as_deref(),
                Ok(expected),
                "input {raw:?}"
            );
        }
    }

    #[test]
    fn a_configured_country_code_replaces_the_leading_zero() {
        assert_eq!(
            normalize_phone_with("07911 123456", "44").as_deref(),
            Ok("447911123456")
        );
    }

    #[test]
    fn bad_numbers_are_refused_with_the_reason() {
        let cases = [
            ("", PhoneError::Empty),
            ("   ", PhoneError::Empty),
            ("+", PhoneError::Empty),
            ("0812abc", PhoneError::InvalidCharacter('a')),
            ("62+812345678", PhoneError::InvalidCharacter('+')),
            ("0812/345678", PhoneError::InvalidCharacter('/')),
            ("08123", PhoneError::TooShort(6)),
            ("1234567", PhoneError::TooShort(7)),
            ("0812345678901234", PhoneError::TooLong(17)),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_phone(raw), Err(expected), "input {raw:?}");
        }
    }

    #[test]
    fn bad_country_codes_are_refused() {
        for code in ["", "6a", "1234"] {
            assert_eq!(
                normalize_phone_with("0812345678", code),
                Err(PhoneError::InvalidCountryCode(code.to_owned()))
            );
        }
    }

    #[test]
    fn chat_ids_use_the_c_us_suffix() {
        assert_eq!(whatsapp_chat_id("6281234567890"), "6281234567890@c.us");
    }
}
