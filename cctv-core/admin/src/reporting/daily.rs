//! The daily report of one branch (or of all branches): one local calendar day.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::calendar::local_date_hour;
use super::persons::{PersonKeys, PersonValues};
use super::tally::{Counts, Keys, first_max, top_n};
use super::{DetectionRow, ReportError};

/// How many persons [`DailyReport::top_persons`] lists.
const TOP_PERSONS: usize = 10;

/// Most persons [`DailyAccumulator::with_capacity`] makes room for ahead (about 75 MB of
/// person table): a hint is not trusted beyond it; a larger day grows its table as it reads.
const MAX_RESERVED_PERSONS: usize = 1_000_000;

/// `counting_reports.report_data` of a daily report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyReport {
    /// The local date reported on.
    pub date: Date,
    /// Detection rows.
    pub total_detections: u64,
    /// Distinct `re_id`s.
    pub unique_persons: u64,
    /// Sum of the rows' `detected_count`.
    pub total_detected_count: i64,
    /// Distinct devices with at least one detection.
    pub unique_devices: u64,
    /// Events logged that day.
    pub total_events: u64,
    /// Always 24 entries, hour 0 to 23 of local time, zero-filled. On a DST change the
    /// skipped hour stays empty and a repeated hour holds both of its occurrences.
    pub hourly_breakdown: Vec<HourStats>,
    /// Every device seen, most detections first (ties by `device_id`).
    pub device_breakdown: Vec<DeviceStats>,
    /// The 10 persons with most detections; ties by `detected_count` (higher first), then
    /// `re_id`, so the list is the same however the rows were ordered.
    pub top_persons: Vec<PersonStats>,
    /// The local hour with most detections, the earliest on ties; `null` with no detections.
    pub peak_hour: Option<u8>,
}

/// One local hour of a [`DailyReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourStats {
    pub hour: u8,
    pub detections: u64,
    pub detected_count: i64,
    /// Distinct persons detected in this hour.
    pub unique_persons: u64,
}

/// One device of a [`DailyReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStats {
    pub device_id: String,
    pub detections: u64,
    pub detected_count: i64,
    /// Distinct persons this device detected.
    pub unique_persons: u64,
}

/// One person of [`DailyReport::top_persons`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonStats {
    pub re_id: String,
    pub detections: u64,
    pub detected_count: i64,
    pub first_detected_at: Timestamp,
    pub last_detected_at: Timestamp,
}

/// Builds a [`DailyReport`] from a stream of rows. Memory grows with distinct persons,
/// devices and person-device pairs, not with rows; a person costs its `re_id`'s bytes and
/// about 75 more (see `persons.rs`).
#[derive(Debug)]
pub struct DailyAccumulator {
    date: Date,
    tz: TimeZone,
    total: Counts,
    events: u64,
    hours: [Counts; 24],
    devices: Keys<String>,
    device_counts: Vec<Counts>,
    keys: PersonKeys,
    /// Indexed by person number.
    persons: Vec<PersonDay>,
    person_devices: PersonValues,
}

#[derive(Debug)]
struct PersonDay {
    detections: u64,
    detected_count: i64,
    first: Timestamp,
    last: Timestamp,
    /// Bit `h` set when seen in local hour `h`.
    hours: u32,
}

impl DailyAccumulator {
    /// An empty report for local `date` in `tz`.
    pub fn new(date: Date, tz: TimeZone) -> Self {
        Self {
            date,
            tz,
            total: Counts::default(),
            events: 0,
            hours: [Counts::default(); 24],
            devices: Keys::default(),
            device_counts: Vec::new(),
            keys: PersonKeys::default(),
            persons: Vec::new(),
            person_devices: PersonValues::default(),
        }
    }

    /// As [`Self::new`], with room for `persons` distinct persons (the day's stored total,
    /// when known; at most 1,000,000). The person table is then allocated
    /// once instead of doubling as it fills, each doubling holding the old table and the
    /// new one at once.
    pub fn with_capacity(date: Date, tz: TimeZone, persons: usize) -> Self {
        let persons = persons.min(MAX_RESERVED_PERSONS);
        Self {
            keys: PersonKeys::with_capacity(persons),
            persons: Vec::with_capacity(persons),
            person_devices: PersonValues::with_capacity(persons),
            ..Self::new(date, tz)
        }
    }

