//! UTC instants with one canonical text form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
//!
//! Promise: every timestamp the ledger stores or hashes is UTC, has exactly six fraction digits
//! (microseconds) and so sorts lexicographically in time order. Producers may send any RFC 3339
//! offset and precision; the value is converted to UTC and truncated to the microsecond.
//! Every conversion is checked: a value outside the years 0000–9999 in UTC (e.g.
//! `9999-12-31T23:59:59-00:01`) is an [`TimestampError::OutOfRange`], never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

/// A UTC instant truncated to the microsecond, years 0000–9999, with its canonical text kept
/// beside it (hashing an entry must not format dates). The text is a function of the instant,
/// so the derived comparisons agree with time order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    instant: OffsetDateTime,
    text: [u8; CANONICAL_LEN],
}

/// Length of the canonical text, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub const CANONICAL_LEN: usize = 27;

/// Why a text is not an acceptable timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("is not an RFC 3339 date-time (e.g. 2026-11-28T09:30:00Z): {0}")]
    Syntax(String),
    #[error("is outside the years 0000 to 9999")]
    OutOfRange,
    #[error("is not in canonical form (expected {expected})")]
    NotCanonical { expected: String },
}

const CANONICAL: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

impl Timestamp {
    /// Truncates to the microsecond and converts to UTC.
    pub fn from_datetime(instant: OffsetDateTime) -> Result<Timestamp, TimestampError> {
        // `to_offset` panics when the UTC instant leaves the supported years; this does not.
        let utc = instant
            .checked_to_offset(UtcOffset::UTC)
            .ok_or(TimestampError::OutOfRange)?;
        if !(0..=9999).contains(&utc.year()) {
            return Err(TimestampError::OutOfRange);
        }
        let instant = utc
            .replace_nanosecond(utc.microsecond() * 1_000)
            .map_err(|_| TimestampError::OutOfRange)?;
        let formatted = instant
            .format(CANONICAL)
            .map_err(|_| TimestampError::OutOfRange)?;
        let text = formatted
            .as_bytes()
            .try_into()
            .map_err(|_| TimestampError::OutOfRange)?;
        Ok(Timestamp { instant, text })
    }

