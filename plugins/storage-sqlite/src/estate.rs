//! Groups, branches, devices and API credentials.

use async_trait::async_trait;
use cctv_core::credential::{Credential, CredentialStatus, NewCredential, Permissions};
use cctv_core::estate::*;
use cctv_core::storage::{ChangeTopic, CredentialStore, EstateStore, StorageError};
use jiff::Timestamp;
use sqlx::Row;

use crate::{SqliteStore, map_err, one_row, parse_opt_ts, ts};

fn status(s: &str) -> Result<RecordStatus, StorageError> {
    RecordStatus::parse(s).ok_or_else(|| StorageError::Corrupt(format!("status {s:?}").into()))
}

fn group_from(row: &sqlx::sqlite::SqliteRow) -> Result<Group, StorageError> {
    Ok(Group {
        id: row.get("id"),
        province_code: row.get("province_code"),
        province_name: row.get("province_name"),
        group_name: row.get("group_name"),
        address: row.get("address"),
        phone: row.get("phone"),
        email: row.get("email"),
        status: status(row.get("status"))?,
    })
}

fn branch_from(row: &sqlx::sqlite::SqliteRow) -> Result<Branch, StorageError> {
    Ok(Branch {
        id: row.get("id"),
        group_id: row.get("group_id"),
        branch_code: row.get("branch_code"),
        branch_name: row.get("branch_name"),
        city: row.get("city"),
        address: row.get("address"),
        latitude: row.get("latitude"),
        longitude: row.get("longitude"),
        phone: row.get("phone"),
        email: row.get("email"),
        status: status(row.get("status"))?,
    })
}

fn device_from(row: &sqlx::sqlite::SqliteRow) -> Result<Device, StorageError> {
    let kind: &str = row.get("device_type");
    Ok(Device {
        id: row.get("id"),
        device_id: row.get("device_id"),
        device_name: row.get("device_name"),
        device_type: DeviceType::parse(kind)
            .ok_or_else(|| StorageError::Corrupt(format!("device_type {kind:?}").into()))?,
        branch_id: row.get("branch_id"),
        notes: row.get("notes"),
        status: status(row.get("status"))?,
    })
}

const GROUP_COLS: &str =
    "id, province_code, province_name, group_name, address, phone, email, status";
const BRANCH_COLS: &str = "id, group_id, branch_code, branch_name, city, address, latitude, longitude, phone, email, status";
const DEVICE_COLS: &str = "id, device_id, device_name, device_type, branch_id, notes, status";

