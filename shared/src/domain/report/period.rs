//! The reporting period: a half-open UTC interval `[from, to)` of at most 366 days, how the report
//! function's payload resolves to one, and its file-name-safe label.
//!
//! Promise: every accepted period has `from < to`, and resolving a payload never reads the clock
//! (`now` is passed in); a payload that cannot be resolved gets an error naming the field and the
//! rule it broke.

use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, Duration, Month, OffsetDateTime};

use crate::domain::timestamp::Timestamp;

/// A period may span at most this many days (a leap year).
pub const MAX_PERIOD_DAYS: i64 = 366;

/// Why a period or a period request was refused. Each message names the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("`from` ({from}) must be before `to` ({to})")]
    NotBefore { from: Timestamp, to: Timestamp },
    #[error("the period from {from} to {to} is longer than {MAX_PERIOD_DAYS} days")]
    TooLong { from: Timestamp, to: Timestamp },
    #[error(
        "{given} were given together: give one period form, either `from` and `to`, `last_days` or `month`"
    )]
    Mixed { given: String },
    #[error("`{missing}` is required when `{given}` is given")]
    Incomplete {
        given: &'static str,
        missing: &'static str,
    },
    #[error("`{field}` {value:?} is not {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("`last_days` must be between 1 and {MAX_PERIOD_DAYS}, got {0}")]
    LastDays(u32),
    #[error("`{field}`: the period starts at {from}, after now ({now})")]
    InFuture {
        field: &'static str,
        from: Timestamp,
        now: Timestamp,
    },
    #[error("`{field}`: the period falls outside the years 0000 to 9999")]
    OutOfRange { field: &'static str },
}

impl PeriodError {
    /// The payload field the error is about (`from`, `to`, `last_days`, `month`), when one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            PeriodError::NotBefore { .. } | PeriodError::TooLong { .. } => Some("from"),
            PeriodError::Mixed { .. } => None,
            PeriodError::Incomplete { missing, .. } => Some(missing),
            PeriodError::Invalid { field, .. }
            | PeriodError::InFuture { field, .. }
            | PeriodError::OutOfRange { field } => Some(field),
            PeriodError::LastDays(_) => Some("last_days"),
        }
    }
}

/// `[from, to)`, UTC, `from < to`, at most [`MAX_PERIOD_DAYS`] days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    from: Timestamp,
    to: Timestamp,
}

impl Period {
    pub fn new(from: Timestamp, to: Timestamp) -> Result<Period, PeriodError> {
        if from >= to {
            return Err(PeriodError::NotBefore { from, to });
        }
        if to.as_datetime() - from.as_datetime() > Duration::days(MAX_PERIOD_DAYS) {
            return Err(PeriodError::TooLong { from, to });
        }
        Ok(Period { from, to })
    }

    /// The whole UTC days `[first, last]` (both inclusive).
    pub fn whole_days(first: Date, last: Date) -> Result<Period, PeriodError> {
        let field = "from";
        Period::new(
            midnight(first, field)?,
            midnight(next_day(last, "to")?, "to")?,
        )
    }

    pub fn from(&self) -> Timestamp {
        self.from
    }

    pub fn to(&self) -> Timestamp {
        self.to
    }

    /// `from <= t < to`.
    pub fn contains(&self, t: &Timestamp) -> bool {
        self.from <= *t && *t < self.to
    }

    /// Every UTC day the period overlaps, in order.
    pub fn days(&self) -> Vec<Date> {
        let first = self.from.as_datetime().date();
        // `to` is exclusive: the last instant inside is one microsecond before it.
        let last = (self.to.as_datetime() - Duration::microseconds(1)).date();
        let mut days = Vec::new();
        let mut day = Some(first);
        while let Some(current) = day.filter(|d| *d <= last) {
            days.push(current);
            day = current.next_day();
        }
        days
    }

    /// A file-name-safe label: `2026-11-27` for one whole day, `2026-11` for a whole calendar
    /// month, `2026-11-21_2026-11-27` for whole days (last day inclusive), otherwise the two
    /// instants as `20261121T000000Z_20261127T120000Z` (with six fraction digits before the `Z`
    /// when an instant is not a whole second).
    pub fn label(&self) -> String {
        let (from, to) = (self.from.as_datetime(), self.to.as_datetime());
        if is_midnight(from) && is_midnight(to) {
            let first = from.date();
            let last = (to - Duration::days(1)).date();
            if first == last {
                return iso_date(first);
            }
            if first.day() == 1 && first_of_next_month(first) == Some(to.date()) {
                return format!("{:04}-{:02}", first.year(), u8::from(first.month()));
            }
            return format!("{}_{}", iso_date(first), iso_date(last));
        }
        format!("{}_{}", compact(from), compact(to))
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut state = serializer.serialize_struct("Period", 3)?;
        state.serialize_field("from", &self.from)?;
        state.serialize_field("to", &self.to)?;
        state.serialize_field("label", &self.label())?;
        state.end()
    }
}

