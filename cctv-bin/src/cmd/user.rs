//! `cctv user create`: the way the first admin (and any user) comes to exist — there is
//! no public registration.

use std::io::BufRead;

use anyhow::Context;
use cctv_core::Core;
use cctv_core::access::Role;
use cctv_core::manage::{ManageError, ManageSettings, Manager, NewUser};
use clap::Args;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The login e-mail (unique).
    #[arg(long)]
    pub email: String,
    /// The name shown on pages and in the audit log.
    #[arg(long)]
    pub name: String,
    /// admin, operator or viewer.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// Read the password from the first line of standard input without prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected admin, operator or viewer".into())
}

pub async fn create(core: Core, args: CreateArgs) -> anyhow::Result<()> {
    if !args.password_stdin {
        eprint!(
            "Password for {} (input is read from standard input): ",
            args.email
        );
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let manager = Manager::new(core, ManageSettings::default());
    let new = NewUser {
        name: args.name,
        email: args.email,
        password,
        role: args.role,
    };
    match manager.create_user(new).await {
        Ok(user) => {
            println!(
                "created user {} ({}) with id {}",
                user["email"].as_str().unwrap_or_default(),
                user["role"].as_str().unwrap_or_default(),
                user["id"]
            );
            Ok(())
        }
        Err(ManageError::Validation(errors)) => anyhow::bail!("invalid user: {errors}"),
        Err(e) => Err(anyhow::anyhow!(e)).context("creating the user"),
    }
}