    /// Parses any RFC 3339 date-time (offset and precision free).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|error| TimestampError::Syntax(error.to_string()))?;
        Timestamp::from_datetime(parsed)
    }

    /// Parses a stored value, which must be in canonical form already.
    pub fn parse_canonical(text: &str) -> Result<Timestamp, TimestampError> {
        if let Some(read) = Timestamp::read_canonical(text) {
            return Ok(read);
        }
        // Not canonical, or not a timestamp at all: the general parser says which, and why.
        let parsed = Timestamp::parse_rfc3339(text)?;
        if parsed.as_str() != text {
            return Err(TimestampError::NotCanonical {
                expected: parsed.as_str().to_owned(),
            });
        }
        Ok(parsed)
    }

    /// The canonical text read field by field: what [`Timestamp::parse_canonical`] gives, without
    /// the general RFC 3339 parser and without formatting the instant back to compare (verifying
    /// a backup reads three timestamps a row). `None` when `text` is not exactly
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` with every field in range; the general path then decides.
    /// A text of that shape with fields in range is its own canonical form: every field is
    /// fixed-width and zero-padded, and the instant is UTC, whole microseconds, years 0000–9999.
    fn read_canonical(text: &str) -> Option<Timestamp> {
        let bytes: [u8; CANONICAL_LEN] = text.as_bytes().try_into().ok()?;
        let separators = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
        ];
        if bytes.last() != Some(&b'Z')
            || separators
                .iter()
                .any(|&(at, separator)| bytes.get(at) != Some(&separator))
        {
            return None;
        }
        let number = |from: usize, to: usize| -> Option<u32> {
            bytes.get(from..to)?.iter().try_fold(0u32, |value, byte| {
                byte.is_ascii_digit()
                    .then(|| value * 10 + u32::from(byte - b'0'))
            })
        };
        let year = i32::try_from(number(0, 4)?).ok()?;
        let month = time::Month::try_from(u8::try_from(number(5, 7)?).ok()?).ok()?;
        let day = u8::try_from(number(8, 10)?).ok()?;
        let date = time::Date::from_calendar_date(year, month, day).ok()?;
        let clock = time::Time::from_hms_micro(
            u8::try_from(number(11, 13)?).ok()?,
            u8::try_from(number(14, 16)?).ok()?,
            u8::try_from(number(17, 19)?).ok()?,
            number(20, 26)?,
        )
        .ok()?;
        Some(Timestamp {
            instant: date.with_time(clock).assume_utc(),
            text: bytes,
        })
    }

    pub fn as_datetime(&self) -> OffsetDateTime {
        self.instant
    }

    /// The canonical text, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub fn as_str(&self) -> &str {
        // Built from `format` output, which is ASCII.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// `self + days`, refusing to leave the years 0000–9999.
    pub fn plus_days(&self, days: u32) -> Result<Timestamp, TimestampError> {
        let later = self
            .instant
            .checked_add(Duration::days(i64::from(days)))
            .ok_or(TimestampError::OutOfRange)?;
        Timestamp::from_datetime(later)
    }

    /// `self + duration`, or `None` outside the years 0000–9999.
    pub fn checked_add(&self, duration: Duration) -> Option<Timestamp> {
        let moved = self.instant.checked_add(duration)?;
        Timestamp::from_datetime(moved).ok()
    }

    /// `self - duration`, or `None` outside the years 0000–9999.
    pub fn checked_sub(&self, duration: Duration) -> Option<Timestamp> {
        let moved = self.instant.checked_sub(duration)?;
        Timestamp::from_datetime(moved).ok()
    }

    /// Whole milliseconds from `earlier` to `self` (negative when `earlier` is later),
    /// truncated toward zero.
    pub fn millis_since(&self, earlier: &Timestamp) -> i64 {
        let millis = (self.instant - earlier.instant).whole_milliseconds();
        i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_canonical(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_utc_microseconds() {
        let check = |input: &str, expected: &str| {
            let got = Timestamp::parse_rfc3339(input).unwrap();
            assert_eq!(got.to_string(), expected, "input {input}");
        };
        check("2026-11-28T09:30:00Z", "2026-11-28T09:30:00.000000Z");
        check("2026-11-28T10:30:00+01:00", "2026-11-28T09:30:00.000000Z");
        check(
            "2026-11-28T09:30:00.123456789Z",
            "2026-11-28T09:30:00.123456Z",
        );
        check("2026-11-28t09:30:00.5z", "2026-11-28T09:30:00.500000Z");
    }

    #[test]
    fn refuses_non_rfc3339_and_non_canonical() {
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28 09:30:00",
            "28/11/2026",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(
                matches!(
                    Timestamp::parse_rfc3339(bad),
                    Err(TimestampError::Syntax(_))
                ),
                "{bad}"
            );
        }
        assert!(Timestamp::parse_canonical("2026-11-28T09:30:00.000000Z").is_ok());
        assert_eq!(
            Timestamp::parse_canonical("2026-11-28T09:30:00Z"),
            Err(TimestampError::NotCanonical {
                expected: "2026-11-28T09:30:00.000000Z".into()
            })
        );
    }

    #[test]
    fn arithmetic() {
        let start = Timestamp::parse_rfc3339("2026-11-28T09:30:00Z").unwrap();
        let later = Timestamp::parse_rfc3339("2026-11-28T09:30:00.250999Z").unwrap();
        assert_eq!(later.millis_since(&start), 250);
        assert_eq!(start.millis_since(&later), -250);
        assert_eq!(
            start.plus_days(2555).unwrap().to_string(),
            "2033-11-26T09:30:00.000000Z"
        );
        let end = Timestamp::parse_rfc3339("9999-12-30T00:00:00Z").unwrap();
        assert_eq!(end.plus_days(5), Err(TimestampError::OutOfRange));
        assert_eq!(end.checked_add(Duration::days(5)), None);
        let start_of_time = Timestamp::parse_rfc3339("0000-01-01T00:00:00Z").unwrap();
        assert_eq!(start_of_time.checked_sub(Duration::seconds(1)), None);
        assert_eq!(
            start.checked_sub(Duration::hours(24)).unwrap().as_str(),
            "2026-11-27T09:30:00.000000Z"
        );
    }

    /// The hostile value of issue 12 and its mirror image: local times inside the years that are
    /// outside them in UTC.
    #[test]
    fn offsets_that_leave_the_years_are_out_of_range_not_a_panic() {
        for text in [
            "9999-12-31T23:59:59-00:01",
            "9999-12-31T23:59:59.999999-23:59",
            "0000-01-01T00:00:00+00:01",
            "0000-01-01T00:00:00+23:59",
        ] {
            assert_eq!(
                Timestamp::parse_rfc3339(text),
                Err(TimestampError::OutOfRange),
                "{text}"
            );
        }
        assert_eq!(
            Timestamp::parse_rfc3339("9999-12-31T23:59:59+00:01")
                .unwrap()
                .as_str(),
            "9999-12-31T23:58:59.000000Z"
        );
        assert_eq!(
            Timestamp::parse_rfc3339("0000-01-01T00:00:00-00:01")
                .unwrap()
                .as_str(),
            "0000-01-01T00:01:00.000000Z"
        );
    }

    proptest::proptest! {
        /// Any year 0000–9999 at any offset RFC 3339 allows (±23:59) parses or is out of range,
        /// never panics; an accepted value is canonical UTC and the same instant.
        #[test]
        fn every_offset_at_the_year_limits_is_checked(
            year in proptest::prop_oneof![0i32..=2, 9997i32..=9999, 0i32..=9999],
            month in 1u8..=12,
            day in 1u8..=28,
            hour in 0u8..=23,
            minute in 0u8..=59,
            second in 0u8..=59,
            offset_minutes in -1439i32..=1439,
        ) {
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let abs = offset_minutes.unsigned_abs();
            let text = format!(
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{sign}{:02}:{:02}",
                abs / 60,
                abs % 60
            );
            match Timestamp::parse_rfc3339(&text) {
                Ok(parsed) => {
                    let original = OffsetDateTime::parse(&text, &Rfc3339).unwrap();
                    proptest::prop_assert_eq!(parsed.as_datetime(), original);
                    proptest::prop_assert_eq!(parsed.as_str().len(), CANONICAL_LEN);
                    proptest::prop_assert!(Timestamp::parse_canonical(parsed.as_str()).is_ok());
                }
                Err(error) => {
                    proptest::prop_assert_eq!(error, TimestampError::OutOfRange);
                    proptest::prop_assert!(year == 0 || year == 9999, "{}", text);
                }
            }
        }
    }

    /// The general path of `parse_canonical`: parse any RFC 3339 text, format it back, compare.
    fn canonical_by_formatting(text: &str) -> Option<Timestamp> {
        Timestamp::parse_rfc3339(text)
            .ok()
            .filter(|parsed| parsed.as_str() == text)
    }

    proptest::proptest! {
        /// The field-by-field reading accepts exactly the canonical texts, with the same instant:
        /// texts of the canonical shape with any two digits per field (months 00–99, days 00–99,
        /// hours 00–99, seconds up to 99, leap days in any year) and with one byte replaced.
        #[test]
        fn reading_the_canonical_text_agrees_with_parsing_and_formatting_it(
            year in 0u32..10_000,
            fields in proptest::collection::vec(0u32..100, 5),
            micros in 0u32..1_000_000,
            replaced in proptest::option::of((0usize..CANONICAL_LEN, proptest::num::u8::ANY)),
        ) {
            let mut text = format!(
                "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
                fields[0], fields[1], fields[2], fields[3], fields[4]
            )
            .into_bytes();
            if let Some((at, byte)) = replaced {
                text[at] = byte;
            }
            let Ok(text) = String::from_utf8(text) else { return Ok(()) };
            let slow = canonical_by_formatting(&text);
            proptest::prop_assert_eq!(Timestamp::read_canonical(&text), slow);
            proptest::prop_assert_eq!(Timestamp::parse_canonical(&text).ok(), slow);
        }
    }

    #[test]
    fn the_field_by_field_reading_refuses_what_is_not_canonical() {
        for text in [
            "2026-11-28T09:30:00.000000Z",
            "0000-01-01T00:00:00.000000Z",
            "9999-12-31T23:59:59.999999Z",
            "2024-02-29T12:00:00.500000Z",
        ] {
            assert_eq!(
                Timestamp::read_canonical(text),
                canonical_by_formatting(text),
                "{text}"
            );
            assert!(Timestamp::read_canonical(text).is_some(), "{text}");
        }
        for text in [
            "2025-02-29T12:00:00.000000Z",
            "2026-11-28T09:30:60.000000Z",
            "2026-11-28T24:00:00.000000Z",
            "2026-11-28t09:30:00.000000Z",
            "2026-11-28T09:30:00.000000z",
            "2026-11-28T09:30:00.00000Z",
            "2026-11-28T09:30:00.0000000Z",
            "2026-11-28T09:30:00Z",
            "+2026-11-28T09:30:00.000000Z",
            "2026-11-28T09:30:00.000000+00:00",
        ] {
            assert_eq!(Timestamp::read_canonical(text), None, "{text}");
            assert!(Timestamp::parse_canonical(text).is_err(), "{text}");
        }
    }
}
