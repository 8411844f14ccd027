//! Live-view layouts (admins manage, everyone reads): a 4-, 6- or 8-window layout has
//! exactly that many positions, numbered 1..=N. Exactly one layout can be the default
//! (also enforced by a partial unique index); the default cannot be deleted.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::form::Form;
use super::{
    Caller, ManageError, Manager, Plan, Resource, ResourceLogic, bool_filter, enum_filter, id_of,
    insert_op, int_of, str_of, update_op,
};
use crate::access::Principal;
use crate::manage::tables::{LAYOUTS, POSITIONS};
use cctv_core::records::tables::{BRANCHES, DEVICES};
use cctv_core::records::{Filter, ListQuery, Order, Record, Table, WriteOp, by_id};
use cctv_core::validation::ValidationErrors;

pub(crate) struct Layouts;

pub(super) const FIELDS: &[&str] = &[
    "layout_name",
    "layout_type",
    "description",
    "is_default",
    "is_active",
    "positions",
];
const TYPES: &[&str] = &["4-window", "6-window", "8-window"];
const POSITION_FIELDS: &[&str] = &[
    "position_number",
    "branch_id",
    "device_id",
    "position_name",
    "is_enabled",
    "auto_switch",
    "switch_interval",
    "quality",
    "resolution",
];

fn positions_of(layout_type: &str) -> usize {
    match layout_type {
        "4-window" => 4,
        "6-window" => 6,
        _ => 8,
    }
}

/// Validates `positions` for a layout of `count` windows into position records.
async fn validate_positions(
    m: &Manager,
    value: Option<&Value>,
    count: usize,
    errors: &mut ValidationErrors,
) -> Result<Option<Vec<Record>>, ManageError> {
    let Some(value) = value else { return Ok(None) };
    let Some(items) = value.as_array() else {
        errors.add("positions", "The positions must be a list.");
        return Ok(None);
    };
    if items.len() != count {
        errors.add(
            "positions",
            format!("A {count}-window layout needs exactly {count} positions."),
        );
        return Ok(None);
    }
    let mut records = Vec::with_capacity(count);
    let mut numbers = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            errors.add(
                &format!("positions.{i}"),
                "Each position must be an object.",
            );
            continue;
        };
        let mut f = Form::new(obj, false);
        f.only(POSITION_FIELDS);
        let number = f.int("position_number", true, 1, count as i64);
        let branch = f.int("branch_id", false, 1, i64::MAX);
        let device = f.code("device_id", false, 50);
        f.text("position_name", false, 100);
        f.boolean("is_enabled");
        f.boolean("auto_switch");
        f.int("switch_interval", false, 5, 300);
        f.one_of("quality", false, &["low", "medium", "high"]);
        f.one_of("resolution", false, &["640x480", "1280x720", "1920x1080"]);
        if let Some(n) = number
            && !numbers.insert(n)
        {
            f.errors
                .add("position_number", "The position_number is used twice.");
        }
        if let Some(b) = branch
            && m.core.storage().count_records(&BRANCHES, &by_id(b)).await? == 0
        {
            f.errors
                .add("branch_id", "The selected branch_id is invalid.");
        }
        if let Some(d) = &device {
            let row = m
                .core
                .storage()
                .find_record(
                    &DEVICES,
                    &[Filter::Eq("device_id", Value::from(d.as_str()))],
                )
                .await?;
            match row {
                None => f
                    .errors
                    .add("device_id", "The selected device_id is invalid."),
                Some(r) if branch.is_some_and(|b| int_of(&r, "branch_id") != Some(b)) => f
                    .errors
                    .add("device_id", "The device does not belong to this branch."),
                // The branch comes from the device itself, so that a scope check on the
                // branch cannot be side-stepped by leaving `branch_id` out.
                Some(r) => {
                    if let Some(b) = int_of(&r, "branch_id") {
                        f.record.insert("branch_id".into(), Value::from(b));
                    }
                }
            }
        }
        match f.finish() {
            Ok(r) => records.push(r),
            Err(e) => {
                for (field, messages) in e.fields() {
                    for msg in messages {
                        errors.add(&format!("positions.{i}.{field}"), msg.clone());
                    }
                }
            }
        }
    }
    Ok(Some(records))
}

/// Ops that give every other layout `is_default = false` (run before setting one).
fn clear_default() -> WriteOp {
    let mut changes = Record::new();
    changes.insert("is_default".into(), Value::Bool(false));
    WriteOp::Update {
        table: &LAYOUTS,
        changes,
        filters: vec![Filter::Eq("is_default", Value::Bool(true))],
    }
}

