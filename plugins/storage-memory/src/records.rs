//! [`RecordStore`]: generic rows per table, with the SQL semantics the SQLite backend has —
//! filters compare like SQL (`NULL` matches nothing but `IS NULL` / `IS NOT`), lists order
//! by a column then by id with `NULL`s first, and `apply` is all or nothing.

use std::cmp::Ordering;
use std::collections::HashMap;

use async_trait::async_trait;
use cctv_core::records::{
    ColumnType, ENSURE_PREFIX, Filter, ListQuery, Record, RecordStore, Table, WriteOp, hex, unhex,
};
use cctv_core::storage::StorageError;
use jiff::Timestamp;
use serde_json::Value;

use crate::MemoryStore;
use crate::schema::{FOREIGN_KEYS, OnDelete, UNIQUES, default_value};
use crate::state::{MEMBERSHIPS, PERSON_DAYS, Rows, State, ts_value};

fn mismatch(column: &str, expected: &str) -> StorageError {
    StorageError::Rejected(format!("{column}: expected {expected}"))
}

fn unknown(column: &str) -> StorageError {
    StorageError::Rejected(format!("unknown column {column}"))
}

/// A value as stored for a column of `table` (the shape SQLite's decode gives back).
pub(crate) fn normalize(table: &Table, column: &str, value: &Value) -> Result<Value, StorageError> {
    let ty = table.column_type(column).ok_or_else(|| unknown(column))?;
    if value.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        ColumnType::Int => Value::from(value.as_i64().ok_or_else(|| mismatch(column, "integer"))?),
        ColumnType::Float => Value::from(value.as_f64().ok_or_else(|| mismatch(column, "number"))?),
        ColumnType::Text | ColumnType::Date => {
            Value::from(value.as_str().ok_or_else(|| mismatch(column, "string"))?)
        }
        ColumnType::Bool => {
            Value::from(value.as_bool().ok_or_else(|| mismatch(column, "boolean"))?)
        }
        ColumnType::Json => value.clone(),
        ColumnType::Timestamp => {
            let t: Timestamp = value
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| mismatch(column, "RFC 3339 timestamp"))?;
            ts_value(t)
        }
        ColumnType::Bytes => {
            let bytes = value
                .as_str()
                .and_then(unhex)
                .ok_or_else(|| mismatch(column, "hex bytes"))?;
            Value::from(hex(&bytes))
        }
    })
}

/// SQL order of two non-null values of a column type.
fn compare(ty: ColumnType, a: &Value, b: &Value) -> Ordering {
    match ty {
        ColumnType::Timestamp => {
            let t = |v: &Value| v.as_str().and_then(|s| s.parse::<Timestamp>().ok());
            t(a).cmp(&t(b))
        }
        ColumnType::Int | ColumnType::Float => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => {
                let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
                f(a).partial_cmp(&f(b)).unwrap_or(Ordering::Equal)
            }
        },
        ColumnType::Bool => a.as_bool().cmp(&b.as_bool()),
        ColumnType::Json => a.to_string().cmp(&b.to_string()),
        ColumnType::Text | ColumnType::Date | ColumnType::Bytes => a.as_str().cmp(&b.as_str()),
    }
}

/// `NULL` first, as SQLite orders.
fn order_values(ty: ColumnType, a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => compare(ty, a, b),
    }
}

