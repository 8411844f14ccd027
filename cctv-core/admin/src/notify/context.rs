//! Everything one notification needs: the event, its branch, device and person-day, and
//! who gets what — read through the generic [`RecordStore`].
//!
//! Settings are read when the job runs, not when the detection was processed, so turning
//! a device's notifications off also stops the messages already queued for it.
//!
//! Who gets what (`resolve_plan_with`):
//! - the (branch, device) row of `branch_event_settings` must exist and be `is_active`;
//! - WhatsApp, when `whatsapp_enabled`: recipients are its `whatsapp_numbers`, or, when
//!   that list is empty, the `phone_numbers` of the active default `whatsapp_settings` row;
//!   the template likewise falls back to the default row's, then to `DEFAULT_TEMPLATE`;
//!   `send_message` sends the rendered text; `send_image` attaches the event image when the
//!   event has one (the text becomes its caption). With neither, no WhatsApp message;
//! - event webhooks, when `webhook_enabled`: every endpoint of `webhooks` gets the event
//!   once (see [`super::webhook`]), whatever the WhatsApp part decided;
//! - with neither part left there is nothing to send.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::webhook::{WebhookEndpoint, endpoints};
use crate::access::SecretBox;
use crate::manage::tables::{EVENT_SETTINGS, PERSON_DAYS, WHATSAPP_SETTINGS};
use crate::template::TemplateVars;
use cctv_core::records::ColumnType::{Bool, Date as DateCol, Int, Text, Timestamp as Ts};
use cctv_core::records::tables::{BRANCHES, DEVICES};
use cctv_core::records::{Filter, Record, RecordStore, Table, by_id, col};
use cctv_core::storage::StorageError;

/// The event log, as far as notifications read and flag it.
pub static EVENT_LOGS: Table = Table {
    name: "event_logs",
    columns: &[
        col("branch_id", Int),
        col("device_id", Text),
        col("re_id", Text),
        col("detected_count", Int),
        col("image_path", Text),
        col("image_sent", Bool),
        col("message_sent", Bool),
        col("notification_sent", Bool),
        col("event_timestamp", Ts),
        col("event_date", DateCol),
        col("event_type", Text),
    ],
    search: &[],
};

/// Used when neither the device's settings nor the default WhatsApp settings have a template.
pub(crate) const DEFAULT_TEMPLATE: &str = "{person_name} ({re_id}) detected at {branch_name} / {device_name} \
on {timestamp}: {detected_count} person(s), {total_actual_count} today.";

/// Why a notification job has nothing to send (the job completes with this as result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    EventMissing,
    /// No settings row, or it is inactive, or has both WhatsApp and webhooks off.
    Disabled,
    NoRecipients,
    /// Neither `send_message` nor (`send_image` with an image).
    NothingToSend,
}

impl Skip {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::EventMissing => "event_missing",
            Self::Disabled => "disabled",
            Self::NoRecipients => "no_recipients",
            Self::NothingToSend => "nothing_to_send",
        }
    }
}

/// Who gets what for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendPlan {
    pub recipients: Vec<String>,
    pub template: String,
    pub send_message: bool,
    /// Attach `image_path` (set only when `send_image` is on and the event has an image).
    pub image_path: Option<String>,
    /// Event webhook endpoints, each sent the event once (empty when webhooks are off).
    pub webhooks: Vec<WebhookEndpoint>,
}

/// One event, ready to notify about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventContext {
    pub event_log_id: i64,
    pub branch_id: i64,
    pub device_id: String,
    pub re_id: Option<String>,
    pub event_at: Timestamp,
    /// The event's image (store-relative), whether or not the plan attaches it.
    pub image_path: Option<String>,
    pub vars: TemplateVars,
    pub plan: SendPlan,
}

fn text<'a>(r: &'a Record, c: &str) -> Option<&'a str> {
    r.get(c)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn int(r: &Record, c: &str) -> Option<i64> {
    r.get(c).and_then(Value::as_i64)
}

fn flag(r: &Record, c: &str) -> bool {
    r.get(c).and_then(Value::as_bool).unwrap_or(false)
}

