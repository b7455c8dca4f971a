//! Exact decimal amounts (prices, confidence) parsed from JSON numbers or decimal strings, with
//! one canonical text form.
//!
//! Promise: a value never passes through a binary float, and every accepted value has exactly one
//! canonical spelling (`150.5`, never `150.50` or `1.505e2`), which is what gets hashed and stored.
//! Parsing never panics and its work is bounded by the text's length and [`MAX_EXPONENT`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::cmp::Ordering;
use std::fmt;

use rust_decimal::Decimal;

/// At most this many digits after the decimal point (after dropping trailing zeros).
pub const MAX_FRACTION_DIGITS: u32 = 8;
/// At most this many digits before the decimal point: amounts below one trillion.
pub const MAX_INTEGER_DIGITS: usize = 12;
/// Exponents beyond this are refused outright, before any digit arithmetic.
pub const MAX_EXPONENT: i64 = 64;

/// A positive-or-zero exact decimal with at most 8 fraction digits and 12 integer digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ExactDecimal {
    value: Decimal,
    canonical: String,
}

/// Why a text is not an acceptable decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("is not a decimal number (expected digits with an optional fraction, e.g. 150.25)")]
    Syntax,
    #[error("is negative")]
    Negative,
    #[error("has an exponent beyond ±{MAX_EXPONENT}")]
    ExponentOutOfRange,
    #[error("has more than {MAX_FRACTION_DIGITS} digits after the decimal point")]
    TooPrecise,
    #[error("has more than {MAX_INTEGER_DIGITS} digits before the decimal point")]
    TooLarge,
    #[error("is not in canonical form (expected {expected})")]
    NotCanonical { expected: String },
}

impl ExactDecimal {
    /// Parses the JSON number grammar (`123`, `0.5`, `1.25e2`, `5E-1`), without a sign: the sign
    /// is reported as [`DecimalError::Negative`]. Leading zeros are allowed (`007.5`) as in
    /// producers' decimal strings; trailing fraction zeros are dropped.
    pub fn parse(text: &str) -> Result<ExactDecimal, DecimalError> {
        let unsigned = match text.strip_prefix('-') {
            Some(rest) if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) => {
                return Err(DecimalError::Negative);
            }
            Some(_) => return Err(DecimalError::Syntax),
            None => text,
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, parse_exponent(exponent)?),
            None => (unsigned, 0),
        };
        let (integer, fraction) = match mantissa.split_once('.') {
            Some((integer, fraction)) => (integer, fraction),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty()
            || !all_digits(integer)
            || (mantissa.contains('.') && fraction.is_empty())
            || !all_digits(fraction)
        {
            return Err(DecimalError::Syntax);
        }
        // value = digits × 10^-(scale), with scale possibly negative before normalisation.
        let mut digits: String = integer.chars().chain(fraction.chars()).collect();
        let mut scale = fraction.len() as i64 - exponent;
        if scale < 0 {
            digits.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
            scale = 0;
        }
        let significant = digits.trim_start_matches('0');
        let mut digits = significant.to_owned();
        while scale > 0 && digits.ends_with('0') {
            digits.pop();
            scale -= 1;
        }
        if digits.is_empty() {
            return Ok(ExactDecimal::from_parts(0, 0));
        }
        if scale > i64::from(MAX_FRACTION_DIGITS) {
            return Err(DecimalError::TooPrecise);
        }
        let integer_digits = digits.len().saturating_sub(scale as usize);
        if integer_digits > MAX_INTEGER_DIGITS {
            return Err(DecimalError::TooLarge);
        }
        // At most 12 + 8 = 20 digits: always fits an i128.
        let mantissa: i128 = digits.parse().map_err(|_| DecimalError::Syntax)?;
        Ok(ExactDecimal::from_parts(mantissa, scale as u32))
    }

    /// Parses a stored value, which must already be in canonical form: anything else means the
    /// stored attribute does not agree with what was hashed.
    pub fn parse_canonical(text: &str) -> Result<ExactDecimal, DecimalError> {
        if let Some(mantissa_and_scale) = canonical_parts(text) {
            let (mantissa, scale) = mantissa_and_scale;
            return Ok(ExactDecimal {
                value: Decimal::from_i128_with_scale(mantissa, scale).normalize(),
                canonical: text.to_owned(),
            });
        }
        // Not canonical, or not a decimal at all: the general parser says which.
        let parsed = ExactDecimal::parse(text)?;
        if parsed.canonical != text {
            return Err(DecimalError::NotCanonical {
                expected: parsed.canonical,
            });
        }
        Ok(parsed)
    }

    /// Whether `text` is a stored value in canonical form ([`ExactDecimal::parse_canonical`]
    /// would accept it), without building the value: what verifying a backup row needs.
    pub fn check_canonical(text: &str) -> Result<(), DecimalError> {
        match canonical_parts(text) {
            Some(_) => Ok(()),
            None => ExactDecimal::parse_canonical(text).map(|_| ()),
        }
    }

    fn from_parts(mantissa: i128, scale: u32) -> ExactDecimal {
        let value = Decimal::from_i128_with_scale(mantissa, scale).normalize();
        ExactDecimal {
            canonical: value.to_string(),
            value,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.value.is_zero()
    }

    pub fn value(&self) -> Decimal {
        self.value
    }

    /// The one canonical spelling: plain digits, `.` only when there is a fraction, no trailing zeros.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }
}

