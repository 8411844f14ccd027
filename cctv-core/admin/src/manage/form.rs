//! Reading and validating a JSON request body field by field. Every rule failure is
//! collected (so a form shows all its errors at once) under the field's name.

use serde_json::{Map, Value};

use cctv_core::records::Record;
use cctv_core::validation::ValidationErrors;

/// A request body being validated into a [`Record`] of column values.
pub(crate) struct Form<'a> {
    body: &'a Map<String, Value>,
    /// Update: absent fields are left alone and "required" only means "not empty".
    partial: bool,
    pub errors: ValidationErrors,
    pub record: Record,
}

impl<'a> Form<'a> {
    pub(crate) fn new(body: &'a Map<String, Value>, partial: bool) -> Self {
        Self {
            body,
            partial,
            errors: ValidationErrors::new(),
            record: Record::new(),
        }
    }

    /// The raw value, `None` when absent.
    pub(crate) fn raw(&self, field: &str) -> Option<&'a Value> {
        self.body.get(field)
    }

    pub(crate) fn present(&self, field: &str) -> bool {
        self.body.contains_key(field)
    }

    fn absent_ok(&mut self, field: &str, required: bool) -> bool {
        if self.present(field) && !self.body[field].is_null() {
            return false;
        }
        if required && (!self.partial || self.present(field)) {
            self.errors
                .add(field, format!("The {field} field is required."));
        } else if self.present(field) && !required {
            self.record.insert(field.to_owned(), Value::Null);
        }
        true
    }

    /// A trimmed string of 1..=max characters (an empty string counts as absent).
    pub(crate) fn text(&mut self, field: &str, required: bool, max: usize) -> Option<String> {
        let value = match self.body.get(field) {
            Some(Value::String(s)) if s.trim().is_empty() => Some(&Value::Null),
            other => other,
        };
        if value.is_none_or(Value::is_null) {
            if required && (!self.partial || self.present(field)) {
                self.errors
                    .add(field, format!("The {field} field is required."));
            } else if self.present(field) && !required {
                self.record.insert(field.to_owned(), Value::Null);
            }
            return None;
        }
        let Some(s) = value.and_then(Value::as_str).map(str::trim) else {
            self.errors
                .add(field, format!("The {field} must be a string."));
            return None;
        };
        if s.chars().count() > max {
            self.errors.add(
                field,
                format!("The {field} may not be greater than {max} characters."),
            );
            return None;
        }
        if s.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            self.errors
                .add(field, format!("The {field} contains control characters."));
            return None;
        }
        self.record.insert(field.to_owned(), Value::from(s));
        Some(s.to_owned())
    }

    /// A code: letters, digits, `_`, `-`, `.` only (no spaces).
    pub(crate) fn code(&mut self, field: &str, required: bool, max: usize) -> Option<String> {
        let s = self.text(field, required, max)?;
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            Some(s)
        } else {
            self.record.remove(field);
            self.errors.add(
                field,
                format!("The {field} may only contain letters, digits, '_', '-' and '.'."),
            );
            None
        }
    }

    pub(crate) fn one_of(
        &mut self,
        field: &str,
        required: bool,
        allowed: &[&str],
    ) -> Option<String> {
        let s = self.text(field, required, 64)?;
        if allowed.contains(&s.as_str()) {
            Some(s)
        } else {
            self.record.remove(field);
            self.errors.add(
                field,
                format!(
                    "The selected {field} is invalid (one of: {}).",
                    allowed.join(", ")
                ),
            );
            None
        }
    }

    pub(crate) fn email(&mut self, field: &str, required: bool) -> Option<String> {
        let s = self.text(field, required, 255)?.to_lowercase();
        let valid = s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        });
        if valid {
            self.record.insert(field.to_owned(), Value::from(s.clone()));
            Some(s)
        } else {
            self.record.remove(field);
            self.errors
                .add(field, format!("The {field} must be a valid email address."));
            None
        }
    }

    /// An integer in `min..=max` (JSON number or numeric string).
    pub(crate) fn int(&mut self, field: &str, required: bool, min: i64, max: i64) -> Option<i64> {
        if self.absent_ok(field, required) {
            return None;
        }
        let value = &self.body[field];
        let parsed = value
            .as_i64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
        match parsed {
            Some(i) if (min..=max).contains(&i) => {
                self.record.insert(field.to_owned(), Value::from(i));
                Some(i)
            }
            Some(_) => {
                self.errors.add(
                    field,
                    format!("The {field} must be between {min} and {max}."),
                );
                None
            }
            None => {
                self.errors
                    .add(field, format!("The {field} must be an integer."));
                None
            }
        }
    }

    pub(crate) fn float(&mut self, field: &str, required: bool, min: f64, max: f64) -> Option<f64> {
        if self.absent_ok(field, required) {
            return None;
        }
        let value = &self.body[field];
        let parsed = value
            .as_f64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|f: &f64| f.is_finite());
        match parsed {
            Some(f) if (min..=max).contains(&f) => {
                self.record.insert(field.to_owned(), Value::from(f));
                Some(f)
            }
            Some(_) => {
                self.errors.add(
                    field,
                    format!("The {field} must be between {min} and {max}."),
                );
                None
            }
            None => {
                self.errors
                    .add(field, format!("The {field} must be a number."));
                None
            }
        }
    }

    /// A boolean (`true`/`false`, `1`/`0`, `"true"`/`"false"`, `"on"`).
    pub(crate) fn boolean(&mut self, field: &str) -> Option<bool> {
        if self.absent_ok(field, false) {
            self.record.remove(field);
            return None;
        }
        let b = match &self.body[field] {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "true" | "1" | "on" => Some(true),
                "false" | "0" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        match b {
            Some(b) => {
                self.record.insert(field.to_owned(), Value::Bool(b));
                Some(b)
            }
            None => {
                self.errors
                    .add(field, format!("The {field} field must be true or false."));
                None
            }
        }
    }

    /// A list of strings, from a JSON array or a comma-separated string.
    pub(crate) fn string_list(&mut self, field: &str, max_items: usize) -> Option<Vec<String>> {
        let value = self.body.get(field)?;
        let items: Option<Vec<String>> = match value {
            Value::Null => Some(Vec::new()),
            Value::String(s) => Some(
                s.split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
            ),
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(|s| s.trim().to_owned()))
                .collect(),
            _ => None,
        };
        match items {
            Some(items) if items.len() <= max_items => Some(items),
            Some(_) => {
                self.errors.add(
                    field,
                    format!("The {field} may not have more than {max_items} items."),
                );
                None
            }
            None => {
                self.errors
                    .add(field, format!("The {field} must be a list of strings."));
                None
            }
        }
    }

    /// A list of positive ids.
    pub(crate) fn id_list(&mut self, field: &str) -> Option<Vec<i64>> {
        let value = self.body.get(field)?;
        let ids: Option<Vec<i64>> = match value {
            Value::Null => Some(Vec::new()),
            Value::Array(a) => a.iter().map(|v| v.as_i64().filter(|i| *i > 0)).collect(),
            _ => None,
        };
        if ids.is_none() {
            self.errors
                .add(field, format!("The {field} must be a list of ids."));
        }
        ids
    }

    /// A timestamp (RFC 3339) or a date (end of that day, UTC).
    pub(crate) fn timestamp(&mut self, field: &str) -> Option<jiff::Timestamp> {
        if self.absent_ok(field, false) {
            return None;
        }
        let s = self.body[field].as_str().unwrap_or_default();
        let parsed = s.parse::<jiff::Timestamp>().ok().or_else(|| {
            s.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|d| {
                    d.at(23, 59, 59, 0)
                        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                        .ok()
                })
                .map(|z| z.timestamp())
        });
        match parsed {
            Some(t) => {
                self.record
                    .insert(field.to_owned(), Value::from(t.to_string()));
                Some(t)
            }
            None => {
                self.errors.add(
                    field,
                    format!("The {field} must be a date (YYYY-MM-DD) or an RFC 3339 time."),
                );
                None
            }
        }
    }

    /// Refuses fields that are not part of the resource (so typos are not silently ignored).
    pub(crate) fn only(&mut self, allowed: &[&str]) {
        for key in self.body.keys() {
            if !allowed.contains(&key.as_str()) {
                self.errors
                    .add(key, format!("The {key} field is not allowed here."));
            }
        }
    }

    pub(crate) fn finish(self) -> Result<Record, ValidationErrors> {
        self.errors.into_result(self.record)
    }
}
