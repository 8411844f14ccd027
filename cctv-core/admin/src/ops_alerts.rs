//! Operational alerts that reach people: when a queue backs up (pending jobs above
//! `queue_alert_threshold`) or failed jobs pile up (above `failed_alert_threshold`), every
//! admin who opted in (`users.queue_alerts`, with a `phone`) gets one message through the
//! configured notifier channels, and one more when it recovers.
//!
//! - **Once per episode, cluster-wide.** An episode is a row of `ops_alert_episodes`. While
//!   it lasts its `open_alert` column holds the alert's name under a unique index, so when
//!   several nodes see the same backlog only the one whose insert succeeds opens it; the
//!   close is a conditional update, so only one node closes it. Only the node that opened
//!   (or closed) an episode enqueues the message.
//! - **Sent as a job** on the maintenance queue (`ops_alert`, retried on its schedule), not
//!   on the notifications queue, which may be the very queue that is backed up. Who already
//!   got a message is kept in the row (`notified`), so a retry skips them.
//! - A node that starts while an episode is open and the queue has recovered closes it on
//!   its first sample, so a recovery that happened while no node watched is still told.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::AdminCore;
use crate::manage::tables::USERS;
use crate::notify::OutboundMessage;
use cctv_core::Core;
use cctv_core::jobs::JobFailure;
use cctv_core::jobs::{NewJob, Queue};
use cctv_core::records::ColumnType::{Json, Text, Timestamp as Ts};
use cctv_core::records::{Filter, ListQuery, Order, Record, Table, WriteOp, by_id, col};
use cctv_core::storage::StorageError;

/// The episodes table.
pub(crate) static EPISODES: Table = Table {
    name: "ops_alert_episodes",
    columns: &[
        col("alert", Text),
        col("open_alert", Text),
        col("detail", Text),
        col("recovered_detail", Text),
        col("opened_at", Ts),
        col("closed_at", Ts),
        col("notified", Json),
    ],
    search: &[],
};

/// The maintenance job that sends an episode's message.
pub const JOB_KIND: &str = "ops_alert";

/// Default of `failed_alert_threshold`: failed jobs of one queue above which people are told.
pub(crate) const DEFAULT_FAILED_THRESHOLD: u64 = 100;

/// An alert that began or ended, as a monitor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertChange {
    /// Stable name, e.g. `queue:notifications` or `failed:images`.
    pub alert: String,
    /// What a person reads, e.g. `queue notifications has 12000 pending jobs (alert above 10000)`.
    pub detail: String,
    pub began: bool,
}