/// The mantissa and scale of a text that is a canonical spelling by its shape alone — `0` or
/// 1–12 digits without a leading zero, then optionally `.` and 1–8 digits not ending in `0` —
/// read without allocating; `None` for any other text (which may still be refused or, never
/// for a canonical one, accepted by the general path).
fn canonical_parts(text: &str) -> Option<(i128, u32)> {
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let integer_ok = digits(integer)
        && integer.len() <= MAX_INTEGER_DIGITS
        && (integer == "0" || !integer.starts_with('0'));
    let fraction_ok = fraction
        .is_none_or(|f| digits(f) && f.len() <= MAX_FRACTION_DIGITS as usize && !f.ends_with('0'));
    if !integer_ok || !fraction_ok {
        return None;
    }
    let fraction = fraction.unwrap_or_default();
    // At most 12 + 8 = 20 digits: always fits an i128.
    let mantissa = integer
        .bytes()
        .chain(fraction.bytes())
        .fold(0i128, |value, digit| value * 10 + i128::from(digit - b'0'));
    Some((mantissa, fraction.len() as u32))
}

fn parse_exponent(text: &str) -> Result<i64, DecimalError> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecimalError::Syntax);
    }
    let magnitude: i64 = match digits.trim_start_matches('0') {
        "" => 0,
        trimmed if trimmed.len() > 3 => return Err(DecimalError::ExponentOutOfRange),
        trimmed => trimmed.parse().map_err(|_| DecimalError::Syntax)?,
    };
    if magnitude > MAX_EXPONENT {
        return Err(DecimalError::ExponentOutOfRange);
    }
    Ok(if text.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}

impl PartialOrd for ExactDecimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ExactDecimal {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl fmt::Display for ExactDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for ExactDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExactDecimal({})", self.canonical)
    }
}

