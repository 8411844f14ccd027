//! The management JSON API: people log in (`/api/login`, bearer tokens) and manage the
//! estate and access under `/api/v1/…`. Handlers only parse, call
//! [`cctv_admin::manage::Manager`] (which enforces roles, scope and validation) and map
//! its errors to the envelope.

mod accounts;
mod resources;
mod tokens;

use cctv_admin::manage::ManageError;
use salvo::Router;

use crate::envelope::ApiError;

pub use resources::routes as resource_routes;

/// `/api/login`, `/api/me`, `/api/logout`, `/api/register` (refused).
pub fn account_routes() -> Router {
    Router::new()
        .push(Router::with_path("login").post(accounts::login))
        .push(Router::with_path("me").get(accounts::me))
        .push(Router::with_path("logout").post(accounts::logout))
        .push(Router::with_path("register").post(accounts::register))
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Unauthorized(m) => ApiError::Unauthorized(m.into()),
            ManageError::Forbidden(m) => ApiError::Forbidden(m),
            ManageError::NotFound(m) => ApiError::NotFound(m),
            ManageError::Validation(v) => ApiError::Validation(v),
            ManageError::Conflict(m) => ApiError::Conflict(m),
            ManageError::Throttled(d) => ApiError::TooManyAttempts(d),
            ManageError::Storage(s) => ApiError::from(s),
            other => ApiError::Server(other.to_string()),
        }
    }
}
