//! Personal access tokens: long-lived read tokens an admin issues to a person for a BI
//! tool, Grafana or a script. Each has scopes ([`TokenScope`]) and an expiry, is shown
//! once, kept only as the SHA-256 of its secret (like login tokens, in `user_tokens`),
//! listed with its last use, and revocable. It reads with its person's role and branches,
//! and only what its scopes name.

use std::collections::{BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{Caller, ManageError, Manager, audit_op, id_of, insert_op, int_of, str_of};
use crate::access::{IssuedToken, TokenScope};
use crate::manage::tables::{USER_TOKENS, USERS};
use cctv_core::records::{Filter, ListQuery, Order, Record, WriteOp, by_id, hex};
use cctv_core::validation::ValidationErrors;

/// The longest a personal access token may live.
pub const MAX_TOKEN_DAYS: i64 = 730;
/// The expiry when none is asked for.
pub const DEFAULT_TOKEN_DAYS: i64 = 90;
/// Most personal access tokens listed.
const MAX_LISTED: u32 = 1_000;

/// What an admin asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPersonalToken {
    /// The person it acts for: by id, or by e-mail.
    pub user: TokenUser,
    pub name: String,
    pub scopes: BTreeSet<TokenScope>,
    pub expires_in_days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenUser {
    Id(i64),
    Email(String),
}

/// A new token: how it is listed, and the bearer token itself (shown once).
#[derive(Debug, Clone)]
pub struct IssuedPersonalToken {
    pub listing: Value,
    pub token: String,
}

/// `30d`, `12w`, `1y` or a plain number of days.
pub fn parse_days(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 'd'),
    };
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    match unit {
        'd' => Some(n),
        'w' => n.checked_mul(7),
        'y' => n.checked_mul(365),
        _ => None,
    }
}

impl NewPersonalToken {
    /// Reads `{user_id | user_email, name, scopes: [...], expires_in_days}` (or
    /// `expires: "90d"`), every field error at once.
    pub fn from_json(body: &Value) -> Result<Self, ManageError> {
        let mut errors = ValidationErrors::new();
        let user = match (
            body.get("user_id").and_then(Value::as_i64),
            body.get("user_email").and_then(Value::as_str),
        ) {
            (Some(id), _) if id > 0 => Some(TokenUser::Id(id)),
            (None, Some(email)) if !email.trim().is_empty() => {
                Some(TokenUser::Email(email.trim().to_lowercase()))
            }
            _ => {
                errors.add(
                    "user_id",
                    "The user_id (or user_email) of the person the token acts for is required",
                );
                None
            }
        };
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            errors.add(
                "name",
                "The name is required (at most 100 characters), e.g. the tool that uses the token",
            );
        }
        let mut scopes = BTreeSet::new();
        match body.get("scopes").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                for s in list {
                    match s.as_str().and_then(TokenScope::parse) {
                        Some(scope) => {
                            scopes.insert(scope);
                        }
                        None => errors.add(
                            "scopes",
                            format!("Unknown scope {s}; the scopes are {}", scope_names()),
                        ),
                    }
                }
            }
            _ => errors.add(
                "scopes",
                format!("At least one scope is required: {}", scope_names()),
            ),
        }
        let days = match (body.get("expires_in_days"), body.get("expires")) {
            (Some(v), _) => v.as_i64(),
            (None, Some(v)) => v.as_str().and_then(parse_days),
            (None, None) => Some(DEFAULT_TOKEN_DAYS),
        };
        let expires_in_days = match days {
            Some(d) if (1..=MAX_TOKEN_DAYS).contains(&d) => d,
            _ => {
                errors.add(
                    "expires_in_days",
                    format!("The expiry must be 1 to {MAX_TOKEN_DAYS} days"),
                );
                0
            }
        };
        match (errors.is_empty(), user) {
            (true, Some(user)) => Ok(Self {
                user,
                name,
                scopes,
                expires_in_days,
            }),
            _ => Err(ManageError::Validation(errors)),
        }
    }
}

fn scope_names() -> String {
    TokenScope::ALL.map(TokenScope::as_str).join(", ")
}

fn admin_only(caller: &Caller<'_>) -> Result<(), ManageError> {
    if caller.who.is_admin() && caller.who.scopes.is_none() {
        Ok(())
    } else {
        Err(ManageError::Forbidden(
            "Personal access tokens are managed by admins.".into(),
        ))
    }
}

/// The scopes stored on a token row: `None` for a login token.
pub(crate) fn scopes_of(row: &Record) -> Option<BTreeSet<TokenScope>> {
    let list = row.get("scopes")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|s| s.as_str().and_then(TokenScope::parse))
            .collect(),
    )
}

fn listing(row: &Record, email: Option<&str>) -> Value {
    json!({
        "id": id_of(row),
        "user_id": int_of(row, "user_id"),
        "user_email": email,
        "name": str_of(row, "name"),
        "scopes": row.get("scopes").cloned().unwrap_or(Value::Null),
        "expires_at": str_of(row, "expires_at"),
        "last_used_at": row.get("last_used_at").cloned().unwrap_or(Value::Null),
        "created_at": str_of(row, "created_at"),
    })
}

