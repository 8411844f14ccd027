//! Read side of the re-id registry on SQLite.

use async_trait::async_trait;
use cctv_core::estate::RecordStatus;
use cctv_core::query::*;
use cctv_core::storage::{RegistryStore, StorageError};
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{
    Bind, SqliteStore, bind_all, lenient_json, map_err, parse_date, parse_opt_ts, parse_ts, ts,
};

/// `WHERE` conditions on `re_id_branch_detections d` with their binds, in order.
fn detection_where(f: &DetectionFilter) -> (String, Vec<Bind>) {
    let mut conds = Vec::new();
    let mut binds = Vec::new();
    if let Some(d) = f.date_from {
        conds.push("d.detection_date >= ?");
        binds.push(Bind::Text(d.to_string()));
    }
    if let Some(d) = f.date_to {
        conds.push("d.detection_date <= ?");
        binds.push(Bind::Text(d.to_string()));
    }
    if let Some(b) = f.branch_id {
        conds.push("d.branch_id = ?");
        binds.push(Bind::Int(b));
    }
    if let Some(b) = f.scope_branch {
        conds.push("d.branch_id = ?");
        binds.push(Bind::Int(b));
    }
    if let Some(dev) = &f.device_id {
        conds.push("d.device_id = ?");
        binds.push(Bind::Text(dev.clone()));
    }
    if let Some(r) = &f.re_id {
        conds.push("d.re_id = ?");
        binds.push(Bind::Text(r.clone()));
    }
    let sql = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (sql, binds)
}