/// The report function's payload (all fields optional; unknown fields refused).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodRequest {
    pub from: Option<String>,
    pub to: Option<String>,
    pub last_days: Option<u32>,
    pub month: Option<String>,
}

impl PeriodRequest {
    /// `{}` → the previous UTC day. `{"from", "to"}`: RFC 3339 timestamps or `YYYY-MM-DD` dates
    /// (a `from` date starts at its midnight; a `to` date is inclusive: the period ends at the end
    /// of that day). `{"last_days": 7}` → the 7 whole UTC days before today. `{"month":
    /// "2026-10"}` → that calendar month. Mixing forms, `from` without `to` (or the reverse),
    /// `from >= to`, more than 366 days, or a period starting after `now` is refused.
    pub fn resolve(&self, now: Timestamp) -> Result<Period, PeriodError> {
        let today = now.as_datetime().date();
        let explicit = self.from.is_some() || self.to.is_some();
        let forms = [
            (explicit, "`from`/`to`"),
            (self.last_days.is_some(), "`last_days`"),
            (self.month.is_some(), "`month`"),
        ];
        let given: Vec<&str> = forms
            .iter()
            .filter(|(present, _)| *present)
            .map(|(_, name)| *name)
            .collect();
        if given.len() > 1 {
            return Err(PeriodError::Mixed {
                given: given.join(" and "),
            });
        }
        let (period, field) = if explicit {
            let (from, to) = match (&self.from, &self.to) {
                (Some(from), Some(to)) => (from, to),
                (Some(_), None) => {
                    return Err(PeriodError::Incomplete {
                        given: "from",
                        missing: "to",
                    });
                }
                _ => {
                    return Err(PeriodError::Incomplete {
                        given: "to",
                        missing: "from",
                    });
                }
            };
            let from = parse_bound(from, "from", false)?;
            let to = parse_bound(to, "to", true)?;
            (Period::new(from, to)?, "from")
        } else if let Some(days) = self.last_days {
            if days == 0 || i64::from(days) > MAX_PERIOD_DAYS {
                return Err(PeriodError::LastDays(days));
            }
            let first = today
                .checked_sub(Duration::days(i64::from(days)))
                .ok_or(PeriodError::OutOfRange { field: "last_days" })?;
            let period = Period::new(midnight(first, "last_days")?, midnight(today, "last_days")?)?;
            (period, "last_days")
        } else if let Some(month) = &self.month {
            let first = parse_month(month)?;
            let next =
                first_of_next_month(first).ok_or(PeriodError::OutOfRange { field: "month" })?;
            (
                Period::new(midnight(first, "month")?, midnight(next, "month")?)?,
                "month",
            )
        } else {
            let yesterday = today
                .previous_day()
                .ok_or(PeriodError::OutOfRange { field: "from" })?;
            (
                Period::new(midnight(yesterday, "from")?, midnight(today, "to")?)?,
                "from",
            )
        };
        if period.from() > now {
            return Err(PeriodError::InFuture {
                field,
                from: period.from(),
                now,
            });
        }
        Ok(period)
    }
}

/// `YYYY-MM-DD`.
pub fn iso_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn parse_bound(
    text: &str,
    field: &'static str,
    inclusive_end: bool,
) -> Result<Timestamp, PeriodError> {
    if text.len() == 10 {
        let date = Date::parse(text, format_description!("[year]-[month]-[day]"))
            .map_err(|_| invalid(field, text))?;
        let day = if inclusive_end {
            next_day(date, field)?
        } else {
            date
        };
        return midnight(day, field);
    }
    Timestamp::parse_rfc3339(text).map_err(|_| invalid(field, text))
}

fn invalid(field: &'static str, text: &str) -> PeriodError {
    PeriodError::Invalid {
        field,
        value: text.to_owned(),
        expected: "an RFC 3339 timestamp (2026-11-27T00:00:00Z) or a date (2026-11-27)",
    }
}

