//! Notification templates: minijinja, plain text (no escaping), strict about variables.
//!
//! The original system's `{branch_name}` placeholders keep working: before compiling, each
//! `{token}` naming a known variable becomes `{{ token }}` (see [`convert_legacy_tokens`]).
//! That includes `{detection_time}` and `{status}`, which the original's seeded templates
//! use but the original never filled in. Unlike the original, a placeholder naming no
//! known variable (`{camera}`) or a minijinja variable that does not exist is an error
//! when the template is saved ([`validate_template`]) instead of a literal left in a
//! message.
//!
//! ```
//! use cctv_admin::template::{MessageTemplate, TemplateVars};
//!
//! let template = MessageTemplate::compile("{person_name} seen at {{ branch_name | upper }}")?;
//! let vars = TemplateVars { person_name: "Budi".into(), branch_name: "Jakarta".into(), ..Default::default() };
//! assert_eq!(template.render(&vars)?, "Budi seen at JAKARTA");
//! # Ok::<(), cctv_admin::template::TemplateError>(())
//! ```

mod legacy;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use cctv_core::validation::ValidationErrors;

pub use legacy::{convert_legacy_tokens, leftover_legacy_tokens};

/// The variables a notification message may use.
pub const VARIABLES: [&str; 14] = [
    "branch_name",
    "branch_code",
    "device_name",
    "device_id",
    "re_id",
    "person_name",
    "detected_count",
    "timestamp",
    "date",
    "time",
    "total_actual_count",
    "total_detection_branch_count",
    "detection_time",
    "status",
];

/// Values of [`VARIABLES`] for one detection event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVars {
    pub branch_name: String,
    pub branch_code: String,
    pub device_name: String,
    pub device_id: String,
    pub re_id: String,
    pub person_name: String,
    pub detected_count: i64,
    /// `YYYY-MM-DD HH:MM:SS` in the core's timezone.
    pub timestamp: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `HH:MM:SS`.
    pub time: String,
    pub total_actual_count: i64,
    pub total_detection_branch_count: i64,
    /// The detection's time, `YYYY-MM-DD HH:MM:SS` (as `timestamp`; the name the
    /// original's seeded templates use).
    pub detection_time: String,
    /// What happened: the event's type (`detection`, `alert`, `motion` or `manual`).
    pub status: String,
}

impl TemplateVars {
    /// Sets `timestamp`, `date` and `time` from one zoned time (formats of the original).
    pub fn with_time(mut self, at: &jiff::ZonedDateTime) -> Self {
        self.date = at.strftime("%Y-%m-%d").to_string();
        self.time = at.strftime("%H:%M:%S").to_string();
        self.timestamp = format!("{} {}", self.date, self.time);
        self.detection_time = self.timestamp.clone();
        self
    }

    /// Plausible values, used to try a template out when it is saved.
    pub fn sample() -> Self {
        Self {
            branch_name: "Jakarta Central".into(),
            branch_code: "JKT001".into(),
            device_name: "Entrance".into(),
            device_id: "CAM_JKT001_001".into(),
            re_id: "REID_0001".into(),
            person_name: "Unknown Person".into(),
            detected_count: 2,
            timestamp: "2026-01-31 08:15:00".into(),
            date: "2026-01-31".into(),
            time: "08:15:00".into(),
            total_actual_count: 5,
            total_detection_branch_count: 2,
            detection_time: "2026-01-31 08:15:00".into(),
            status: "detection".into(),
        }
    }
}

/// Why a template cannot be saved or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    #[error("template syntax error on line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("unknown variable(s): {}; available: {}", .names.join(", "), .available.join(", "))]
    UnknownVariables {
        names: Vec<String>,
        available: Vec<String>,
    },
    #[error("template cannot be rendered: {0}")]
    Render(String),
    /// The render ran out of its budget (instructions, output size or time).
    #[error("template exceeds its budget: {0}")]
    Budget(String),
}

impl TemplateError {
    /// The error as a field error of the 422 envelope.
    pub fn to_validation_errors(&self, field: &str) -> ValidationErrors {
        ValidationErrors::single(field, self.to_string())
    }

    fn from_minijinja(e: &minijinja::Error, syntax: bool) -> Self {
        let message = e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_owned);
        if e.kind() == minijinja::ErrorKind::OutOfFuel {
            return Self::Budget(format!(
                "it needs more than {FUEL} steps; simplify its loops (line {})",
                e.line().unwrap_or(1)
            ));
        }
        if syntax {
            Self::Syntax {
                line: e.line().unwrap_or(1),
                message,
            }
        } else {
            Self::Render(format!("{message} (line {})", e.line().unwrap_or(1)))
        }
    }
}

const NAME: &str = "message";

