//! `cctv demo`: seeds a realistic estate (3 provinces, 7 branches, 12 devices with the
//! original system's device ids), a fresh credential and a demo admin for the web pages.
//! Running it again adds only what is missing (and a new credential).

use std::net::SocketAddr;

use cctv_admin::access::Role;
use cctv_admin::manage::tables::USERS;
use cctv_admin::manage::{ManageSettings, Manager, NewUser};
use cctv_core::Core;
use cctv_core::estate::*;
use cctv_core::records::Filter;
use serde_json::{Value, json};

use super::credential::{self, CreateArgs};

const GROUPS: [(&str, &str, &str); 3] = [
    ("JKT", "DKI Jakarta", "Jakarta Metropolitan Group"),
    ("JBR", "Jawa Barat", "West Java Group"),
    ("JTM", "Jawa Timur", "East Java Group"),
];

/// (group province code, branch code, name, city, latitude, longitude)
const BRANCHES: [(&str, &str, &str, &str, f64, f64); 7] = [
    (
        "JKT",
        "JKT001",
        "Jakarta Central Branch",
        "Jakarta",
        -6.186486,
        106.834091,
    ),
    (
        "JKT",
        "JKT002",
        "Jakarta South Branch",
        "Jakarta",
        -6.261493,
        106.810600,
    ),
    (
        "JKT",
        "JKT003",
        "Jakarta North Branch",
        "Jakarta",
        -6.138414,
        106.863956,
    ),
    (
        "JBR",
        "BDG001",
        "Bandung Dago Branch",
        "Bandung",
        -6.885130,
        107.613144,
    ),
    (
        "JBR",
        "BDG002",
        "Bandung Buah Batu Branch",
        "Bandung",
        -6.948490,
        107.636536,
    ),
    (
        "JTM",
        "SBY001",
        "Surabaya Tunjungan Branch",
        "Surabaya",
        -7.262428,
        112.739137,
    ),
    (
        "JTM",
        "SBY002",
        "Surabaya Rungkut Branch",
        "Surabaya",
        -7.325863,
        112.766182,
    ),
];

/// (branch code, device id, name, type)
const DEVICES: [(&str, &str, &str, DeviceType); 12] = [
    (
        "JKT001",
        "CAM_JKT001_001",
        "Jakarta Central Entrance Camera",
        DeviceType::Camera,
    ),
    (
        "JKT001",
        "CAM_JKT001_002",
        "Jakarta Central Lobby Camera",
        DeviceType::Camera,
    ),
    (
        "JKT001",
        "NODE_JKT001_001",
        "Jakarta Central AI Node",
        DeviceType::NodeAi,
    ),
    (
        "JKT002",
        "CAM_JKT002_001",
        "Jakarta South Entrance Camera",
        DeviceType::Camera,
    ),
    (
        "JKT002",
        "CAM_JKT002_002",
        "Jakarta South Parking Camera",
        DeviceType::Camera,
    ),
    (
        "JKT003",
        "CCTV_JKT003_001",
        "Jakarta North CCTV",
        DeviceType::Cctv,
    ),
    (
        "BDG001",
        "CAM_BDG001_001",
        "Bandung Dago Entrance Camera",
        DeviceType::Camera,
    ),
    (
        "BDG001",
        "NODE_BDG001_001",
        "Bandung Dago AI Node",
        DeviceType::NodeAi,
    ),
    (
        "BDG002",
        "CAM_BDG002_001",
        "Bandung Buah Batu Camera",
        DeviceType::Camera,
    ),
    (
        "SBY001",
        "CAM_SBY001_001",
        "Surabaya Tunjungan Camera",
        DeviceType::Camera,
    ),
    (
        "SBY001",
        "MIKROTIK_SBY001",
        "Surabaya Tunjungan Router",
        DeviceType::Mikrotik,
    ),
    (
        "SBY002",
        "CCTV_SBY002_001",
        "Surabaya Rungkut CCTV",
        DeviceType::Cctv,
    ),
];

/// How `cctv demo` prints what it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// For people: the estate, the credential, the admin and `export` lines to paste.
    Text,
    /// One JSON document.
    Json,
    /// Only `export CCTV_KEY=… CCTV_SECRET=…` on standard output (for `eval`); the admin's
    /// password on standard error.
    Env,
}

/// The login of the demo admin.
pub const ADMIN_EMAIL: &str = "demo@cctv.local";

/// Creates the demo admin with a random password, returned once; `None` if it exists.
async fn demo_admin(core: Core) -> anyhow::Result<Option<String>> {
    let email = Filter::Eq("email", Value::from(ADMIN_EMAIL));
    if core
        .storage()
        .find_record(&USERS, &[email])
        .await?
        .is_some()
    {
        // The admin of an earlier run, whose password was printed then.
        return Ok(None);
    }
    let password = cctv_core::credential::random_alphanumeric(16);
    let manager = Manager::new(core, ManageSettings::default());
    let new = NewUser {
        name: "Demo Admin".into(),
        email: ADMIN_EMAIL.into(),
        password: password.clone(),
        role: Role::Admin,
    };
    manager
        .create_user(new)
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo admin: {e}"))?;
    Ok(Some(password))
}

