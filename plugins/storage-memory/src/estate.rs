//! Groups, branches, devices and API credentials, read from their record tables — the one
//! copy that `RecordStore::apply` (and so `EstateWrites` and the management API) writes.

use async_trait::async_trait;
use cctv_core::credential::{Credential, CredentialStatus, NewCredential, Permissions};
use cctv_core::estate::*;
use cctv_core::records::tables::{BRANCHES, CREDENTIALS, DEVICES, GROUPS};
use cctv_core::records::{Record, WriteOp, by_id, hex, unhex};
use cctv_core::storage::{ChangeTopic, CredentialStore, EstateStore, StorageError};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::MemoryStore;
use crate::records::apply_ops;
use crate::state::{State, get_i64, get_str, get_ts, ts_value};

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(what.to_owned().into())
}

fn text(rec: &Record, column: &str) -> Result<String, StorageError> {
    get_str(rec, column)
        .map(str::to_owned)
        .ok_or_else(|| corrupt(column))
}

fn opt_text(rec: &Record, column: &str) -> Option<String> {
    get_str(rec, column).map(str::to_owned)
}

fn int(rec: &Record, column: &str) -> Result<i64, StorageError> {
    get_i64(rec, column).ok_or_else(|| corrupt(column))
}

fn status(rec: &Record) -> Result<RecordStatus, StorageError> {
    get_str(rec, "status")
        .and_then(RecordStatus::parse)
        .ok_or_else(|| corrupt("status"))
}

fn group_from(rec: &Record) -> Result<Group, StorageError> {
    Ok(Group {
        id: int(rec, "id")?,
        province_code: text(rec, "province_code")?,
        province_name: text(rec, "province_name")?,
        group_name: text(rec, "group_name")?,
        address: opt_text(rec, "address"),
        phone: opt_text(rec, "phone"),
        email: opt_text(rec, "email"),
        status: status(rec)?,
    })
}

fn branch_from(rec: &Record) -> Result<Branch, StorageError> {
    Ok(Branch {
        id: int(rec, "id")?,
        group_id: int(rec, "group_id")?,
        branch_code: text(rec, "branch_code")?,
        branch_name: text(rec, "branch_name")?,
        city: text(rec, "city")?,
        address: opt_text(rec, "address"),
        latitude: rec.get("latitude").and_then(Value::as_f64),
        longitude: rec.get("longitude").and_then(Value::as_f64),
        phone: opt_text(rec, "phone"),
        email: opt_text(rec, "email"),
        status: status(rec)?,
    })
}

fn device_from(rec: &Record) -> Result<Device, StorageError> {
    Ok(Device {
        id: int(rec, "id")?,
        device_id: text(rec, "device_id")?,
        device_name: text(rec, "device_name")?,
        device_type: get_str(rec, "device_type")
            .and_then(DeviceType::parse)
            .ok_or_else(|| corrupt("device_type"))?,
        branch_id: int(rec, "branch_id")?,
        notes: opt_text(rec, "notes"),
        status: status(rec)?,
    })
}

fn credential_from(rec: &Record) -> Result<Credential, StorageError> {
    let hash = get_str(rec, "secret_hash")
        .and_then(unhex)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| corrupt("secret hash length"))?;
    let permissions: Permissions = rec
        .get("permissions")
        .cloned()
        .and_then(|p| serde_json::from_value(p).ok())
        .ok_or_else(|| corrupt("permissions"))?;
    Ok(Credential {
        id: int(rec, "id")?,
        name: text(rec, "credential_name")?,
        api_key: text(rec, "api_key")?,
        secret_hash: hash,
        branch_id: get_i64(rec, "branch_id"),
        device_id: opt_text(rec, "device_id"),
        permissions,
        rate_limit: u32::try_from(int(rec, "rate_limit")?).unwrap_or(u32::MAX),
        expires_at: get_ts(rec, "expires_at"),
        status: get_str(rec, "status")
            .and_then(CredentialStatus::parse)
            .ok_or_else(|| corrupt("status"))?,
    })
}

