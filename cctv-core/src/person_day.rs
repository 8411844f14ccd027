//! A detection placed on its person-day: `(re_id, local date of detected_at)` in the
//! configured timezone. What a backend processes (the rules are the `cctv-processing`
//! crate's).

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::detection::DetectionJob;

/// A detection with its local calendar position in the configured timezone.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedDetection {
    pub job: DetectionJob,
    /// Local date of `detected_at`: the person-day and report day.
    pub date: Date,
    /// Local hour (0–23) of `detected_at`, for hourly trends.
    pub hour: i8,
}

impl PreparedDetection {
    pub fn new(job: DetectionJob, tz: &TimeZone) -> Self {
        let local = job.detected_at.to_zoned_datetime(tz.clone());
        Self {
            date: local.date(),
            hour: local.hour(),
            job,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::{DetectionRequest, DetectionRules};
    use crate::jobs::JobId;

    #[test]
    fn local_date_follows_the_configured_timezone() {
        // 18:30 UTC is 01:30 the next day in Jakarta (UTC+7).
        let at: jiff::Timestamp = "2026-11-27T18:30:00Z".parse().unwrap();
        let fields = serde_json::json!({"re_id": "A", "branch_id": 1, "device_id": "D"});
        let job = DetectionRequest::from_fields(
            fields.as_object().unwrap().clone(),
            None,
            &DetectionRules::default(),
            at,
        )
        .unwrap()
        .into_job(JobId::new(), None, at, None, None);
        let d = PreparedDetection::new(job, &TimeZone::get("Asia/Jakarta").unwrap());
        assert_eq!(d.date.to_string(), "2026-11-28");
        assert_eq!(d.hour, 1);
    }
}