/// Budget of one render, in minijinja fuel (about one unit per instruction, and one per
/// byte of strings built): a message template that loops over `range(100000)` runs out
/// in milliseconds instead of holding a thread for minutes.
pub(crate) const FUEL: u64 = 50_000;
/// Longest rendered output, in bytes (WhatsApp caps a message at 4,096 characters).
pub(crate) const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Longest a render may take off the async runtime before it is given up.
pub(crate) const RENDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A compiled, checked template. Compile once, render many times.
pub struct MessageTemplate {
    env: Environment<'static>,
    source: String,
}

impl fmt::Debug for MessageTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MessageTemplate")
            .field(&self.source)
            .finish()
    }
}

impl MessageTemplate {
    /// Compiles a notification message template over [`VARIABLES`].
    pub fn compile(source: &str) -> Result<Self, TemplateError> {
        Self::compile_with(source, &VARIABLES)
    }

    /// Compiles a template whose variables are `available` (plugins add their own, e.g.
    /// `recipient`, `text`). Unknown variables and leftover `{token}`s are errors.
    pub fn compile_with(source: &str, available: &[&str]) -> Result<Self, TemplateError> {
        let converted = convert_legacy_tokens(source, available).into_owned();
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let syntax = SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| TemplateError::from_minijinja(&e, true))?;
        env.set_syntax(syntax);
        env.add_template_owned(NAME, converted)
            .map_err(|e| TemplateError::from_minijinja(&e, true))?;

        let template = env
            .get_template(NAME)
            .map_err(|e| TemplateError::from_minijinja(&e, true))?;
        let globals: HashSet<&str> = env.globals().map(|(name, _)| name).collect();
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !available.contains(&v.as_str()) && !globals.contains(v.as_str()))
            .collect();
        let leftovers = leftover_legacy_tokens(template.source());
        unknown.extend(leftovers.into_iter().map(|t| format!("{{{t}}}")));
        unknown.sort();
        unknown.dedup();
        if !unknown.is_empty() {
            return Err(TemplateError::UnknownVariables {
                names: unknown,
                available: available.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        Ok(Self {
            env,
            source: source.to_owned(),
        })
    }

    /// The template as it was written (before `{token}` conversion).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders with any serialisable context (a struct or a map of the variables).
    pub fn render<S: Serialize>(&self, context: &S) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| TemplateError::from_minijinja(&e, false))?;
        let out = template
            .render(Value::from(minijinja::value::Serde(context)))
            .map_err(|e| TemplateError::from_minijinja(&e, false))?;
        if out.len() > MAX_OUTPUT_BYTES {
            return Err(TemplateError::Budget(format!(
                "the message is {} bytes, more than {MAX_OUTPUT_BYTES}",
                out.len()
            )));
        }
        Ok(out)
    }

    /// Renders on a blocking thread with [`RENDER_TIMEOUT`], so that no template — even
    /// one within its fuel — holds an async worker. For user-supplied templates.
    pub(crate) async fn render_off_runtime<S: Serialize>(
        self: std::sync::Arc<Self>,
        context: &S,
    ) -> Result<String, TemplateError> {
        let context = serde_json::to_value(context)
            .map_err(|e| TemplateError::Render(format!("context: {e}")))?;
        let work = tokio::task::spawn_blocking(move || self.render(&context));
        match tokio::time::timeout(RENDER_TIMEOUT, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(TemplateError::Render(format!("render task failed: {e}"))),
            Err(_) => Err(TemplateError::Budget(format!(
                "rendering took longer than {} s",
                RENDER_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// Checks a message template when it is saved: syntax, variables, and a trial render with
/// [`TemplateVars::sample`] (catches unknown filters and type errors).
pub fn validate_template(source: &str) -> Result<(), TemplateError> {
    MessageTemplate::compile(source)?
        .render(&TemplateVars::sample())
        .map(drop)
}

/// [`validate_template`] off the async runtime (see [`MessageTemplate::render_off_runtime`]):
/// what saving a template through the API runs.
pub(crate) async fn validate_template_off_runtime(source: &str) -> Result<(), TemplateError> {
    std::sync::Arc::new(MessageTemplate::compile(source)?)
        .render_off_runtime(&TemplateVars::sample())
        .await
        .map(drop)
}

/// Compiles and renders in one go (for one-off messages; keep a [`MessageTemplate`] when
/// the same template is rendered repeatedly).
#[cfg(test)]
pub(crate) fn render_template(source: &str, vars: &TemplateVars) -> Result<String, TemplateError> {
    MessageTemplate::compile(source)?.render(vars)
}

/// Compiles and renders off the async runtime, bounded in time: for templates stored by
/// people (previews, notifications).
pub async fn render_template_off_runtime(
    source: &str,
    vars: &TemplateVars,
) -> Result<String, TemplateError> {
    std::sync::Arc::new(MessageTemplate::compile(source)?)
        .render_off_runtime(vars)
        .await
}
