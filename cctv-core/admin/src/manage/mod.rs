//! Management of the estate and of access: the service behind the management JSON API
//! (and, later, the web pages). Every operation takes the acting [`Principal`], checks
//! the role matrix and the operator's branch scope, validates the input field by field,
//! applies the change atomically together with its audit-log row, and answers with a
//! presentation of the row that never contains a secret.
//!
//! Each resource is a small `ResourceLogic` implementation (one file each); the generic
//! list/show/create/update/delete flow lives here once.

mod accounts;
mod audit;
mod branches;
mod camera_fields;
mod credentials;
mod devices;
mod event_settings;
mod event_webhooks;
mod form;
mod groups;
mod layouts;
mod persons;
mod stream_access;
mod streams;
pub mod tables;
mod tokens;
mod users;
mod whatsapp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::access::{LoginThrottle, Principal, SharedLoginAttempts, ThrottleSettings};
use cctv_core::Core;
use cctv_core::records::{Filter, ListQuery, Order, Record, Table, WriteOp, by_id};
use cctv_core::storage::StorageError;
use cctv_core::validation::ValidationErrors;

pub use accounts::LoginOutcome;
pub use stream_access::{Playback, StreamSource};
pub use tokens::{
    DEFAULT_TOKEN_DAYS, IssuedPersonalToken, MAX_TOKEN_DAYS, NewPersonalToken, TokenUser,
    parse_days,
};
pub use users::NewUser;

/// The resources of the management API, by their URL path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Groups,
    Branches,
    Devices,
    Users,
    Credentials,
    Streams,
    Layouts,
    EventSettings,
    WhatsappSettings,
    AuditLogs,
}

impl Resource {
    pub const ALL: [Resource; 10] = [
        Resource::Groups,
        Resource::Branches,
        Resource::Devices,
        Resource::Users,
        Resource::Credentials,
        Resource::Streams,
        Resource::Layouts,
        Resource::EventSettings,
        Resource::WhatsappSettings,
        Resource::AuditLogs,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Resource::Groups => "company-groups",
            Resource::Branches => "company-branches",
            Resource::Devices => "device-masters",
            Resource::Users => "users",
            Resource::Credentials => "api-credentials",
            Resource::Streams => "cctv-streams",
            Resource::Layouts => "cctv-layouts",
            Resource::EventSettings => "branch-event-settings",
            Resource::WhatsappSettings => "whatsapp-settings",
            Resource::AuditLogs => "audit-logs",
        }
    }

    /// Singular noun for messages ("Company group").
    pub fn noun(self) -> &'static str {
        self.logic().noun()
    }

    /// The request-body fields a create or update accepts; any other field is refused
    /// with a validation error, so this list is what an API reference documents.
    pub fn input_fields(self) -> &'static [&'static str] {
        match self {
            Resource::Groups => groups::FIELDS,
            Resource::Branches => branches::FIELDS,
            Resource::Devices => devices::FIELDS,
            Resource::Users => users::FIELDS,
            Resource::Credentials => credentials::FIELDS,
            Resource::Streams => streams::FIELDS,
            Resource::Layouts => layouts::FIELDS,
            Resource::EventSettings => event_settings::FIELDS,
            Resource::WhatsappSettings => whatsapp::FIELDS,
            Resource::AuditLogs => &[],
        }
    }

    /// Whether a person of `role` may read (`write == false`) or change rows of this
    /// resource at all; operators are further limited to their branches.
    pub fn allows(self, role: crate::access::Role, write: bool) -> bool {
        let who = Principal {
            role,
            ..Principal::command_line()
        };
        let logic = self.logic();
        if write {
            logic.may_write(&who)
        } else {
            logic.may_read(&who)
        }
    }

    fn logic(self) -> &'static dyn ResourceLogic {
        match self {
            Resource::Groups => &groups::Groups,
            Resource::Branches => &branches::Branches,
            Resource::Devices => &devices::Devices,
            Resource::Users => &users::Users,
            Resource::Credentials => &credentials::Credentials,
            Resource::Streams => &streams::Streams,
            Resource::Layouts => &layouts::Layouts,
            Resource::EventSettings => &event_settings::EventSettings,
            Resource::WhatsappSettings => &whatsapp::WhatsappSettings,
            Resource::AuditLogs => &audit::AuditLogs,
        }
    }
}