fn strings(r: &Record, c: &str) -> Vec<String> {
    r.get(c)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `resolve_plan_with` for settings without webhooks.
#[cfg(test)]
pub(crate) fn resolve_plan(
    settings: Option<&Record>,
    default: Option<&Record>,
    image_path: Option<&str>,
) -> Result<SendPlan, Skip> {
    resolve_plan_with(settings, default, image_path, Vec::new())
}

/// Pure: the plan from the device's settings row, the default WhatsApp settings row, the
/// event's image path and the row's decrypted webhook endpoints (see the module docs).
pub(crate) fn resolve_plan_with(
    settings: Option<&Record>,
    default: Option<&Record>,
    image_path: Option<&str>,
    webhooks: Vec<WebhookEndpoint>,
) -> Result<SendPlan, Skip> {
    let s = settings.ok_or(Skip::Disabled)?;
    let webhooks = if flag(s, "webhook_enabled") {
        webhooks
    } else {
        Vec::new()
    };
    if !flag(s, "is_active") || (!flag(s, "whatsapp_enabled") && webhooks.is_empty()) {
        return Err(Skip::Disabled);
    }
    let default = default.filter(|d| flag(d, "is_active"));
    let mut recipients = Vec::new();
    if flag(s, "whatsapp_enabled") {
        recipients = strings(s, "whatsapp_numbers");
        if recipients.is_empty() {
            recipients = default
                .map(|d| strings(d, "phone_numbers"))
                .unwrap_or_default();
        }
        recipients.dedup();
    }
    if recipients.is_empty() && webhooks.is_empty() {
        return Err(Skip::NoRecipients);
    }
    let template = text(s, "message_template")
        .or_else(|| default.and_then(|d| text(d, "message_template")))
        .unwrap_or(DEFAULT_TEMPLATE)
        .to_owned();
    let send_message = flag(s, "send_message");
    let image_path = image_path
        .filter(|p| flag(s, "send_image") && !p.is_empty())
        .map(str::to_owned);
    if !send_message && image_path.is_none() {
        if webhooks.is_empty() {
            return Err(Skip::NothingToSend);
        }
        recipients.clear();
    }
    Ok(SendPlan {
        recipients,
        template,
        send_message,
        image_path,
        webhooks,
    })
}

/// Loads the event and everything around it; `Err(Skip)` when there is nothing to send.
pub(crate) async fn load_context(
    store: &dyn RecordStore,
    tz: &TimeZone,
    secrets: &SecretBox,
    event_log_id: i64,
) -> Result<Result<EventContext, Skip>, StorageError> {
    let Some(event) = store.find_record(&EVENT_LOGS, &by_id(event_log_id)).await? else {
        return Ok(Err(Skip::EventMissing));
    };
    let branch_id = int(&event, "branch_id").unwrap_or_default();
    let device_id = text(&event, "device_id").unwrap_or_default().to_owned();
    let settings = store
        .find_record(
            &EVENT_SETTINGS,
            &[
                Filter::Eq("branch_id", Value::from(branch_id)),
                Filter::Eq("device_id", Value::from(device_id.as_str())),
            ],
        )
        .await?;
    let default = store
        .find_record(
            &WHATSAPP_SETTINGS,
            &[Filter::Eq("is_default", Value::Bool(true))],
        )
        .await?;
    let webhooks = settings
        .as_ref()
        .map(|s| endpoints(s.get("webhooks"), secrets))
        .unwrap_or_default();
    let image_path = text(&event, "image_path");
    let plan = match resolve_plan_with(settings.as_ref(), default.as_ref(), image_path, webhooks) {
        Ok(plan) => plan,
        Err(skip) => return Ok(Err(skip)),
    };
    let branch = store.find_record(&BRANCHES, &by_id(branch_id)).await?;
    let device = store
        .find_record(
            &DEVICES,
            &[Filter::Eq("device_id", Value::from(device_id.as_str()))],
        )
        .await?;
    let re_id = text(&event, "re_id").map(str::to_owned);
    let day: Option<Date> = text(&event, "event_date").and_then(|d| d.parse().ok());
    let person = match (&re_id, day) {
        (Some(re_id), Some(day)) => {
            store
                .find_record(
                    &PERSON_DAYS,
                    &[
                        Filter::Eq("re_id", Value::from(re_id.as_str())),
                        Filter::Eq("detection_date", Value::from(day.to_string())),
                    ],
                )
                .await?
        }
        _ => None,
    };
    let event_at: Timestamp = text(&event, "event_timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let vars = TemplateVars {
        branch_name: branch
            .as_ref()
            .and_then(|b| text(b, "branch_name"))
            .unwrap_or("Unknown")
            .into(),
        branch_code: branch
            .as_ref()
            .and_then(|b| text(b, "branch_code"))
            .unwrap_or_default()
            .into(),
        device_name: device
            .as_ref()
            .and_then(|d| text(d, "device_name"))
            .unwrap_or("Unknown")
            .into(),
        device_id: device_id.clone(),
        re_id: re_id.clone().unwrap_or_default(),
        person_name: person
            .as_ref()
            .and_then(|p| text(p, "person_name"))
            .unwrap_or("Unknown Person")
            .into(),
        detected_count: int(&event, "detected_count").unwrap_or_default(),
        status: text(&event, "event_type").unwrap_or("detection").into(),
        total_actual_count: person
            .as_ref()
            .and_then(|p| int(p, "total_actual_count"))
            .unwrap_or_default(),
        total_detection_branch_count: person
            .as_ref()
            .and_then(|p| int(p, "total_detection_branch_count"))
            .unwrap_or_default(),
        ..TemplateVars::default()
    }
    .with_time(&event_at.to_zoned_datetime(tz.clone()));
    Ok(Ok(EventContext {
        event_log_id,
        branch_id,
        device_id,
        re_id,
        event_at,
        image_path: image_path.map(str::to_owned),
        vars,
        plan,
    }))
}