impl Manager {
    /// Issues a token for an active person; written to the audit log (without its secret).
    pub async fn create_personal_token(
        &self,
        caller: Caller<'_>,
        new: &NewPersonalToken,
    ) -> Result<IssuedPersonalToken, ManageError> {
        admin_only(&caller)?;
        let storage = self.core.storage();
        let filter = match &new.user {
            TokenUser::Id(id) => by_id(*id),
            TokenUser::Email(email) => vec![Filter::Eq("email", Value::from(email.as_str()))],
        };
        let user = storage
            .find_record(&USERS, &filter)
            .await?
            .filter(|u| str_of(u, "status") == Some("active"))
            .ok_or_else(|| {
                ManageError::Validation(ValidationErrors::single(
                    "user_id",
                    "No active user with this id or e-mail",
                ))
            })?;
        if new.scopes.contains(&TokenScope::MetricsRead) && str_of(&user, "role") != Some("admin") {
            return Err(ManageError::Validation(ValidationErrors::single(
                "scopes",
                "metrics:read is for an admin's token: /metrics covers every branch",
            )));
        }
        let expires_at = Timestamp::now()
            .checked_add(SignedDuration::from_hours(24 * new.expires_in_days))
            .map_err(|e| ManageError::Conflict(e.to_string()))?;
        let token = IssuedToken::generate();
        let mut row = Record::new();
        row.insert("user_id".into(), Value::from(id_of(&user)));
        row.insert("name".into(), Value::from(new.name.as_str()));
        row.insert("token_hash".into(), Value::from(hex(&token.secret_hash)));
        row.insert("expires_at".into(), Value::from(expires_at.to_string()));
        let scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
        row.insert("scopes".into(), json!(scopes));
        let ops = [
            insert_op(&USER_TOKENS, row.clone()),
            audit_op(caller, "create", &USER_TOKENS, None, None, Some(&row)),
        ];
        let id = storage.apply(&ops).await?[0];
        let stored = storage
            .find_record(&USER_TOKENS, &by_id(id))
            .await?
            .unwrap_or(row);
        Ok(IssuedPersonalToken {
            listing: listing(&stored, str_of(&user, "email")),
            token: token.bearer(id),
        })
    }

    /// Every personal access token (expired ones too, until revoked), newest first.
    pub async fn personal_tokens(&self, caller: Caller<'_>) -> Result<Vec<Value>, ManageError> {
        admin_only(&caller)?;
        let storage = self.core.storage();
        let (rows, _) = storage
            .list_records(
                &USER_TOKENS,
                &ListQuery {
                    filters: vec![Filter::NotNull("scopes")],
                    order: Order::NEWEST_FIRST,
                    page: 1,
                    per_page: MAX_LISTED,
                },
            )
            .await?;
        // The people of the listed tokens, read in one query.
        let mut ids: Vec<Value> = rows
            .iter()
            .filter_map(|r| int_of(r, "user_id").map(Value::from))
            .collect();
        ids.sort_by_key(|v| v.as_i64());
        ids.dedup();
        let (users, _) = storage
            .list_records(
                &USERS,
                &ListQuery {
                    filters: vec![Filter::In("id", ids)],
                    order: Order::NEWEST_FIRST,
                    page: 1,
                    per_page: MAX_LISTED,
                },
            )
            .await?;
        let emails: HashMap<i64, &str> = users
            .iter()
            .filter_map(|u| Some((id_of(u), str_of(u, "email")?)))
            .collect();
        let out = rows
            .iter()
            .map(|row| {
                let email = int_of(row, "user_id").and_then(|id| emails.get(&id).copied());
                listing(row, email)
            })
            .collect();
        Ok(out)
    }

    /// Revokes (deletes) a personal access token; login tokens are not touched here.
    pub async fn revoke_personal_token(
        &self,
        caller: Caller<'_>,
        id: i64,
    ) -> Result<(), ManageError> {
        admin_only(&caller)?;
        let storage = self.core.storage();
        let mut filters = by_id(id);
        filters.push(Filter::NotNull("scopes"));
        let row = storage
            .find_record(&USER_TOKENS, &filters)
            .await?
            .ok_or_else(|| ManageError::NotFound("Personal access token not found".into()))?;
        storage
            .apply(&[
                WriteOp::Delete {
                    table: &USER_TOKENS,
                    filters,
                },
                audit_op(caller, "delete", &USER_TOKENS, Some(id), Some(&row), None),
            ])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_read_in_days_weeks_or_years() {
        assert_eq!(parse_days("90d"), Some(90));
        assert_eq!(parse_days("90"), Some(90));
        assert_eq!(parse_days("2w"), Some(14));
        assert_eq!(parse_days("1y"), Some(365));
        for bad in ["", "0d", "-3d", "9x", "d", "1.5d"] {
            assert_eq!(parse_days(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_request_is_checked_field_by_field() {
        let ok = NewPersonalToken::from_json(&json!({"user_email": "A@x.test", "name": "grafana",
            "scopes": ["reports:read", "metrics:read"], "expires": "30d"}))
        .unwrap();
        assert_eq!(ok.user, TokenUser::Email("a@x.test".into()));
        assert_eq!(ok.expires_in_days, 30);
        assert_eq!(ok.scopes.len(), 2);
        let Err(ManageError::Validation(e)) =
            NewPersonalToken::from_json(&json!({"scopes": ["root"], "expires_in_days": 0}))
        else {
            panic!("refused")
        };
        for field in ["user_id", "name", "scopes", "expires_in_days"] {
            assert!(e.has(field), "{field}");
        }
    }
}
