//! The estate: company groups (provinces) → branches (cities) → devices.
//!
//! The ingest path needs a fast answer to "is this device active and does it belong to
//! this active branch?" for every request, so the estate is also held as an immutable
//! [`EstateSnapshot`] that the `crate::cache::EstateCache` swaps atomically.

mod write;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use write::EstateWrites;

/// `active` / `inactive`, the status of groups, branches and devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordStatus {
    Active,
    Inactive,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// The four device kinds of the original system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    Camera,
    NodeAi,
    Mikrotik,
    Cctv,
}

impl DeviceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::NodeAi => "node_ai",
            Self::Mikrotik => "mikrotik",
            Self::Cctv => "cctv",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "camera" => Some(Self::Camera),
            "node_ai" => Some(Self::NodeAi),
            "mikrotik" => Some(Self::Mikrotik),
            "cctv" => Some(Self::Cctv),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: i64,
    pub province_code: String,
    pub province_name: String,
    pub group_name: String,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: RecordStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewGroup {
    pub province_code: String,
    pub province_name: String,
    pub group_name: String,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: RecordStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub id: i64,
    pub group_id: i64,
    pub branch_code: String,
    pub branch_name: String,
    pub city: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: RecordStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewBranch {
    pub group_id: i64,
    pub branch_code: String,
    pub branch_name: String,
    pub city: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: RecordStatus,
}

/// A device as the public API shows it: never its URL credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: i64,
    pub device_id: String,
    pub device_name: String,
    pub device_type: DeviceType,
    pub branch_id: i64,
    pub notes: Option<String>,
    pub status: RecordStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDevice {
    pub device_id: String,
    pub device_name: String,
    pub device_type: DeviceType,
    pub branch_id: i64,
    pub notes: Option<String>,
    pub status: RecordStatus,
}

/// What the ingest path needs to know about a branch.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchInfo {
    pub id: i64,
    pub group_id: i64,
    pub branch_code: String,
    pub branch_name: String,
    pub city: String,
    pub status: RecordStatus,
}

/// What the ingest path needs to know about a device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub device_id: String,
    pub device_name: String,
    pub branch_id: i64,
    pub status: RecordStatus,
}

/// An immutable view of branches and devices, swapped as a whole when the estate changes.
#[derive(Debug, Clone, Default)]
pub struct EstateSnapshot {
    pub branches: HashMap<i64, BranchInfo>,
    pub devices: HashMap<String, DeviceInfo>,
}

/// Why a detection's branch/device pair is refused, with the field to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EstateRejection {
    UnknownBranch,
    InactiveBranch,
    UnknownDevice,
    InactiveDevice,
    DeviceNotInBranch,
}

impl EstateRejection {
    pub(crate) fn field(&self) -> &'static str {
        match self {
            Self::UnknownBranch | Self::InactiveBranch => "branch_id",
            _ => "device_id",
        }
    }

    pub(crate) fn message(&self) -> &'static str {
        match self {
            Self::UnknownBranch => "Branch does not exist",
            Self::InactiveBranch => "Branch is not active",
            Self::UnknownDevice => "Device does not exist",
            Self::InactiveDevice => "Device is not active",
            Self::DeviceNotInBranch => "Device does not belong to this branch",
        }
    }
}

impl EstateSnapshot {
    /// Checks the ingest rule: an existing active device of an existing active branch.
    pub fn check_device(&self, branch_id: i64, device_id: &str) -> Result<(), EstateRejection> {
        let branch = self
            .branches
            .get(&branch_id)
            .ok_or(EstateRejection::UnknownBranch)?;
        if branch.status != RecordStatus::Active {
            return Err(EstateRejection::InactiveBranch);
        }
        let device = self
            .devices
            .get(device_id)
            .ok_or(EstateRejection::UnknownDevice)?;
        if device.branch_id != branch_id {
            return Err(EstateRejection::DeviceNotInBranch);
        }
        if device.status != RecordStatus::Active {
            return Err(EstateRejection::InactiveDevice);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> EstateSnapshot {
        let mut s = EstateSnapshot::default();
        for (id, status) in [
            (1, RecordStatus::Active),
            (2, RecordStatus::Inactive),
            (3, RecordStatus::Active),
        ] {
            s.branches.insert(
                id,
                BranchInfo {
                    id,
                    group_id: 1,
                    branch_code: format!("B{id}"),
                    branch_name: format!("Branch {id}"),
                    city: "X".into(),
                    status,
                },
            );
        }
        for (dev, branch, status) in [
            ("CAM_1", 1, RecordStatus::Active),
            ("CAM_OFF", 1, RecordStatus::Inactive),
            ("CAM_2", 2, RecordStatus::Active),
        ] {
            s.devices.insert(
                dev.into(),
                DeviceInfo {
                    device_id: dev.into(),
                    device_name: dev.into(),
                    branch_id: branch,
                    status,
                },
            );
        }
        s
    }

    #[test]
    fn device_must_be_active_and_of_the_branch() {
        let s = snapshot();
        assert_eq!(s.check_device(1, "CAM_1"), Ok(()));
        assert_eq!(
            s.check_device(9, "CAM_1"),
            Err(EstateRejection::UnknownBranch)
        );
        assert_eq!(
            s.check_device(2, "CAM_2"),
            Err(EstateRejection::InactiveBranch)
        );
        assert_eq!(
            s.check_device(1, "NOPE"),
            Err(EstateRejection::UnknownDevice)
        );
        assert_eq!(
            s.check_device(1, "CAM_OFF"),
            Err(EstateRejection::InactiveDevice)
        );
        assert_eq!(
            s.check_device(3, "CAM_1"),
            Err(EstateRejection::DeviceNotInBranch)
        );
    }
}
