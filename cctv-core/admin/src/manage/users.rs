//! Users (admins only). Passwords are hashed with argon2 and never returned; roles come
//! only from an admin's request; the last active admin can be neither deleted, demoted
//! nor deactivated; nobody deletes their own account.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::form::Form;
use super::{
    Caller, ManageError, Manager, Plan, Resource, ResourceLogic, enum_filter, id_of, insert_op,
    update_op,
};
use crate::access::{MIN_PASSWORD_CHARS, Principal, Role, hash_password};
use crate::manage::tables::{USER_TOKENS, USERS};
use cctv_core::records::tables::{BRANCHES, GROUPS};
use cctv_core::records::{Filter, Record, Table, WriteOp, by_id};
use cctv_core::validation::ValidationErrors;

pub(crate) struct Users;

pub(super) const FIELDS: &[&str] = &[
    "name",
    "email",
    "password",
    "password_confirmation",
    "role",
    "status",
    "branch_ids",
    "group_ids",
    "phone",
    "queue_alerts",
];
const ROLES: &[&str] = &["admin", "operator", "viewer"];
const STATUSES: &[&str] = &["active", "inactive"];

/// A user created outside the API (the `cctv user create` command).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub password: String,
    pub role: Role,
}

fn last_admin_guard() -> WriteOp {
    WriteOp::Ensure {
        table: &USERS,
        filters: vec![
            Filter::Eq("role", Value::from("admin")),
            Filter::Eq("status", Value::from("active")),
        ],
        min: 1,
        max: u64::MAX,
        reason: "The last active admin cannot be removed, demoted or deactivated.",
    }
}

async fn validate<'a>(
    m: &Manager,
    body: &'a Map<String, Value>,
    existing_id: Option<i64>,
) -> Result<Form<'a>, ManageError> {
    let mut f = Form::new(body, existing_id.is_some());
    f.only(FIELDS);
    f.text("name", true, 255);
    let email = f.email("email", true);
    let password = f.text("password", existing_id.is_none(), 255);
    f.record.remove("password");
    f.record.remove("password_confirmation");
    if let Some(password) = password {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            f.errors.add(
                "password",
                format!("The password must be at least {MIN_PASSWORD_CHARS} characters."),
            );
        } else if body
            .get("password_confirmation")
            .is_some_and(|c| c.as_str() != Some(password.as_str()))
        {
            f.errors
                .add("password", "The password confirmation does not match.");
        } else {
            // argon2 is slow on purpose: off the async workers.
            let phc = tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|_| ManageError::Conflict("hashing failed".into()))?;
            f.record.insert("password_hash".into(), Value::from(phc));
        }
    }
    f.one_of("role", true, ROLES);
    f.one_of("status", false, STATUSES);
    // Where operational alerts (queues backing up) reach an admin who opted in.
    f.boolean("queue_alerts");
    if f.present("phone") {
        match f.text("phone", false, 32) {
            Some(raw) => match crate::phone::normalize_phone(&raw) {
                Ok(n) => {
                    f.record.insert("phone".into(), Value::from(n));
                }
                Err(e) => {
                    f.record.remove("phone");
                    f.errors.add("phone", format!("{raw:?}: {e}"));
                }
            },
            None => {
                f.record.insert("phone".into(), Value::Null);
            }
        }
    }
    for (field, table) in [("branch_ids", &BRANCHES), ("group_ids", &GROUPS)] {
        if let Some(ids) = f.id_list(field) {
            let wanted: Vec<Value> = ids.iter().map(|i| Value::from(*i)).collect();
            let found = m
                .core
                .storage()
                .count_records(table, &[Filter::In("id", wanted.clone())])
                .await?;
            let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
            if found as usize != distinct.len() {
                f.errors
                    .add(field, format!("The {field} contain an unknown id."));
            } else {
                f.record.insert(field.into(), Value::Array(wanted));
            }
        }
    }
    m.check_unique(
        &mut f.errors,
        &USERS,
        "email",
        "email",
        email.as_deref(),
        existing_id,
    )
    .await?;
    Ok(f)
}

#[async_trait]
impl ResourceLogic for Users {
    fn table(&self) -> &'static Table {
        &USERS
    }
    fn noun(&self) -> &'static str {
        "User"
    }
    fn may_read(&self, who: &Principal) -> bool {
        who.is_admin()
    }
    fn list_filters(
        &self,
        params: &BTreeMap<String, String>,
        filters: &mut Vec<Filter>,
        errors: &mut ValidationErrors,
    ) {
        enum_filter(params, "role", "role", ROLES, filters, errors);
        enum_filter(params, "status", "status", STATUSES, filters, errors);
    }

    async fn plan_create(
        &self,
        m: &Manager,
        _who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let mut record = validate(m, body, None).await?.finish()?;
        record.entry("status").or_insert(Value::from("active"));
        Ok(Plan::new(vec![insert_op(&USERS, record)]))
    }

    async fn plan_update(
        &self,
        m: &Manager,
        _who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let id = id_of(existing);
        let changes = validate(m, body, Some(id)).await?.finish()?;
        // A new password, role or status ends every session and token the user holds, in
        // the same transaction: whoever had the old password (or the old role) is out.
        let changed = |column: &str| {
            changes
                .get(column)
                .is_some_and(|v| existing.get(column) != Some(v))
        };
        let revoke = changes.contains_key("password_hash") || changed("role") || changed("status");
        let mut ops = vec![update_op(&USERS, id, changes), last_admin_guard()];
        if revoke {
            ops.push(WriteOp::Delete {
                table: &USER_TOKENS,
                filters: vec![Filter::Eq("user_id", Value::from(id))],
            });
        }
        Ok(Plan::new(ops))
    }

    async fn plan_delete(
        &self,
        _m: &Manager,
        who: &Principal,
        existing: &Record,
    ) -> Result<Plan, ManageError> {
        if id_of(existing) == who.user_id {
            return Err(ManageError::Conflict(
                "You cannot delete your own account.".into(),
            ));
        }
        Ok(Plan::new(vec![
            WriteOp::Delete {
                table: &USERS,
                filters: by_id(id_of(existing)),
            },
            last_admin_guard(),
        ]))
    }
}

impl Manager {
    /// Creates a user without an acting person (the CLI), with the API's validation.
    pub async fn create_user(&self, new: NewUser) -> Result<Value, ManageError> {
        let system = Principal::command_line();
        let body = serde_json::json!({
            "name": new.name, "email": new.email, "password": new.password,
            "role": new.role.as_str(),
        });
        self.create(
            Caller {
                who: &system,
                ip: "cli",
            },
            Resource::Users,
            &body,
        )
        .await
    }
}
