//! Phone numbers as WhatsApp wants them: the E.164 number as digits, without the `+`
//! (`6281234567890`).
//!
//! Numbers are parsed with `phonenumber`, a port of Google's libphonenumber, against a
//! default region (Indonesia unless configured, [`set_default_region`]): a number written
//! the national way — `0812 3456 7890`, or `812 3456 7890` without its trunk `0` — belongs
//! to that region; a number with `+` or an international call prefix (`00` from
//! Indonesia) keeps its own country (`+44 20 7946 0958`). The original system deleted
//! every non-digit and prefixed `62` to anything not already starting with it; here input
//! with letters is refused, and a number that is not valid in its country is refused with
//! the reason rather than sent to a stranger.

use std::sync::RwLock;

use phonenumber::Mode;
use phonenumber::country::Id;

/// Fewer typed digits is no subscriber number anywhere; more is not a phone number
/// (15 digits of E.164 plus a two-digit international prefix).
const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 17;

static REGION: RwLock<Id> = RwLock::new(Id::ID);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number contains `{0}`; use digits, spaces, dashes, parentheses or a leading +")]
    InvalidCharacter(char),
    #[error("phone number has {0} digits; at least 8 are needed")]
    TooShort(usize),
    #[error("phone number has {0} digits; at most 17 are allowed")]
    TooLong(usize),
    #[error("`{0}` is not a region code (ISO 3166 alpha-2, such as ID or GB)")]
    UnknownRegion(String),
    #[error("phone number is not valid in {region}: {reason}")]
    Invalid { region: String, reason: String },
}

fn region_of(code: &str) -> Result<Id, PhoneError> {
    code.trim()
        .to_ascii_uppercase()
        .parse::<Id>()
        .map_err(|_| PhoneError::UnknownRegion(code.to_owned()))
}

/// Sets the region national numbers belong to, for the whole process (the server sets it
/// from `notifications.phone_region` at start).
pub fn set_default_region(code: &str) -> Result<(), PhoneError> {
    let id = region_of(code)?;
    *REGION.write().unwrap_or_else(|e| e.into_inner()) = id;
    Ok(())
}

/// Checks a region code without setting it.
pub fn check_region(code: &str) -> Result<(), PhoneError> {
    region_of(code).map(|_| ())
}

/// Normalises against the default region ([`set_default_region`]).
pub fn normalize_phone(raw: &str) -> Result<String, PhoneError> {
    let region = *REGION.read().unwrap_or_else(|e| e.into_inner());
    normalize(raw, region)
}

/// Normalises against `region` (ISO 3166 alpha-2).
#[cfg(test)]
fn normalize_phone_in(raw: &str, region: &str) -> Result<String, PhoneError> {
    normalize(raw, region_of(region)?)
}

fn normalize(raw: &str, region: Id) -> Result<String, PhoneError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut digits = 0;
    for (i, c) in trimmed.char_indices() {
        match c {
            '0'..='9' => digits += 1,
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            other => return Err(PhoneError::InvalidCharacter(other)),
        }
    }
    match digits {
        0 => return Err(PhoneError::Empty),
        n if n < MIN_DIGITS => return Err(PhoneError::TooShort(n)),
        n if n > MAX_DIGITS => return Err(PhoneError::TooLong(n)),
        _ => {}
    }
    let invalid = |reason: String| PhoneError::Invalid {
        region: format!("{region:?}"),
        reason,
    };
    match parse_valid(region, trimmed) {
        Ok(number) => Ok(number),
        // `00` is the international prefix people type everywhere, though Indonesia's own
        // are 001, 007, 008 and 009: read `0062 …` as `+62 …` rather than refuse it.
        Err(e) => match international_after_00(trimmed).or_else(|| international_digits(trimmed)) {
            Some(plus) => parse_valid(region, &plus).map_err(|_| e),
            None => Err(e),
        },
    }
    .map_err(invalid)
}

