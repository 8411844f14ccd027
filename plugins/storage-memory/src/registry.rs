//! Read side of the re-id registry, computed from the detection rows and the record tables
//! with the SQLite backend's joins, orders and limits.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use cctv_processing::day_counts::ALL_BRANCHES;
use cctv_core::estate::RecordStatus;
use cctv_core::query::*;
use cctv_core::records::Record;
use cctv_core::storage::{RegistryStore, StorageError};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::MemoryStore;
use crate::state::{
    Detection, MEMBERSHIPS, PERSON_DAYS, State, get_date, get_i64, get_json, get_str, get_ts,
    ts_value,
};

const BRANCHES: &str = "company_branches";
const DEVICES: &str = "device_masters";

fn selected(f: &DetectionFilter, d: &Detection) -> bool {
    f.date_from.is_none_or(|x| d.date >= x)
        && f.date_to.is_none_or(|x| d.date <= x)
        && f.branch_id.is_none_or(|b| d.branch_id == b)
        && f.scope_branch.is_none_or(|b| d.branch_id == b)
        && f.device_id.as_ref().is_none_or(|x| d.device_id == *x)
        && f.re_id.as_ref().is_none_or(|x| d.re_id == *x)
}

fn branch(state: &State, id: i64) -> Option<&Record> {
    state.row(BRANCHES, id)
}

fn person_day_row<'a>(state: &'a State, re_id: &str, date: Date) -> Option<&'a Record> {
    state
        .person_index
        .get(&(re_id.to_owned(), date))
        .and_then(|id| state.row(PERSON_DAYS, *id))
}

fn s(rec: &Record, column: &str) -> String {
    get_str(rec, column).unwrap_or_default().to_owned()
}

fn item(state: &State, devices: &HashMap<&str, &Record>, d: &Detection) -> DetectionItem {
    DetectionItem {
        id: d.id,
        re_id: d.re_id.clone(),
        branch_id: d.branch_id,
        device_id: d.device_id.clone(),
        detection_timestamp: d.detected_at,
        detection_date: d.date,
        detected_count: d.detected_count,
        detection_data: d.detection_data.clone(),
        person_features: d.person_features.clone(),
        created_at: d.created_at,
        branch: branch(state, d.branch_id).map(|b| BranchRef {
            id: d.branch_id,
            branch_code: s(b, "branch_code"),
            branch_name: s(b, "branch_name"),
            city: s(b, "city"),
        }),
        device: devices.get(d.device_id.as_str()).map(|v| DeviceRef {
            device_id: d.device_id.clone(),
            device_name: s(v, "device_name"),
            device_type: s(v, "device_type"),
            branch_id: get_i64(v, "branch_id").unwrap_or_default(),
        }),
        re_id_master: person_day_row(state, &d.re_id, d.date).map(|m| PersonDayRef {
            re_id: d.re_id.clone(),
            detection_date: d.date,
            person_name: get_str(m, "person_name").map(str::to_owned),
            status: s(m, "status"),
            total_actual_count: get_i64(m, "total_actual_count").unwrap_or_default(),
            total_detection_branch_count: get_i64(m, "total_detection_branch_count")
                .unwrap_or_default(),
        }),
    }
}

/// Rows, distinct persons, branches and devices of some detections.
fn totals<'a>(rows: impl Iterator<Item = &'a Detection>) -> SummaryTotals {
    let (mut n, mut sum) = (0, 0);
    let (mut persons, mut branches, mut devices) = (HashSet::new(), HashSet::new(), HashSet::new());
    for d in rows {
        n += 1;
        sum += d.detected_count;
        persons.insert(d.re_id.as_str());
        branches.insert(d.branch_id);
        devices.insert(d.device_id.as_str());
    }
    SummaryTotals {
        total_detections: n,
        total_detected_count: sum,
        unique_persons: persons.len() as i64,
        unique_branches: branches.len() as i64,
        unique_devices: devices.len() as i64,
    }
}

