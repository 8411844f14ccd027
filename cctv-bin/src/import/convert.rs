//! Converting the original's values to ours: camera fields re-encrypted, phone numbers
//! normalised, `{token}` templates rewritten, local timestamps made UTC.

use cctv_admin::access::SecretBox;
use cctv_admin::stream_url::split_user_info;
use cctv_admin::template::{
    VARIABLES, convert_legacy_tokens, leftover_legacy_tokens, validate_template,
};
use cctv_core::records::Record;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::crypt::{CryptError, Keys};

/// A device's or stream's URL, user name and password, decrypted from the original's
/// format and sealed with ours. `user:pass@` inside the URL moves to the credential
/// columns, as the management API does.
#[derive(Debug, Default)]
pub struct Camera {
    pub sealed: Record,
    /// The URL in clear, without user info (to derive a stream's protocol).
    pub url: Option<String>,
}

pub fn camera_fields(
    keys: &Keys,
    secrets: &SecretBox,
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
) -> Result<Camera, CryptError> {
    let open = |v: Option<String>| -> Result<Option<String>, CryptError> {
        match v.filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => Ok(Some(keys.decrypt(&v)?).filter(|p| !p.is_empty())),
        }
    };
    let url = open(url)?;
    let mut username = open(username)?;
    let mut password = open(password)?;
    let url = url.map(|u| {
        let (bare, info) = split_user_info(&u);
        if let Some((user, pass)) = info {
            username = username.take().or(Some(user).filter(|u| !u.is_empty()));
            password = password.take().or(pass);
        }
        bare
    });
    let mut sealed = Record::new();
    for (column, value) in [
        ("url_encrypted", &url),
        ("username_encrypted", &username),
        ("password_encrypted", &password),
    ] {
        if let Some(v) = value {
            sealed.insert(column.into(), Value::from(secrets.encrypt(v)));
        }
    }
    Ok(Camera { sealed, url })
}

/// The original's (encrypted) protocol when it is one we know, else the URL's scheme as
/// the original derived it (`rtmp://`, `http(s)://`, everything else rtsp).
pub fn stream_protocol(keys: &Keys, stored: Option<String>, url: Option<&str>) -> String {
    const KNOWN: [&str; 6] = ["rtsp", "rtmp", "hls", "http", "mjpeg", "webrtc"];
    if let Some(p) = stored
        .and_then(|s| keys.decrypt(&s).ok())
        .map(|p| p.trim().to_lowercase())
        .filter(|p| KNOWN.contains(&p.as_str()))
    {
        return p;
    }
    let url = url.unwrap_or_default().to_lowercase();
    if url.starts_with("rtmp://") {
        "rtmp".into()
    } else if url.starts_with("http://") || url.starts_with("https://") {
        "http".into()
    } else {
        "rtsp".into()
    }
}

/// A JSON array of phone numbers (the original's `whatsapp_numbers` / `phone_numbers`),
/// normalised as the management API stores them.
pub fn phone_numbers(json: Option<String>) -> Result<Vec<String>, String> {
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let parsed: Value =
        serde_json::from_str(&json).map_err(|_| format!("phone numbers are not JSON: {json}"))?;
    let items = match parsed {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        _ => return Err(format!("phone numbers are not a list: {json}")),
    };
    let mut out = Vec::new();
    for item in items {
        let raw = match &item {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("not a phone number: {item}")),
        };
        if raw.is_empty() {
            continue;
        }
        let number = cctv_admin::phone::normalize_phone(&raw)
            .map_err(|e| format!("phone number {raw:?}: {e}"))?;
        if !out.contains(&number) {
            out.push(number);
        }
    }
    Ok(out)
}

/// A message template in our syntax with the original's meaning: each `{name}` the
/// original replaced becomes `{{ name }}`, and a `{name}` it left in the text (no such
/// variable) stays literal text.
pub fn template(source: Option<String>) -> Result<Option<String>, String> {
    let Some(source) = source.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let mut converted = convert_legacy_tokens(&source, &VARIABLES).into_owned();
    for name in leftover_legacy_tokens(&converted) {
        converted = converted.replace(&format!("{{{name}}}"), &format!("{{{{ \"{{\" }}}}{name}}}"));
    }
    validate_template(&converted).map_err(|e| format!("template: {e}"))?;
    Ok(Some(converted))
}

/// A source `timestamp without time zone` (as text), read in the original's timezone, as
/// an RFC 3339 UTC timestamp.
pub fn utc(local: Option<String>, tz: &TimeZone) -> Option<String> {
    let local = local?;
    let civil: DateTime = local.trim().replace(' ', "T").parse().ok()?;
    Some(
        civil
            .to_zoned_datetime(tz.clone())
            .ok()?
            .timestamp()
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_keep_the_originals_meaning() {
        let t = template(Some("Hi {branch_name}: {re_id} at {time} {unknown}".into()))
            .unwrap()
            .unwrap();
        assert_eq!(
            t,
            "Hi {{ branch_name }}: {{ re_id }} at {{ time }} {{ \"{\" }}unknown}"
        );
        let out = cctv_admin::template::MessageTemplate::compile(&t)
            .unwrap()
            .render(&cctv_admin::template::TemplateVars::sample())
            .unwrap();
        assert!(out.ends_with(" {unknown}"), "{out}");
        assert_eq!(template(None).unwrap(), None);
        assert!(template(Some("{% if %}".into())).is_err());
    }

    #[test]
    fn local_timestamps_become_utc() {
        let jakarta = TimeZone::get("Asia/Jakarta").unwrap();
        assert_eq!(
            utc(Some("2025-10-08 23:30:57".into()), &jakarta).as_deref(),
            Some("2025-10-08T16:30:57Z")
        );
        assert_eq!(utc(Some("not a time".into()), &jakarta), None);
    }

    #[test]
    fn user_info_in_a_url_moves_to_the_credential_fields() {
        let secrets = SecretBox::new(&[1; 32]);
        let camera = camera_fields(
            &Keys::default(),
            &secrets,
            Some("rtsp://admin:s3cret@10.0.0.5/live".into()),
            None,
            None,
        )
        .unwrap();
        assert_eq!(camera.url.as_deref(), Some("rtsp://10.0.0.5/live"));
        let open = |c: &str| secrets.decrypt(camera.sealed[c].as_str().unwrap()).unwrap();
        assert_eq!(open("username_encrypted"), "admin");
        assert_eq!(open("password_encrypted"), "s3cret");
        assert_eq!(
            stream_protocol(&Keys::default(), None, camera.url.as_deref()),
            "rtsp"
        );
    }
}
