//! Progress of long commands (backfill, exports, import, bench) on stderr, so stdout keeps
//! only the result. On a terminal it is a bar (`indicatif`); anywhere else (a pipe, a CI
//! log, cron) a plain line at most every [`PLAIN_EVERY`] and one at the end, because a
//! redrawn bar is unreadable in a log file.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the plain form prints a line.
pub const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// One long piece of work: `inc` as it goes, `finish` at the end.
pub struct Progress {
    inner: Inner,
    unit: &'static str,
}

enum Inner {
    Bar(ProgressBar),
    Plain(Mutex<Plain>),
    Hidden,
}

struct Plain {
    label: String,
    unit: &'static str,
    total: Option<u64>,
    done: u64,
    message: String,
    started: Instant,
    printed: Instant,
}

impl Plain {
    fn line(&self) -> String {
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let of = match self.total {
            Some(total) => {
                let percent = (self.done * 100).checked_div(total).unwrap_or(100);
                format!("{}/{total} {} ({percent}%)", self.done, self.unit)
            }
            None => format!("{} {}", self.done, self.unit),
        };
        let message = if self.message.is_empty() {
            String::new()
        } else {
            format!(", {}", self.message)
        };
        format!("{}: {of}, {rate:.0}/s{message}", self.label)
    }
}

impl Progress {
    /// `total`: the amount of work when known (a bar), else a running count.
    /// `unit`: what is counted, plural (`reports`, `rows`).
    pub fn new(label: &str, total: Option<u64>, unit: &'static str) -> Self {
        Self::to(std::io::stderr().is_terminal(), label, total, unit)
    }

    /// Shows nothing (`--json` output, quiet runs).
    pub fn hidden() -> Self {
        Self {
            inner: Inner::Hidden,
            unit: "",
        }
    }

    /// [`Self::new`] with the choice made by the caller: a bar or plain lines.
    pub fn to(terminal: bool, label: &str, total: Option<u64>, unit: &'static str) -> Self {
        if !terminal {
            let now = Instant::now();
            return Self {
                unit,
                inner: Inner::Plain(Mutex::new(Plain {
                    label: label.to_owned(),
                    unit,
                    total,
                    done: 0,
                    message: String::new(),
                    started: now,
                    printed: now,
                })),
            };
        }
        let template = match total {
            Some(_) => format!(
                "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{percent}}% eta {{eta}} {{msg}}"
            ),
            None => format!("{{spinner}} {{prefix}} {{pos}} {unit} in {{elapsed}} {{msg}}"),
        };
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        bar.set_style(style);
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Self {
            inner: Inner::Bar(bar),
            unit,
        }
    }

    /// `n` more done.
    pub fn inc(&self, n: u64) {
        match &self.inner {
            Inner::Bar(bar) => bar.inc(n),
            Inner::Plain(plain) => {
                let mut p = plain.lock().unwrap_or_else(|e| e.into_inner());
                p.done += n;
                if p.printed.elapsed() >= PLAIN_EVERY {
                    p.printed = Instant::now();
                    let line = p.line();
                    drop(p);
                    eprintln!("{line}");
                }
            }
            Inner::Hidden => {}
        }
    }

    /// A short note after the numbers (the date being built, the current rate).
    pub fn message(&self, message: impl Into<String>) {
        match &self.inner {
            Inner::Bar(bar) => bar.set_message(message.into()),
            Inner::Plain(plain) => {
                plain.lock().unwrap_or_else(|e| e.into_inner()).message = message.into();
            }
            Inner::Hidden => {}
        }
    }

    /// Ends the display: the bar is replaced by its summary line (what the plain form
    /// prints last, too).
    pub fn finish(&self) {
        match &self.inner {
            Inner::Bar(bar) => {
                bar.finish_and_clear();
                let (done, total, elapsed) = (bar.position(), bar.length(), bar.elapsed());
                let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
                let of = match total {
                    Some(total) => format!("{done}/{total}"),
                    None => done.to_string(),
                };
                eprintln!("{}: {of} {}, {rate:.0}/s", bar.prefix(), self.unit);
            }
            Inner::Plain(plain) => {
                let line = plain.lock().unwrap_or_else(|e| e.into_inner()).line();
                let mut stderr = std::io::stderr().lock();
                let _ = writeln!(stderr, "{line}");
            }
            Inner::Hidden => {}
        }
    }

    /// The plain line as it stands (tests).
    #[cfg(test)]
    fn plain_line(&self) -> Option<String> {
        match &self.inner {
            Inner::Plain(p) => Some(p.lock().unwrap().line()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_a_terminal_progress_is_a_plain_line_with_count_share_and_rate() {
        let p = Progress::to(false, "backfill", Some(40), "reports");
        p.inc(10);
        p.message("2026-12-01");
        let line = p.plain_line().unwrap();
        assert!(
            line.starts_with("backfill: 10/40 reports (25%), ") && line.ends_with("/s, 2026-12-01"),
            "{line}"
        );
        let open = Progress::to(false, "export", None, "rows");
        open.inc(7);
        assert!(open.plain_line().unwrap().starts_with("export: 7 rows, "));
        assert!(Progress::hidden().plain_line().is_none());
    }
}
