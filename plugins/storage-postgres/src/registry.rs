//! Read side of the re-id registry on PostgreSQL.

use async_trait::async_trait;
use cctv_core::estate::RecordStatus;
use cctv_core::query::*;
use cctv_core::storage::{RegistryStore, StorageError};
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;

use crate::{PgStore, from_odt, from_opt_odt, from_pg_date, lenient_json, map_err, odt, pg_date};

#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Text(String),
    Day(time::Date),
}

/// Conditions with `$n` placeholders numbered in bind order.
#[derive(Default)]
struct Conditions {
    conds: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    fn push(&mut self, sql: &str, bind: Bind) {
        self.binds.push(bind);
        self.conds
            .push(sql.replace('?', &format!("${}", self.binds.len())));
    }

    fn where_sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conds.join(" AND "))
        }
    }

    fn next(&self) -> usize {
        self.binds.len() + 1
    }

    fn bind<'q>(
        &'q self,
        mut q: Query<'q, sqlx::Postgres, PgArguments>,
    ) -> Query<'q, sqlx::Postgres, PgArguments> {
        for b in &self.binds {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Day(d) => q.bind(*d),
            };
        }
        q
    }
}

fn detection_conditions(f: &DetectionFilter) -> Conditions {
    let mut c = Conditions::default();
    if let Some(d) = f.date_from {
        c.push("d.detection_date >= ?", Bind::Day(pg_date(d)));
    }
    if let Some(d) = f.date_to {
        c.push("d.detection_date <= ?", Bind::Day(pg_date(d)));
    }
    if let Some(b) = f.branch_id {
        c.push("d.branch_id = ?", Bind::Int(b));
    }
    if let Some(b) = f.scope_branch {
        c.push("d.branch_id = ?", Bind::Int(b));
    }
    if let Some(dev) = &f.device_id {
        c.push("d.device_id = ?", Bind::Text(dev.clone()));
    }
    if let Some(r) = &f.re_id {
        c.push("d.re_id = ?", Bind::Text(r.clone()));
    }
    c
}

fn item_from(row: &PgRow) -> Result<DetectionItem, StorageError> {
    let branch_id: i64 = row.get("branch_id");
    let date = from_pg_date(row.get("detection_date"))?;
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
        detection_timestamp: from_odt(row.get("detection_timestamp")),
        detection_date: date,
        detected_count: row.get("detected_count"),
        detection_data: lenient_json(row, "detection_data"),
        person_features: lenient_json(row, "person_features"),
        created_at: from_odt(row.get("created_at")),
        branch,
        device,
        re_id_master: master,
    })
}

