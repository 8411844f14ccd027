//! The scheduler against an in-memory slot table and paused tokio time, in Asia/Jakarta.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::date;
use jiff::tz::TimeZone;

use super::*;

#[derive(Debug, Default)]
struct MemorySlots(Mutex<BTreeMap<(String, Timestamp), String>>);

#[async_trait]
impl ScheduleStore for MemorySlots {
    async fn claim_slot(
        &self,
        task: &str,
        slot: Timestamp,
        node: &str,
        _now: Timestamp,
    ) -> Result<bool, StorageError> {
        let mut slots = self.0.lock().unwrap();
        let key = (task.to_owned(), slot);
        if slots.contains_key(&key) {
            return Ok(false);
        }
        slots.insert(key, node.to_owned());
        Ok(true)
    }

    async fn release_slot(&self, task: &str, slot: Timestamp) -> Result<(), StorageError> {
        self.0.lock().unwrap().remove(&(task.to_owned(), slot));
        Ok(())
    }

    async fn last_runs(&self) -> Result<Vec<ScheduleRun>, StorageError> {
        let mut last: HashMap<String, ScheduleRun> = HashMap::new();
        for ((task, slot), node) in self.0.lock().unwrap().iter() {
            last.insert(
                task.clone(),
                ScheduleRun {
                    task: task.clone(),
                    slot: *slot,
                    node: node.clone(),
                    started_at: *slot,
                },
            );
        }
        Ok(last.into_values().collect())
    }

    async fn prune_schedule_runs(&self, _before: Timestamp) -> Result<u64, StorageError> {
        Ok(0)
    }
}

/// Records every run; fails the first `fail_first` runs.
#[derive(Debug, Default)]
struct Recorder {
    runs: Mutex<Vec<(TaskName, Timestamp)>>,
    fail_first: Mutex<usize>,
}

#[async_trait]
impl TaskRunner for Recorder {
    async fn run(&self, task: TaskName, slot: Timestamp) -> Result<(), String> {
        let mut fail = self.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err("queue unavailable".into());
        }
        self.runs.lock().unwrap().push((task, slot));
        Ok(())
    }
}

impl Recorder {
    fn of(&self, task: TaskName) -> Vec<Timestamp> {
        let runs = self.runs.lock().unwrap();
        runs.iter()
            .filter(|(t, _)| *t == task)
            .map(|(_, s)| *s)
            .collect()
    }
}

fn jakarta() -> TimeZone {
    TimeZone::get("Asia/Jakarta").unwrap()
}

/// Local Jakarta wall-clock time as an instant.
fn wib(y: i16, m: i8, d: i8, h: i8, min: i8) -> Timestamp {
    date(y, m, d)
        .at(h, min, 0, 0)
        .to_zoned_datetime(jakarta())
        .unwrap()
        .timestamp()
}

async fn scheduler(
    store: &Arc<MemorySlots>,
    runner: &Arc<Recorder>,
    node: &str,
    now: Timestamp,
) -> Arc<Scheduler> {
    let settings = ScheduleSettings::defaults(jakarta(), node);
    Arc::new(
        Scheduler::start(store.clone(), runner.clone(), settings, now)
            .await
            .unwrap(),
    )
}

#[test]
fn cadences_parse_from_config_text_and_print_back() {
    for text in [
        "every 5 minutes",
        "every 1 minute",
        "daily 01:30",
        "weekly sun 00:00",
        "monthly 1 02:00",
    ] {
        assert_eq!(text.parse::<Cadence>().unwrap().to_string(), text);
    }
    for bad in [
        "every 0 minutes",
        "daily 24:00",
        "daily 1:5",
        "weekly funday 01:00",
        "monthly 32 01:00",
        "hourly",
    ] {
        assert!(bad.parse::<Cadence>().is_err(), "{bad} should be refused");
    }
}

#[test]
fn a_daily_slot_at_01_00_in_jakarta_is_18_00_utc_the_day_before() {
    let daily: Cadence = "daily 01:00".parse().unwrap();
    let next = daily.next_after("2026-11-30T12:00:00Z".parse().unwrap(), &jakarta());
    assert_eq!(next, "2026-11-30T18:00:00Z".parse::<Timestamp>().unwrap());
}