fn position_inserts(positions: Vec<Record>, layout: Option<i64>, link: usize) -> Vec<WriteOp> {
    positions
        .into_iter()
        .map(|mut record| {
            if let Some(id) = layout {
                record.insert("layout_id".into(), Value::from(id));
            }
            WriteOp::Insert {
                table: &POSITIONS,
                record,
                link: layout.is_none().then_some(("layout_id", link)),
            }
        })
        .collect()
}

#[async_trait]
impl ResourceLogic for Layouts {
    fn table(&self) -> &'static Table {
        &LAYOUTS
    }
    fn noun(&self) -> &'static str {
        "Layout"
    }
    fn list_filters(
        &self,
        params: &BTreeMap<String, String>,
        filters: &mut Vec<Filter>,
        errors: &mut ValidationErrors,
    ) {
        enum_filter(params, "layout_type", "layout_type", TYPES, filters, errors);
        bool_filter(params, "is_active", filters, errors);
    }
    fn order(&self) -> Order {
        Order::asc("layout_name")
    }

    async fn plan_create(
        &self,
        m: &Manager,
        who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let mut f = Form::new(body, false);
        f.only(FIELDS);
        f.text("layout_name", true, 150);
        let layout_type = f.one_of("layout_type", true, TYPES);
        f.text("description", false, 1000);
        let is_default = f.boolean("is_default").unwrap_or(false);
        f.boolean("is_active");
        let count = layout_type.as_deref().map(positions_of);
        let positions = match count {
            Some(count) => {
                if !f.present("positions") {
                    f.errors
                        .add("positions", "The positions field is required.");
                }
                validate_positions(m, body.get("positions"), count, &mut f.errors).await?
            }
            None => None,
        };
        f.record.remove("positions");
        let mut record = f.finish()?;
        record.insert(
            "total_positions".into(),
            Value::from(count.unwrap_or(0) as i64),
        );
        record.insert("is_default".into(), Value::Bool(false));
        if who.user_id > 0 {
            record.insert("created_by".into(), Value::from(who.user_id));
        }
        let mut ops = Vec::new();
        let mut main = 0;
        if is_default {
            ops.push(clear_default());
            main = 1;
            record.insert("is_default".into(), Value::Bool(true));
        }
        ops.push(insert_op(&LAYOUTS, record));
        ops.extend(position_inserts(positions.unwrap_or_default(), None, main));
        let mut plan = Plan::new(ops);
        plan.main = main;
        Ok(plan)
    }

    async fn plan_update(
        &self,
        m: &Manager,
        _who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let id = id_of(existing);
        let mut f = Form::new(body, true);
        f.only(FIELDS);
        f.text("layout_name", true, 150);
        let new_type = f.one_of("layout_type", true, TYPES);
        f.text("description", false, 1000);
        let make_default = f.boolean("is_default");
        f.boolean("is_active");
        let old_type = str_of(existing, "layout_type")
            .unwrap_or("4-window")
            .to_owned();
        let layout_type = new_type.clone().unwrap_or(old_type.clone());
        let count = positions_of(&layout_type);
        if new_type.is_some_and(|t| t != old_type) && !f.present("positions") {
            f.errors.add(
                "positions",
                "Changing the layout type needs the new positions.",
            );
        }
        let positions = validate_positions(m, body.get("positions"), count, &mut f.errors).await?;
        f.record.remove("positions");
        let mut changes = f.finish()?;
        changes.insert("total_positions".into(), Value::from(count as i64));
        let was_default = existing.get("is_default") == Some(&Value::Bool(true));
        if make_default == Some(false) && was_default {
            return Err(ManageError::Conflict(
                "Choose another default layout instead of unsetting this one.".into(),
            ));
        }
        let mut ops = Vec::new();
        let mut main = 0;
        if make_default == Some(true) && !was_default {
            ops.push(clear_default());
            main = 1;
        }
        ops.push(update_op(&LAYOUTS, id, changes));
        if let Some(positions) = positions {
            ops.push(WriteOp::Delete {
                table: &POSITIONS,
                filters: vec![Filter::Eq("layout_id", Value::from(id))],
            });
            ops.extend(position_inserts(positions, Some(id), 0));
        }
        let mut plan = Plan::new(ops);
        plan.main = main;
        Ok(plan)
    }

    async fn plan_delete(
        &self,
        _m: &Manager,
        _who: &Principal,
        existing: &Record,
    ) -> Result<Plan, ManageError> {
        if existing.get("is_default") == Some(&Value::Bool(true)) {
            return Err(ManageError::Conflict(
                "Cannot delete default layout.".into(),
            ));
        }
        Ok(Plan::new(vec![WriteOp::Delete {
            table: &LAYOUTS,
            filters: by_id(id_of(existing)),
        }]))
    }
}

