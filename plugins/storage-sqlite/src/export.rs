//! Export pages on SQLite: keyset pages over `(detection_date, id)` of `re_id_masters`
//! (index `re_id_masters_day`, which ends in the rowid) and `(timestamp, id)` of event
//! logs and detections (indexes `event_logs_time`, `re_id_branch_detections_time`), so
//! each page is one index seek whatever its position in the export. Pages are read
//! through the store's export pool (small page cache; see `SqliteStore::exporter`).

use async_trait::async_trait;
use cctv_admin::export::{
    DateCursor, DetectionExportFilter, DetectionExportRow, EventExportFilter, EventExportRow,
    ExportStore, PersonExportFilter, PersonExportRow, TimeCursor,
};
use cctv_core::storage::StorageError;
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{SqliteStore, map_err, parse_date, parse_opt_ts, parse_ts, ts};

fn branches_json(ids: &[i64]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

fn like_pattern(term: &str) -> String {
    let escaped = term
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// `AND {column} >= start AND {column} < end`, for the bounds given. After a keyset
/// cursor the lower bound is the cursor's time: SQLite seeks its index on the first lower
/// bound a query states, not on the tightest, so with the window's start every page would
/// scan from there again (a day's export read quadratically).
fn time_window(
    qb: &mut QueryBuilder<'_, Sqlite>,
    column: &'static str,
    start: Option<jiff::Timestamp>,
    end: Option<jiff::Timestamp>,
    after: Option<TimeCursor>,
) {
    // The later of the two (`None` orders before any time).
    let lower = start.max(after.map(|(at, _)| at));
    if let Some(t) = lower {
        qb.push(format!(" AND {column} >= ")).push_bind(ts(t));
    }
    if let Some(t) = end {
        qb.push(format!(" AND {column} < ")).push_bind(ts(t));
    }
}

/// The keyset page: rows after `(at, id)` in `(column, id)` order, at most `limit`.
fn after_in_order(
    qb: &mut QueryBuilder<'_, Sqlite>,
    column: &'static str,
    after: Option<TimeCursor>,
    limit: usize,
) {
    if let Some((at, id)) = after {
        qb.push(format!(" AND ({column}, id) > ("))
            .push_bind(ts(at))
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    qb.push(format!(" ORDER BY {column}, id LIMIT "))
        .push_bind(limit as i64);
}

#[async_trait]
impl ExportStore for SqliteStore {
    async fn person_export_page(
        &self,
        f: &PersonExportFilter,
        after: Option<DateCursor>,
        limit: usize,
    ) -> Result<Vec<PersonExportRow>, StorageError> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT m.id, m.re_id, m.detection_date, m.person_name, m.status,
                    m.total_detection_branch_count, m.total_actual_count,
                    m.first_detected_at, m.last_detected_at
             FROM re_id_masters m WHERE 1 = 1",
        );
        // After a cursor, its date is the lower bound (see `time_window`).
        let from = f.date_from.max(after.map(|(date, _)| date));
        if let Some(d) = from {
            qb.push(" AND m.detection_date >= ")
                .push_bind(d.to_string());
        }
        if let Some(d) = f.date_to {
            qb.push(" AND m.detection_date <= ")
                .push_bind(d.to_string());
        }
        if let Some(ids) = &f.branches {
            qb.push(
                " AND EXISTS (SELECT 1 FROM re_id_branch_days d
                    WHERE d.re_id = m.re_id AND d.detection_date = m.detection_date
                      AND d.branch_id IN (SELECT value FROM json_each(",
            )
            .push_bind(branches_json(ids))
            .push(")))");
        }
        if let Some(s) = &f.status {
            qb.push(" AND m.status = ").push_bind(s.clone());
        }
        if let Some(r) = &f.re_id {
            qb.push(" AND m.re_id = ").push_bind(r.clone());
        }
        if let Some(term) = &f.search {
            let p = like_pattern(term);
            qb.push(" AND (lower(m.re_id) LIKE ")
                .push_bind(p.clone())
                .push(" ESCAPE '\\' OR lower(coalesce(m.person_name, '')) LIKE ")
                .push_bind(p)
                .push(" ESCAPE '\\')");
        }
        if let Some((date, id)) = after {
            qb.push(" AND (m.detection_date, m.id) > (")
                .push_bind(date.to_string())
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        qb.push(" ORDER BY m.detection_date, m.id LIMIT ")
            .push_bind(limit as i64);
        let rows = qb
            .build()
            .fetch_all(&self.exporter)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(PersonExportRow {
                    id: r.get("id"),
                    re_id: r.get("re_id"),
                    detection_date: parse_date(r.get("detection_date"))?,
                    person_name: r.get("person_name"),
                    status: r.get("status"),
                    total_detection_branch_count: r.get("total_detection_branch_count"),
                    total_actual_count: r.get("total_actual_count"),
                    first_detected_at: parse_opt_ts(r.get("first_detected_at"))?,
                    last_detected_at: parse_opt_ts(r.get("last_detected_at"))?,
                })
            })
            .collect()
    }

    async fn event_export_page(
        &self,
        f: &EventExportFilter,
        after: Option<TimeCursor>,
        limit: usize,
    ) -> Result<Vec<EventExportRow>, StorageError> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT id, event_timestamp, event_date, branch_id, device_id, re_id, event_type,
                    detected_count, notification_sent, message_sent, image_sent, image_path
             FROM event_logs WHERE 1 = 1",
        );
        time_window(&mut qb, "event_timestamp", f.start, f.end, after);
        // `+branch_id`: the branch index is no help to a time-ordered page.
        if let Some(ids) = &f.branches {
            qb.push(" AND +branch_id IN (SELECT value FROM json_each(")
                .push_bind(branches_json(ids))
                .push("))");
        }
        if let Some(d) = &f.device_id {
            qb.push(" AND device_id = ").push_bind(d.clone());
        }
        if let Some(t) = &f.event_type {
            qb.push(" AND event_type = ").push_bind(t.clone());
        }
        if let Some(term) = &f.search {
            let p = like_pattern(term);
            qb.push(" AND (lower(coalesce(re_id, '')) LIKE ")
                .push_bind(p.clone())
                .push(" ESCAPE '\\' OR lower(device_id) LIKE ")
                .push_bind(p)
                .push(" ESCAPE '\\')");
        }
        after_in_order(&mut qb, "event_timestamp", after, limit);
        let rows = qb
            .build()
            .fetch_all(&self.exporter)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(EventExportRow {
                    id: r.get("id"),
                    event_timestamp: parse_ts(r.get("event_timestamp"))?,
                    event_date: parse_date(r.get("event_date"))?,
                    branch_id: r.get("branch_id"),
                    device_id: r.get("device_id"),
                    re_id: r.get("re_id"),
                    event_type: r.get("event_type"),
                    detected_count: r.get("detected_count"),
                    notification_sent: r.get::<i64, _>("notification_sent") != 0,
                    message_sent: r.get::<i64, _>("message_sent") != 0,
                    image_sent: r.get::<i64, _>("image_sent") != 0,
                    image_path: r.get("image_path"),
                })
            })
            .collect()
    }

    async fn detection_export_page(
        &self,
        f: &DetectionExportFilter,
        after: Option<TimeCursor>,
        limit: usize,
    ) -> Result<Vec<DetectionExportRow>, StorageError> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT id, detection_timestamp, detection_date, re_id, branch_id, device_id,
                    detected_count, detection_data
             FROM re_id_branch_detections WHERE 1 = 1",
        );
        time_window(&mut qb, "detection_timestamp", f.start, f.end, after);
        // `+branch_id`: keep the planner on the time index, which gives the page order; a
        // branch index would make it sort every row of the branch for each page. (One
        // person's rows are few: the person index serves a `re_id` filter well.)
        if let Some(ids) = &f.branches {
            qb.push(" AND +branch_id IN (SELECT value FROM json_each(")
                .push_bind(branches_json(ids))
                .push("))");
        }
        if let Some(d) = &f.device_id {
            qb.push(" AND device_id = ").push_bind(d.clone());
        }
        if let Some(r) = &f.re_id {
            qb.push(" AND re_id = ").push_bind(r.clone());
        }
        after_in_order(&mut qb, "detection_timestamp", after, limit);
        let rows = qb
            .build()
            .fetch_all(&self.exporter)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(DetectionExportRow {
                    id: r.get("id"),
                    detection_timestamp: parse_ts(r.get("detection_timestamp"))?,
                    detection_date: parse_date(r.get("detection_date"))?,
                    re_id: r.get("re_id"),
                    branch_id: r.get("branch_id"),
                    device_id: r.get("device_id"),
                    detected_count: r.get("detected_count"),
                    detection_data: r.get("detection_data"),
                })
            })
            .collect()
    }
}