/// Serialised as its canonical string, so JSON consumers never see a float.
impl serde::Serialize for ExactDecimal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> serde::Deserialize<'de> for ExactDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ExactDecimal::parse_canonical(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, DecimalError>) {
        let got = ExactDecimal::parse(input);
        assert_eq!(
            got.as_ref().map(ExactDecimal::as_str),
            expected.as_deref(),
            "input {input:?}"
        );
    }

    #[test]
    fn parses_to_canonical_form() {
        check("150", Ok("150"));
        check("150.25", Ok("150.25"));
        check("150.50", Ok("150.5"));
        check("150.000", Ok("150"));
        check("007.5", Ok("7.5"));
        check("1.505e2", Ok("150.5"));
        check("1505E-1", Ok("150.5"));
        check("1e+3", Ok("1000"));
        check("0.00000001", Ok("0.00000001"));
        check("0.123456780000", Ok("0.12345678"));
        check("999999999999.99999999", Ok("999999999999.99999999"));
        check("0", Ok("0"));
        check("0.000", Ok("0"));
    }

    #[test]
    fn refuses_what_is_not_a_sane_decimal() {
        check("-1", Err(DecimalError::Negative));
        check("-0.5", Err(DecimalError::Negative));
        for bad in [
            "", ".5", "5.", "1.2.3", "+1", "1e", "e5", "NaN", "Infinity", "-", "1 ", " 1", "1_000",
            "0x10", "١٢",
        ] {
            check(bad, Err(DecimalError::Syntax));
        }
        check("1e65", Err(DecimalError::ExponentOutOfRange));
        check("1e-9999999999", Err(DecimalError::ExponentOutOfRange));
        check("0.000000001", Err(DecimalError::TooPrecise));
        check("1e-9", Err(DecimalError::TooPrecise));
        check("1000000000000", Err(DecimalError::TooLarge));
        check("1e12", Err(DecimalError::TooLarge));
    }

    #[test]
    fn canonical_parse_refuses_other_spellings() {
        assert!(ExactDecimal::parse_canonical("150.5").is_ok());
        assert_eq!(
            ExactDecimal::parse_canonical("150.50"),
            Err(DecimalError::NotCanonical {
                expected: "150.5".into()
            })
        );
        assert!(ExactDecimal::parse_canonical("1.505e2").is_err());
    }

    #[test]
    fn orders_by_value_not_text() {
        let a = ExactDecimal::parse("9.5").unwrap_or_else(|e| panic!("{e}"));
        let b = ExactDecimal::parse("10").unwrap_or_else(|e| panic!("{e}"));
        assert!(a < b);
    }

    /// The general path of `parse_canonical`: parse, and compare the canonical spelling.
    fn canonical_by_parsing(text: &str) -> Option<ExactDecimal> {
        ExactDecimal::parse(text)
            .ok()
            .filter(|parsed| parsed.as_str() == text)
    }

    proptest::proptest! {
        /// The shape-only reading of a canonical decimal agrees with the general path: same
        /// verdict, same value, same spelling, over digit strings with and without a fraction
        /// (leading and trailing zeros, too many digits) and a few other characters.
        #[test]
        fn reading_a_canonical_decimal_agrees_with_parsing_it(text in "[0-9]{0,14}(\\.[0-9]{0,10})?|[0-9.eE+-]{1,6}") {
            let slow = canonical_by_parsing(&text);
            let fast = ExactDecimal::parse_canonical(&text).ok();
            proptest::prop_assert_eq!(&fast, &slow);
            if let Some(fast) = fast {
                proptest::prop_assert_eq!(fast.value().scale(), slow.map(|s| s.value().scale()).unwrap_or(99));
            }
            proptest::prop_assert_eq!(ExactDecimal::check_canonical(&text).is_ok(), canonical_parts(&text).is_some() || ExactDecimal::parse_canonical(&text).is_ok());
            proptest::prop_assert_eq!(ExactDecimal::check_canonical(&text).is_ok(), ExactDecimal::parse_canonical(&text).is_ok());
        }
    }

    #[test]
    fn canonical_shapes_read_without_the_general_parser() {
        for text in [
            "0",
            "0.5",
            "150.25",
            "999999999999.99999999",
            "1",
            "10",
            "0.00000001",
        ] {
            assert!(canonical_parts(text).is_some(), "{text}");
            assert_eq!(
                ExactDecimal::parse_canonical(text).ok(),
                canonical_by_parsing(text),
                "{text}"
            );
        }
        for text in [
            "",
            ".5",
            "0.",
            "00",
            "01",
            "1.50",
            "1.0",
            "1e2",
            "-1",
            "1000000000000",
            "0.000000001",
        ] {
            assert!(canonical_parts(text).is_none(), "{text}");
            assert!(ExactDecimal::check_canonical(text).is_err(), "{text}");
        }
    }
}
