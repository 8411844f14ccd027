//! The camera fields devices and streams share: `url`, `username`, `password`.
//!
//! They are written encrypted and never read back in clear: the password only as
//! `has_password`, the user name only to admins, the URL only as
//! [`public_url`](crate::stream_url::public_url). Writing follows from that: a URL sent
//! back exactly as it is shown (an edit form submitted unchanged) keeps the stored one, so
//! masking never overwrites a real URL with `***`; `user:pass@` typed into a URL moves to
//! the credential columns.

use serde_json::{Map, Value};

use super::form::Form;
use super::{Manager, str_of};
use crate::AdminCore;
use crate::access::Principal;
use crate::stream_url::{public_url, split_user_info};
use cctv_core::records::Record;

/// The decrypted value of an encrypted column.
pub(super) fn plain(m: &Manager, record: &Record, column: &str) -> Option<String> {
    str_of(record, column).and_then(|c| m.core.secrets().decrypt(c).ok())
}

/// What a masked URL hides for `who`: the password always, the user name from non-admins.
fn hidden<'a>(who: &Principal, user: Option<&'a str>, password: Option<&'a str>) -> Vec<&'a str> {
    let user = user.filter(|_| !who.is_admin());
    password.into_iter().chain(user).collect()
}

/// Adds the camera fields to a presented row: the URL (under `url_key`) as `who` may see
/// it, the user name for admins, and whether a user name and password are set.
pub(super) fn present(
    m: &Manager,
    who: &Principal,
    record: &Record,
    url_key: &str,
    out: &mut Map<String, Value>,
) {
    let user = plain(m, record, "username_encrypted");
    let password = plain(m, record, "password_encrypted");
    let url = plain(m, record, "url_encrypted")
        .map(|u| public_url(&u, &hidden(who, user.as_deref(), password.as_deref())));
    out.insert(url_key.into(), url.map_or(Value::Null, Value::from));
    if who.is_admin() {
        out.insert(
            "username".into(),
            user.clone().map_or(Value::Null, Value::from),
        );
    }
    out.insert("has_username".into(), Value::Bool(user.is_some()));
    out.insert("has_password".into(), Value::Bool(password.is_some()));
}

/// Validates `url`, `username` and `password` of the body into their encrypted columns.
/// `url_required`: a new row needs one, and sending it empty keeps the stored one
/// (streams); otherwise an empty URL removes it (devices). Returns the new URL (without
/// user info) when the body changes it.
pub(super) fn seal(
    m: &Manager,
    f: &mut Form<'_>,
    existing: Option<&Record>,
    url_required: bool,
) -> Option<String> {
    let secrets = m.core.secrets();
    let typed = f.text("url", url_required && existing.is_none(), 2000);
    let cleared = typed.is_none() && f.record.remove("url").is_some();
    f.record.remove("url");
    let mut from_url = None;
    let url = typed.filter(|u| !unchanged(m, existing, u)).map(|u| {
        let (bare, credentials) = split_user_info(&u);
        from_url = credentials;
        bare
    });
    match &url {
        Some(bare) => {
            f.record
                .insert("url_encrypted".into(), Value::from(secrets.encrypt(bare)));
        }
        None if cleared && !url_required => {
            f.record.insert("url_encrypted".into(), Value::Null);
        }
        None => {}
    }
    let (url_user, url_password) = match from_url {
        Some((u, p)) => (Some(u).filter(|u| !u.is_empty()), p),
        None => (None, None),
    };
    for (field, column, from_url) in [
        ("username", "username_encrypted", url_user),
        ("password", "password_encrypted", url_password),
    ] {
        let given = f.text(field, false, 255);
        f.record.remove(field);
        let value = if f.present(field) { given } else { from_url };
        match value {
            Some(v) => {
                f.record
                    .insert(column.into(), Value::from(secrets.encrypt(&v)));
            }
            None if f.present(field) => {
                f.record.insert(column.into(), Value::Null);
            }
            None => {}
        }
    }
    url
}

/// Whether `typed` is the stored URL as the API showed it (to an admin or to anyone else).
fn unchanged(m: &Manager, existing: Option<&Record>, typed: &str) -> bool {
    let Some(existing) = existing else {
        return false;
    };
    let Some(stored) = plain(m, existing, "url_encrypted") else {
        return false;
    };
    let user = plain(m, existing, "username_encrypted");
    let password = plain(m, existing, "password_encrypted");
    let secrets: Vec<&str> = password
        .iter()
        .chain(user.iter())
        .map(String::as_str)
        .collect();
    typed == stored
        || typed == public_url(&stored, &secrets[..password.is_some() as usize])
        || typed == public_url(&stored, &secrets)
}
