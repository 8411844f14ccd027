//! Query-string parameters, validated into the 422 envelope.

use cctv_core::query::{MAX_PER_PAGE, PageRequest};
use cctv_core::validation::ValidationErrors;
use jiff::civil::Date;
use salvo::Request;

use crate::envelope::ApiError;

fn raw<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.queries()
        .get(name)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

/// Collects errors of several parameters before failing.
#[derive(Default)]
pub struct Params {
    errors: ValidationErrors,
}

impl Params {
    pub fn date(&mut self, req: &Request, name: &str) -> Option<Date> {
        let value = raw(req, name)?;
        match value.parse::<Date>() {
            Ok(d) if value.len() == 10 => Some(d),
            _ => {
                self.errors.add(
                    name,
                    format!("The {name} must be a date in YYYY-MM-DD format"),
                );
                None
            }
        }
    }

    pub fn int(&mut self, req: &Request, name: &str) -> Option<i64> {
        let value = raw(req, name)?;
        match value.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.errors
                    .add(name, format!("The {name} must be a positive integer"));
                None
            }
        }
    }

    pub fn text(&mut self, req: &Request, name: &str, max_chars: usize) -> Option<String> {
        let value = raw(req, name)?;
        if value.chars().count() > max_chars {
            self.errors.add(
                name,
                format!("The {name} must not exceed {max_chars} characters"),
            );
            return None;
        }
        Some(value.to_owned())
    }

    /// `page` (default 1) and `per_page` (default `default`, at most 100: larger values
    /// are served as 100, so old clients asking for more keep working).
    pub fn page(&mut self, req: &Request, default: u32) -> PageRequest {
        let page = self.int(req, "page").unwrap_or(1);
        let per_page = self.int(req, "per_page").unwrap_or(i64::from(default));
        // Lenient like the original: out-of-range values are brought into range.
        PageRequest::new(
            u32::try_from(page.max(1)).unwrap_or(u32::MAX),
            per_page.clamp(1, i64::from(MAX_PER_PAGE)) as u32,
        )
    }

    /// A range of days from the dates `from` and `to` (inclusive, at most a year and a day;
    /// default: the 30 days ending `today`). Errors are recorded under `from`.
    pub fn day_range(
        &mut self,
        req: &Request,
        (from, to): (&str, &str),
        today: Date,
    ) -> Option<cctv_admin::usage::DayRange> {
        let end = self.date(req, to);
        let start = self.date(req, from);
        let end = end.unwrap_or(today);
        let start =
            start.unwrap_or_else(|| end.checked_sub(jiff::Span::new().days(29)).unwrap_or(end));
        if start > end {
            self.add(from, format!("{from} must not be after {to}"));
            return None;
        }
        cctv_admin::usage::DayRange::new(start, end)
            .map_err(|m| self.add(from, m))
            .ok()
    }

    /// Records an error found by the caller's own check.
    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        self.errors.add(name, message.into());
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}