#[test]
fn a_monthly_slot_on_day_31_runs_on_the_last_day_of_shorter_months() {
    let monthly: Cadence = "monthly 31 02:00".parse().unwrap();
    let next = monthly.next_after(wib(2026, 2, 1, 0, 0), &jakarta());
    assert_eq!(next, wib(2026, 2, 28, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn each_task_fires_at_its_jakarta_slot_exactly_once() {
    // Monday 30 Nov 2026 22:00 WIB → Tuesday 1 Dec 03:00 WIB: the daily tasks, the
    // monthly one (day 1) and every 5-minute and 1-minute slot fall in this window.
    let start = wib(2026, 11, 30, 22, 0);
    let (store, runner) = (
        Arc::new(MemorySlots::default()),
        Arc::new(Recorder::default()),
    );
    let s = scheduler(&store, &runner, "a", start).await;
    let clock = Arc::new(TokioClock::starting_at(start));
    let task = tokio::spawn(s.run(clock));

    // A second past the last slot (03:00), so the scheduler has run it.
    tokio::time::sleep(Duration::from_secs(5 * 3600 + 1)).await;
    task.abort();

    assert_eq!(runner.of(TaskName::DailyReports), [wib(2026, 12, 1, 1, 0)]);
    assert_eq!(
        runner.of(TaskName::LogAggregation),
        [wib(2026, 12, 1, 1, 30)]
    );
    assert_eq!(runner.of(TaskName::FileCleanup), [wib(2026, 12, 1, 2, 0)]);
    assert_eq!(
        runner.of(TaskName::MonthlyReports),
        [wib(2026, 12, 1, 2, 0)]
    );
    assert!(
        runner.of(TaskName::FailedJobPruning).is_empty(),
        "Sunday only"
    );
    let refresh = runner.of(TaskName::ReportRefresh);
    assert_eq!(refresh.len(), 5 * 12);
    assert_eq!(refresh[0], wib(2026, 11, 30, 22, 5));
    assert_eq!(runner.of(TaskName::StreamHealth).len(), 5 * 60);
}

#[tokio::test(start_paused = true)]
async fn after_a_three_hour_outage_missed_calendar_slots_run_once_each() {
    let start = wib(2026, 11, 30, 23, 0);
    let (store, runner) = (
        Arc::new(MemorySlots::default()),
        Arc::new(Recorder::default()),
    );
    let first = scheduler(&store, &runner, "a", start).await;
    let clock = TokioClock::starting_at(start);
    let task = tokio::spawn(first.run(Arc::new(clock)));
    tokio::time::sleep(Duration::from_secs(30 * 60)).await; // until 23:30
    task.abort();
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await; // down until 02:30
    runner.runs.lock().unwrap().clear();

    let second = scheduler(&store, &runner, "a", clock.now()).await;
    let ran = second.run_due(clock.now()).await;

    let mut tasks: Vec<TaskName> = ran.iter().map(|(t, _)| *t).collect();
    tasks.sort();
    assert_eq!(
        tasks,
        [
            TaskName::ReportRefresh,
            TaskName::DailyReports,
            TaskName::LogAggregation,
            TaskName::FileCleanup,
            TaskName::MonthlyReports,
            TaskName::StreamHealth,
        ],
        "each missed calendar slot once; interval tasks once for the whole gap"
    );
    assert_eq!(
        runner.of(TaskName::ReportRefresh),
        [wib(2026, 12, 1, 2, 30)]
    );
    let again = second.run_due(clock.now()).await;
    assert!(again.is_empty(), "nothing runs twice: {again:?}");
}

#[tokio::test(start_paused = true)]
async fn a_slot_whose_jobs_could_not_be_enqueued_is_tried_again() {
    let start = wib(2026, 12, 1, 0, 59);
    let (store, runner) = (
        Arc::new(MemorySlots::default()),
        Arc::new(Recorder::default()),
    );
    let s = scheduler(&store, &runner, "a", start).await;
    *runner.fail_first.lock().unwrap() = 1;
    let at = wib(2026, 12, 1, 1, 0);

    s.run_due(at).await; // the refresh slot at 01:00 fails first, then the others run
    let retried = s.run_due(at + jiff::SignedDuration::from_secs(5)).await;

    assert!(
        retried.contains(&(TaskName::ReportRefresh, at)),
        "{retried:?}"
    );
    assert_eq!(runner.of(TaskName::DailyReports), [at]);
}
