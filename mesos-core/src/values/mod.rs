//! Mesos's value types — scalars, ranges, sets and text — and their text syntax.
//!
//! The same syntax serves `--resources` and `--attributes`: `4.5` is a scalar, `[1-10, 20-30]`
//! ranges, `{a, b}` a set, and anything else text.

mod ranges;
mod scalar;
mod set;

pub use ranges::{Range, Ranges, RangesError};
pub use scalar::Scalar;
pub use set::Set;

use std::fmt;

/// The kind of a value, numbered as `mesos.v1.Value.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueType {
    /// A fixed-point number.
    Scalar,
    /// Integer ranges.
    Ranges,
    /// String items.
    Set,
    /// Free text (attributes only).
    Text,
}

impl ValueType {
    /// The name Mesos uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Scalar => "SCALAR",
            ValueType::Ranges => "RANGES",
            ValueType::Set => "SET",
            ValueType::Text => "TEXT",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A fixed-point number.
    Scalar(Scalar),
    /// Integer ranges.
    Ranges(Ranges),
    /// String items.
    Set(Set),
    /// Free text.
    Text(String),
}

impl Value {
    /// The value's kind.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Scalar(_) => ValueType::Scalar,
            Value::Ranges(_) => ValueType::Ranges,
            Value::Set(_) => ValueType::Set,
            Value::Text(_) => ValueType::Text,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(s) => s.fmt(f),
            Value::Ranges(r) => r.fmt(f),
            Value::Set(s) => s.fmt(f),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// Why a value's text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueParseError {
    /// Nothing but whitespace.
    #[error("expected a value, found an empty string")]
    Empty,
    /// `[`, `{` or `(` without its partner.
    #[error("mismatched brackets in '{0}'")]
    MismatchedBrackets(String),
    /// A range list that is not pairs of `begin-end`.
    #[error("expected ranges like '[1-10, 20-30]', found '{0}'")]
    MalformedRanges(String),
    /// A range bound that is not a non-negative integer.
    #[error("range bound '{0}' is not a non-negative integer")]
    BadRangeBound(String),
    /// A range whose begin exceeds its end.
    #[error(transparent)]
    Ranges(#[from] RangesError),
    /// A number below zero.
    #[error("negative value '{0}' is not allowed")]
    Negative(String),
    /// NaN, infinity, or a number too large for three-decimal fixed point.
    #[error("value '{0}' is not a finite number in range")]
    NotFinite(String),
    /// A set listing one item twice.
    #[error("set item '{0}' appears twice")]
    DuplicateSetItem(String),
}

/// Parses Mesos's value syntax. Spaces are ignored, as in Mesos.
///
/// A number too large for three-decimal fixed point is an error; negative and non-finite
/// numbers are text, as in Mesos.
pub fn parse_value(text: &str) -> Result<Value, ValueParseError> {
    let compact: String = text.chars().filter(|c| *c != ' ').collect();
    if compact.is_empty() {
        return Err(ValueParseError::Empty);
    }
    if !brackets_balanced(&compact) {
        return Err(ValueParseError::MismatchedBrackets(text.to_string()));
    }
    if compact.starts_with('[') {
        return parse_ranges(&compact).map(Value::Ranges);
    }
    if compact.contains('[') {
        return Err(ValueParseError::MalformedRanges(text.to_string()));
    }
    if compact.starts_with('{') {
        let items = compact
            .split(['{', '}', ',', '\n'])
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        return Set::from_unique(items)
            .map(Value::Set)
            .map_err(ValueParseError::DuplicateSetItem);
    }
    if looks_numeric(&compact) {
        let number: f64 = match compact.parse() {
            Ok(n) => n,
            Err(_) => return Ok(Value::Text(compact)),
        };
        // As in Mesos, negative and non-finite numbers are text (an attribute `zone:-1` is
        // the text "-1"); resource parsing turns them into precise errors.
        if !number.is_finite() || number < 0.0 {
            return Ok(Value::Text(compact));
        }
        return Scalar::try_from_f64(number)
            .map(Value::Scalar)
            .ok_or(ValueParseError::NotFinite(compact));
    }
    Ok(Value::Text(compact))
}

/// True for text that a C++ `numify<double>` would read as a number (sign, digits, a dot, an
/// exponent, or the words for infinity and NaN).
fn looks_numeric(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    matches!(body, "inf" | "infinity" | "nan")
        || (s.parse::<f64>().is_ok() && body.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
}

fn brackets_balanced(s: &str) -> bool {
    let mut stack = Vec::new();
    for c in s.chars() {
        match c {
            '[' | '{' | '(' => stack.push(c),
            ']' | '}' | ')' => {
                let open = match c {
                    ']' => '[',
                    '}' => '{',
                    _ => '(',
                };
                if stack.pop() != Some(open) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty()
}

fn parse_ranges(compact: &str) -> Result<Ranges, ValueParseError> {
    if !compact.ends_with(']') {
        return Err(ValueParseError::MalformedRanges(compact.to_string()));
    }
    let inner = &compact[1..compact.len() - 1];
    let mut ranges = Vec::new();
    for part in inner.split([',', '\n']).filter(|p| !p.is_empty()) {
        let (begin, end) = part
            .split_once('-')
            .ok_or_else(|| ValueParseError::MalformedRanges(compact.to_string()))?;
        let parse = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| ValueParseError::BadRangeBound(s.to_string()))
        };
        ranges.push(Range::new(parse(begin)?, parse(end)?));
    }
    // Mesos merges overlapping ranges written in flag text rather than rejecting them.
    Ok(Ranges::from_ranges_coalescing(ranges)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        assert_eq!(
            parse_value("4").unwrap(),
            Value::Scalar(Scalar::from_units(4))
        );
        assert_eq!(
            parse_value(" 0.5 ").unwrap(),
            Value::Scalar(Scalar::from_milli(500))
        );
        assert_eq!(
            parse_value("[31000-32000]").unwrap().to_string(),
            "[31000-32000]"
        );
        assert_eq!(parse_value("[1-2, 5-6,3-4]").unwrap().to_string(), "[1-6]");
        assert_eq!(parse_value("{b, a}").unwrap().to_string(), "{a, b}");
        assert_eq!(parse_value("rack-1").unwrap(), Value::Text("rack-1".into()));
        assert_eq!(parse_value("-1").unwrap(), Value::Text("-1".into()));
        assert_eq!(parse_value("nan").unwrap(), Value::Text("nan".into()));
    }

    #[test]
    fn names_the_problem() {
        let cases = [
            ("", "expected a value, found an empty string"),
            ("[1-2", "mismatched brackets in '[1-2'"),
            ("[1-x]", "range bound 'x' is not a non-negative integer"),
            ("[1-2-3]", "range bound '2-3' is not a non-negative integer"),
            ("[5]", "expected ranges like '[1-10, 20-30]', found '[5]'"),
            ("[9-1]", "invalid range [9-1]: begin is greater than end"),
            ("1e300", "value '1e300' is not a finite number in range"),
            ("{a,a}", "set item 'a' appears twice"),
        ];
        for (text, message) in cases {
            assert_eq!(
                parse_value(text).unwrap_err().to_string(),
                message,
                "input {text:?}"
            );
        }
    }
}