fn item_from(row: &SqliteRow) -> Result<DetectionItem, StorageError> {
    let branch_id: i64 = row.get("branch_id");
    let date = parse_date(row.get("detection_date"))?;
    let branch = row
        .get::<Option<String>, _>("branch_code")
        .map(|code| BranchRef {
            id: branch_id,
            branch_code: code,
            branch_name: row.get("branch_name"),
            city: row.get("city"),
        });
    let device = row
        .get::<Option<String>, _>("device_name")
        .map(|name| DeviceRef {
            device_id: row.get("device_id"),
            device_name: name,
            device_type: row.get("device_type"),
            branch_id: row.get("device_branch_id"),
        });
    let re_id: String = row.get("re_id");
    let master = row
        .get::<Option<String>, _>("m_status")
        .map(|status| PersonDayRef {
            re_id: re_id.clone(),
            detection_date: date,
            person_name: row.get("person_name"),
            status,
            total_actual_count: row.get("total_actual_count"),
            total_detection_branch_count: row.get("total_detection_branch_count"),
        });
    Ok(DetectionItem {
        id: row.get("id"),
        re_id,
        branch_id,
        device_id: row.get("device_id"),
        detection_timestamp: parse_ts(row.get("detection_timestamp"))?,
        detection_date: date,
        detected_count: row.get("detected_count"),
        detection_data: lenient_json(row.get("detection_data"), "detection_data"),
        person_features: lenient_json(row.get("person_features"), "person_features"),
        created_at: parse_ts(row.get("created_at"))?,
        branch,
        device,
        re_id_master: master,
    })
}

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn list_detections(
        &self,
        filter: &DetectionFilter,
        page: PageRequest,
    ) -> Result<Page<DetectionItem>, StorageError> {
        let (where_sql, binds) = detection_where(filter);
        let count_sql = format!("SELECT count(*) FROM re_id_branch_detections d {where_sql}");
        let total: i64 = bind_all(sqlx::query(&count_sql), &binds)
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?
            .get(0);
        let sql = format!(
            "SELECT d.id, d.re_id, d.branch_id, d.device_id, d.detection_timestamp, d.detection_date, d.detected_count,
                    d.detection_data, d.person_features, d.created_at,
                    b.branch_code, b.branch_name, b.city,
                    v.device_name, v.device_type, v.branch_id AS device_branch_id,
                    m.person_name, m.status AS m_status, m.total_actual_count, m.total_detection_branch_count
             FROM re_id_branch_detections d
             LEFT JOIN company_branches b ON b.id = d.branch_id
             LEFT JOIN device_masters v ON v.device_id = d.device_id
             LEFT JOIN re_id_masters m ON m.re_id = d.re_id AND m.detection_date = d.detection_date
             {where_sql}
             ORDER BY d.detection_timestamp DESC, d.id DESC LIMIT ? OFFSET ?"
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .bind(i64::from(page.per_page))
            .bind(page.offset() as i64)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        let items = rows.iter().map(item_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total: total as u64,
            page,
        })
    }

    async fn detection_summary(
        &self,
        date: Date,
        scope_branch: Option<i64>,
    ) -> Result<DetectionSummary, StorageError> {
        let mut binds = vec![Bind::Text(date.to_string())];
        let mut cond = "d.detection_date = ?".to_owned();
        if let Some(b) = scope_branch {
            cond.push_str(" AND d.branch_id = ?");
            binds.push(Bind::Int(b));
        }
        let totals_sql = format!(
            "SELECT count(*), coalesce(sum(detected_count), 0), count(DISTINCT re_id), count(DISTINCT branch_id), count(DISTINCT device_id)
             FROM re_id_branch_detections d WHERE {cond}"
        );
        let row = bind_all(sqlx::query(&totals_sql), &binds)
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        let summary = SummaryTotals {
            total_detections: row.get(0),
            total_detected_count: row.get(1),
            unique_persons: row.get(2),
            unique_branches: row.get(3),
            unique_devices: row.get(4),
        };
        let top_sql = format!(
            "SELECT d.branch_id, coalesce(b.branch_name, 'N/A'), coalesce(b.city, ''), count(*) AS c
             FROM re_id_branch_detections d LEFT JOIN company_branches b ON b.id = d.branch_id
             WHERE {cond} GROUP BY d.branch_id ORDER BY c DESC, d.branch_id LIMIT 5"
        );
        let top_branches = bind_all(sqlx::query(&top_sql), &binds)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| TopBranch {
                branch_id: r.get(0),
                branch_name: r.get(1),
                city: r.get(2),
                detection_count: r.get(3),
            })
            .collect();
        let persons_sql = format!(
            "SELECT d.re_id, count(*) AS c FROM re_id_branch_detections d WHERE {cond} GROUP BY d.re_id ORDER BY c DESC, d.re_id LIMIT 10"
        );
        let top_persons = bind_all(sqlx::query(&persons_sql), &binds)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| TopPerson {
                re_id: r.get(0),
                detection_count: r.get(1),
            })
            .collect();
        let hourly_sql = format!(
            "SELECT d.detection_hour, count(*), count(DISTINCT d.re_id) FROM re_id_branch_detections d WHERE {cond} GROUP BY d.detection_hour"
        );
        let mut hourly_trend: Vec<HourBucket> = (0..24)
            .map(|hour| HourBucket {
                hour,
                count: 0,
                unique_persons: 0,
            })
            .collect();
        for r in bind_all(sqlx::query(&hourly_sql), &binds)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
        {
            let hour: i64 = r.get(0);
            if let Some(bucket) = hourly_trend.get_mut(hour as usize) {
                bucket.count = r.get(1);
                bucket.unique_persons = r.get(2);
            }
        }
        Ok(DetectionSummary {
            date,
            summary,
            top_branches,
            top_persons,
            hourly_trend,
        })
    }

    async fn day_counts(&self, from: Date, to: Date) -> Result<Vec<DayCount>, StorageError> {
        sqlx::query(
            "SELECT detection_date, branch_id, detections, detected_count, persons, events FROM day_counts
             WHERE detection_date >= ? AND detection_date <= ? ORDER BY detection_date, branch_id",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| {
            let branch: i64 = r.get(1);
            Ok(DayCount {
                date: parse_date(r.get(0))?,
                branch_id: (branch != cctv_processing::day_counts::ALL_BRANCHES).then_some(branch),
                detections: r.get(2),
                detected_count: r.get(3),
                persons: r.get(4),
                events: r.get(5),
            })
        })
        .collect()
    }

    async fn device_day_counts(
        &self,
        from: Date,
        to: Date,
    ) -> Result<Vec<DeviceDayCount>, StorageError> {
        sqlx::query(
            "SELECT detection_date, branch_id, device_id, detections, detected_count FROM device_day_counts
             WHERE detection_date >= ? AND detection_date <= ? ORDER BY detection_date, branch_id, device_id",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| {
            Ok(DeviceDayCount {
                date: parse_date(r.get(0))?,
                branch_id: r.get(1),
                device_id: r.get(2),
                detections: r.get(3),
                detected_count: r.get(4),
            })
        })
        .collect()
    }

    async fn range_persons(
        &self,
        from: Date,
        to: Date,
        branches: Option<&[i64]>,
    ) -> Result<RangePersons, StorageError> {
        let mut binds = vec![Bind::Text(from.to_string()), Bind::Text(to.to_string())];
        let mut cond = String::from("detection_date >= ? AND detection_date <= ?");
        if let Some(list) = branches {
            if list.is_empty() {
                return Ok(RangePersons::default());
            }
            cond.push_str(&format!(
                " AND branch_id IN ({})",
                vec!["?"; list.len()].join(", ")
            ));
            binds.extend(list.iter().map(|b| Bind::Int(*b)));
        }
        let branch_sql = format!(
            "SELECT branch_id, count(DISTINCT re_id) FROM re_id_branch_days WHERE {cond} GROUP BY branch_id ORDER BY branch_id"
        );
        // One branch: its distinct persons are the overall figure.
        if branches.is_some_and(|l| l.len() == 1) {
            let per_branch: Vec<(i64, i64)> = bind_all(sqlx::query(&branch_sql), &binds)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            return Ok(RangePersons {
                unique_persons: per_branch.first().map_or(0, |p| p.1),
                per_branch,
            });
        }
        // Both read the primary key (date, branch, re_id) only; run side by side on two readers.
        let overall_sql =
            format!("SELECT count(DISTINCT re_id) FROM re_id_branch_days WHERE {cond}");
        let (overall, per_branch) = tokio::try_join!(
            bind_all(sqlx::query(&overall_sql), &binds).fetch_one(&self.reader),
            bind_all(sqlx::query(&branch_sql), &binds).fetch_all(&self.reader),
        )
        .map_err(map_err)?;
        Ok(RangePersons {
            unique_persons: overall.get(0),
            per_branch: per_branch.iter().map(|r| (r.get(0), r.get(1))).collect(),
        })
    }

    async fn person_day(
        &self,
        re_id: &str,
        date: Date,
        scope_branch: Option<i64>,
    ) -> Result<Option<PersonDay>, StorageError> {
        let row = sqlx::query(
            "SELECT re_id, detection_date, detection_time, person_name, appearance_features, total_detection_branch_count,
                    total_actual_count, first_detected_at, last_detected_at, status
             FROM re_id_masters WHERE re_id = ? AND detection_date = ?",
        )
        .bind(re_id)
        .bind(date.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let mut binds = vec![Bind::Text(re_id.to_owned()), Bind::Text(date.to_string())];
        let mut cond = String::new();
        if let Some(b) = scope_branch {
            cond.push_str(" AND d.branch_id = ?");
            binds.push(Bind::Int(b));
        }
        // Without statistics SQLite prefers the (date, branch) index here, because it
        // avoids sorting for GROUP BY, and then walks a whole day of detections (1 s with
        // a million): one person's day is a handful of rows on the person index.
        let sql = format!(
            "SELECT d.branch_id, coalesce(b.branch_name, 'N/A'), coalesce(b.branch_code, ''), coalesce(b.city, ''), count(*),
                    sum(d.detected_count) AS s, min(d.detection_timestamp), max(d.detection_timestamp)
             FROM re_id_branch_detections d INDEXED BY re_id_branch_detections_person
             LEFT JOIN company_branches b ON b.id = d.branch_id
             WHERE d.re_id = ? AND d.detection_date = ?{cond}
             GROUP BY d.branch_id ORDER BY s DESC, d.branch_id"
        );
        let branches = bind_all(sqlx::query(&sql), &binds)
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| {
                Ok(DetectedBranch {
                    branch_id: r.get(0),
                    branch_name: r.get(1),
                    branch_code: r.get(2),
                    city: r.get(3),
                    detection_count: r.get(4),
                    total_detected_count: r.get(5),
                    first_detection: parse_ts(r.get(6))?,
                    last_detection: parse_ts(r.get(7))?,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        if scope_branch.is_some() && branches.is_empty() {
            return Ok(None);
        }
        Ok(Some(PersonDay {
            re_id: row.get("re_id"),
            detection_date: date,
            detection_time: parse_opt_ts(row.get("detection_time"))?,
            person_name: row.get("person_name"),
            appearance_features: lenient_json(
                row.get("appearance_features"),
                "appearance_features",
            ),
            total_detection_branch_count: row.get("total_detection_branch_count"),
            total_actual_count: row.get("total_actual_count"),
            first_detected_at: parse_opt_ts(row.get("first_detected_at"))?,
            last_detected_at: parse_opt_ts(row.get("last_detected_at"))?,
            status: row.get("status"),
            detected_branches: branches,
        }))
    }

    async fn branch_statistics(
        &self,
        branch_id: i64,
        date: Date,
        device_id: Option<&str>,
    ) -> Result<Option<BranchStatistics>, StorageError> {
        let branch = sqlx::query("SELECT branch_name, city FROM company_branches WHERE id = ?")
            .bind(branch_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        let Some(branch) = branch else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT count(*), coalesce(sum(detected_count), 0), count(DISTINCT re_id), count(DISTINCT device_id)
             FROM re_id_branch_detections WHERE branch_id = ? AND detection_date = ? AND (? IS NULL OR device_id = ?)",
        )
        .bind(branch_id)
        .bind(date.to_string())
        .bind(device_id)
        .bind(device_id)
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        Ok(Some(BranchStatistics {
            branch_id,
            branch_name: branch.get(0),
            city: branch.get(1),
            date,
            total_detections: row.get(0),
            total_detected_count: row.get(1),
            unique_persons: row.get(2),
            unique_devices: row.get(3),
        }))
    }

    async fn set_person_day_status(
        &self,
        re_id: &str,
        date: Date,
        status: RecordStatus,
    ) -> Result<(), StorageError> {
        let now = ts(Timestamp::now());
        sqlx::query(
            "INSERT INTO re_id_masters (re_id, detection_date, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (re_id, detection_date) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
        )
        .bind(re_id)
        .bind(date.to_string())
        .bind(status.as_str())
        .bind(&now)
        .bind(&now)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }
}
