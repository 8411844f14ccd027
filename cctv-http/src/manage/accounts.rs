//! Login, current user and logout (the original's `/api/login`, `/api/me`, `/api/logout`).

use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use crate::envelope::{ApiError, Reply, respond};
use crate::extract::{client_ip, json_body, person};
use crate::state;

#[handler]
pub async fn login(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let body = json_body(&state, req).await?;
        let mut errors = cctv_core::validation::ValidationErrors::new();
        let field = |name: &str, errors: &mut cctv_core::validation::ValidationErrors| match body
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(s) if s.len() <= 255 => Some(s.to_owned()),
            _ => {
                errors.add(name, format!("The {name} field is required."));
                None
            }
        };
        let email = field("email", &mut errors);
        let password = field("password", &mut errors);
        let (Some(email), Some(password)) = (email, password) else {
            return Err(ApiError::Validation(errors));
        };
        let outcome = state
            .manage
            .login(&email, &password, &client_ip(req))
            .await?;
        Ok(Reply::ok(
            "Login successful",
            json!({
                "user": outcome.user,
                "token": outcome.token,
                "token_type": "Bearer",
                "expires_at": outcome.expires_at,
            }),
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn me(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = person(&state, req).await?;
        let user = state.manage.me(&who).await?;
        Ok(Reply::ok("User retrieved successfully", user))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn logout(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = person(&state, req).await?;
        state.manage.logout(&who).await?;
        Ok(Reply::ok("Logged out successfully", Value::Null))
    }
    .await;
    respond(res, depot, result);
}

/// Registration is not public: administrators create users.
#[handler]
pub async fn register(depot: &mut Depot, res: &mut Response) {
    respond(
        res,
        depot,
        Err(ApiError::Forbidden(
            "Registration is disabled; an administrator creates accounts.".into(),
        )),
    );
}
