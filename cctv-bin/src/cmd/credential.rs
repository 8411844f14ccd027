//! `cctv credential create`: a device API key; the secret is printed once, never stored.

use cctv_core::credential::{
    DEFAULT_RATE_LIMIT, GeneratedSecret, NewCredential, Permissions, hash_secret,
};
use cctv_core::storage::Storage;
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A name to recognise the credential by.
    #[arg(long)]
    pub name: String,
    /// Requests per hour.
    #[arg(long, default_value_t = DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// Limit the credential to one branch.
    #[arg(long)]
    pub branch_id: Option<i64>,
    /// Limit the credential to one device.
    #[arg(long)]
    pub device_id: Option<String>,
    /// May read, may not submit detections.
    #[arg(long)]
    pub read_only: bool,
    /// Expiry, RFC 3339 (e.g. 2027-01-01T00:00:00Z).
    #[arg(long)]
    pub expires_at: Option<jiff::Timestamp>,
    /// Print `{"api_key":…,"api_secret":…}`.
    #[arg(long)]
    pub json: bool,
}

pub struct Created {
    pub id: i64,
    pub secret: GeneratedSecret,
}

pub async fn create(storage: &dyn Storage, args: &CreateArgs) -> anyhow::Result<Created> {
    anyhow::ensure!(
        !args.name.trim().is_empty() && args.name.chars().count() <= 150,
        "--name must be 1 to 150 characters"
    );
    anyhow::ensure!(args.rate_limit > 0, "--rate-limit must be positive");
    let secret = GeneratedSecret::generate();
    let credential = storage
        .create_credential(&NewCredential {
            name: args.name.trim().to_owned(),
            api_key: secret.api_key.clone(),
            secret_hash: hash_secret(&secret.api_secret),
            branch_id: args.branch_id,
            device_id: args.device_id.clone(),
            permissions: Permissions {
                read: true,
                write: !args.read_only,
            },
            rate_limit: args.rate_limit,
            expires_at: args.expires_at,
        })
        .await?;
    Ok(Created {
        id: credential.id,
        secret,
    })
}

pub async fn run(storage: &dyn Storage, args: CreateArgs) -> anyhow::Result<()> {
    let created = create(storage, &args).await?;
    if args.json {
        println!(
            "{}",
            json!({"id": created.id, "api_key": created.secret.api_key, "api_secret": created.secret.api_secret})
        );
    } else {
        println!(
            "API credential #{} created. The secret is shown only now; store it safely.",
            created.id
        );
        println!("X-API-Key:    {}", created.secret.api_key);
        println!("X-API-Secret: {}", created.secret.api_secret);
    }
    Ok(())
}