/// A filter checked against the table and with its values normalised.
enum Cond {
    Eq(&'static str, ColumnType, Value),
    Ne(&'static str, ColumnType, Value),
    In(&'static str, ColumnType, Vec<Value>),
    Ge(&'static str, ColumnType, Value),
    Lt(&'static str, ColumnType, Value),
    IsNull(&'static str),
    NotNull(&'static str),
    Search(&'static [&'static str], String),
}

fn compile(table: &Table, filters: &[Filter]) -> Result<Vec<Cond>, StorageError> {
    let ty = |c: &str| table.column_type(c).ok_or_else(|| unknown(c));
    filters
        .iter()
        .filter(|f| !matches!(f, Filter::Search(_) if table.search.is_empty()))
        .map(|f| {
            Ok(match f {
                Filter::Eq(c, v) => Cond::Eq(c, ty(c)?, normalize(table, c, v)?),
                Filter::Ne(c, v) => Cond::Ne(c, ty(c)?, normalize(table, c, v)?),
                Filter::Ge(c, v) => Cond::Ge(c, ty(c)?, normalize(table, c, v)?),
                Filter::Lt(c, v) => Cond::Lt(c, ty(c)?, normalize(table, c, v)?),
                Filter::In(c, vs) => Cond::In(
                    c,
                    ty(c)?,
                    vs.iter()
                        .map(|v| normalize(table, c, v))
                        .collect::<Result<_, _>>()?,
                ),
                Filter::IsNull(c) => {
                    ty(c)?;
                    Cond::IsNull(c)
                }
                Filter::NotNull(c) => {
                    ty(c)?;
                    Cond::NotNull(c)
                }
                Filter::Search(term) => Cond::Search(table.search, term.to_lowercase()),
            })
        })
        .collect()
}

fn value<'a>(rec: &'a Record, column: &str) -> Option<&'a Value> {
    rec.get(column).filter(|v| !v.is_null())
}

fn equal(ty: ColumnType, stored: Option<&Value>, v: &Value) -> bool {
    !v.is_null() && stored.is_some_and(|s| compare(ty, s, v) == Ordering::Equal)
}

fn holds(conds: &[Cond], rec: &Record) -> bool {
    conds.iter().all(|c| match c {
        Cond::Eq(col, ty, v) => equal(*ty, value(rec, col), v),
        Cond::Ne(col, ty, v) => match (value(rec, col), v.is_null()) {
            (None, true) => false,
            (None, false) | (Some(_), true) => true,
            (Some(s), false) => compare(*ty, s, v) != Ordering::Equal,
        },
        Cond::In(col, ty, vs) => vs.iter().any(|v| equal(*ty, value(rec, col), v)),
        Cond::Ge(col, ty, v) => {
            !v.is_null() && value(rec, col).is_some_and(|s| compare(*ty, s, v) != Ordering::Less)
        }
        Cond::Lt(col, ty, v) => {
            !v.is_null() && value(rec, col).is_some_and(|s| compare(*ty, s, v) == Ordering::Less)
        }
        Cond::IsNull(col) => value(rec, col).is_none(),
        Cond::NotNull(col) => value(rec, col).is_some(),
        Cond::Search(columns, term) => columns.iter().any(|c| {
            value(rec, c)
                .and_then(Value::as_str)
                .is_some_and(|s| s.to_lowercase().contains(term.as_str()))
        }),
    })
}

/// The row as the table describes it: `id`, the timestamps and its columns (rows written by
/// processing carry more columns than a description may show).
fn project(table: &Table, rec: &Record) -> Record {
    ["id", "created_at", "updated_at"]
        .into_iter()
        .chain(table.columns.iter().map(|c| c.name))
        .map(|name| {
            (
                name.to_owned(),
                rec.get(name).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Ids of the rows of `table` matching `filters`, in id order.
pub(crate) fn matching(
    state: &State,
    table: &Table,
    filters: &[Filter],
) -> Result<Vec<i64>, StorageError> {
    let conds = compile(table, filters)?;
    Ok(state
        .tables
        .get(table.name)
        .into_iter()
        .flat_map(|t| t.rows.iter())
        .filter(|(_, rec)| holds(&conds, rec))
        .map(|(id, _)| *id)
        .collect())
}

/// One `apply` in progress: the tables it changed are copied before their first change, so
/// a failed op puts them back.
struct Tx<'a> {
    state: &'a mut State,
    saved: HashMap<&'static str, Option<Rows>>,
    stamps: (i64, i64),
    now: Value,
}

impl<'a> Tx<'a> {
    fn new(state: &'a mut State, now: Timestamp) -> Self {
        let stamps = (state.estate_stamp, state.credentials_stamp);
        Self {
            state,
            saved: HashMap::new(),
            stamps,
            now: ts_value(now),
        }
    }

    fn rows(&mut self, table: &'static str) -> &mut Rows {
        if !self.saved.contains_key(table) {
            let copy = self.state.tables.get(table).cloned();
            self.saved.insert(table, copy);
        }
        self.state.tables.entry(table).or_default()
    }

    fn rollback(self) {
        for (table, rows) in self.saved {
            match rows {
                Some(rows) => self.state.tables.insert(table, rows),
                None => self.state.tables.remove(table),
            };
        }
        (self.state.estate_stamp, self.state.credentials_stamp) = self.stamps;
        self.state.reindex();
    }

    fn commit(self) {
        if self.saved.contains_key(PERSON_DAYS) || self.saved.contains_key(MEMBERSHIPS) {
            self.state.reindex();
        }
    }

    /// The change stamps watch these tables (the SQLite schema's triggers); credential
    /// use times do not invalidate caches.
    fn bump(&mut self, table: &str, changes: Option<&Record>) {
        match table {
            "company_groups" | "company_branches" | "device_masters" => {
                self.state.estate_stamp += 1
            }
            "api_credentials" if changes.is_none_or(|c| c.keys().any(|k| k != "last_used_at")) => {
                self.state.credentials_stamp += 1
            }
            _ => {}
        }
    }

    fn check_foreign_keys(&self, table: &str, rec: &Record) -> Result<(), StorageError> {
        for fk in FOREIGN_KEYS.iter().filter(|f| f.child == table) {
            let Some(v) = value(rec, fk.column) else {
                continue;
            };
            let found = self
                .state
                .rows(fk.parent)
                .any(|p| value(p, fk.parent_column).is_some_and(|pv| pv == v));
            if !found {
                return Err(StorageError::Rejected(format!(
                    "FOREIGN KEY constraint failed: {table}.{} references {}.{}",
                    fk.column, fk.parent, fk.parent_column
                )));
            }
        }
        Ok(())
    }

    fn check_unique(&self, table: &str, id: i64, rec: &Record) -> Result<(), StorageError> {
        for u in UNIQUES.iter().filter(|u| u.table == table) {
            let applies = |r: &Record| {
                u.only_true
                    .is_none_or(|c| r.get(c) == Some(&Value::Bool(true)))
            };
            if !applies(rec) || u.columns.iter().any(|c| value(rec, c).is_none()) {
                continue;
            }
            let clash = self.state.tables.get(table).is_some_and(|t| {
                t.rows.iter().any(|(other, r)| {
                    *other != id
                        && applies(r)
                        && u.columns
                            .iter()
                            .all(|c| value(r, c).is_some_and(|v| Some(v) == value(rec, c)))
                })
            });
            if clash {
                let cols: Vec<String> = u.columns.iter().map(|c| format!("{table}.{c}")).collect();
                return Err(StorageError::Conflict(format!(
                    "UNIQUE constraint failed: {}",
                    cols.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn insert(
        &mut self,
        table: &'static Table,
        record: &Record,
        link: Option<(&'static str, usize)>,
        results: &[i64],
    ) -> Result<i64, StorageError> {
        let mut rec = Record::new();
        for (k, v) in record {
            if !matches!(k.as_str(), "id" | "created_at" | "updated_at") {
                rec.insert(k.clone(), normalize(table, k, v)?);
            }
        }
        if let Some((column, index)) = link {
            let id = *results
                .get(index)
                .ok_or_else(|| StorageError::Rejected("bad link".into()))?;
            let linked = if table.column_type(column) == Some(ColumnType::Text) {
                Value::from(id.to_string())
            } else {
                Value::from(id)
            };
            rec.insert(column.to_owned(), normalize(table, column, &linked)?);
        }
        for c in table.columns {
            if !rec.contains_key(c.name) {
                rec.insert(c.name.to_owned(), default_value(table.name, c.name));
            }
        }
        self.check_foreign_keys(table.name, &rec)?;
        let id = self.rows(table.name).next_id;
        self.check_unique(table.name, id, &rec)?;
        rec.insert("id".into(), Value::from(id));
        rec.insert("created_at".into(), self.now.clone());
        rec.insert("updated_at".into(), self.now.clone());
        let rows = self.rows(table.name);
        rows.next_id += 1;
        rows.rows.insert(id, rec);
        self.bump(table.name, None);
        Ok(id)
    }

    fn update(
        &mut self,
        table: &'static Table,
        changes: &Record,
        filters: &[Filter],
    ) -> Result<i64, StorageError> {
        let mut set = Record::new();
        for (k, v) in changes {
            if !matches!(k.as_str(), "id" | "created_at" | "updated_at") {
                set.insert(k.clone(), normalize(table, k, v)?);
            }
        }
        let ids = matching(self.state, table, filters)?;
        for id in &ids {
            let Some(before) = self.state.row(table.name, *id).cloned() else {
                continue;
            };
            let mut after = before.clone();
            after.extend(set.clone());
            after.insert("updated_at".into(), self.now.clone());
            self.check_foreign_keys(table.name, &after)?;
            self.check_unique(table.name, *id, &after)?;
            self.rows(table.name).rows.insert(*id, after.clone());
            self.cascade_update(table.name, &before, &after)?;
            self.bump(table.name, Some(&set));
        }
        Ok(ids.len() as i64)
    }

    /// `ON UPDATE CASCADE`: children follow a changed parent key (a renamed `device_id`).
    fn cascade_update(
        &mut self,
        table: &'static str,
        before: &Record,
        after: &Record,
    ) -> Result<(), StorageError> {
        for fk in FOREIGN_KEYS.iter().filter(|f| f.parent == table) {
            let (Some(old), new) = (
                value(before, fk.parent_column),
                value(after, fk.parent_column),
            ) else {
                continue;
            };
            if Some(old) == new {
                continue;
            }
            let old = old.clone();
            let new = new.cloned().unwrap_or(Value::Null);
            let rows = self.rows(fk.child);
            for rec in rows.rows.values_mut() {
                if value(rec, fk.column) == Some(&old) {
                    rec.insert(fk.column.to_owned(), new.clone());
                }
            }
            self.bump(fk.child, None);
        }
        Ok(())
    }

    fn delete(&mut self, table: &'static Table, filters: &[Filter]) -> Result<i64, StorageError> {
        let ids = matching(self.state, table, filters)?;
        for id in &ids {
            self.delete_row(table.name, *id);
        }
        Ok(ids.len() as i64)
    }

    /// Deletes one row and applies its children's `ON DELETE` actions.
    fn delete_row(&mut self, table: &'static str, id: i64) {
        let Some(gone) = self.rows(table).rows.remove(&id) else {
            return;
        };
        self.bump(table, None);
        for fk in FOREIGN_KEYS.iter().filter(|f| f.parent == table) {
            let Some(key) = value(&gone, fk.parent_column).cloned() else {
                continue;
            };
            let children: Vec<i64> = self
                .state
                .tables
                .get(fk.child)
                .into_iter()
                .flat_map(|t| t.rows.iter())
                .filter(|(_, r)| value(r, fk.column) == Some(&key))
                .map(|(id, _)| *id)
                .collect();
            for child in children {
                match fk.on_delete {
                    OnDelete::Cascade => self.delete_row(fk.child, child),
                    OnDelete::SetNull => {
                        if let Some(r) = self.rows(fk.child).rows.get_mut(&child) {
                            r.insert(fk.column.to_owned(), Value::Null);
                        }
                    }
                }
            }
        }
    }

    fn run(&mut self, op: &WriteOp, results: &[i64]) -> Result<i64, StorageError> {
        match op {
            WriteOp::Insert {
                table,
                record,
                link,
            } => self.insert(table, record, *link, results),
            WriteOp::Update {
                table,
                changes,
                filters,
            } => self.update(table, changes, filters),
            WriteOp::Delete { table, filters } => self.delete(table, filters),
            WriteOp::Ensure {
                table,
                filters,
                min,
                max,
                reason,
            } => {
                let n = matching(self.state, table, filters)?.len() as u64;
                if n < *min || n > *max {
                    Err(StorageError::Rejected(format!("{ENSURE_PREFIX}{reason}")))
                } else {
                    Ok(n as i64)
                }
            }
        }
    }
}

/// Runs `ops` atomically on `state`: every op or none.
pub(crate) fn apply_ops(
    state: &mut State,
    ops: &[WriteOp],
    now: Timestamp,
) -> Result<Vec<i64>, StorageError> {
    let mut tx = Tx::new(state, now);
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        match tx.run(op, &results) {
            Ok(r) => results.push(r),
            Err(e) => {
                tx.rollback();
                return Err(e);
            }
        }
    }
    tx.commit();
    Ok(results)
}

#[async_trait]
impl RecordStore for MemoryStore {
    async fn list_records(
        &self,
        table: &'static Table,
        query: &ListQuery,
    ) -> Result<(Vec<Record>, u64), StorageError> {
        let ty = table
            .column_type(query.order.column)
            .ok_or_else(|| StorageError::Rejected("unknown order column".into()))?;
        let state = self.lock();
        let ids = matching(&state, table, &query.filters)?;
        let total = ids.len() as u64;
        let mut rows: Vec<&Record> = ids
            .iter()
            .filter_map(|id| state.row(table.name, *id))
            .collect();
        let column = query.order.column;
        rows.sort_by(|a, b| {
            let o = order_values(ty, a.get(column), b.get(column))
                .then_with(|| order_values(ColumnType::Int, a.get("id"), b.get("id")));
            if query.order.descending {
                o.reverse()
            } else {
                o
            }
        });
        let offset = u64::from(query.page.saturating_sub(1)) * u64::from(query.per_page);
        let page = rows
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(query.per_page as usize)
            .map(|r| project(table, r))
            .collect();
        Ok((page, total))
    }

    async fn find_record(
        &self,
        table: &'static Table,
        filters: &[Filter],
    ) -> Result<Option<Record>, StorageError> {
        let state = self.lock();
        let ids = matching(&state, table, filters)?;
        Ok(ids
            .first()
            .and_then(|id| state.row(table.name, *id))
            .map(|r| project(table, r)))
    }

    async fn count_records(
        &self,
        table: &'static Table,
        filters: &[Filter],
    ) -> Result<u64, StorageError> {
        let state = self.lock();
        Ok(matching(&state, table, filters)?.len() as u64)
    }

    async fn distinct_values(
        &self,
        table: &'static Table,
        column: &'static str,
        filters: &[Filter],
        limit: u32,
    ) -> Result<Vec<Value>, StorageError> {
        table.column_type(column).ok_or_else(|| unknown(column))?;
        let state = self.lock();
        let mut seen: Vec<Value> = Vec::new();
        for id in matching(&state, table, filters)? {
            if seen.len() >= limit as usize {
                break;
            }
            let v = state
                .row(table.name, id)
                .and_then(|r| r.get(column).cloned())
                .unwrap_or(Value::Null);
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        Ok(seen)
    }

    async fn apply(&self, ops: &[WriteOp]) -> Result<Vec<i64>, StorageError> {
        let mut state = self.lock();
        apply_ops(&mut state, ops, Timestamp::now())
    }
}
