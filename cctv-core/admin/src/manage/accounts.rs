//! Login, bearer-token authentication and logout of people.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::{ManageError, Manager, insert_op, int_of, public_fields, str_of, update_op};
use crate::access::{
    IssuedToken, Principal, Role, hash_password, needs_rehash, parse_bearer, verify_password,
    verify_token_secret,
};
use crate::manage::tables::{USER_TOKENS, USERS};
use cctv_core::records::{Filter, Record, by_id, hex, unhex};

/// A successful login: the user as shown by the API and the bearer token (shown once).
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub user: Value,
    pub token: String,
    pub expires_at: Timestamp,
}

const BAD_LOGIN: &str = "Invalid credentials";

impl Manager {
    /// Checks e-mail and password, throttled per account and per client address.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Result<LoginOutcome, ManageError> {
        let email = email.trim().to_lowercase();
        // Reserved before the slow check, so concurrent attempts cannot all pass the gate.
        let attempt = self
            .throttle
            .begin(&email, ip)
            .map_err(ManageError::Throttled)?;
        let keys = crate::access::attempt_keys(&email, ip);
        if let Some(shared) = &self.shared_attempts {
            let throttle = self.settings.throttle;
            match shared
                .begin(&keys, throttle.max_failures, throttle.window)
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(wait)) => return Err(ManageError::Throttled(wait)),
                // Failing closed would lock every user out while the database is away,
                // and then no login could succeed anyway; the local throttle still holds.
                Err(e) => tracing::warn!(error = %e, "shared login throttle unavailable"),
            }
        }
        let user = self
            .core
            .storage()
            .find_record(&USERS, &[Filter::Eq("email", Value::from(email.as_str()))])
            .await?;
        let phc = user
            .as_ref()
            .and_then(|u| str_of(u, "password_hash"))
            .unwrap_or(crate::access::password::dummy_hash())
            .to_owned();
        let password = password.to_owned();
        // argon2 takes tens of milliseconds of CPU: keep it off the async workers. An
        // imported bcrypt hash that matches is replaced by an argon2id one in the same step.
        let (matches, rehashed) = tokio::task::spawn_blocking(move || {
            let matches = verify_password(&password, &phc);
            let rehashed = (matches && needs_rehash(&phc)).then(|| hash_password(&password));
            (matches, rehashed)
        })
        .await
        .unwrap_or((false, None));
        let user = match user {
            Some(u) if matches && str_of(&u, "status") == Some("active") => u,
            _ => {
                attempt.failed();
                return Err(ManageError::Unauthorized(BAD_LOGIN));
            }
        };
        attempt.succeeded();
        if let Some(shared) = &self.shared_attempts
            && let Err(e) = shared.succeeded(&keys[0], &keys[1]).await
        {
            tracing::warn!(error = %e, "clearing the shared login throttle failed");
        }
        let user_id = super::id_of(&user);
        let token = IssuedToken::generate();
        let ttl = SignedDuration::try_from(self.settings.token_ttl).unwrap_or(SignedDuration::ZERO);
        let expires_at = Timestamp::now()
            .checked_add(ttl)
            .map_err(|_| ManageError::Unauthorized(BAD_LOGIN))?;
        let mut row = Record::new();
        row.insert("user_id".into(), Value::from(user_id));
        row.insert("name".into(), Value::from("api-token"));
        row.insert("token_hash".into(), Value::from(hex(&token.secret_hash)));
        row.insert("expires_at".into(), Value::from(expires_at.to_string()));
        let mut seen = Record::new();
        seen.insert(
            "last_login_at".into(),
            Value::from(Timestamp::now().to_string()),
        );
        if let Some(upgraded) = rehashed {
            seen.insert("password_hash".into(), Value::from(upgraded));
        }
        let results = self
            .core
            .storage()
            .apply(&[
                insert_op(&USER_TOKENS, row),
                update_op(&USERS, user_id, seen),
            ])
            .await?;
        Ok(LoginOutcome {
            user: present_user(&user),
            token: token.bearer(results[0]),
            expires_at,
        })
    }

    /// The person behind an `Authorization: Bearer …` header.
    pub async fn authenticate(&self, authorization: &str) -> Result<Principal, ManageError> {
        const REFUSED: ManageError = ManageError::Unauthorized("Unauthenticated.");
        let (token_id, secret) = parse_bearer(authorization).ok_or(REFUSED)?;
        let storage = self.core.storage();
        let token = storage
            .find_record(&USER_TOKENS, &by_id(token_id))
            .await?
            .ok_or(REFUSED)?;
        let stored = str_of(&token, "token_hash")
            .and_then(unhex)
            .unwrap_or_default();
        if !verify_token_secret(secret, &stored) {
            return Err(REFUSED);
        }
        let expired = str_of(&token, "expires_at")
            .and_then(|s| s.parse::<Timestamp>().ok())
            .is_none_or(|t| t <= Timestamp::now());
        if expired {
            return Err(ManageError::Unauthorized("Token expired."));
        }
        let user_id = int_of(&token, "user_id").ok_or(REFUSED)?;
        let user = storage
            .find_record(&USERS, &by_id(user_id))
            .await?
            .filter(|u| str_of(u, "status") == Some("active"))
            .ok_or(REFUSED)?;
        let mut principal = self.principal_of(&user).await?;
        principal.token_id = Some(token_id);
        principal.scopes = super::tokens::scopes_of(&token);
        if principal.scopes.is_some() {
            self.note_token_use(token_id, &token).await;
        }
        Ok(principal)
    }

    /// The person behind a login token (web sessions, `/ws`): like [`Manager::authenticate`],
    /// but a personal access token is refused, so it can never act outside its scopes.
    pub async fn authenticate_login(&self, authorization: &str) -> Result<Principal, ManageError> {
        let who = self.authenticate(authorization).await?;
        if who.scopes.is_some() {
            return Err(ManageError::Unauthorized(
                "A personal access token is not a login.",
            ));
        }
        Ok(who)
    }

    /// Records a personal access token's use, at most once a minute (a dashboard polling
    /// every few seconds writes a row a minute, not one per request). A failed write is
    /// logged; it never refuses the request.
    async fn note_token_use(&self, token_id: i64, token: &Record) {
        let now = Timestamp::now();
        let recent = str_of(token, "last_used_at")
            .and_then(|s| s.parse::<Timestamp>().ok())
            .is_some_and(|t| now.duration_since(t) < SignedDuration::from_secs(60));
        if recent {
            return;
        }
        let mut seen = Record::new();
        seen.insert("last_used_at".into(), Value::from(now.to_string()));
        if let Err(e) = self
            .core
            .storage()
            .apply(&[update_op(&USER_TOKENS, token_id, seen)])
            .await
        {
            tracing::warn!(error = %e, token_id, "recording a token's use failed");
        }
    }

    /// Resolves role and branch scope of a user row.
    pub(crate) async fn principal_of(&self, user: &Record) -> Result<Principal, ManageError> {
        let role = str_of(user, "role")
            .and_then(Role::parse)
            .ok_or(ManageError::Unauthorized("Unauthenticated."))?;
        let ids = |column: &str| -> BTreeSet<i64> {
            user.get(column)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default()
        };
        let mut branches = ids("branch_ids");
        let mut groups = ids("group_ids");
        // Admins see everything whatever they are assigned; operators, and viewers with
        // an assignment, see the branches of their groups too.
        if role == Role::Operator
            || (role == Role::Viewer && !(branches.is_empty() && groups.is_empty()))
        {
            let estate = self.core.estate();
            for b in estate.branches.values() {
                if groups.contains(&b.group_id) {
                    branches.insert(b.id);
                }
            }
            // Groups of assigned branches are visible (read-only) too.
            let parents: Vec<i64> = branches
                .iter()
                .filter_map(|b| estate.branches.get(b).map(|b| b.group_id))
                .collect();
            groups.extend(parents);
        }
        Ok(Principal {
            user_id: super::id_of(user),
            email: str_of(user, "email").unwrap_or_default().to_owned(),
            name: str_of(user, "name").unwrap_or_default().to_owned(),
            role,
            branches,
            groups,
            token_id: None,
            scopes: None,
        })
    }

    /// Deletes the token the request used.
    pub async fn logout(&self, who: &Principal) -> Result<(), ManageError> {
        if let Some(token_id) = who.token_id {
            self.core
                .storage()
                .apply(&[cctv_core::records::WriteOp::Delete {
                    table: &USER_TOKENS,
                    filters: by_id(token_id),
                }])
                .await?;
        }
        Ok(())
    }

    /// The current user as the API shows it.
    pub async fn me(&self, who: &Principal) -> Result<Value, ManageError> {
        let user = self
            .core
            .storage()
            .find_record(&USERS, &by_id(who.user_id))
            .await?
            .ok_or(ManageError::Unauthorized("Unauthenticated."))?;
        Ok(present_user(&user))
    }
}

pub(crate) fn present_user(user: &Record) -> Value {
    Value::Object(public_fields(user))
}
