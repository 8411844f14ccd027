//! Writing the estate: one path for every caller.
//!
//! Groups, branches and devices are management records, so they are written the way the
//! management API writes them — [`RecordStore::apply`] on the tables of
//! [`crate::records::tables`] — whether the caller is that API, the demo command, a test
//! fixture or an embedder. A backend therefore has no estate-specific write methods, and
//! the change stamps the estate cache watches move the same way for all of them.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use super::{Branch, Device, Group, NewBranch, NewDevice, NewGroup, RecordStatus};
use crate::records::tables::{BRANCHES, DEVICES, GROUPS};
use crate::records::{Filter, Record, RecordStore, Table, WriteOp, by_id};
use crate::storage::error::StorageError;

/// Inserts one row built from `new`'s fields; returns its id.
async fn insert<S: RecordStore + ?Sized>(
    store: &S,
    table: &'static Table,
    new: &impl Serialize,
) -> Result<i64, StorageError> {
    let Ok(Value::Object(record)) = serde_json::to_value(new) else {
        return Err(StorageError::Rejected(format!(
            "{}: not a record",
            table.name
        )));
    };
    let record: Record = record
        .into_iter()
        .filter(|(k, _)| table.column(k).is_some())
        .collect();
    let ids = store
        .apply(&[WriteOp::Insert {
            table,
            record,
            link: None,
        }])
        .await?;
    ids.first().copied().ok_or_else(|| {
        StorageError::Corrupt(format!("{}: insert returned no id", table.name).into())
    })
}

/// Sets `status` on the rows `filters` select; `NotFound` when there is none.
async fn set_status<S: RecordStore + ?Sized>(
    store: &S,
    table: &'static Table,
    filters: Vec<Filter>,
    status: RecordStatus,
) -> Result<(), StorageError> {
    let mut changes = Record::new();
    changes.insert("status".into(), Value::from(status.as_str()));
    let done = store
        .apply(&[WriteOp::Update {
            table,
            changes,
            filters,
        }])
        .await?;
    match done.first() {
        Some(n) if *n > 0 => Ok(()),
        _ => Err(StorageError::NotFound),
    }
}

impl NewGroup {
    /// An active group (province) with no contact details.
    pub fn new(province_code: &str, name: &str) -> Self {
        Self {
            province_code: province_code.into(),
            province_name: name.into(),
            group_name: name.into(),
            address: None,
            phone: None,
            email: None,
            status: RecordStatus::Active,
        }
    }
}

impl NewBranch {
    /// An active branch of `group_id` with no location or contact details.
    pub fn new(group_id: i64, branch_code: &str, branch_name: &str, city: &str) -> Self {
        Self {
            group_id,
            branch_code: branch_code.into(),
            branch_name: branch_name.into(),
            city: city.into(),
            address: None,
            latitude: None,
            longitude: None,
            phone: None,
            email: None,
            status: RecordStatus::Active,
        }
    }
}

impl NewDevice {
    /// An active camera of `branch_id`, named by its `device_id`.
    pub fn new(branch_id: i64, device_id: &str) -> Self {
        Self {
            device_id: device_id.into(),
            device_name: device_id.into(),
            device_type: super::DeviceType::Camera,
            branch_id,
            notes: None,
            status: RecordStatus::Active,
        }
    }
}

/// The estate's writes, on every [`RecordStore`] (so on every backend): bring the trait
/// into scope and call `store.create_branch(&new_branch)`.
#[async_trait]
pub trait EstateWrites: RecordStore {
    /// Stores the group.
    async fn create_group(&self, new: &NewGroup) -> Result<Group, StorageError>;
    /// Stores the branch (its group must exist).
    async fn create_branch(&self, new: &NewBranch) -> Result<Branch, StorageError>;
    /// Stores the device (its branch must exist; `device_id` is unique: `Conflict`).
    async fn create_device(&self, new: &NewDevice) -> Result<Device, StorageError>;
    /// Activates or deactivates a branch; `NotFound` when there is no such branch.
    async fn set_branch_status(&self, id: i64, status: RecordStatus) -> Result<(), StorageError>;
    /// Activates or deactivates a device by its `device_id`; `NotFound` when unknown.
    async fn set_device_status(
        &self,
        device_id: &str,
        status: RecordStatus,
    ) -> Result<(), StorageError>;
}

#[async_trait]
impl<S: RecordStore + ?Sized> EstateWrites for S {
    async fn create_group(&self, new: &NewGroup) -> Result<Group, StorageError> {
        let id = insert(self, &GROUPS, new).await?;
        Ok(Group {
            id,
            province_code: new.province_code.clone(),
            province_name: new.province_name.clone(),
            group_name: new.group_name.clone(),
            address: new.address.clone(),
            phone: new.phone.clone(),
            email: new.email.clone(),
            status: new.status,
        })
    }

    async fn create_branch(&self, new: &NewBranch) -> Result<Branch, StorageError> {
        let id = insert(self, &BRANCHES, new).await?;
        Ok(Branch {
            id,
            group_id: new.group_id,
            branch_code: new.branch_code.clone(),
            branch_name: new.branch_name.clone(),
            city: new.city.clone(),
            address: new.address.clone(),
            latitude: new.latitude,
            longitude: new.longitude,
            phone: new.phone.clone(),
            email: new.email.clone(),
            status: new.status,
        })
    }

    async fn create_device(&self, new: &NewDevice) -> Result<Device, StorageError> {
        let id = insert(self, &DEVICES, new).await?;
        Ok(Device {
            id,
            device_id: new.device_id.clone(),
            device_name: new.device_name.clone(),
            device_type: new.device_type,
            branch_id: new.branch_id,
            notes: new.notes.clone(),
            status: new.status,
        })
    }

    async fn set_branch_status(&self, id: i64, status: RecordStatus) -> Result<(), StorageError> {
        set_status(self, &BRANCHES, by_id(id), status).await
    }

    async fn set_device_status(
        &self,
        device_id: &str,
        status: RecordStatus,
    ) -> Result<(), StorageError> {
        let filters = vec![Filter::Eq("device_id", Value::from(device_id))];
        set_status(self, &DEVICES, filters, status).await
    }
}
