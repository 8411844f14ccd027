//! `cctv token create|list|revoke`: personal access tokens from the server's command line,
//! with the same rules as the admin API (the audit log names the command line).

use anyhow::Context;
use cctv_admin::access::Principal;
use cctv_admin::manage::{Caller, ManageError, ManageSettings, Manager, NewPersonalToken};
use cctv_core::Core;
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The e-mail of the person the token acts for (their role and branches apply).
    #[arg(long)]
    pub user: String,
    /// A scope: reports:read, exports:read, metrics:read or detections:read (repeat for
    /// several).
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    /// How long it is valid: 90d, 12w, 1y (at most 730 days).
    #[arg(long, default_value = "90d")]
    pub expires: String,
    /// What uses it (shown in the list), e.g. grafana.
    #[arg(long, default_value = "cli")]
    pub name: String,
    /// Print the token and its listing as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id (from `cctv token list`).
    pub id: i64,
}

fn manager(core: Core) -> Manager {
    Manager::new(core, ManageSettings::default())
}

fn explain(e: ManageError) -> anyhow::Error {
    match e {
        ManageError::Validation(errors) => anyhow::anyhow!("invalid token request: {errors}"),
        other => anyhow::anyhow!(other),
    }
}

pub async fn create(core: Core, args: CreateArgs) -> anyhow::Result<()> {
    let body = json!({
        "user_email": args.user, "name": args.name, "scopes": args.scopes, "expires": args.expires,
    });
    let new = NewPersonalToken::from_json(&body).map_err(explain)?;
    let who = Principal::command_line();
    let issued = manager(core)
        .create_personal_token(
            Caller {
                who: &who,
                ip: "cli",
            },
            &new,
        )
        .await
        .map_err(explain)
        .context("creating the token")?;
    if args.json {
        let mut out = issued.listing;
        out["token"] = json!(issued.token);
        println!("{out}");
    } else {
        println!(
            "created token {} for {} (scopes {}, expires {}); it is shown only now:\n{}",
            issued.listing["id"],
            issued.listing["user_email"].as_str().unwrap_or_default(),
            issued.listing["scopes"],
            issued.listing["expires_at"].as_str().unwrap_or_default(),
            issued.token
        );
    }
    Ok(())
}

pub async fn list(core: Core) -> anyhow::Result<()> {
    let who = Principal::command_line();
    let tokens = manager(core)
        .personal_tokens(Caller {
            who: &who,
            ip: "cli",
        })
        .await
        .map_err(explain)?;
    for t in tokens {
        println!("{t}");
    }
    Ok(())
}

pub async fn revoke(core: Core, args: RevokeArgs) -> anyhow::Result<()> {
    let who = Principal::command_line();
    manager(core)
        .revoke_personal_token(
            Caller {
                who: &who,
                ip: "cli",
            },
            args.id,
        )
        .await
        .map_err(explain)?;
    println!("revoked token {}", args.id);
    Ok(())
}
