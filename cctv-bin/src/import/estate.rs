//! The estate and its settings: groups, branches, devices, streams, layouts, event and
//! WhatsApp settings, users and API credentials. Small tables: each is read whole from the
//! source, matched on its natural key and written row by row, so one bad row is refused
//! and listed while the rest go in.

use cctv_admin::manage::tables::{
    EVENT_SETTINGS, LAYOUTS, POSITIONS, STREAMS, USERS, WHATSAPP_SETTINGS,
};
use cctv_core::credential::hash_secret;
use cctv_core::records::tables::{BRANCHES, CREDENTIALS, DEVICES, GROUPS};
use cctv_core::records::{Filter, Record, WriteOp, hex};
use serde_json::{Value, json};
use sqlx::Row;

use super::Import;
use super::convert::{camera_fields, phone_numbers, stream_protocol, template, utc};
use super::source::{flag, int, text};

fn record(fields: Value) -> Record {
    match fields {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Record::new(),
    }
}

fn status(value: Option<String>) -> &'static str {
    if value.as_deref() == Some("inactive") {
        "inactive"
    } else {
        "active"
    }
}

impl Import<'_> {
    pub(super) async fn groups(&mut self) -> anyhow::Result<()> {
        let rows = self
            .read(
                "SELECT id, province_code, province_name, group_name, address, phone, email, status
                 FROM company_groups ORDER BY id",
            )
            .await?;
        for row in rows {
            let Some(source_id) = int(&row, "id") else {
                continue;
            };
            let Some(code) = text(&row, "province_code") else {
                continue;
            };
            let fields = record(json!({
                "province_code": code,
                "province_name": text(&row, "province_name").unwrap_or_default(),
                "group_name": text(&row, "group_name").unwrap_or_default(),
                "address": text(&row, "address"),
                "phone": text(&row, "phone"),
                "email": text(&row, "email"),
                "status": status(text(&row, "status")),
            }));
            let key = vec![Filter::Eq("province_code", Value::from(code.clone()))];
            if let Some(id) = self.ensure(&GROUPS, key, fields, &code).await {
                self.ids.groups.insert(source_id, id);
            }
        }
        Ok(())
    }

    pub(super) async fn branches(&mut self) -> anyhow::Result<()> {
        let rows = self
            .read(
                "SELECT id, group_id, branch_code, branch_name, city, address,
                        latitude::float8 AS latitude, longitude::float8 AS longitude, phone, email, status
                 FROM company_branches ORDER BY id",
            )
            .await?;
        for row in rows {
            let Some(source_id) = int(&row, "id") else {
                continue;
            };
            let Some(code) = text(&row, "branch_code") else {
                continue;
            };
            let Some(group_id) =
                int(&row, "group_id").and_then(|g| self.ids.groups.get(&g).copied())
            else {
                self.summary
                    .refuse(BRANCHES.name, &code, "its group was not imported");
                continue;
            };
            let fields = record(json!({
                "group_id": group_id,
                "branch_code": code,
                "branch_name": text(&row, "branch_name").unwrap_or_default(),
                "city": text(&row, "city").unwrap_or_default(),
                "address": text(&row, "address"),
                "latitude": row.try_get::<Option<f64>, _>("latitude").ok().flatten(),
                "longitude": row.try_get::<Option<f64>, _>("longitude").ok().flatten(),
                "phone": text(&row, "phone"),
                "email": text(&row, "email"),
                "status": status(text(&row, "status")),
            }));
            let key = vec![Filter::Eq("branch_code", Value::from(code.clone()))];
            if let Some(id) = self.ensure(&BRANCHES, key, fields, &code).await {
                self.ids.branches.insert(source_id, id);
            }
        }
        Ok(())
    }

    pub(super) async fn devices(&mut self) -> anyhow::Result<()> {
        let rows = self
            .read(
                "SELECT id, device_id, device_name, device_type, branch_id, url, username, password,
                        notes, status
                 FROM device_masters ORDER BY id",
            )
            .await?;
        for row in rows {
            let Some(source_id) = int(&row, "id") else {
                continue;
            };
            let Some(device_id) = text(&row, "device_id") else {
                continue;
            };
            let Some(branch_id) =
                int(&row, "branch_id").and_then(|b| self.ids.branches.get(&b).copied())
            else {
                self.summary
                    .refuse(DEVICES.name, &device_id, "its branch was not imported");
                continue;
            };
            let kind = text(&row, "device_type").unwrap_or_else(|| "camera".into());
            let mut fields = record(json!({
                "device_id": device_id,
                "device_name": text(&row, "device_name").unwrap_or_default(),
                "device_type": kind,
                "branch_id": branch_id,
                "notes": text(&row, "notes"),
                "status": status(text(&row, "status")),
            }));
            let camera = camera_fields(
                self.keys,
                self.secrets,
                text(&row, "url"),
                text(&row, "username"),
                text(&row, "password"),
            );
            match camera {
                Ok(camera) => fields.extend(camera.sealed),
                Err(e) => self.summary.refuse(
                    "device camera fields",
                    &device_id,
                    format!("device imported without its URL and credentials: {e}"),
                ),
            }
            let key = vec![Filter::Eq("device_id", Value::from(device_id.clone()))];
            if self
                .ensure(&DEVICES, key, fields, &device_id)
                .await
                .is_some()
            {
                self.ids.add_device(source_id, device_id);
            }
        }
        Ok(())
    }

    pub(super) async fn streams(&mut self) -> anyhow::Result<()> {
        let rows = self
            .read(
                "SELECT id, branch_id, device_id, stream_name, stream_url, stream_username,
                        stream_password, stream_protocol, position::bigint AS position, resolution,
                        fps::bigint AS fps, status, last_checked_at::text AS last_checked_at
                 FROM cctv_streams ORDER BY id",
            )
            .await?;
        for row in rows {
            let name = text(&row, "stream_name").unwrap_or_default();
            let device_id = text(&row, "device_id").unwrap_or_default();
            let label = format!("{device_id} / {name}");
            let branch = int(&row, "branch_id").and_then(|b| self.ids.branches.get(&b).copied());
            let (Some(branch_id), true) = (branch, self.ids.has_device(&device_id)) else {
                self.summary.refuse(
                    STREAMS.name,
                    &label,
                    "its branch or device was not imported",
                );
                continue;
            };
            let camera = match camera_fields(
                self.keys,
                self.secrets,
                text(&row, "stream_url"),
                text(&row, "stream_username"),
                text(&row, "stream_password"),
            ) {
                Ok(camera) if camera.url.is_some() => camera,
                Ok(_) => {
                    self.summary
                        .refuse(STREAMS.name, &label, "the stream has no URL");
                    continue;
                }
                Err(e) => {
                    self.summary.refuse(STREAMS.name, &label, e.to_string());
                    continue;
                }
            };
            let protocol = stream_protocol(
                self.keys,
                text(&row, "stream_protocol"),
                camera.url.as_deref(),
            );
            let status = match text(&row, "status").as_deref() {
                Some(s @ ("online" | "offline" | "error" | "maintenance")) => s.to_owned(),
                _ => "unknown".to_owned(),
            };
            let mut fields = record(json!({
                "branch_id": branch_id,
                "device_id": device_id,
                "stream_name": name,
                "stream_protocol": protocol,
                "position": int(&row, "position").unwrap_or(1),
                "resolution": text(&row, "resolution").unwrap_or_else(|| "1920x1080".into()),
                "fps": int(&row, "fps").unwrap_or(30),
                "status": status,
                "last_checked_at": utc(text(&row, "last_checked_at"), self.source_tz),
            }));
            fields.extend(camera.sealed);
            let key = vec![
                Filter::Eq("device_id", Value::from(device_id.clone())),
                Filter::Eq("stream_name", Value::from(name.clone())),
            ];
            self.ensure(&STREAMS, key, fields, &label).await;
        }
        Ok(())
    }

    pub(super) async fn layouts(&mut self) -> anyhow::Result<()> {
        let layouts = self
            .read(
                "SELECT id, layout_name, layout_type, description, is_default, is_active, created_by
                 FROM cctv_layout_settings ORDER BY id",
            )
            .await?;
        let positions = self
            .read(
                "SELECT layout_id, position_number::bigint AS position_number, branch_id, device_id,
                        position_name, is_enabled, auto_switch, switch_interval::bigint AS switch_interval,
                        quality, resolution
                 FROM cctv_position_settings ORDER BY layout_id, position_number",
            )
            .await?;
        let mut has_default = self
            .storage
            .count_records(&LAYOUTS, &[Filter::Eq("is_default", Value::Bool(true))])
            .await?
            > 0;
        for row in layouts {
            let Some(source_id) = int(&row, "id") else {
                continue;
            };
            let name = text(&row, "layout_name").unwrap_or_default();
            let existing = self
                .storage
                .find_record(
                    &LAYOUTS,
                    &[Filter::Eq("layout_name", Value::from(name.clone()))],
                )
                .await?;
            if existing.is_some() {
                self.summary.skipped(LAYOUTS.name, 1);
                continue;
            }
            let mut ops = Vec::new();
            let mut count = 0;
            for p in positions
                .iter()
                .filter(|p| int(p, "layout_id") == Some(source_id))
            {
                let device_id = text(p, "device_id").filter(|d| self.ids.has_device(d));
                let quality = match text(p, "quality").as_deref() {
                    Some(q @ ("low" | "medium")) => q.to_owned(),
                    _ => "high".to_owned(),
                };
                ops.push(WriteOp::Insert {
                    table: &POSITIONS,
                    record: record(json!({
                        "position_number": int(p, "position_number").unwrap_or(1),
                        "branch_id": int(p, "branch_id").and_then(|b| self.ids.branches.get(&b).copied()),
                        "device_id": device_id,
                        "position_name": text(p, "position_name"),
                        "is_enabled": flag(p, "is_enabled", true),
                        "auto_switch": flag(p, "auto_switch", false),
                        "switch_interval": int(p, "switch_interval").unwrap_or(30),
                        "quality": quality,
                        "resolution": text(p, "resolution").unwrap_or_else(|| "1920x1080".into()),
                    })),
                    link: Some(("layout_id", 0)),
                });
                count += 1;
            }
            let default = flag(&row, "is_default", false) && !has_default;
            has_default |= default;
            ops.insert(
                0,
                WriteOp::Insert {
                    table: &LAYOUTS,
                    record: record(json!({
                        "layout_name": name,
                        "layout_type": text(&row, "layout_type"),
                        "description": text(&row, "description"),
                        "total_positions": count,
                        "is_default": default,
                        "is_active": flag(&row, "is_active", true),
                        "created_by": int(&row, "created_by").and_then(|u| self.ids.users.get(&u).copied()),
                    })),
                    link: None,
                },
            );
            self.write(LAYOUTS.name, &name, ops).await;
        }
        Ok(())
    }

    pub(super) async fn event_settings(&mut self) -> anyhow::Result<()> {
        let rows = self
            .read(
                "SELECT id, branch_id, device_id, is_active, send_image, send_message,
                        send_notification, whatsapp_enabled, whatsapp_numbers::text AS whatsapp_numbers,
                        message_template, notification_template
                 FROM branch_event_settings ORDER BY id",
            )
            .await?;
        for row in rows {
            let device_id = text(&row, "device_id").unwrap_or_default();
            let branch = int(&row, "branch_id").and_then(|b| self.ids.branches.get(&b).copied());
            let label = format!(
                "branch {} / {device_id}",
                int(&row, "branch_id").unwrap_or(0)
            );
            let (Some(branch_id), true) = (branch, self.ids.has_device(&device_id)) else {
                self.summary.refuse(
                    EVENT_SETTINGS.name,
                    &label,
                    "its branch or device was not imported",
                );
                continue;
            };
            let numbers = match phone_numbers(text(&row, "whatsapp_numbers")) {
                Ok(n) => n,
                Err(e) => {
                    self.summary.refuse(EVENT_SETTINGS.name, &label, e);
                    continue;
                }
            };
            let mut templates = Vec::new();
            for column in ["message_template", "notification_template"] {
                match template(text(&row, column)) {
                    Ok(t) => templates.push(t),
                    Err(e) => {
                        self.summary
                            .refuse(EVENT_SETTINGS.name, &label, format!("{column}: {e}"));
                        break;
                    }
                }
            }
            let [message, notification] = templates.as_slice() else {
                continue;
            };
            let fields = record(json!({
                "branch_id": branch_id,
                "device_id": device_id,
                "is_active": flag(&row, "is_active", true),
                "send_image": flag(&row, "send_image", false),
                "send_message": flag(&row, "send_message", false),
                "send_notification": flag(&row, "send_notification", true),
                "whatsapp_enabled": flag(&row, "whatsapp_enabled", false),
                "whatsapp_numbers": numbers,
                "message_template": message,
                "notification_template": notification,
            }));
            let key = vec![
                Filter::Eq("branch_id", Value::from(branch_id)),
                Filter::Eq("device_id", Value::from(device_id.clone())),
            ];
            self.ensure(&EVENT_SETTINGS, key, fields, &label).await;
        }
        Ok(())
    }

    pub(super) async fn whatsapp_settings(&mut self) -> anyhow::Result<()> {
        let rows = self
            .read(
                "SELECT name, description, phone_numbers::text AS phone_numbers, message_template,
                        is_active, is_default
                 FROM whatsapp_settings ORDER BY id",
            )
            .await?;
        let mut has_default = self
            .storage
            .count_records(
                &WHATSAPP_SETTINGS,
                &[Filter::Eq("is_default", Value::Bool(true))],
            )
            .await?
            > 0;
        for row in rows {
            let name = text(&row, "name").unwrap_or_default();
            let numbers = match phone_numbers(text(&row, "phone_numbers")) {
                Ok(n) => n,
                Err(e) => {
                    self.summary.refuse(WHATSAPP_SETTINGS.name, &name, e);
                    continue;
                }
            };
            let message = match template(text(&row, "message_template")) {
                Ok(t) => t.unwrap_or_default(),
                Err(e) => {
                    self.summary.refuse(WHATSAPP_SETTINGS.name, &name, e);
                    continue;
                }
            };
            let existing = self
                .storage
                .count_records(
                    &WHATSAPP_SETTINGS,
                    &[Filter::Eq("name", Value::from(name.clone()))],
                )
                .await?;
            let default = flag(&row, "is_default", false) && !has_default && existing == 0;
            has_default |= default;
            let fields = record(json!({
                "name": name,
                "description": text(&row, "description"),
                "phone_numbers": numbers,
                "message_template": message,
                "is_active": flag(&row, "is_active", true),
                "is_default": default,
            }));
            let key = vec![Filter::Eq("name", Value::from(name.clone()))];
            self.ensure(&WHATSAPP_SETTINGS, key, fields, &name).await;
        }
        Ok(())
    }

    pub(super) async fn users(&mut self) -> anyhow::Result<()> {
        let rows = self
            .read("SELECT id, name, email, password, role::text AS role FROM users ORDER BY id")
            .await?;
        for row in rows {
            let Some(source_id) = int(&row, "id") else {
                continue;
            };
            let email = text(&row, "email")
                .unwrap_or_default()
                .trim()
                .to_lowercase();
            let role = match text(&row, "role").as_deref() {
                Some("admin") => "admin",
                Some("user") => "viewer",
                other => {
                    self.summary.refuse(
                        USERS.name,
                        &email,
                        format!("unknown role {:?}", other.unwrap_or("")),
                    );
                    continue;
                }
            };
            let hash = text(&row, "password").unwrap_or_default();
            if !cctv_admin::access::needs_rehash(&hash) {
                self.summary
                    .refuse(USERS.name, &email, "the password is not a bcrypt hash");
                continue;
            }
            let fields = record(json!({
                "name": text(&row, "name").unwrap_or_default(),
                "email": email,
                "password_hash": hash,
                "role": role,
                "status": "active",
            }));
            let key = vec![Filter::Eq("email", Value::from(email.clone()))];
            if let Some(id) = self.ensure(&USERS, key, fields, &email).await {
                self.ids.users.insert(source_id, id);
            }
        }
        Ok(())
    }

    pub(super) async fn credentials(&mut self) -> anyhow::Result<()> {
        let rows = self
            .read(
                "SELECT id, credential_name, api_key, api_secret, branch_id, device_id,
                        permissions::text AS permissions, rate_limit::bigint AS rate_limit,
                        expires_at::text AS expires_at, last_used_at::text AS last_used_at, status, created_by
                 FROM api_credentials ORDER BY id",
            )
            .await?;
        let mut unreadable = Vec::new();
        for row in rows {
            let Some(source_id) = int(&row, "id") else {
                continue;
            };
            let name = text(&row, "credential_name").unwrap_or_default();
            let label = format!("#{source_id} {name}");
            let placeholder = format!("laravel-import-{source_id}");
            let pair = (|| {
                let key = self.keys.decrypt(&text(&row, "api_key")?).ok()?;
                let secret = self.keys.decrypt(&text(&row, "api_secret")?).ok()?;
                Some((key, secret)).filter(|(k, s)| !k.is_empty() && !s.is_empty())
            })();
            let branch_id = match int(&row, "branch_id") {
                None => None,
                Some(b) => match self.ids.branches.get(&b) {
                    Some(id) => Some(*id),
                    None => {
                        self.summary.refuse(
                            CREDENTIALS.name,
                            &label,
                            "its branch was not imported",
                        );
                        continue;
                    }
                },
            };
            // The original's forms stored the device's numeric id in this column.
            let device_id = text(&row, "device_id").and_then(|d| {
                if self.ids.has_device(&d) {
                    Some(d)
                } else {
                    d.parse::<i64>()
                        .ok()
                        .and_then(|pk| self.ids.devices.get(&pk).cloned())
                }
            });
            let permissions: Value = text(&row, "permissions")
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or(Value::Null);
            let allowed = |k: &str| permissions.get(k).and_then(Value::as_bool).unwrap_or(true);
            let mut status = match text(&row, "status").as_deref() {
                Some(s @ ("inactive" | "expired")) => s.to_owned(),
                _ => "active".to_owned(),
            };
            let (api_key, secret) = match &pair {
                Some((k, s)) => (k.clone(), s.clone()),
                None => {
                    status = "inactive".into();
                    unreadable.push(label.clone());
                    (
                        placeholder.clone(),
                        cctv_core::credential::random_alphanumeric(64),
                    )
                }
            };
            let fields = record(json!({
                "credential_name": name,
                "api_key": api_key,
                "secret_hash": hex(&hash_secret(&secret)),
                "branch_id": branch_id,
                "device_id": device_id,
                "permissions": {"read": allowed("read"), "write": allowed("write")},
                "rate_limit": int(&row, "rate_limit").filter(|r| *r > 0).unwrap_or(1000),
                "expires_at": utc(text(&row, "expires_at"), self.source_tz),
                "last_used_at": utc(text(&row, "last_used_at"), self.source_tz),
                "status": status,
                "created_by": int(&row, "created_by").and_then(|u| self.ids.users.get(&u).copied()),
            }));
            // Imported earlier without the key: now readable, the row is completed in place.
            if pair.is_some() {
                let earlier = self
                    .storage
                    .find_record(
                        &CREDENTIALS,
                        &[Filter::Eq("api_key", Value::from(placeholder))],
                    )
                    .await?;
                if let Some(earlier) = earlier {
                    let id = earlier.get("id").and_then(Value::as_i64).unwrap_or(0);
                    let op = WriteOp::Update {
                        table: &CREDENTIALS,
                        changes: fields,
                        filters: cctv_core::records::by_id(id),
                    };
                    self.write(CREDENTIALS.name, &label, vec![op]).await;
                    continue;
                }
            }
            let key = vec![Filter::Eq("api_key", Value::from(api_key))];
            self.ensure(&CREDENTIALS, key, fields, &label).await;
        }
        if !unreadable.is_empty() {
            self.summary.note(format!(
                "{} credential(s) could not be decrypted (give --app-key or --credential-key) and \
                 are imported inactive under a placeholder key; rerun with the key, or create new \
                 credentials for these devices: {}",
                unreadable.len(),
                unreadable.join(", ")
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::status;

    #[test]
    fn only_inactive_stays_inactive() {
        assert_eq!(status(Some("inactive".into())), "inactive");
        assert_eq!(status(Some("active".into())), "active");
        assert_eq!(status(None), "active");
    }
}