fn parse_month(text: &str) -> Result<Date, PeriodError> {
    let refuse = || PeriodError::Invalid {
        field: "month",
        value: text.to_owned(),
        expected: "a calendar month written YYYY-MM (e.g. 2026-10)",
    };
    let (year, month) = text.split_once('-').ok_or_else(refuse)?;
    if year.len() != 4
        || month.len() != 2
        || !year
            .bytes()
            .chain(month.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(refuse());
    }
    let year: i32 = year.parse().map_err(|_| refuse())?;
    let month: u8 = month.parse().map_err(|_| refuse())?;
    let month = Month::try_from(month).map_err(|_| refuse())?;
    Date::from_calendar_date(year, month, 1).map_err(|_| refuse())
}

fn midnight(date: Date, field: &'static str) -> Result<Timestamp, PeriodError> {
    Timestamp::from_datetime(date.midnight().assume_utc())
        .map_err(|_| PeriodError::OutOfRange { field })
}

fn next_day(date: Date, field: &'static str) -> Result<Date, PeriodError> {
    date.next_day().ok_or(PeriodError::OutOfRange { field })
}

fn first_of_next_month(date: Date) -> Option<Date> {
    let (year, month) = match date.month() {
        Month::December => (date.year().checked_add(1)?, Month::January),
        month => (date.year(), month.next()),
    };
    Date::from_calendar_date(year, month, 1).ok()
}

fn is_midnight(instant: OffsetDateTime) -> bool {
    instant.time() == time::Time::MIDNIGHT
}