/// Why a management operation did not happen; the HTTP layer maps each to its status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManageError {
    /// No valid login (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Logged in, but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Field-level input errors (422).
    #[error("The given data was invalid.")]
    Validation(ValidationErrors),
    /// The change breaks a rule of the current state (409), e.g. deleting the default layout.
    #[error("{0}")]
    Conflict(String),
    /// Too many failed logins; retry after the duration (429).
    #[error("Too many login attempts.")]
    Throttled(Duration),
    #[error("storage: {0}")]
    Storage(StorageError),
}

impl From<StorageError> for ManageError {
    fn from(e: StorageError) -> Self {
        ManageError::Storage(e)
    }
}

impl From<ValidationErrors> for ManageError {
    fn from(e: ValidationErrors) -> Self {
        ManageError::Validation(e)
    }
}

/// List parameters from a query string.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub search: Option<String>,
    pub page: u32,
    pub per_page: u32,
    /// Resource-specific filters (`status`, `branch_id`, …), raw.
    pub filters: BTreeMap<String, String>,
}

/// Largest page of a management list.
pub const MAX_PER_PAGE: u32 = 100;

impl ListParams {
    /// From query pairs; `per_page` above 100 or below 1 is a validation error.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationErrors> {
        let mut p = ListParams {
            page: 1,
            per_page: 15,
            ..Default::default()
        };
        let mut errors = ValidationErrors::new();
        for (k, v) in pairs {
            match k {
                "search" => p.search = Some(v.trim().to_owned()).filter(|s| !s.is_empty()),
                "page" => match v.parse::<u32>() {
                    Ok(n) if n >= 1 => p.page = n,
                    _ => errors.add("page", "The page must be a positive integer."),
                },
                "per_page" => match v.parse::<u32>() {
                    Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => p.per_page = n,
                    _ => errors.add("per_page", "The per_page must be between 1 and 100."),
                },
                _ => {
                    p.filters.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        errors.into_result(p)
    }
}

/// A page of presented rows.
#[derive(Debug, Clone)]
pub struct Listed {
    pub items: Vec<Value>,
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

/// What a create/update/delete will do: write ops (the main row's op first) and what
/// the audit log records.
pub struct Plan {
    pub ops: Vec<WriteOp>,
    /// Index of the op that inserts or changes the main row.
    pub main: usize,
    /// Values to show once in the response (e.g. a generated secret), never stored.
    pub reveal: Map<String, Value>,
}

impl Plan {
    pub(crate) fn new(ops: Vec<WriteOp>) -> Self {
        Self {
            ops,
            main: 0,
            reveal: Map::new(),
        }
    }
}

/// The acting person and where the request came from (for the audit log).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub who: &'a Principal,
    pub ip: &'a str,
}

/// Per-resource rules. Defaults: everyone reads, admins write, hard delete.
#[async_trait]
pub(crate) trait ResourceLogic: Sync {
    fn table(&self) -> &'static Table;
    /// Singular noun for messages ("Company group").
    fn noun(&self) -> &'static str;

    fn may_read(&self, _who: &Principal) -> bool {
        true
    }
    fn may_write(&self, who: &Principal) -> bool {
        who.is_admin()
    }
    /// Rows the person may see at all.
    fn scope(&self, _who: &Principal) -> Vec<Filter> {
        Vec::new()
    }
    /// Resource-specific list filters.
    fn list_filters(
        &self,
        _params: &BTreeMap<String, String>,
        _filters: &mut Vec<Filter>,
        _errors: &mut ValidationErrors,
    ) {
    }
    fn order(&self) -> Order {
        Order::NEWEST_FIRST
    }

    async fn plan_create(
        &self,
        m: &Manager,
        who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError>;

    async fn plan_update(
        &self,
        m: &Manager,
        who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError>;

    async fn plan_delete(
        &self,
        _m: &Manager,
        _who: &Principal,
        existing: &Record,
    ) -> Result<Plan, ManageError> {
        Ok(Plan::new(vec![WriteOp::Delete {
            table: self.table(),
            filters: by_id(id_of(existing)),
        }]))
    }

    /// The row as the API shows it to `who` (secrets and ciphertext removed).
    fn present(&self, _m: &Manager, _who: &Principal, record: &Record) -> Value {
        Value::Object(public_fields(record))
    }
}

/// Settings of the management service.
#[derive(Debug, Clone)]
pub struct ManageSettings {
    /// Lifetime of a bearer token from `POST /api/login`.
    pub token_ttl: Duration,
    pub throttle: ThrottleSettings,
}

impl Default for ManageSettings {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(12 * 3600),
            throttle: ThrottleSettings::default(),
        }
    }
}

/// The management service. One per process (it holds the login throttle).
#[derive(Debug)]
pub struct Manager {
    core: Core,
    settings: ManageSettings,
    throttle: LoginThrottle,
    /// Failures counted across nodes, when several share a database.
    shared_attempts: Option<Arc<dyn SharedLoginAttempts>>,
}

impl Manager {
    pub fn new(core: Core, settings: ManageSettings) -> Self {
        let throttle = LoginThrottle::new(settings.throttle);
        Self {
            core,
            settings,
            throttle,
            shared_attempts: None,
        }
    }

    /// Counts login failures across every node sharing `attempts` as well.
    pub fn with_shared_attempts(mut self, attempts: Arc<dyn SharedLoginAttempts>) -> Self {
        self.shared_attempts = Some(attempts);
        self
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Whether `who` may create or change rows of `resource` at all (operators further
    /// only within their branches), so pages can refuse a form before it is filled in.
    pub fn may_write(&self, who: &Principal, resource: Resource) -> bool {
        resource.logic().may_write(who)
    }

    fn read_check(&self, who: &Principal, logic: &dyn ResourceLogic) -> Result<(), ManageError> {
        if logic.may_read(who) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    fn write_check(&self, who: &Principal, logic: &dyn ResourceLogic) -> Result<(), ManageError> {
        if logic.may_write(who) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    pub async fn list(
        &self,
        caller: Caller<'_>,
        resource: Resource,
        params: &ListParams,
    ) -> Result<Listed, ManageError> {
        let logic = resource.logic();
        self.read_check(caller.who, logic)?;
        let mut filters = logic.scope(caller.who);
        let mut errors = ValidationErrors::new();
        logic.list_filters(&params.filters, &mut filters, &mut errors);
        if !errors.is_empty() {
            return Err(errors.into());
        }
        if let Some(s) = &params.search {
            filters.push(Filter::Search(s.clone()));
        }
        let query = ListQuery {
            filters,
            order: logic.order(),
            page: params.page,
            per_page: params.per_page,
        };
        let (rows, total) = self
            .core
            .storage()
            .list_records(logic.table(), &query)
            .await?;
        Ok(Listed {
            items: rows
                .iter()
                .map(|r| logic.present(self, caller.who, r))
                .collect(),
            total,
            page: params.page,
            per_page: params.per_page,
        })
    }

    /// A row the person may see; `Forbidden` when it exists outside their scope.
    async fn visible(
        &self,
        who: &Principal,
        logic: &dyn ResourceLogic,
        id: i64,
    ) -> Result<Record, ManageError> {
        let mut filters = logic.scope(who);
        let scoped = !filters.is_empty();
        filters.push(Filter::Eq("id", Value::from(id)));
        let storage = self.core.storage();
        if let Some(row) = storage.find_record(logic.table(), &filters).await? {
            return Ok(row);
        }
        if scoped && storage.count_records(logic.table(), &by_id(id)).await? > 0 {
            return Err(forbidden());
        }
        Err(ManageError::NotFound(format!("{} not found", logic.noun())))
    }

    pub async fn show(
        &self,
        caller: Caller<'_>,
        resource: Resource,
        id: i64,
    ) -> Result<Value, ManageError> {
        let logic = resource.logic();
        self.read_check(caller.who, logic)?;
        let row = self.visible(caller.who, logic, id).await?;
        Ok(logic.present(self, caller.who, &row))
    }

    pub async fn create(
        &self,
        caller: Caller<'_>,
        resource: Resource,
        body: &Value,
    ) -> Result<Value, ManageError> {
        let logic = resource.logic();
        self.write_check(caller.who, logic)?;
        let body = object(body)?;
        let mut plan = logic.plan_create(self, caller.who, body).await?;
        let after = main_record(&plan);
        let mut audit = audit_op(caller, "create", logic.table(), None, None, after.as_ref());
        if let WriteOp::Insert { link, .. } = &mut audit {
            *link = Some(("entity_id", plan.main));
        }
        plan.ops.push(audit);
        let results = self.apply(&plan.ops).await?;
        let id = results.get(plan.main).copied().unwrap_or_default();
        let row = self.fetch(logic, id).await?;
        let mut data = logic.present(self, caller.who, &row);
        merge(&mut data, plan.reveal);
        self.after_change(logic.table()).await;
        self.publish(logic.table(), "create", &row);
        Ok(data)
    }

    pub async fn update(
        &self,
        caller: Caller<'_>,
        resource: Resource,
        id: i64,
        body: &Value,
    ) -> Result<Value, ManageError> {
        let logic = resource.logic();
        self.write_check(caller.who, logic)?;
        let body = object(body)?;
        let before = self.visible(caller.who, logic, id).await?;
        let mut plan = logic.plan_update(self, caller.who, &before, body).await?;
        self.finish_change(caller, logic, "update", &before, &mut plan)
            .await
    }

    pub async fn delete(
        &self,
        caller: Caller<'_>,
        resource: Resource,
        id: i64,
    ) -> Result<Value, ManageError> {
        let logic = resource.logic();
        self.write_check(caller.who, logic)?;
        let before = self.visible(caller.who, logic, id).await?;
        let mut plan = logic.plan_delete(self, caller.who, &before).await?;
        self.finish_change(caller, logic, "delete", &before, &mut plan)
            .await
    }

    /// Applies a planned change to an existing row with its audit entry; answers with
    /// the row as it is now (or as it was, when it was deleted).
    async fn finish_change(
        &self,
        caller: Caller<'_>,
        logic: &dyn ResourceLogic,
        action: &str,
        before: &Record,
        plan: &mut Plan,
    ) -> Result<Value, ManageError> {
        let id = id_of(before);
        let mut after = before.clone();
        if let Some(WriteOp::Update { changes, .. }) = plan.ops.get(plan.main) {
            after.extend(changes.clone());
        }
        let after = (action != "delete").then_some(after);
        plan.ops.push(audit_op(
            caller,
            action,
            logic.table(),
            Some(id),
            Some(before),
            after.as_ref(),
        ));
        self.apply(&plan.ops).await?;
        self.after_change(logic.table()).await;
        self.publish(logic.table(), action, before);
        let mut data = match self
            .core
            .storage()
            .find_record(logic.table(), &by_id(id))
            .await?
        {
            Some(row) => logic.present(self, caller.who, &row),
            None => logic.present(self, caller.who, before),
        };
        merge(&mut data, std::mem::take(&mut plan.reveal));
        Ok(data)
    }

    async fn fetch(&self, logic: &dyn ResourceLogic, id: i64) -> Result<Record, ManageError> {
        self.core
            .storage()
            .find_record(logic.table(), &by_id(id))
            .await?
            .ok_or_else(|| ManageError::NotFound(format!("{} not found", logic.noun())))
    }

    /// Runs ops; rule violations reported by the store become conflicts.
    async fn apply(&self, ops: &[WriteOp]) -> Result<Vec<i64>, ManageError> {
        match self.core.storage().apply(ops).await {
            Ok(r) => Ok(r),
            Err(StorageError::Rejected(reason))
                if reason.starts_with(cctv_core::records::ENSURE_PREFIX) =>
            {
                Err(ManageError::Conflict(
                    reason[cctv_core::records::ENSURE_PREFIX.len()..].to_owned(),
                ))
            }
            Err(StorageError::Conflict(_)) => Err(ManageError::Conflict(
                "The change conflicts with an existing record.".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Estate and credential caches must see the change on the very next request.
    async fn after_change(&self, table: &Table) {
        use cctv_core::records::tables::{BRANCHES, CREDENTIALS, DEVICES, GROUPS};
        if [&GROUPS, &BRANCHES, &DEVICES, &CREDENTIALS].contains(&table)
            && let Err(e) = self.core.reload_caches().await
        {
            tracing::warn!(error = %e, "reloading caches after a change failed");
        }
    }

    /// Tells live listeners (web pages over WebSocket) what changed; branch-level rows
    /// carry their branch so each listener only hears about branches it may see.
    fn publish(&self, table: &Table, action: &str, row: &Record) {
        use cctv_core::events::{Event, EventKind};
        use cctv_core::records::tables::{BRANCHES, CREDENTIALS, DEVICES, GROUPS};
        use tables::{EVENT_SETTINGS, LAYOUTS, STREAMS, USERS, WHATSAPP_SETTINGS};
        let kind = match table.name {
            n if n == GROUPS.name || n == BRANCHES.name => EventKind::GroupUpdated,
            n if n == LAYOUTS.name => EventKind::LayoutUpdated,
            n if n == DEVICES.name || n == STREAMS.name => EventKind::DeviceUpdated,
            n if n == EVENT_SETTINGS.name || n == WHATSAPP_SETTINGS.name => {
                EventKind::SettingsUpdated
            }
            n if n == USERS.name || n == CREDENTIALS.name => EventKind::AccessUpdated,
            _ => return,
        };
        let branch_id = if table.name == BRANCHES.name {
            Some(id_of(row))
        } else {
            int_of(row, "branch_id")
        };
        self.core.events().publish(Event {
            kind,
            branch_id,
            data: serde_json::json!({
                "entity": table.name,
                "action": action,
                "id": id_of(row),
            }),
            at: jiff::Timestamp::now(),
        });
    }

    /// Whether a row exists matching the filters.
    async fn exists(&self, table: &'static Table, filters: &[Filter]) -> Result<bool, ManageError> {
        Ok(self.core.storage().count_records(table, filters).await? > 0)
    }

    /// Adds "already taken" to `field` when another row holds `value` in `column`.
    async fn check_unique(
        &self,
        errors: &mut ValidationErrors,
        table: &'static Table,
        column: &'static str,
        field: &str,
        value: Option<&str>,
        except_id: Option<i64>,
    ) -> Result<(), ManageError> {
        let Some(value) = value else { return Ok(()) };
        let mut filters = vec![Filter::Eq(column, Value::from(value))];
        if let Some(id) = except_id {
            filters.push(Filter::Ne("id", Value::from(id)));
        }
        if self.exists(table, &filters).await? {
            errors.add(field, format!("The {field} has already been taken."));
        }
        Ok(())
    }
}

fn forbidden() -> ManageError {
    ManageError::Forbidden("You are not allowed to do this.".into())
}

fn object(body: &Value) -> Result<&Map<String, Value>, ManageError> {
    body.as_object().ok_or_else(|| {
        ManageError::Validation(ValidationErrors::single(
            "body",
            "The request body must be a JSON object.",
        ))
    })
}

pub(crate) fn id_of(record: &Record) -> i64 {
    record.get("id").and_then(Value::as_i64).unwrap_or_default()
}

pub(crate) fn str_of<'a>(record: &'a Record, column: &str) -> Option<&'a str> {
    record.get(column).and_then(Value::as_str)
}

pub(crate) fn int_of(record: &Record, column: &str) -> Option<i64> {
    record.get(column).and_then(Value::as_i64)
}

/// The record without secret columns.
pub(crate) fn public_fields(record: &Record) -> Map<String, Value> {
    record
        .iter()
        .filter(|(k, _)| !tables::HIDDEN_COLUMNS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The record as the audit log keeps it: secret columns show only that they are set.
fn audit_view(record: &Record) -> Value {
    Value::Object(
        record
            .iter()
            .map(|(k, v)| {
                let v = if tables::HIDDEN_COLUMNS.contains(&k.as_str()) && !v.is_null() {
                    Value::from("[redacted]")
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

fn main_record(plan: &Plan) -> Option<Record> {
    match plan.ops.get(plan.main) {
        Some(WriteOp::Insert { record, .. }) => Some(record.clone()),
        _ => None,
    }
}

fn merge(data: &mut Value, extra: Map<String, Value>) {
    if let Value::Object(map) = data {
        map.extend(extra);
    }
}

/// The audit row of a change; for creates its `entity_id` links to the first op's id.
fn audit_op(
    caller: Caller<'_>,
    action: &str,
    table: &Table,
    id: Option<i64>,
    before: Option<&Record>,
    after: Option<&Record>,
) -> WriteOp {
    let mut record = Record::new();
    record.insert("user_id".into(), Value::from(caller.who.user_id));
    record.insert("user_email".into(), Value::from(caller.who.email.clone()));
    record.insert("action".into(), Value::from(action));
    record.insert("entity".into(), Value::from(table.name));
    record.insert(
        "entity_id".into(),
        id.map_or(Value::Null, |id| Value::from(id.to_string())),
    );
    record.insert("before_data".into(), before.map_or(Value::Null, audit_view));
    record.insert("after_data".into(), after.map_or(Value::Null, audit_view));
    record.insert("ip_address".into(), Value::from(caller.ip));
    WriteOp::Insert {
        table: &tables::AUDIT_LOGS,
        record,
        link: id.is_none().then_some(("entity_id", 0)),
    }
}

/// Operators see only rows of their branches (by `column`).
pub(crate) fn branch_scope(who: &Principal, column: &'static str) -> Vec<Filter> {
    match who.branch_filter() {
        Some(branches) => vec![Filter::In(
            column,
            branches.iter().map(|b| Value::from(*b)).collect(),
        )],
        None => Vec::new(),
    }
}

/// A list filter on an integer column from a query parameter.
pub(crate) fn int_filter(
    params: &BTreeMap<String, String>,
    name: &str,
    column: &'static str,
    filters: &mut Vec<Filter>,
    errors: &mut ValidationErrors,
) {
    if let Some(v) = params.get(name) {
        match v.parse::<i64>() {
            Ok(i) => filters.push(Filter::Eq(column, Value::from(i))),
            Err(_) => errors.add(name, format!("The {name} must be an integer.")),
        }
    }
}

/// A list filter on a text column restricted to allowed values.
pub(crate) fn enum_filter(
    params: &BTreeMap<String, String>,
    name: &str,
    column: &'static str,
    allowed: &[&str],
    filters: &mut Vec<Filter>,
    errors: &mut ValidationErrors,
) {
    if let Some(v) = params.get(name) {
        if allowed.contains(&v.as_str()) {
            filters.push(Filter::Eq(column, Value::from(v.as_str())));
        } else {
            errors.add(name, format!("The selected {name} is invalid."));
        }
    }
}

/// A list filter on a boolean column.
pub(crate) fn bool_filter(
    params: &BTreeMap<String, String>,
    name: &'static str,
    filters: &mut Vec<Filter>,
    errors: &mut ValidationErrors,
) {
    if let Some(v) = params.get(name) {
        match v.as_str() {
            "true" | "1" => filters.push(Filter::Eq(name, Value::Bool(true))),
            "false" | "0" => filters.push(Filter::Eq(name, Value::Bool(false))),
            _ => errors.add(name, format!("The {name} must be true or false.")),
        }
    }
}

/// One `Update` of a single row by id.
pub(crate) fn update_op(table: &'static Table, id: i64, changes: Record) -> WriteOp {
    WriteOp::Update {
        table,
        changes,
        filters: by_id(id),
    }
}

pub(crate) fn insert_op(table: &'static Table, record: Record) -> WriteOp {
    WriteOp::Insert {
        table,
        record,
        link: None,
    }
}