impl Manager {
    /// A layout with its positions (ordered by number).
    pub async fn layout_with_positions(
        &self,
        caller: Caller<'_>,
        id: i64,
    ) -> Result<Value, ManageError> {
        let mut layout = self.show(caller, Resource::Layouts, id).await?;
        let query = ListQuery {
            filters: vec![Filter::Eq("layout_id", Value::from(id))],
            order: Order::asc("position_number"),
            page: 1,
            per_page: 64,
        };
        let (positions, _) = self.core.storage().list_records(&POSITIONS, &query).await?;
        if let Value::Object(map) = &mut layout {
            map.insert(
                "positions".into(),
                Value::Array(positions.into_iter().map(Value::Object).collect()),
            );
        }
        Ok(layout)
    }

    /// Makes one layout the default (and active).
    pub async fn set_default_layout(
        &self,
        caller: Caller<'_>,
        id: i64,
    ) -> Result<Value, ManageError> {
        let body = serde_json::json!({ "is_default": true, "is_active": true });
        self.update(caller, Resource::Layouts, id, &body).await?;
        self.layout_with_positions(caller, id).await
    }
}

impl Manager {
    /// Points one live-view position at a branch and device (the live view's pickers;
    /// also `PUT /api/v1/cctv/layouts/{id}/positions/{n}` of the original).
    pub async fn update_position(
        &self,
        caller: Caller<'_>,
        layout_id: i64,
        number: i64,
        body: &Value,
    ) -> Result<Value, ManageError> {
        let who = caller.who;
        if who.role == crate::access::Role::Viewer {
            return Err(super::forbidden());
        }
        let body = super::object(body)?;
        let storage = self.core.storage();
        let key = vec![
            Filter::Eq("layout_id", Value::from(layout_id)),
            Filter::Eq("position_number", Value::from(number)),
        ];
        let before = storage
            .find_record(&POSITIONS, &key)
            .await?
            .ok_or_else(|| ManageError::NotFound("Position not found".into()))?;
        // A position showing another branch is not an operator's to change or clear.
        let shown_branch = int_of(&before, "branch_id").or_else(|| {
            let device = str_of(&before, "device_id")?;
            self.core.estate().devices.get(device).map(|d| d.branch_id)
        });
        if shown_branch.is_some_and(|b| !who.may_manage_branch(b)) {
            return Err(super::forbidden());
        }
        let mut errors = ValidationErrors::new();
        let mut wrapped = Map::new();
        wrapped.insert(
            "positions".into(),
            Value::Array(vec![{
                let mut p = body.clone();
                p.insert("position_number".into(), Value::from(1));
                Value::Object(p)
            }]),
        );
        let checked = validate_positions(self, wrapped.get("positions"), 1, &mut errors).await?;
        if !errors.is_empty() {
            let mut renamed = ValidationErrors::new();
            for (field, messages) in errors.fields() {
                for m in messages {
                    renamed.add(field.trim_start_matches("positions.0."), m.clone());
                }
            }
            return Err(renamed.into());
        }
        let mut changes = checked.and_then(|mut v| v.pop()).unwrap_or_default();
        changes.remove("position_number");
        if let Some(branch) = changes.get("branch_id").and_then(Value::as_i64)
            && !who.may_manage_branch(branch)
        {
            return Err(super::forbidden());
        }
        let mut after = before.clone();
        after.extend(changes.clone());
        let id = id_of(&before);
        let ops = vec![
            update_op(&POSITIONS, id, changes),
            super::audit_op(
                caller,
                "update",
                &POSITIONS,
                Some(id),
                Some(&before),
                Some(&after),
            ),
        ];
        self.apply(&ops).await?;
        let row = storage
            .find_record(&POSITIONS, &key)
            .await?
            .unwrap_or(after);
        self.publish(&LAYOUTS, "update", &{
            let mut r = Record::new();
            r.insert("id".into(), Value::from(layout_id));
            r
        });
        Ok(Value::Object(row))
    }
}