fn compact(instant: OffsetDateTime) -> String {
    let base = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        instant.year(),
        u8::from(instant.month()),
        instant.day(),
        instant.hour(),
        instant.minute(),
        instant.second()
    );
    match instant.microsecond() {
        0 => format!("{base}Z"),
        micros => format!("{base}{micros:06}Z"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::timestamp;

    fn request(json: &str) -> PeriodRequest {
        serde_json::from_str(json).unwrap()
    }

    const NOW: &str = "2026-11-28T09:30:00Z";

    #[test]
    fn resolution_table() {
        let check = |json: &str, from: &str, to: &str, label: &str| {
            let period = request(json).resolve(timestamp(NOW)).unwrap();
            assert_eq!(
                (period.from(), period.to()),
                (timestamp(from), timestamp(to)),
                "{json}"
            );
            assert_eq!(period.label(), label, "{json}");
        };
        check(
            "{}",
            "2026-11-27T00:00:00Z",
            "2026-11-28T00:00:00Z",
            "2026-11-27",
        );
        check(
            r#"{"from": "2026-11-21", "to": "2026-11-27"}"#,
            "2026-11-21T00:00:00Z",
            "2026-11-28T00:00:00Z",
            "2026-11-21_2026-11-27",
        );
        check(
            r#"{"from": "2026-11-21T00:00:00Z", "to": "2026-11-27T12:00:00+00:00"}"#,
            "2026-11-21T00:00:00Z",
            "2026-11-27T12:00:00Z",
            "20261121T000000Z_20261127T120000Z",
        );
        check(
            r#"{"from": "2026-11-27T10:00:00+01:00", "to": "2026-11-27T09:00:00.25Z"}"#,
            "2026-11-27T09:00:00Z",
            "2026-11-27T09:00:00.25Z",
            "20261127T090000Z_20261127T090000250000Z",
        );
        check(
            r#"{"last_days": 7}"#,
            "2026-11-21T00:00:00Z",
            "2026-11-28T00:00:00Z",
            "2026-11-21_2026-11-27",
        );
        check(
            r#"{"last_days": 1}"#,
            "2026-11-27T00:00:00Z",
            "2026-11-28T00:00:00Z",
            "2026-11-27",
        );
        check(
            r#"{"month": "2026-10"}"#,
            "2026-10-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
            "2026-10",
        );
        check(
            r#"{"month": "2025-12"}"#,
            "2025-12-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2025-12",
        );
        // The current month is allowed: it started before now.
        check(
            r#"{"month": "2026-11"}"#,
            "2026-11-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
            "2026-11",
        );
        check(
            r#"{"from": "2026-11-01", "to": "2026-11-30"}"#,
            "2026-11-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
            "2026-11",
        );
    }

    #[test]
    fn refusal_table() {
        let check = |json: &str, field: Option<&str>, message: &str| {
            let error = request(json).resolve(timestamp(NOW)).unwrap_err();
            assert_eq!(error.to_string(), message, "{json}");
            assert_eq!(error.field(), field, "{json}");
        };
        check(
            r#"{"from": "2026-11-01", "to": "2026-11-02", "last_days": 3}"#,
            None,
            "`from`/`to` and `last_days` were given together: give one period form, either `from` and `to`, `last_days` or `month`",
        );
        check(
            r#"{"last_days": 3, "month": "2026-10"}"#,
            None,
            "`last_days` and `month` were given together: give one period form, either `from` and `to`, `last_days` or `month`",
        );
        check(
            r#"{"from": "2026-11-01"}"#,
            Some("to"),
            "`to` is required when `from` is given",
        );
        check(
            r#"{"to": "2026-11-01"}"#,
            Some("from"),
            "`from` is required when `to` is given",
        );
        check(
            r#"{"from": "2026-11-05T00:00:00Z", "to": "2026-11-05T00:00:00Z"}"#,
            Some("from"),
            "`from` (2026-11-05T00:00:00.000000Z) must be before `to` (2026-11-05T00:00:00.000000Z)",
        );
        check(
            r#"{"from": "2026-11-05", "to": "2026-11-03"}"#,
            Some("from"),
            "`from` (2026-11-05T00:00:00.000000Z) must be before `to` (2026-11-04T00:00:00.000000Z)",
        );
        check(
            r#"{"from": "2025-01-01", "to": "2026-01-02"}"#,
            Some("from"),
            "the period from 2025-01-01T00:00:00.000000Z to 2026-01-03T00:00:00.000000Z is longer than 366 days",
        );
        check(
            r#"{"from": "yesterday", "to": "2026-11-02"}"#,
            Some("from"),
            "`from` \"yesterday\" is not an RFC 3339 timestamp (2026-11-27T00:00:00Z) or a date (2026-11-27)",
        );
        check(
            r#"{"from": "2026-11-01", "to": "2026-02-30"}"#,
            Some("to"),
            "`to` \"2026-02-30\" is not an RFC 3339 timestamp (2026-11-27T00:00:00Z) or a date (2026-11-27)",
        );
        check(
            r#"{"last_days": 0}"#,
            Some("last_days"),
            "`last_days` must be between 1 and 366, got 0",
        );
        check(
            r#"{"last_days": 400}"#,
            Some("last_days"),
            "`last_days` must be between 1 and 366, got 400",
        );
        check(
            r#"{"month": "2026-13"}"#,
            Some("month"),
            "`month` \"2026-13\" is not a calendar month written YYYY-MM (e.g. 2026-10)",
        );
        check(
            r#"{"month": "Oct 2026"}"#,
            Some("month"),
            "`month` \"Oct 2026\" is not a calendar month written YYYY-MM (e.g. 2026-10)",
        );
        check(
            r#"{"month": "2026-12"}"#,
            Some("month"),
            "`month`: the period starts at 2026-12-01T00:00:00.000000Z, after now (2026-11-28T09:30:00.000000Z)",
        );
        check(
            r#"{"from": "2026-11-29", "to": "2026-11-30"}"#,
            Some("from"),
            "`from`: the period starts at 2026-11-29T00:00:00.000000Z, after now (2026-11-28T09:30:00.000000Z)",
        );
        // Unknown fields are refused by the payload's shape.
        assert!(serde_json::from_str::<PeriodRequest>(r#"{"day": "2026-11-27"}"#).is_err());
    }

    #[test]
    fn days_and_containment() {
        let period = Period::new(
            timestamp("2026-11-27T22:00:00Z"),
            timestamp("2026-11-29T00:00:00Z"),
        )
        .unwrap();
        let days: Vec<String> = period.days().into_iter().map(iso_date).collect();
        assert_eq!(days, vec!["2026-11-27", "2026-11-28"]);
        assert!(period.contains(&timestamp("2026-11-27T22:00:00Z")));
        assert!(period.contains(&timestamp("2026-11-28T23:59:59.999999Z")));
        assert!(!period.contains(&timestamp("2026-11-29T00:00:00Z")));
        assert!(!period.contains(&timestamp("2026-11-27T21:59:59.999999Z")));
        let year = Period::whole_days(
            Date::from_calendar_date(2028, Month::January, 1).unwrap(),
            Date::from_calendar_date(2028, Month::December, 31).unwrap(),
        )
        .unwrap();
        assert_eq!(year.days().len(), 366);
        assert_eq!(year.label(), "2028-01-01_2028-12-31");
    }
}
