//! Visitor analytics over HTTP: `GET /api/v1/analytics/{visits,dwell,flows,frequency,heatmap}`
//! (JSON, or `?format=csv`), and the `/analytics` page, which reads the same answers.
//!
//! Parameters: `from`, `to` (inclusive days in the configured timezone; default the 30
//! days ending today; at most 366 days), `branch_id`, `lookback_days` (visits only;
//! default from `[analytics] lookback_days`). Any signed-in person may ask (a bearer
//! token, or the session cookie for these reads); a person limited to some branches sees
//! figures over those branches only, and flows only between two of them.

mod api;
mod csv;

use cctv_admin::AdminCore;
use cctv_admin::access::Principal;
use cctv_admin::analytics::{AnalyticsStore, DayRange, MAX_LOOKBACK_DAYS};
use salvo::{Request, Router};

use crate::AppState;
use crate::envelope::ApiError;
use crate::params::Params;

/// The routes, relative to `/api/v1`.
pub fn routes() -> Router {
    Router::with_path("analytics")
        .push(Router::with_path("visits").get(api::visits))
        .push(Router::with_path("dwell").get(api::dwell))
        .push(Router::with_path("flows").get(api::flows))
        .push(Router::with_path("frequency").get(api::frequency))
        .push(Router::with_path("heatmap").get(api::heatmap))
}

/// What a caller asked, checked against what they may see.
#[derive(Debug, Clone)]
pub(crate) struct Ask {
    pub range: DayRange,
    pub branch: Option<i64>,
    pub lookback_days: u32,
    /// The branches whose visits count: the asked one, else the caller's (`None`: all).
    pub population: Option<Vec<i64>>,
    /// The branches the caller may see (`None`: all).
    pub visible: Option<Vec<i64>>,
}

impl Ask {
    /// Reads `from`, `to`, `branch_id` and `lookback_days`; a branch the caller may not
    /// see is refused (403), an unknown one is 404.
    pub fn read(state: &AppState, who: &Principal, req: &Request) -> Result<Self, ApiError> {
        let mut params = Params::default();
        let range = params.day_range(req, ("from", "to"), state.core.today());
        let branch = params.int(req, "branch_id");
        let lookback = params.int(req, "lookback_days");
        let lookback_days = match lookback {
            None => state.settings.analytics_lookback_days,
            Some(n) if n <= i64::from(MAX_LOOKBACK_DAYS) => n as u32,
            Some(_) => {
                params.add(
                    "lookback_days",
                    format!("The lookback_days must be at most {MAX_LOOKBACK_DAYS}"),
                );
                0
            }
        };
        params.finish()?;
        let range = range.ok_or_else(|| ApiError::Server("range missing".into()))?;
        if let Some(b) = branch {
            if !state.core.estate().branches.contains_key(&b) {
                return Err(ApiError::NotFound("Branch not found".into()));
            }
            if !who.may_view_branch(b) {
                return Err(ApiError::Forbidden("You may not see this branch.".into()));
            }
        }
        let visible: Option<Vec<i64>> = who.branch_filter().map(|s| s.iter().copied().collect());
        Ok(Self {
            range,
            branch,
            lookback_days,
            population: branch.map(|b| vec![b]).or_else(|| visible.clone()),
            visible,
        })
    }

    pub fn population(&self) -> Option<&[i64]> {
        self.population.as_deref()
    }
}

/// The backend's analytics capability.
pub(crate) fn store(state: &AppState) -> Result<&dyn AnalyticsStore, ApiError> {
    Ok(state.core.analytics_store()?.as_ref())
}

/// A branch's name for the flows (its id when the estate no longer has it).
pub(crate) fn branch_name(state: &AppState, id: i64) -> Option<String> {
    state
        .core
        .estate()
        .branches
        .get(&id)
        .map(|b| b.branch_name.clone())
}

/// Detections accepted but not processed yet: not in the figures so far.
pub(crate) async fn pending_detections(state: &AppState) -> u64 {
    state
        .core
        .storage()
        .queue_depths()
        .await
        .map(|depths| {
            depths
                .iter()
                .filter(|d| d.queue == cctv_core::jobs::Queue::Detections)
                .map(|d| d.queued)
                .sum()
        })
        .unwrap_or(0)
}