/// Single-quoted for a POSIX shell (keys and secrets are alphanumeric; quoted anyway).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub async fn run(core: Core, listen: SocketAddr, output: Output) -> anyhow::Result<()> {
    let storage = core.storage().clone();
    let storage = storage.as_ref();
    let mut groups = storage.list_groups().await?;
    for (code, province, name) in GROUPS {
        if !groups.iter().any(|g| g.province_code == code) {
            groups.push(
                storage
                    .create_group(&NewGroup {
                        province_code: code.into(),
                        province_name: province.into(),
                        group_name: name.into(),
                        address: None,
                        phone: None,
                        email: None,
                        status: RecordStatus::Active,
                    })
                    .await?,
            );
        }
    }
    let mut branches = storage.list_branches().await?;
    for (group_code, code, name, city, lat, lon) in BRANCHES {
        if branches.iter().any(|b| b.branch_code == code) {
            continue;
        }
        let group = groups
            .iter()
            .find(|g| g.province_code == group_code)
            .expect("group seeded above");
        branches.push(
            storage
                .create_branch(&NewBranch {
                    group_id: group.id,
                    branch_code: code.into(),
                    branch_name: name.into(),
                    city: city.into(),
                    address: None,
                    latitude: Some(lat),
                    longitude: Some(lon),
                    phone: None,
                    email: None,
                    status: RecordStatus::Active,
                })
                .await?,
        );
    }
    let mut devices = storage.list_devices().await?;
    for (branch_code, device_id, name, kind) in DEVICES {
        if devices.iter().any(|d| d.device_id == device_id) {
            continue;
        }
        let branch = branches
            .iter()
            .find(|b| b.branch_code == branch_code)
            .expect("branch seeded above");
        devices.push(
            storage
                .create_device(&NewDevice {
                    device_id: device_id.into(),
                    device_name: name.into(),
                    device_type: kind,
                    branch_id: branch.id,
                    notes: None,
                    status: RecordStatus::Active,
                })
                .await?,
        );
    }
    let args = CreateArgs {
        name: "demo".into(),
        rate_limit: 1_000_000,
        branch_id: None,
        device_id: None,
        read_only: false,
        expires_at: None,
        json: output == Output::Json,
    };
    let created = credential::create(storage, &args).await?;
    let admin_password = demo_admin(core.clone()).await?;
    let exports = format!(
        "export CCTV_KEY={} CCTV_SECRET={}",
        shell_quote(&created.secret.api_key),
        shell_quote(&created.secret.api_secret)
    );
    let admin_line = match &admin_password {
        Some(p) => format!(
            "Web pages: http://{listen}/ — log in as {ADMIN_EMAIL} with password {p} (shown only now)"
        ),
        None => format!(
            "Web pages: http://{listen}/ — log in as {ADMIN_EMAIL} (its password was printed when it was created)"
        ),
    };
    if output == Output::Env {
        println!("{exports}");
        eprintln!("{admin_line}");
        return Ok(());
    }
    if output == Output::Json {
        let out = json!({
            "groups": groups.iter().map(|g| json!({"id": g.id, "province_code": g.province_code, "group_name": g.group_name})).collect::<Vec<_>>(),
            "branches": branches.iter().map(|b| json!({"id": b.id, "branch_code": b.branch_code, "branch_name": b.branch_name, "city": b.city, "group_id": b.group_id})).collect::<Vec<_>>(),
            "devices": devices.iter().map(|d| json!({"device_id": d.device_id, "device_name": d.device_name, "device_type": d.device_type, "branch_id": d.branch_id})).collect::<Vec<_>>(),
            "credential": {"id": created.id, "api_key": created.secret.api_key, "api_secret": created.secret.api_secret},
            "admin": {"email": ADMIN_EMAIL, "password": admin_password.map_or(Value::Null, Value::from)},
        });
        println!("{out}");
    } else {
        println!(
            "Demo estate: {} groups, {} branches, {} devices.",
            groups.len(),
            branches.len(),
            devices.len()
        );
        for d in &devices {
            let b = branches
                .iter()
                .find(|b| b.id == d.branch_id)
                .map_or("?", |b| b.branch_code.as_str());
            println!("  branch {:>2} {b:<7} {}", d.branch_id, d.device_id);
        }
        println!("API credential #{} (1,000,000 requests/hour):", created.id);
        println!("X-API-Key:    {}", created.secret.api_key);
        println!("X-API-Secret: {}", created.secret.api_secret);
        println!("{admin_line}");
        println!("Paste into your shell to use the credential with curl:");
        println!("{exports}");
    }
    Ok(())
}
