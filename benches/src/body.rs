//! What the load generator sends (the original fleet's JSON detection, alone or many in a
//! batch) and what it reads back (the job ids of accepted detections).

use crate::load_config::LoadConfig;

/// A small xorshift generator: deterministic per connection, no dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A fixed 64-bit mix (splitmix64's finaliser): a visit's traits from its number.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Who, where and how long ago: drawn independently, or from the visit pool.
fn draw(rng: &mut Rng, cfg: &LoadConfig) -> (usize, u64, Option<i64>) {
    let days = u64::from(cfg.spread_days);
    if cfg.visits == 0 || days == 0 {
        let pair = rng.below(cfg.pairs.len() as u64) as usize;
        let person = rng.below(cfg.persons);
        let back = (days > 0).then(|| rng.below(days * 86_400) as i64);
        return (pair, person, back);
    }
    // A visit: its person, branch, day and start come from its number; the detection is
    // somewhere within its stay (up to an hour).
    let visit = rng.below(cfg.visits);
    let (a, b, c) = (mix(visit), mix(visit ^ 0x5555), mix(visit ^ 0xaaaa));
    let pair = (a % cfg.pairs.len().max(1) as u64) as usize;
    let person = b % cfg.persons.max(1);
    let stay = c % 3_600;
    let start = stay + (c >> 16) % (86_400 - stay);
    let back = (a >> 24) % days * 86_400 + start - rng.below(stay + 1);
    (pair, person, Some(back as i64))
}

/// One detection as a device posts it to `/api/v1/detection/log`.
pub(crate) fn detection_body(rng: &mut Rng, cfg: &LoadConfig) -> String {
    let (pair, person, back) = draw(rng, cfg);
    let (branch, device) = &cfg.pairs[pair];
    let confidence = 0.85 + rng.below(1400) as f64 / 10_000.0;
    let detected_at = match back {
        None => String::new(),
        Some(back) => {
            let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(back);
            format!(r#""detected_at":"{at}","#)
        }
    };
    format!(
        r#"{{{detected_at}"re_id":"REID_BENCH_{person:08}","branch_id":{branch},"device_id":"{device}","detection_data":{{"confidence":{confidence:.4},"frame":{},"detection_type":"person","bounding_box":{{"x":{},"y":{},"width":{},"height":{}}}}}}}"#,
        1000 + rng.below(9000),
        50 + rng.below(200),
        50 + rng.below(200),
        50 + rng.below(100),
        50 + rng.below(100)
    )
}

/// `items` detections as one `/api/v1/detection/batch` body.
pub(crate) fn batch_body(rng: &mut Rng, cfg: &LoadConfig, items: usize) -> String {
    let mut body = String::with_capacity(16 + items * 260);
    body.push_str(r#"{"detections":["#);
    for i in 0..items {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&detection_body(rng, cfg));
    }
    body.push_str("]}");
    body
}

/// The job id of a single detection's 202.
pub(crate) fn job_id_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"job_id\":\"")? + 10;
    let end = text[start..].find('"')? + start;
    Some(text[start..end].to_owned())
}

/// The job ids of a batch's accepted items, in order (duplicates and rejected items are
/// left out: they are not new work for the server).
pub(crate) fn accepted_jobs_of(body: &[u8]) -> Vec<String> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    doc["data"]["results"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["status"] == "accepted")
                .filter_map(|i| i["job_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LoadConfig {
        LoadConfig {
            addr: "x".into(),
            api_key: "k".into(),
            api_secret: "s".into(),
            pairs: vec![(1, "CAM_JKT001_001".into())],
            rate: None,
            concurrency: 1,
            duration: std::time::Duration::ZERO,
            total: None,
            persons: 10,
            spread_days: 0,
            visits: 0,
            batch: None,
            progress: None,
        }
    }

    #[test]
    fn bodies_are_valid_detections_and_job_ids_are_found() {
        let body: serde_json::Value =
            serde_json::from_str(&detection_body(&mut Rng(42), &cfg())).unwrap();
        assert_eq!(body["branch_id"], 1);
        assert!(body["re_id"].as_str().unwrap().starts_with("REID_BENCH_"));
        let c = body["detection_data"]["confidence"].as_f64().unwrap();
        assert!((0.85..=0.99).contains(&c));
        assert_eq!(
            job_id_of(br#"{"data":{"job_id":"abc-1","status":"queued"}}"#).as_deref(),
            Some("abc-1")
        );
    }

    #[test]
    fn a_batch_body_holds_that_many_detections_and_only_accepted_jobs_are_read_back() {
        let body: serde_json::Value =
            serde_json::from_str(&batch_body(&mut Rng(7), &cfg(), 3)).unwrap();
        let items = body["detections"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|i| i["device_id"] == "CAM_JKT001_001"));
        let answer = br#"{"data":{"results":[
            {"index":0,"status":"accepted","job_id":"a","error":null},
            {"index":1,"status":"rejected","job_id":null,"error":{"field":"re_id"}},
            {"index":2,"status":"duplicate","job_id":"x","error":null},
            {"index":3,"status":"accepted","job_id":"b","error":null}]}}"#;
        assert_eq!(accepted_jobs_of(answer), ["a", "b"]);
        assert!(accepted_jobs_of(b"not json").is_empty());
    }
}