#[async_trait]
impl RegistryStore for MemoryStore {
    async fn list_detections(
        &self,
        filter: &DetectionFilter,
        page: PageRequest,
    ) -> Result<Page<DetectionItem>, StorageError> {
        let state = self.lock();
        let mut rows: Vec<&Detection> = state
            .detections
            .iter()
            .filter(|d| selected(filter, d))
            .collect();
        rows.sort_by_key(|d| std::cmp::Reverse((d.detected_at, d.id)));
        let devices: HashMap<&str, &Record> = state
            .rows(DEVICES)
            .filter_map(|r| Some((get_str(r, "device_id")?, r)))
            .collect();
        let items = rows
            .iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.per_page as usize)
            .map(|d| item(&state, &devices, d))
            .collect();
        Ok(Page {
            items,
            total: rows.len() as u64,
            page,
        })
    }

    async fn detection_summary(
        &self,
        date: Date,
        scope_branch: Option<i64>,
    ) -> Result<DetectionSummary, StorageError> {
        let state = self.lock();
        let rows: Vec<&Detection> = state
            .detections
            .iter()
            .filter(|d| d.date == date && scope_branch.is_none_or(|b| d.branch_id == b))
            .collect();
        let mut per_branch: BTreeMap<i64, i64> = BTreeMap::new();
        let mut per_person: BTreeMap<&str, i64> = BTreeMap::new();
        let mut hours: Vec<(i64, HashSet<&str>)> = vec![(0, HashSet::new()); 24];
        for d in &rows {
            *per_branch.entry(d.branch_id).or_default() += 1;
            *per_person.entry(d.re_id.as_str()).or_default() += 1;
            if let Some(h) = usize::try_from(d.hour).ok().and_then(|h| hours.get_mut(h)) {
                h.0 += 1;
                h.1.insert(d.re_id.as_str());
            }
        }
        let mut top_branches: Vec<TopBranch> = per_branch
            .into_iter()
            .map(|(id, count)| {
                let b = branch(&state, id);
                TopBranch {
                    branch_id: id,
                    branch_name: b
                        .and_then(|b| get_str(b, "branch_name"))
                        .unwrap_or("N/A")
                        .to_owned(),
                    city: b.map(|b| s(b, "city")).unwrap_or_default(),
                    detection_count: count,
                }
            })
            .collect();
        top_branches.sort_by(|a, b| {
            (b.detection_count, a.branch_id).cmp(&(a.detection_count, b.branch_id))
        });
        top_branches.truncate(5);
        let mut top_persons: Vec<TopPerson> = per_person
            .into_iter()
            .map(|(re_id, count)| TopPerson {
                re_id: re_id.to_owned(),
                detection_count: count,
            })
            .collect();
        top_persons.sort_by(|a, b| {
            b.detection_count
                .cmp(&a.detection_count)
                .then_with(|| a.re_id.cmp(&b.re_id))
        });
        top_persons.truncate(10);
        Ok(DetectionSummary {
            date,
            summary: totals(rows.iter().copied()),
            top_branches,
            top_persons,
            hourly_trend: hours
                .into_iter()
                .enumerate()
                .map(|(hour, (count, persons))| HourBucket {
                    hour: hour as i64,
                    count,
                    unique_persons: persons.len() as i64,
                })
                .collect(),
        })
    }

    async fn day_counts(&self, from: Date, to: Date) -> Result<Vec<DayCount>, StorageError> {
        let state = self.lock();
        Ok(state
            .day_counts
            .range((from, i64::MIN)..=(to, i64::MAX))
            .map(|((date, key), t)| DayCount {
                date: *date,
                branch_id: (*key != ALL_BRANCHES).then_some(*key),
                detections: t.detections,
                detected_count: t.detected_count,
                persons: t.persons,
                events: t.events,
            })
            .collect())
    }

    async fn device_day_counts(
        &self,
        from: Date,
        to: Date,
    ) -> Result<Vec<DeviceDayCount>, StorageError> {
        let state = self.lock();
        Ok(state
            .device_counts
            .iter()
            .filter(|((date, _, _), _)| *date >= from && *date <= to)
            .map(|((date, branch_id, device_id), (n, sum))| DeviceDayCount {
                date: *date,
                branch_id: *branch_id,
                device_id: device_id.clone(),
                detections: *n,
                detected_count: *sum,
            })
            .collect())
    }

    async fn range_persons(
        &self,
        from: Date,
        to: Date,
        branches: Option<&[i64]>,
    ) -> Result<RangePersons, StorageError> {
        if branches.is_some_and(<[i64]>::is_empty) {
            return Ok(RangePersons::default());
        }
        let state = self.lock();
        let mut overall: HashSet<&str> = HashSet::new();
        let mut per_branch: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
        for rec in state.rows(MEMBERSHIPS) {
            let (Some(re_id), Some(date), Some(b)) = (
                get_str(rec, "re_id"),
                get_date(rec, "detection_date"),
                get_i64(rec, "branch_id"),
            ) else {
                continue;
            };
            if date < from || date > to || branches.is_some_and(|l| !l.contains(&b)) {
                continue;
            }
            overall.insert(re_id);
            per_branch.entry(b).or_default().insert(re_id);
        }
        Ok(RangePersons {
            unique_persons: overall.len() as i64,
            per_branch: per_branch
                .into_iter()
                .map(|(b, p)| (b, p.len() as i64))
                .collect(),
        })
    }

    async fn person_day(
        &self,
        re_id: &str,
        date: Date,
        scope_branch: Option<i64>,
    ) -> Result<Option<PersonDay>, StorageError> {
        let state = self.lock();
        let Some(m) = person_day_row(&state, re_id, date) else {
            return Ok(None);
        };
        // branch → (rows, sum, first, last)
        let mut seen: BTreeMap<i64, (i64, i64, Timestamp, Timestamp)> = BTreeMap::new();
        for d in state.detections.iter().filter(|d| {
            d.re_id == re_id && d.date == date && scope_branch.is_none_or(|b| d.branch_id == b)
        }) {
            let e = seen
                .entry(d.branch_id)
                .or_insert((0, 0, d.detected_at, d.detected_at));
            e.0 += 1;
            e.1 += d.detected_count;
            e.2 = e.2.min(d.detected_at);
            e.3 = e.3.max(d.detected_at);
        }
        if scope_branch.is_some() && seen.is_empty() {
            return Ok(None);
        }
        let mut detected_branches: Vec<DetectedBranch> = seen
            .into_iter()
            .map(|(id, (n, sum, first, last))| {
                let b = branch(&state, id);
                DetectedBranch {
                    branch_id: id,
                    branch_name: b
                        .and_then(|b| get_str(b, "branch_name"))
                        .unwrap_or("N/A")
                        .to_owned(),
                    branch_code: b.map(|b| s(b, "branch_code")).unwrap_or_default(),
                    city: b.map(|b| s(b, "city")).unwrap_or_default(),
                    detection_count: n,
                    total_detected_count: sum,
                    first_detection: first,
                    last_detection: last,
                }
            })
            .collect();
        detected_branches.sort_by(|a, b| {
            (b.total_detected_count, a.branch_id).cmp(&(a.total_detected_count, b.branch_id))
        });
        Ok(Some(PersonDay {
            re_id: re_id.to_owned(),
            detection_date: date,
            detection_time: get_ts(m, "detection_time"),
            person_name: get_str(m, "person_name").map(str::to_owned),
            appearance_features: get_json(m, "appearance_features"),
            total_detection_branch_count: get_i64(m, "total_detection_branch_count")
                .unwrap_or_default(),
            total_actual_count: get_i64(m, "total_actual_count").unwrap_or_default(),
            first_detected_at: get_ts(m, "first_detected_at"),
            last_detected_at: get_ts(m, "last_detected_at"),
            status: s(m, "status"),
            detected_branches,
        }))
    }

    async fn branch_statistics(
        &self,
        branch_id: i64,
        date: Date,
        device_id: Option<&str>,
    ) -> Result<Option<BranchStatistics>, StorageError> {
        let state = self.lock();
        let Some(b) = branch(&state, branch_id) else {
            return Ok(None);
        };
        let t = totals(state.detections.iter().filter(|d| {
            d.branch_id == branch_id && d.date == date && device_id.is_none_or(|v| d.device_id == v)
        }));
        Ok(Some(BranchStatistics {
            branch_id,
            branch_name: s(b, "branch_name"),
            city: s(b, "city"),
            date,
            total_detections: t.total_detections,
            total_detected_count: t.total_detected_count,
            unique_persons: t.unique_persons,
            unique_devices: t.unique_devices,
        }))
    }

    async fn set_person_day_status(
        &self,
        re_id: &str,
        date: Date,
        status: RecordStatus,
    ) -> Result<(), StorageError> {
        let now = Timestamp::now();
        let mut state = self.lock();
        let key = (re_id.to_owned(), date);
        let existing = state.person_index.get(&key).copied();
        match existing.and_then(|row| state.row_mut(PERSON_DAYS, row)) {
            Some(rec) => {
                rec.insert("status".into(), Value::from(status.as_str()));
                rec.insert("updated_at".into(), ts_value(now));
            }
            None => {
                // A person-day made by a status edit: no detections, so no times yet.
                let Value::Object(rec) = json!({
                    "re_id": re_id, "detection_date": date.to_string(), "detection_time": null,
                    "person_name": null, "appearance_features": null,
                    "first_detected_at": null, "last_detected_at": null,
                    "total_detection_branch_count": 0, "total_actual_count": 0,
                    "status": status.as_str(),
                }) else {
                    return Err(StorageError::Corrupt("person-day record".into()));
                };
                let row = state.insert_raw(PERSON_DAYS, rec, now);
                state.person_index.insert(key, row);
            }
        }
        Ok(())
    }
}
