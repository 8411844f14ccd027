//! `cctv user create`: the way the first admin (and any user) comes to exist — there is
//! no public registration.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use cctv_admin::access::Role;
use cctv_admin::manage::{ManageError, ManageSettings, Manager, NewUser};
use cctv_core::Core;
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
    /// Read the password from the first line of standard input without prompting
    /// (scripts); without it the password is asked for twice on the terminal, not echoed.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Asks twice on the terminal with echo off; refuses without a terminal (a password
/// piped in must be named with `--password-stdin`, so it is never read by surprise).
fn prompt(email: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "standard input is not a terminal: pipe the password with --password-stdin"
    );
    let first = rpassword::prompt_password(format!("Password for {email}: "))
        .context("reading the password")?;
    let again =
        rpassword::prompt_password("Repeat the password: ").context("reading the password")?;
    anyhow::ensure!(
        first == again,
        "the two passwords differ; nothing was created"
    );
    Ok(first)
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected admin, operator or viewer".into())
}

pub async fn create(core: Core, args: CreateArgs) -> anyhow::Result<()> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        prompt(&args.email)?
    };
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
