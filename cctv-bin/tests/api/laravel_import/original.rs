//! A database of the original system, built the way its migrations and models build one:
//! its schema (`original_schema.sql`), secrets encrypted as its `EncryptionHelper` does
//! (Laravel `Crypt::encryptString` with APP_KEY, or AES-256-CBC with
//! ENCRYPT_CREDENTIAL_KEY), bcrypt `$2y$` password hashes, and a few hundred detections
//! with their event logs and person-days written as its detection job writes them.

use std::collections::{BTreeMap, BTreeSet};

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use sqlx::PgPool;

pub const APP_KEY: [u8; 32] = *b"0123456789abcdef0123456789abcdef";
pub const CREDENTIAL_KEY: &str = "aK9sL3jH7gP5fD2rB8nV1cM0xZ4qW6eT";
/// Laravel's factory hash of "password".
pub const ADMIN_HASH: &str = "$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi";
pub const ADMIN_PASSWORD: &str = "password";

pub fn app_key_setting() -> String {
    format!("base64:{}", STANDARD.encode(APP_KEY))
}

fn cbc_base64(key: &[u8; 32], iv: &[u8; 16], plain: &str) -> String {
    let ciphertext = cbc::Encryptor::<Aes256>::new(key.into(), iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
    STANDARD.encode(ciphertext)
}

fn iv(seed: u8) -> [u8; 16] {
    std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
}

/// `Crypt::encryptString($plain)` under `key`.
pub fn laravel_encrypt(key: &[u8; 32], plain: &str, seed: u8) -> String {
    let iv = STANDARD.encode(iv(seed));
    let value = cbc_base64(key, &self::iv(seed), plain);
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(iv.as_bytes());
    mac.update(value.as_bytes());
    let mac: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // json_encode escapes slashes.
    let json = json!({"iv": iv, "value": value, "mac": mac, "tag": ""})
        .to_string()
        .replace('/', "\\/");
    STANDARD.encode(json)
}

/// `EncryptionHelper::encrypt` with ENCRYPT_CREDENTIAL_KEY: base64(iv ‖ openssl base64).
pub fn credential_key_encrypt(plain: &str, seed: u8) -> String {
    let mut key = [0u8; 32];
    key.copy_from_slice(CREDENTIAL_KEY.as_bytes());
    let iv = iv(seed);
    let mut raw = iv.to_vec();
    raw.extend_from_slice(cbc_base64(&key, &iv, plain).as_bytes());
    STANDARD.encode(raw)
}

/// One detection of the source: (re_id, branch source id, device id, local timestamp).
#[derive(Debug, Clone)]
pub struct Detection {
    pub re_id: String,
    pub branch: i64,
    pub device: &'static str,
    pub at: String,
}

impl Detection {
    pub fn day(&self) -> &str {
        &self.at[..10]
    }
}

/// (device id, branch source id)
pub const DEVICES: [(&str, i64); 4] = [
    ("CCTV_JKT001_001", 1),
    ("CAM_JKT001_002", 1),
    ("CAM_BDG001_001", 2),
    ("NODE_SBY001_001", 3),
];

/// `n` detections over 2026-11-01..03 (local), some a minute either side of midnight.
pub fn detections(n: usize, offset: usize) -> Vec<Detection> {
    (offset..offset + n)
        .map(|i| {
            let (device, branch) = DEVICES[(i * 5 + i / 7) % 4];
            let day = 1 + i % 3;
            let at = match i % 25 {
                0 => format!("2026-11-{day:02} 23:59:30"),
                1 => format!("2026-11-{:02} 00:00:30", day + 1),
                _ => {
                    let minutes = 8 * 60 + (i * 37) % 900;
                    format!(
                        "2026-11-{day:02} {:02}:{:02}:{:02}",
                        minutes / 60,
                        minutes % 60,
                        i % 60
                    )
                }
            };
            Detection {
                re_id: format!("P{:02}", (i * 7) % 12),
                branch,
                device,
                at,
            }
        })
        .collect()
}

/// Per (re_id, local day): detections and distinct branches, as a recount sees them.
pub fn recount(detections: &[Detection]) -> BTreeMap<(String, String), (i64, i64)> {
    let mut days: BTreeMap<(String, String), (i64, BTreeSet<i64>)> = BTreeMap::new();
    for d in detections {
        let e = days
            .entry((d.re_id.clone(), d.day().to_owned()))
            .or_default();
        e.0 += 1;
        e.1.insert(d.branch);
    }
    days.into_iter()
        .map(|(k, (n, b))| (k, (n, b.len() as i64)))
        .collect()
}

pub async fn create(pool: &PgPool) {
    sqlx::raw_sql(include_str!("original_schema.sql"))
        .execute(pool)
        .await
        .unwrap();
}

async fn exec(pool: &PgPool, sql: &str, binds: &[&str]) {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(pool).await.unwrap();
}

/// Keys and secrets of the seeded credentials: (key, secret).
pub struct Credentials {
    pub laravel: (String, String),
    pub credential_key: (String, String),
}

pub async fn seed_estate(pool: &PgPool) -> Credentials {
    for sql in [
        "INSERT INTO company_groups (province_code, province_name, group_name, created_at, updated_at)
         VALUES ('JKT', 'DKI Jakarta', 'Jakarta Group', now(), now()),
                ('JBR', 'Jawa Barat', 'West Java Group', now(), now())",
        "INSERT INTO company_branches (group_id, branch_code, branch_name, city, latitude, longitude, created_at, updated_at)
         VALUES (1, 'JKT001', 'Jakarta Central', 'Jakarta', -6.18648600, 106.83409100, now(), now()),
                (2, 'BDG001', 'Bandung Dago', 'Bandung', NULL, NULL, now(), now()),
                (1, 'SBY001', 'Surabaya Tunjungan', 'Surabaya', NULL, NULL, now(), now())",
    ] {
        exec(pool, sql, &[]).await;
    }
    let url = laravel_encrypt(&APP_KEY, "rtsp://10.1.1.10:554/live", 1);
    let user = laravel_encrypt(&APP_KEY, "viewer", 2);
    let pass = laravel_encrypt(&APP_KEY, "cam-pass-1", 3);
    exec(
        pool,
        "INSERT INTO device_masters (device_id, device_name, device_type, branch_id, url, username, password, created_at, updated_at)
         VALUES ('CCTV_JKT001_001', 'Jakarta CCTV', 'cctv', 1, $1, $2, $3, now(), now()),
                ('CAM_JKT001_002', 'Jakarta Lobby', 'camera', 1, NULL, $4, NULL, now(), now()),
                ('CAM_BDG001_001', 'Bandung Entrance', 'camera', 2, NULL, NULL, NULL, now(), now()),
                ('NODE_SBY001_001', 'Surabaya Node', 'node_ai', 3, NULL, NULL, NULL, now(), now())",
        &[&url, &user, &pass, &credential_key_encrypt("lobby", 4)],
    )
    .await;
    exec(
        pool,
        "INSERT INTO cctv_streams (branch_id, device_id, stream_name, stream_url, stream_username, stream_password, stream_protocol, status, created_at, updated_at)
         VALUES (1, 'CCTV_JKT001_001', 'Jakarta CCTV Stream', $1, $2, $3, $4, 'online', now(), now())",
        &[
            &laravel_encrypt(&APP_KEY, "rtsp://10.1.1.10:554/live", 5),
            &laravel_encrypt(&APP_KEY, "viewer", 6),
            &laravel_encrypt(&APP_KEY, "cam-pass-1", 7),
            &laravel_encrypt(&APP_KEY, "rtsp", 8),
        ],
    )
    .await;
    exec(
        pool,
        "INSERT INTO users (name, email, password, role, created_at, updated_at)
         VALUES ('Admin', 'admin@cctv.com', $1, 'admin', now(), now()),
                ('Viewer', 'viewer@cctv.com', '$2y$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i', 'user', now(), now()),
                ('Broken', 'broken@cctv.com', 'not-a-hash', 'user', now(), now())",
        &[ADMIN_HASH],
    )
    .await;
    for sql in [
        "INSERT INTO cctv_layout_settings (layout_name, layout_type, total_positions, is_default, created_by, created_at, updated_at)
         VALUES ('Default 4-Window Layout', '4-window', 2, true, 1, now(), now())",
        "INSERT INTO cctv_position_settings (layout_id, position_number, branch_id, device_id, position_name, created_at, updated_at)
         VALUES (1, 1, 1, 'CCTV_JKT001_001', 'Gate', now(), now()), (1, 2, 2, 'CAM_BDG001_001', NULL, now(), now())",
        "INSERT INTO branch_event_settings (branch_id, device_id, whatsapp_enabled, whatsapp_numbers, message_template, created_at, updated_at)
         VALUES (1, 'CCTV_JKT001_001', true, '[\"081234567890\"]', 'Orang {re_id} di {branch_name} pada {timestamp} {unknown}', now(), now()),
                (2, 'CAM_BDG001_001', false, '[]', NULL, now(), now())",
        "INSERT INTO whatsapp_settings (name, phone_numbers, message_template, is_default, created_at, updated_at)
         VALUES ('Default', '[\"+62 812-3456-7890\", \"628111111111\"]', '{branch_name}: {device_name} {detection_time}', true, now(), now()),
                ('Broken numbers', '[\"call me\"]', 'x', false, now(), now())",
    ] {
        exec(pool, sql, &[]).await;
    }
    let laravel = (
        "cctv_AbCdEfGhIjKlMnOpQrStUvWxYz012345".to_owned(),
        "s".repeat(32) + &"T".repeat(32),
    );
    let custom = (
        "cctv_live_jakarta_branch".to_owned(),
        "secret_jakarta_branch_2024".to_owned(),
    );
    let other_key = [9u8; 32];
    exec(
        pool,
        "INSERT INTO api_credentials (credential_name, api_key, api_secret, branch_id, device_id, permissions, rate_limit, status, created_by, created_at, updated_at)
         VALUES ('Jakarta CCTV', $1, $2, 1, 'CCTV_JKT001_001', '{\"read\":true,\"write\":true,\"delete\":true}', 10000, 'active', 1, now(), now()),
                ('Jakarta branch', $3, $4, NULL, NULL, NULL, 5000, 'active', NULL, now(), now()),
                ('Other key', $5, $6, NULL, NULL, NULL, 1000, 'active', NULL, now(), now())",
        &[
            &laravel_encrypt(&APP_KEY, &laravel.0, 10),
            &laravel_encrypt(&APP_KEY, &laravel.1, 11),
            &credential_key_encrypt(&custom.0, 12),
            &credential_key_encrypt(&custom.1, 13),
            &laravel_encrypt(&other_key, "cctv_unknowable", 14),
            &laravel_encrypt(&other_key, "unknowable-secret", 15),
        ],
    )
    .await;
    Credentials {
        laravel,
        credential_key: custom,
    }
}

/// Inserts detections with their event logs, and the person-days the original keeps
/// (counters as its job increments them), plus one person-day and one event log without
/// any detection.
pub async fn seed_history(pool: &PgPool, detections: &[Detection], orphans: bool) {
    for d in detections {
        let data =
            json!({"confidence": 0.9, "appearance_features": {"height": "tall"}}).to_string();
        let branch = d.branch.to_string();
        exec(
            pool,
            "WITH det AS (
                 INSERT INTO re_id_branch_detections (re_id, branch_id, device_id, detection_timestamp, detected_count, detection_data, created_at, updated_at)
                 VALUES ($1, $2::bigint, $3, $4::timestamp, 1, $5::jsonb, now(), now()) RETURNING id)
             INSERT INTO event_logs (branch_id, device_id, re_id, event_type, detected_count, event_data, event_timestamp, created_at, updated_at)
             VALUES ($2::bigint, $3, $1, 'detection', 1, $5::jsonb, $4::timestamp, now(), now())",
            &[&d.re_id, &branch, d.device, &d.at, &data],
        )
        .await;
    }
    exec(
        pool,
        "INSERT INTO re_id_masters (re_id, detection_date, total_actual_count, total_detection_branch_count, first_detected_at, last_detected_at, created_at, updated_at)
         SELECT re_id, detection_timestamp::date, count(*), count(DISTINCT branch_id), min(detection_timestamp), max(detection_timestamp), now(), now()
         FROM re_id_branch_detections GROUP BY re_id, detection_timestamp::date
         ON CONFLICT (re_id, detection_date) DO UPDATE SET total_actual_count = EXCLUDED.total_actual_count,
             total_detection_branch_count = EXCLUDED.total_detection_branch_count",
        &[],
    )
    .await;
    if orphans {
        for sql in [
            "UPDATE re_id_masters SET person_name = 'Budi' WHERE re_id = 'P00' AND detection_date = '2026-11-01'",
            "UPDATE re_id_masters SET status = 'inactive' WHERE re_id = 'P07' AND detection_date = '2026-11-02'",
            "INSERT INTO re_id_masters (re_id, detection_date, total_actual_count, created_at, updated_at)
             VALUES ('GHOST', '2026-10-01', 3, now(), now())",
            "INSERT INTO event_logs (branch_id, device_id, re_id, event_type, detected_count, event_timestamp, created_at, updated_at)
             VALUES (1, 'CAM_JKT001_002', 'P99', 'detection', 1, '2026-11-02 12:00:00', now(), now())",
        ] {
            exec(pool, sql, &[]).await;
        }
    }
}