#[async_trait]
impl RegistryStore for PgStore {
    async fn list_detections(
        &self,
        filter: &DetectionFilter,
        page: PageRequest,
    ) -> Result<Page<DetectionItem>, StorageError> {
        let c = detection_conditions(filter);
        let where_sql = c.where_sql();
        let count_sql = format!("SELECT count(*) FROM re_id_branch_detections d {where_sql}");
        let total: i64 = c
            .bind(sqlx::query(&count_sql))
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?
            .get(0);
        let n = c.next();
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
             ORDER BY d.detection_timestamp DESC, d.id DESC LIMIT ${n} OFFSET ${}",
            n + 1
        );
        let rows = c
            .bind(sqlx::query(&sql))
            .bind(i64::from(page.per_page))
            .bind(page.offset() as i64)
            .fetch_all(&self.pool)
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
        let mut c = Conditions::default();
        c.push("d.detection_date = ?", Bind::Day(pg_date(date)));
        if let Some(b) = scope_branch {
            c.push("d.branch_id = ?", Bind::Int(b));
        }
        let w = c.where_sql();
        let row = c
            .bind(sqlx::query(&format!(
                "SELECT count(*), coalesce(sum(detected_count), 0)::bigint, count(DISTINCT re_id), count(DISTINCT branch_id),
                        count(DISTINCT device_id) FROM re_id_branch_detections d {w}"
            )))
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let summary = SummaryTotals {
            total_detections: row.get(0),
            total_detected_count: row.get(1),
            unique_persons: row.get(2),
            unique_branches: row.get(3),
            unique_devices: row.get(4),
        };
        let top_branches = c
            .bind(sqlx::query(&format!(
                "SELECT d.branch_id, coalesce(b.branch_name, 'N/A'), coalesce(b.city, ''), count(*) AS c
                 FROM re_id_branch_detections d LEFT JOIN company_branches b ON b.id = d.branch_id
                 {w} GROUP BY d.branch_id, b.branch_name, b.city ORDER BY c DESC, d.branch_id LIMIT 5"
            )))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| TopBranch { branch_id: r.get(0), branch_name: r.get(1), city: r.get(2), detection_count: r.get(3) })
            .collect();
        let top_persons = c
            .bind(sqlx::query(&format!(
                "SELECT d.re_id, count(*) AS c FROM re_id_branch_detections d {w} GROUP BY d.re_id ORDER BY c DESC, d.re_id LIMIT 10"
            )))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| TopPerson { re_id: r.get(0), detection_count: r.get(1) })
            .collect();
        let mut hourly_trend: Vec<HourBucket> = (0..24)
            .map(|hour| HourBucket {
                hour,
                count: 0,
                unique_persons: 0,
            })
            .collect();
        for r in c
            .bind(sqlx::query(&format!(
                "SELECT d.detection_hour::bigint, count(*), count(DISTINCT d.re_id) FROM re_id_branch_detections d {w} GROUP BY d.detection_hour"
            )))
            .fetch_all(&self.pool)
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
             WHERE detection_date BETWEEN $1 AND $2 ORDER BY detection_date, branch_id",
        )
        .bind(pg_date(from))
        .bind(pg_date(to))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| {
            let branch: i64 = r.get(1);
            Ok(DayCount {
                date: from_pg_date(r.get(0))?,
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
             WHERE detection_date BETWEEN $1 AND $2 ORDER BY detection_date, branch_id, device_id",
        )
        .bind(pg_date(from))
        .bind(pg_date(to))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| {
            Ok(DeviceDayCount {
                date: from_pg_date(r.get(0))?,
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
        let cond =
            "detection_date BETWEEN $1 AND $2 AND ($3::bigint[] IS NULL OR branch_id = ANY($3))";
        let overall_sql =
            format!("SELECT count(DISTINCT re_id) FROM re_id_branch_days WHERE {cond}");
        let branch_sql = format!(
            "SELECT branch_id, count(DISTINCT re_id) FROM re_id_branch_days WHERE {cond} GROUP BY branch_id ORDER BY branch_id"
        );
        let list: Option<Vec<i64>> = branches.map(<[i64]>::to_vec);
        // One branch: its distinct persons are the overall figure.
        if branches.is_some_and(|l| l.len() == 1) {
            let per_branch: Vec<(i64, i64)> = sqlx::query(&branch_sql)
                .bind(pg_date(from))
                .bind(pg_date(to))
                .bind(list)
                .fetch_all(&self.pool)
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
        let (overall, per_branch) = tokio::try_join!(
            sqlx::query(&overall_sql)
                .bind(pg_date(from))
                .bind(pg_date(to))
                .bind(list.clone())
                .fetch_one(&self.pool),
            sqlx::query(&branch_sql)
                .bind(pg_date(from))
                .bind(pg_date(to))
                .bind(list.clone())
                .fetch_all(&self.pool),
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
            "SELECT re_id, detection_time, person_name, appearance_features, total_detection_branch_count,
                    total_actual_count, first_detected_at, last_detected_at, status
             FROM re_id_masters WHERE re_id = $1 AND detection_date = $2",
        )
        .bind(re_id)
        .bind(pg_date(date))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let branches = sqlx::query(
            "SELECT d.branch_id, coalesce(b.branch_name, 'N/A'), coalesce(b.branch_code, ''), coalesce(b.city, ''), count(*),
                    sum(d.detected_count)::bigint AS s, min(d.detection_timestamp), max(d.detection_timestamp)
             FROM re_id_branch_detections d LEFT JOIN company_branches b ON b.id = d.branch_id
             WHERE d.re_id = $1 AND d.detection_date = $2 AND ($3::bigint IS NULL OR d.branch_id = $3)
             GROUP BY d.branch_id, b.branch_name, b.branch_code, b.city ORDER BY s DESC, d.branch_id",
        )
        .bind(re_id)
        .bind(pg_date(date))
        .bind(scope_branch)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| DetectedBranch {
            branch_id: r.get(0),
            branch_name: r.get(1),
            branch_code: r.get(2),
            city: r.get(3),
            detection_count: r.get(4),
            total_detected_count: r.get(5),
            first_detection: from_odt(r.get(6)),
            last_detection: from_odt(r.get(7)),
        })
        .collect::<Vec<_>>();
        if scope_branch.is_some() && branches.is_empty() {
            return Ok(None);
        }
        Ok(Some(PersonDay {
            re_id: row.get("re_id"),
            detection_date: date,
            detection_time: from_opt_odt(row.get("detection_time")),
            person_name: row.get("person_name"),
            appearance_features: lenient_json(&row, "appearance_features"),
            total_detection_branch_count: row.get("total_detection_branch_count"),
            total_actual_count: row.get("total_actual_count"),
            first_detected_at: from_opt_odt(row.get("first_detected_at")),
            last_detected_at: from_opt_odt(row.get("last_detected_at")),
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
        let branch = sqlx::query("SELECT branch_name, city FROM company_branches WHERE id = $1")
            .bind(branch_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let Some(branch) = branch else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT count(*), coalesce(sum(detected_count), 0)::bigint, count(DISTINCT re_id), count(DISTINCT device_id)
             FROM re_id_branch_detections WHERE branch_id = $1 AND detection_date = $2 AND ($3::text IS NULL OR device_id = $3)",
        )
        .bind(branch_id)
        .bind(pg_date(date))
        .bind(device_id)
        .fetch_one(&self.pool)
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
        sqlx::query(
            "INSERT INTO re_id_masters (re_id, detection_date, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (re_id, detection_date) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at",
        )
        .bind(re_id)
        .bind(pg_date(date))
        .bind(status.as_str())
        .bind(odt(Timestamp::now()))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }
}