#[async_trait]
impl EstateStore for SqliteStore {
    async fn estate_snapshot(&self) -> Result<EstateSnapshot, StorageError> {
        let mut snapshot = EstateSnapshot::default();
        let branches = sqlx::query(
            "SELECT id, group_id, branch_code, branch_name, city, status FROM company_branches",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        for row in branches {
            let info = BranchInfo {
                id: row.get("id"),
                group_id: row.get("group_id"),
                branch_code: row.get("branch_code"),
                branch_name: row.get("branch_name"),
                city: row.get("city"),
                status: status(row.get("status"))?,
            };
            snapshot.branches.insert(info.id, info);
        }
        let devices =
            sqlx::query("SELECT device_id, device_name, branch_id, status FROM device_masters")
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
        for row in devices {
            let info = DeviceInfo {
                device_id: row.get("device_id"),
                device_name: row.get("device_name"),
                branch_id: row.get("branch_id"),
                status: status(row.get("status"))?,
            };
            snapshot.devices.insert(info.device_id.clone(), info);
        }
        Ok(snapshot)
    }

    async fn change_stamp(&self, topic: ChangeTopic) -> Result<i64, StorageError> {
        sqlx::query_scalar("SELECT stamp FROM change_stamps WHERE topic = ?")
            .bind(topic.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)
    }

    async fn list_groups(&self) -> Result<Vec<Group>, StorageError> {
        let rows = sqlx::query(&format!(
            "SELECT {GROUP_COLS} FROM company_groups ORDER BY id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(group_from).collect()
    }

    async fn list_branches(&self) -> Result<Vec<Branch>, StorageError> {
        let rows = sqlx::query(&format!(
            "SELECT {BRANCH_COLS} FROM company_branches ORDER BY id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(branch_from).collect()
    }

    async fn list_devices(&self) -> Result<Vec<Device>, StorageError> {
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLS} FROM device_masters ORDER BY id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(device_from).collect()
    }
}

const CREDENTIAL_COLS: &str = "id, credential_name, api_key, secret_hash, branch_id, device_id, permissions, rate_limit, expires_at, status";

fn credential_from(row: &sqlx::sqlite::SqliteRow) -> Result<Credential, StorageError> {
    let hash: Vec<u8> = row.get("secret_hash");
    let permissions: String = row.get("permissions");
    let state: &str = row.get("status");
    let rate_limit: i64 = row.get("rate_limit");
    Ok(Credential {
        id: row.get("id"),
        name: row.get("credential_name"),
        api_key: row.get("api_key"),
        secret_hash: hash
            .try_into()
            .map_err(|_| StorageError::Corrupt("secret hash length".into()))?,
        branch_id: row.get("branch_id"),
        device_id: row.get("device_id"),
        permissions: serde_json::from_str::<Permissions>(&permissions)
            .map_err(|e| StorageError::Corrupt(format!("permissions: {e}").into()))?,
        rate_limit: u32::try_from(rate_limit).unwrap_or(u32::MAX),
        expires_at: parse_opt_ts(row.get("expires_at"))?,
        status: CredentialStatus::parse(state)
            .ok_or_else(|| StorageError::Corrupt(format!("status {state:?}").into()))?,
    })
}

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn create_credential(&self, c: &NewCredential) -> Result<Credential, StorageError> {
        let now = ts(Timestamp::now());
        let permissions = serde_json::to_string(&c.permissions).expect("permissions serialize");
        let row = sqlx::query(&format!(
            "INSERT INTO api_credentials (credential_name, api_key, secret_hash, branch_id, device_id, permissions, rate_limit, expires_at, status, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?) RETURNING {CREDENTIAL_COLS}"
        ))
        .bind(&c.name)
        .bind(&c.api_key)
        .bind(c.secret_hash.as_slice())
        .bind(c.branch_id)
        .bind(&c.device_id)
        .bind(permissions)
        .bind(i64::from(c.rate_limit))
        .bind(c.expires_at.map(ts))
        .bind(&now)
        .bind(&now)
        .fetch_one(&self.writer)
        .await
        .map_err(map_err)?;
        credential_from(&row)
    }

    async fn credentials(&self) -> Result<Vec<Credential>, StorageError> {
        let rows = sqlx::query(&format!("SELECT {CREDENTIAL_COLS} FROM api_credentials"))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter().map(credential_from).collect()
    }

    async fn set_credential_status(
        &self,
        id: i64,
        s: CredentialStatus,
    ) -> Result<(), StorageError> {
        let done =
            sqlx::query("UPDATE api_credentials SET status = ?, updated_at = ? WHERE id = ?")
                .bind(s.as_str())
                .bind(ts(Timestamp::now()))
                .bind(id)
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
        one_row(done.rows_affected())
    }

    async fn set_credential_expiry(
        &self,
        id: i64,
        expires_at: Option<Timestamp>,
    ) -> Result<(), StorageError> {
        let done =
            sqlx::query("UPDATE api_credentials SET expires_at = ?, updated_at = ? WHERE id = ?")
                .bind(expires_at.map(ts))
                .bind(ts(Timestamp::now()))
                .bind(id)
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
        one_row(done.rows_affected())
    }

    async fn record_credential_use(&self, uses: &[(i64, Timestamp)]) -> Result<(), StorageError> {
        self.queue_write(async |conn| {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            for (id, at) in uses {
                sqlx::query("UPDATE api_credentials SET last_used_at = ? WHERE id = ?")
                    .bind(ts(*at))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })
        .await
    }
}