/// Opens (`began`) or closes the episode of `change` for the whole cluster. When this call
/// is the one that did it, enqueues the message and returns the episode's id; `None` when
/// another node already had it (or there was nothing open to close).
pub async fn record(
    core: &Core,
    change: &AlertChange,
    now: Timestamp,
) -> Result<Option<i64>, StorageError> {
    let store = core.storage();
    let episode = if change.began {
        let record = fields([
            ("alert", Value::from(change.alert.as_str())),
            ("open_alert", Value::from(change.alert.as_str())),
            ("detail", Value::from(change.detail.as_str())),
            ("opened_at", Value::from(now.to_string())),
            ("notified", json!([])),
        ]);
        let insert = WriteOp::Insert {
            table: &EPISODES,
            record,
            link: None,
        };
        match store.apply(&[insert]).await {
            Ok(ids) => ids.first().copied(),
            Err(StorageError::Conflict(_)) => None,
            Err(e) => return Err(e),
        }
    } else {
        let open = [Filter::Eq("open_alert", Value::from(change.alert.as_str()))];
        let Some(row) = store.find_record(&EPISODES, &open).await? else {
            return Ok(None);
        };
        let id = row.get("id").and_then(Value::as_i64).unwrap_or_default();
        let changes = fields([
            ("open_alert", Value::Null),
            ("closed_at", Value::from(now.to_string())),
            ("recovered_detail", Value::from(change.detail.as_str())),
        ]);
        let mut filters = by_id(id);
        filters.extend(open);
        let update = WriteOp::Update {
            table: &EPISODES,
            changes,
            filters,
        };
        let affected = store.apply(&[update]).await?;
        (affected.first() == Some(&1)).then_some(id)
    };
    if let Some(id) = episode {
        tracing::warn!(alert = %change.alert, detail = %change.detail, began = change.began, episode = id, "operational alert: telling the admins who opted in");
        store
            .enqueue(&[NewJob::new(
                Queue::Maintenance,
                JOB_KIND,
                json!({"episode": id, "recovered": !change.began}),
                now,
            )])
            .await?;
    }
    Ok(episode)
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Record {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The phones of active admins who opted in.
async fn recipients(core: &Core) -> Result<Vec<String>, StorageError> {
    let query = ListQuery {
        filters: vec![
            Filter::Eq("role", Value::from("admin")),
            Filter::Eq("status", Value::from("active")),
            Filter::Eq("queue_alerts", Value::Bool(true)),
            Filter::NotNull("phone"),
        ],
        order: Order {
            column: "id",
            descending: false,
        },
        page: 1,
        per_page: 1000,
    };
    let (rows, _) = core.storage().list_records(&USERS, &query).await?;
    let mut phones: Vec<String> = rows
        .iter()
        .filter_map(|r| r.get("phone").and_then(Value::as_str))
        .filter(|p| !p.trim().is_empty())
        .map(str::to_owned)
        .collect();
    phones.dedup();
    Ok(phones)
}

fn text_of(row: &Record, column: &str) -> String {
    row.get(column)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The message of an episode's phase.
pub(crate) fn message(core: &Core, row: &Record, recovered: bool) -> String {
    let at = |column: &str| -> Option<Timestamp> { text_of(row, column).parse().ok() };
    let local = |t: Timestamp| {
        t.to_zoned_datetime(core.timezone().clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    match (recovered, at("opened_at"), at("closed_at")) {
        (false, opened, _) => format!(
            "cctv alert: {} (since {}). You get one more message when it recovers.",
            text_of(row, "detail"),
            opened.map(local).unwrap_or_default()
        ),
        (true, Some(opened), Some(closed)) => format!(
            "cctv recovered: {} at {}; the alert lasted {} min.",
            text_of(row, "recovered_detail"),
            local(closed),
            closed.duration_since(opened).as_mins().max(0)
        ),
        (true, _, _) => format!("cctv recovered: {}.", text_of(row, "recovered_detail")),
    }
}

/// Runs an `ops_alert` job: the episode's message to every opted-in admin on every
/// channel, skipping those already told.
pub(crate) async fn send(core: &Core, payload: &Value) -> Result<Value, JobFailure> {
    let retry = |e: StorageError| JobFailure::Retry(e.to_string());
    let (Some(id), Some(recovered)) = (
        payload.get("episode").and_then(Value::as_i64),
        payload.get("recovered").and_then(Value::as_bool),
    ) else {
        return Err(JobFailure::Permanent(
            "ops_alert payload without episode".into(),
        ));
    };
    let store = core.storage();
    let Some(row) = store
        .find_record(&EPISODES, &by_id(id))
        .await
        .map_err(retry)?
    else {
        return Ok(json!({"skipped": "episode not found"}));
    };
    let phones = recipients(core).await.map_err(retry)?;
    let channels = crate::notify::send::channels(core.notifiers());
    if phones.is_empty() || channels.is_empty() {
        tracing::warn!(
            episode = id,
            "operational alert not sent: no admin opted in with a phone, or no notification channel"
        );
        return Ok(json!({"skipped": "no opted-in admin with a phone, or no channel"}));
    }
    let text = message(core, &row, recovered);
    let phase = if recovered { "recovered" } else { "opened" };
    let mut notified: Vec<Value> = row
        .get("notified")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (mut sent, mut transient) = (0u64, Vec::new());
    for phone in &phones {
        for (channel, notifier) in &channels {
            let key = format!("{phase}:{channel}:{phone}");
            if notified.iter().any(|n| n.as_str() == Some(key.as_str())) {
                continue;
            }
            let message = OutboundMessage::new(
                phone.clone(),
                text.clone(),
                format!("ops-{id}-{phase}:{phone}:{channel}"),
            );
            match notifier.send(&message).await {
                Ok(_) => sent += 1,
                Err(e) if e.is_retryable() => {
                    transient.push(format!("{channel} to {phone}: {e}"));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(episode = id, %channel, error = %e, "operational alert refused by the provider; not retried")
                }
            }
            notified.push(Value::from(key));
            let update = WriteOp::Update {
                table: &EPISODES,
                changes: fields([("notified", Value::Array(notified.clone()))]),
                filters: by_id(id),
            };
            store.apply(&[update]).await.map_err(retry)?;
        }
    }
    if let Some(first) = transient.first() {
        return Err(JobFailure::Retry(format!(
            "{first} ({} send(s) to retry)",
            transient.len()
        )));
    }
    Ok(json!({"sent": sent, "recipients": phones.len()}))
}
