//! Generic record access for the management side (groups, branches, devices, users,
//! settings, layouts, …).
//!
//! Management data is small, changes rarely and has many tables with plain CRUD, so
//! instead of one hand-written method per table and backend, the core describes each
//! table once ([`Table`]: column names and types, all `'static`) and a backend implements
//! the handful of generic operations of [`RecordStore`]. Column and table names only
//! ever come from these static descriptions, never from a request, and every value is a
//! bound parameter. Multi-row changes ([`WriteOp`] lists) run in one transaction and may
//! carry [`WriteOp::Ensure`] guards (e.g. "at least one active admin remains"), so
//! invariants hold even with concurrent requests.
//!
//! [`tables`] describes the estate's and credentials' tables; `cctv-admin` describes the
//! management tables the same way.

pub mod tables;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::storage::error::StorageError;

/// A row as JSON: column name → value (`id`, `created_at`, `updated_at` included).
pub type Record = Map<String, Value>;

/// How a column's JSON value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// JSON integer.
    Int,
    /// JSON number.
    Float,
    /// JSON string.
    Text,
    /// JSON boolean.
    Bool,
    /// Any JSON (stored as text on SQLite, `jsonb` on PostgreSQL).
    Json,
    /// RFC 3339 UTC timestamp string.
    Timestamp,
    /// `YYYY-MM-DD`.
    Date,
    /// Bytes, as a lowercase hex string in JSON.
    Bytes,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
}

/// Shorthand for table descriptions.
pub const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column { name, ty }
}

/// A table: its name and its columns besides `id`, `created_at` and `updated_at`
/// (which every management table has and the store maintains).
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// Text columns a free-text `search` looks in (case-insensitive substring).
    pub search: &'static [&'static str],
}

/// Tables are static singletons: equal when they are the same table.
impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Table {
    pub(crate) fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The type of `name`, including the implicit columns.
    pub fn column_type(&self, name: &str) -> Option<ColumnType> {
        match name {
            "id" => Some(ColumnType::Int),
            "created_at" | "updated_at" => Some(ColumnType::Timestamp),
            _ => self.column(name).map(|c| c.ty),
        }
    }
}

/// A condition on one column (ANDed together in a query).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Eq(&'static str, Value),
    Ne(&'static str, Value),
    In(&'static str, Vec<Value>),
    /// `column >= value`
    Ge(&'static str, Value),
    /// `column < value`
    Lt(&'static str, Value),
    IsNull(&'static str),
    NotNull(&'static str),
    /// Case-insensitive substring match over the table's `search` columns.
    Search(String),
}

/// Sort order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub column: &'static str,
    pub descending: bool,
}

impl Order {
    pub const NEWEST_FIRST: Order = Order {
        column: "id",
        descending: true,
    };

    pub const fn asc(column: &'static str) -> Order {
        Order {
            column,
            descending: false,
        }
    }
}

/// One page of a filtered, ordered list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    pub order: Order,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

/// One change inside an atomic [`RecordStore::apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Inserts a row; its new id is the op's result. `link` sets a column to the id
    /// produced by an earlier op of the same list (a parent row inserted first).
    Insert {
        table: &'static Table,
        record: Record,
        link: Option<(&'static str, usize)>,
    },
    /// Updates the rows matching `filters`; the result is the number of rows changed.
    Update {
        table: &'static Table,
        changes: Record,
        filters: Vec<Filter>,
    },
    /// Deletes the rows matching `filters`; the result is the number of rows removed.
    Delete {
        table: &'static Table,
        filters: Vec<Filter>,
    },
    /// After the preceding ops, between `min` and `max` rows must match `filters`;
    /// otherwise the whole list is rolled back with
    /// `StorageError::Rejected(ENSURE_PREFIX + reason)`.
    Ensure {
        table: &'static Table,
        filters: Vec<Filter>,
        min: u64,
        max: u64,
        reason: &'static str,
    },
}

/// `StorageError::Rejected` messages of failed [`WriteOp::Ensure`] guards start with this.
pub const ENSURE_PREFIX: &str = "ensure: ";

/// Helper for the common single-row filter.
pub fn by_id(id: i64) -> Vec<Filter> {
    vec![Filter::Eq("id", Value::from(id))]
}

/// Generic access to management tables. Implemented by each storage backend.
#[async_trait]
pub trait RecordStore: Send + Sync + std::fmt::Debug + 'static {
    /// A page of rows and the total number of rows matching the filters.
    async fn list_records(
        &self,
        table: &'static Table,
        query: &ListQuery,
    ) -> Result<(Vec<Record>, u64), StorageError>;

    /// The first row matching `filters` (by id), if any.
    async fn find_record(
        &self,
        table: &'static Table,
        filters: &[Filter],
    ) -> Result<Option<Record>, StorageError>;

    async fn count_records(
        &self,
        table: &'static Table,
        filters: &[Filter],
    ) -> Result<u64, StorageError>;

    /// Distinct values of one column among rows matching `filters` (at most `limit`).
    async fn distinct_values(
        &self,
        table: &'static Table,
        column: &'static str,
        filters: &[Filter],
        limit: u32,
    ) -> Result<Vec<Value>, StorageError>;

    /// Runs all ops in one transaction; one result per op (new id or rows affected).
    async fn apply(&self, ops: &[WriteOp]) -> Result<Vec<i64>, StorageError>;
}

/// Encodes bytes for a [`ColumnType::Bytes`] value.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Decodes a [`ColumnType::Bytes`] value.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_odd_or_non_hex_input() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff").unwrap(), bytes);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
