//! Device authentication: `X-API-Key` + `X-API-Secret`, status, expiry, hourly limits.
//!
//! The key is looked up in the in-memory credential cache (one hash-map probe, hit or
//! miss), the secret's SHA-256 is compared in constant time, and the request is counted
//! against the credential's hourly limit. Every authenticated response then carries the
//! `X-RateLimit-*` headers.

use std::sync::Arc;

use cctv_core::cache::CredentialEntry;
use cctv_core::credential::AuthFailure;
use cctv_rate_limit::RateDecision;
use jiff::Timestamp;
use salvo::http::header::{HeaderName, HeaderValue};
use salvo::{Depot, Request, Response};

use crate::AppState;
use crate::envelope::ApiError;

/// The authenticated caller of a device endpoint.
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    pub entry: Arc<CredentialEntry>,
    pub rate: RateDecision,
    /// The branch this credential is limited to (own branch, or its device's branch).
    pub scope_branch: Option<i64>,
}

impl DeviceAuth {
    pub fn id(&self) -> i64 {
        self.entry.credential.id
    }

    pub fn require_read(&self) -> Result<(), ApiError> {
        if self.entry.credential.permissions.read {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "This API credential may not read data".into(),
            ))
        }
    }

    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.entry.credential.permissions.write {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "This API credential may not submit detections".into(),
            ))
        }
    }

    /// Refuses a branch outside the credential's scope.
    pub fn require_branch(&self, branch_id: i64) -> Result<(), ApiError> {
        match self.scope_branch {
            Some(own) if own != branch_id => Err(ApiError::Forbidden(
                "This API credential is not allowed for this branch".into(),
            )),
            _ => Ok(()),
        }
    }
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Authenticates and counts the request; sets the rate-limit headers either way once the
/// credential is known.
pub async fn authenticate(
    state: &AppState,
    req: &Request,
    res: &mut Response,
    depot: &mut Depot,
) -> Result<DeviceAuth, ApiError> {
    authenticate_costing(state, req, res, depot, 1).await
}

/// Authenticates and counts `cost` requests against the credential's hour. A batch upload
/// passes 0 (nothing is counted; refused only when nothing is left) and is counted per
/// item with [`charge`] once its size is known.
pub async fn authenticate_costing(
    state: &AppState,
    req: &Request,
    res: &mut Response,
    depot: &mut Depot,
    cost: u32,
) -> Result<DeviceAuth, ApiError> {
    let (Some(key), Some(secret)) = (header(req, "x-api-key"), header(req, "x-api-secret")) else {
        return Err(ApiError::Unauthorized(
            "API key and secret are required".into(),
        ));
    };
    let entry = state
        .core
        .find_credential(key)
        .await
        .ok_or(ApiError::InvalidCredentials)?;
    let now = Timestamp::now();
    match entry.credential.authenticate(secret, now) {
        Ok(()) => {}
        Err(AuthFailure::Expired) => return Err(ApiError::ExpiredCredentials),
        Err(_) => {
            tracing::warn!(
                credential_id = entry.credential.id,
                "device authentication failed"
            );
            return Err(ApiError::InvalidCredentials);
        }
    }
    let rate = state
        .core
        .limiter()
        .take(entry.credential.id, entry.credential.rate_limit, cost, now)
        .await;
    set_rate_headers(res, &rate);
    if !rate.allowed {
        return Err(ApiError::RateLimited(rate));
    }
    entry.touch(now);
    let scope_branch = entry.credential.branch_id.or_else(|| {
        let device = entry.credential.device_id.as_deref()?;
        state.core.estate().devices.get(device).map(|d| d.branch_id)
    });
    let auth = DeviceAuth {
        entry,
        rate,
        scope_branch,
    };
    depot.insert_typed(auth.clone());
    Ok(auth)
}

/// Counts `n` more requests of an authenticated caller, all or none (429 when they do not
/// fit in what is left of the hour), and updates the rate-limit headers.
pub async fn charge(
    state: &AppState,
    res: &mut Response,
    depot: &mut Depot,
    auth: &mut DeviceAuth,
    n: u32,
) -> Result<(), ApiError> {
    let credential = &auth.entry.credential;
    let rate = state
        .core
        .limiter()
        .take(credential.id, credential.rate_limit, n, Timestamp::now())
        .await;
    set_rate_headers(res, &rate);
    if !rate.allowed {
        return Err(ApiError::RateLimited(rate));
    }
    auth.rate = rate;
    depot.insert_typed(auth.clone());
    Ok(())
}

// Checked when compiled (`from_static` in a constant).
const RATE_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const RATE_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RATE_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Every authenticated answer carries these (numbers written straight into the header
/// values: no text to check, no name to parse).
fn set_rate_headers(res: &mut Response, rate: &RateDecision) {
    let headers = res.headers_mut();
    headers.insert(RATE_LIMIT, HeaderValue::from(rate.limit));
    headers.insert(RATE_REMAINING, HeaderValue::from(rate.remaining));
    headers.insert(RATE_RESET, HeaderValue::from(rate.reset_at));
}
