//! Mesos's duration text form: `<number><unit>` with the unit one of `ns`, `us`, `ms`, `secs`,
//! `mins`, `hrs`, `days`, `weeks` (stout's `Duration`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration read from or written as Mesos text (`5secs`, `1mins`, `100ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MesosDuration(pub Duration);

/// Why a duration text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// No unit, or a unit Mesos does not know.
    #[error(
        "invalid duration '{0}': expected a number followed by ns, us, ms, secs, mins, hrs, days or weeks"
    )]
    Unit(String),
    /// The number part does not parse or is negative.
    #[error("invalid duration '{0}': bad number")]
    Number(String),
}

const UNITS: [(&str, u128); 8] = [
    ("weeks", 7 * 24 * 3600 * 1_000_000_000),
    ("days", 24 * 3600 * 1_000_000_000),
    ("hrs", 3600 * 1_000_000_000),
    ("mins", 60 * 1_000_000_000),
    ("secs", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

impl MesosDuration {
    /// Wraps a duration.
    pub fn new(duration: Duration) -> Self {
        MesosDuration(duration)
    }

    /// Parses Mesos text.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| DurationError::Unit(text.to_string()))?;
        let (number, unit) = text.split_at(split);
        let nanos_per_unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| DurationError::Unit(text.to_string()))?;
        let value: f64 = number
            .parse()
            .map_err(|_| DurationError::Number(text.to_string()))?;
        if !value.is_finite() || value < 0.0 {
            return Err(DurationError::Number(text.to_string()));
        }
        let nanos = value * nanos_per_unit as f64;
        Ok(MesosDuration(Duration::from_secs_f64(nanos / 1e9)))
    }

    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for MesosDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MesosDuration::parse(s)
    }
}

impl fmt::Display for MesosDuration {
    /// Writes the largest unit that gives a whole number, as stout does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return write!(f, "0ns");
        }
        for (name, per) in UNITS {
            if nanos.is_multiple_of(per) {
                return write!(f, "{}{}", nanos / per, name);
            }
        }
        write!(f, "{nanos}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        for (text, secs) in [
            ("5secs", 5.0),
            ("1mins", 60.0),
            ("100ms", 0.1),
            ("1weeks", 604_800.0),
        ] {
            let d = MesosDuration::parse(text).unwrap();
            assert!((d.0.as_secs_f64() - secs).abs() < 1e-9, "{text}");
            assert_eq!(d.to_string(), text);
        }
        assert_eq!(
            MesosDuration(Duration::from_secs(900)).to_string(),
            "15mins"
        );
        assert_eq!(
            MesosDuration::parse("1.5secs").unwrap().to_string(),
            "1500ms"
        );
        assert!(MesosDuration::parse("5").is_err());
        assert!(MesosDuration::parse("5parsecs").is_err());
        assert!(MesosDuration::parse("xsecs").is_err());
    }
}