/// A number as stored: E.164 digits (what [`normalize_phone`] returns) are read as
/// international first, so a foreign number saved as `442079460958` stays British when it
/// is read back (against the default region it would not be); anything else (rows written
/// before numbers were normalised) is normalised as typed.
pub fn stored_recipient(raw: &str) -> Result<String, PhoneError> {
    let region = *REGION.read().unwrap_or_else(|e| e.into_inner());
    if let Some(plus) = international_digits(raw.trim())
        && let Ok(number) = parse_valid(region, &plus)
    {
        return Ok(number);
    }
    normalize(raw, region)
}

/// `+…` for bare digits without a trunk `0` (the stored E.164 form).
fn international_digits(text: &str) -> Option<String> {
    (!text.is_empty() && !text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("+{text}"))
}

/// The number as E.164 digits, or why it is not one.
fn parse_valid(region: Id, text: &str) -> Result<String, String> {
    let number = phonenumber::parse(Some(region), text).map_err(|e| e.to_string())?;
    if !number.is_valid() {
        return Err("no such number in its country's numbering plan".into());
    }
    let e164 = number.format().mode(Mode::E164).to_string();
    Ok(e164.trim_start_matches('+').to_owned())
}

/// `+…` for a number written with a leading `00`.
fn international_after_00(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.strip_prefix("00").map(|rest| format!("+{rest}"))
}

/// The WAHA chat id of a normalised number.
pub fn whatsapp_chat_id(normalised: &str) -> String {
    format!("{normalised}@c.us")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164_digits() {
        let cases = [
            ("081234567890", "6281234567890"),
            ("0812-3456-7890", "6281234567890"),
            ("(0812) 3456 7890", "6281234567890"),
            ("+62 812 3456 7890", "6281234567890"),
            ("6281234567890", "6281234567890"),
            ("0062 812 3456 7890", "6281234567890"),
            // An Indonesian mobile number without its 0 (the original read it as Japan).
            ("81234567890", "6281234567890"),
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
    fn a_region_decides_what_a_national_number_means() {
        assert_eq!(
            normalize_phone_in("07911 123456", "GB").as_deref(),
            Ok("447911123456")
        );
        assert_eq!(
            normalize_phone_in("+62 812 3456 7890", "gb").as_deref(),
            Ok("6281234567890")
        );
        assert_eq!(
            normalize_phone_in("0812345678", "XX"),
            Err(PhoneError::UnknownRegion("XX".into()))
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
            ("08123", PhoneError::TooShort(5)),
            ("1234567", PhoneError::TooShort(7)),
            ("081234567890123456", PhoneError::TooLong(18)),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_phone(raw), Err(expected), "input {raw:?}");
        }
        for raw in ["0812 1", "+999 1234 5678", "0000 0000 0000"] {
            assert!(
                matches!(
                    normalize_phone(raw),
                    Err(PhoneError::Invalid { .. }) | Err(PhoneError::TooShort(_))
                ),
                "input {raw:?}: {:?}",
                normalize_phone(raw)
            );
        }
    }

    #[test]
    fn stored_numbers_read_back_as_themselves() {
        for typed in [
            "+44 20 7946 0958",
            "0812-3456-7890",
            "+1 212 555 0100",
            "81234567890",
        ] {
            let stored = normalize_phone(typed).unwrap();
            assert_eq!(
                stored_recipient(&stored).as_deref(),
                Ok(stored.as_str()),
                "{typed}"
            );
            // A form that shows the stored digits and is saved again keeps them.
            assert_eq!(
                normalize_phone(&stored).as_deref(),
                Ok(stored.as_str()),
                "{typed}"
            );
        }
        // Legacy rows as typed are still normalised.
        assert_eq!(
            stored_recipient("0812 3456 7890").as_deref(),
            Ok("6281234567890")
        );
    }

    #[test]
    fn chat_ids_use_the_c_us_suffix() {
        assert_eq!(whatsapp_chat_id("6281234567890"), "6281234567890@c.us");
    }
}