    /// Adds one detection. A row whose local date is not this report's is refused
    /// ([`ReportError::Rejected`]) and leaves the report unchanged.
    pub fn push(&mut self, row: &DetectionRow) -> Result<(), ReportError> {
        let (date, hour) = local_date_hour(row.detected_at, &self.tz);
        if date != self.date {
            return Err(outside(row.detected_at, self.date));
        }
        self.total.add(row.detected_count);
        self.hours[hour].add(row.detected_count);
        let (device, new_device) = self.devices.index(row.device_id.as_str());
        if new_device {
            self.device_counts.push(Counts::default());
        }
        let device = device as usize;
        self.device_counts[device].add(row.detected_count);

        let (number, new_person) = self.keys.index(&row.re_id);
        if new_person {
            self.total.persons += 1;
            self.persons.push(PersonDay::first_seen(row.detected_at));
        }
        if self.person_devices.insert(number, device as u32) {
            self.device_counts[device].persons += 1;
        }
        // A number past the table's end cannot happen: a new person was pushed above.
        let Some(person) = self.persons.get_mut(number as usize) else {
            return Ok(());
        };
        person.detections += 1;
        person.detected_count = person.detected_count.saturating_add(row.detected_count);
        person.first = person.first.min(row.detected_at);
        person.last = person.last.max(row.detected_at);
        if person.hours & (1 << hour) == 0 {
            person.hours |= 1 << hour;
            self.hours[hour].persons += 1;
        }
        Ok(())
    }

    /// Counts one event logged at `at`; refused when `at` is on another local date.
    pub fn push_event(&mut self, at: Timestamp) -> Result<(), ReportError> {
        if local_date_hour(at, &self.tz).0 != self.date {
            return Err(outside(at, self.date));
        }
        self.events += 1;
        Ok(())
    }

    /// Counts `count` events of this date counted elsewhere (e.g. `SELECT COUNT(*)` over
    /// [`local_day_bounds`](super::local_day_bounds)).
    pub(crate) fn add_events(&mut self, count: u64) {
        self.events += count;
    }

    pub fn finish(self) -> DailyReport {
        let hourly_breakdown: Vec<HourStats> = (0_u8..)
            .zip(self.hours)
            .map(|(hour, c)| HourStats {
                hour,
                detections: c.detections,
                detected_count: c.detected_count,
                unique_persons: c.persons,
            })
            .collect();
        let peak_hour = first_max(hourly_breakdown.iter().map(|h| h.detections))
            .and_then(|h| u8::try_from(h).ok());

        let unique_devices = self.devices.len() as u64;
        let mut device_breakdown: Vec<DeviceStats> = self
            .devices
            .into_keys()
            .into_iter()
            .zip(self.device_counts)
            .map(|(device_id, c)| DeviceStats {
                device_id,
                detections: c.detections,
                detected_count: c.detected_count,
                unique_persons: c.persons,
            })
            .collect();
        device_breakdown.sort_by(|a, b| {
            b.detections
                .cmp(&a.detections)
                .then_with(|| a.device_id.cmp(&b.device_id))
        });

        // The top persons are chosen by number; only the ten chosen get their `re_id` copied.
        let (keys, persons) = (&self.keys, &self.persons);
        let top = top_n(0..persons.len(), TOP_PERSONS, |&a, &b| {
            let (pa, pb) = (&persons[a], &persons[b]);
            pb.detections
                .cmp(&pa.detections)
                .then_with(|| pb.detected_count.cmp(&pa.detected_count))
                .then_with(|| keys.get(a as u32).cmp(keys.get(b as u32)))
        });
        let top_persons = top
            .into_iter()
            .map(|i| {
                let p = &persons[i];
                PersonStats {
                    re_id: keys.get(i as u32).to_owned(),
                    detections: p.detections,
                    detected_count: p.detected_count,
                    first_detected_at: p.first,
                    last_detected_at: p.last,
                }
            })
            .collect();

        DailyReport {
            date: self.date,
            total_detections: self.total.detections,
            unique_persons: self.total.persons,
            total_detected_count: self.total.detected_count,
            unique_devices,
            total_events: self.events,
            hourly_breakdown,
            device_breakdown,
            top_persons,
            peak_hour,
        }
    }
}

impl PersonDay {
    fn first_seen(at: Timestamp) -> Self {
        Self {
            detections: 0,
            detected_count: 0,
            first: at,
            last: at,
            hours: 0,
        }
    }
}

pub(super) fn outside(at: Timestamp, period: impl std::fmt::Display) -> ReportError {
    ReportError::Rejected(format!("{at} is outside the reported period {period}"))
}