fn list<T>(
    state: &State,
    table: &str,
    from: fn(&Record) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError> {
    state.rows(table).map(from).collect()
}

#[async_trait]
impl EstateStore for MemoryStore {
    async fn estate_snapshot(&self) -> Result<EstateSnapshot, StorageError> {
        let state = self.lock();
        let mut snapshot = EstateSnapshot::default();
        for b in list(&state, BRANCHES.name, branch_from)? {
            snapshot.branches.insert(
                b.id,
                BranchInfo {
                    id: b.id,
                    group_id: b.group_id,
                    branch_code: b.branch_code,
                    branch_name: b.branch_name,
                    city: b.city,
                    status: b.status,
                },
            );
        }
        for d in list(&state, DEVICES.name, device_from)? {
            snapshot.devices.insert(
                d.device_id.clone(),
                DeviceInfo {
                    device_id: d.device_id,
                    device_name: d.device_name,
                    branch_id: d.branch_id,
                    status: d.status,
                },
            );
        }
        Ok(snapshot)
    }

    async fn change_stamp(&self, topic: ChangeTopic) -> Result<i64, StorageError> {
        let state = self.lock();
        Ok(match topic {
            ChangeTopic::Estate => state.estate_stamp,
            ChangeTopic::Credentials => state.credentials_stamp,
        })
    }

    async fn list_groups(&self) -> Result<Vec<Group>, StorageError> {
        list(&self.lock(), GROUPS.name, group_from)
    }

    async fn list_branches(&self) -> Result<Vec<Branch>, StorageError> {
        list(&self.lock(), BRANCHES.name, branch_from)
    }

    async fn list_devices(&self) -> Result<Vec<Device>, StorageError> {
        list(&self.lock(), DEVICES.name, device_from)
    }
}

impl MemoryStore {
    /// One credential column changed through the record path (constraints, stamp);
    /// `NotFound` when there is no such credential.
    fn set_credential_column(
        &self,
        id: i64,
        column: &str,
        value: Value,
    ) -> Result<(), StorageError> {
        let mut changes = Record::new();
        changes.insert(column.to_owned(), value);
        let op = WriteOp::Update {
            table: &CREDENTIALS,
            changes,
            filters: by_id(id),
        };
        match apply_ops(&mut self.lock(), &[op], Timestamp::now())?.first() {
            Some(n) if *n > 0 => Ok(()),
            _ => Err(StorageError::NotFound),
        }
    }
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn create_credential(&self, c: &NewCredential) -> Result<Credential, StorageError> {
        let record = json!({
            "credential_name": c.name,
            "api_key": c.api_key,
            "secret_hash": hex(&c.secret_hash),
            "branch_id": c.branch_id,
            "device_id": c.device_id,
            "permissions": c.permissions,
            "rate_limit": c.rate_limit,
            "expires_at": c.expires_at.map(|t| t.to_string()),
            "status": "active",
        });
        let Value::Object(record) = record else {
            return Err(corrupt("credential record"));
        };
        let op = WriteOp::Insert {
            table: &CREDENTIALS,
            record,
            link: None,
        };
        let mut state = self.lock();
        let id = apply_ops(&mut state, &[op], Timestamp::now())?
            .first()
            .copied()
            .ok_or_else(|| corrupt("insert returned no id"))?;
        credential_from(
            state
                .row(CREDENTIALS.name, id)
                .ok_or(StorageError::NotFound)?,
        )
    }

    async fn credentials(&self) -> Result<Vec<Credential>, StorageError> {
        list(&self.lock(), CREDENTIALS.name, credential_from)
    }

    async fn set_credential_status(
        &self,
        id: i64,
        s: CredentialStatus,
    ) -> Result<(), StorageError> {
        self.set_credential_column(id, "status", Value::from(s.as_str()))
    }

    async fn set_credential_expiry(
        &self,
        id: i64,
        expires_at: Option<Timestamp>,
    ) -> Result<(), StorageError> {
        let v = expires_at.map_or(Value::Null, |t| Value::from(t.to_string()));
        self.set_credential_column(id, "expires_at", v)
    }

    /// Written in place, without `updated_at` or a stamp change, as SQLite does: use times
    /// change nothing a request may do.
    async fn record_credential_use(&self, uses: &[(i64, Timestamp)]) -> Result<(), StorageError> {
        let mut state = self.lock();
        for (id, at) in uses {
            if let Some(rec) = state.row_mut(CREDENTIALS.name, *id) {
                rec.insert("last_used_at".into(), ts_value(*at));
            }
        }
        Ok(())
    }
}
