//! `GET /storage/file?path=…&expires=…&sig=…`: hands out a stored file.
//!
//! Every condition must hold, checked cheapest-first: the caller has a valid bearer token
//! (401); the signature over path and expiry is the server's and has not expired (403,
//! see [`cctv_admin::files::signing`]); the path is in the `storage_files` registry (404:
//! a signed but unregistered path is still refused, so a signing mistake cannot expose
//! the database or the key files next to the blobs); the caller may see the branch of the
//! file's event (403; operators only their branches). The bytes are then read through the
//! blob store and served with the registry's MIME type and `Cache-Control: private`.

use std::time::Duration;

use cctv_admin::files::{SignatureError, UrlSigner, registered_file};
use cctv_core::blob::BlobError;
use jiff::Timestamp;
use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use salvo::{Depot, Request, Response, handler};

use crate::envelope::{ApiError, respond};
use crate::{AppState, extract, state};

/// How files are signed and for how long minted URLs stay valid.
#[derive(Debug, Clone)]
pub struct FileAccess {
    pub signer: UrlSigner,
    /// Lifetime of URLs minted by [`AppState::file_url`].
    pub url_ttl: Duration,
}

impl Default for FileAccess {
    /// A random per-process key: URLs work only while this process runs (tests,
    /// embedders). The binary configures a persistent key.
    fn default() -> Self {
        Self {
            signer: UrlSigner::ephemeral(),
            url_ttl: Duration::from_secs(15 * 60),
        }
    }
}

impl AppState {
    /// A signed URL for a stored file, valid for the configured lifetime (for pages and
    /// API responses that show event images). `None` for a path that is not a valid store
    /// path.
    pub fn file_url(&self, path: &str) -> Option<String> {
        self.files
            .signer
            .signed_url(path, Timestamp::now(), self.files.url_ttl)
            .ok()
    }
}

#[handler]
pub async fn storage_file(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    if let Err(e) = serve(&state, req, res).await {
        respond(res, depot, Err(e));
    }
}

async fn serve(state: &AppState, req: &Request, res: &mut Response) -> Result<(), ApiError> {
    // Pages show images with <img>, which sends the session cookie but no bearer token.
    let person = extract::reader(state, req).await?;
    let path = req.query::<String>("path").unwrap_or_default();
    let expires = req.query::<i64>("expires");
    let sig = req.query::<String>("sig").unwrap_or_default();
    let denied = || ApiError::Forbidden("This file link is not valid".into());
    let expires = expires.ok_or_else(denied)?;
    match state
        .files
        .signer
        .verify(&path, expires, &sig, Timestamp::now())
    {
        Ok(()) => {}
        Err(SignatureError::Expired) => {
            return Err(ApiError::Forbidden("This file link has expired".into()));
        }
        Err(_) => return Err(denied()),
    }
    let not_found = || ApiError::NotFound("File not found".into());
    let file = registered_file(state.core.storage().as_ref(), &path)
        .await?
        .ok_or_else(not_found)?;
    let allowed = match file.branch_id {
        Some(branch) => person.may_view_branch(branch),
        None => person.branch_filter().is_none(),
    };
    if !allowed {
        return Err(ApiError::Forbidden(
            "You may not see files of this branch".into(),
        ));
    }
    let blobs = state
        .core
        .blobs()
        .ok_or_else(|| ApiError::Unavailable("File storage is not configured".into()))?;
    let bytes = match blobs.get(&file.path).await {
        Ok(bytes) => bytes,
        Err(BlobError::NotFound | BlobError::InvalidPath(_)) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "reading a stored file failed");
            return Err(ApiError::Unavailable(
                "The file could not be read; retry shortly".into(),
            ));
        }
    };
    let headers = res.headers_mut();
    let mime = HeaderValue::from_str(&file.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(CONTENT_TYPE, mime);
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res.body(bytes);
    Ok(())
}
