//! Mesos's duration text: `<number><unit>` with the unit one of `ns`, `us`, `ms`, `secs`,
//! `mins`, `hrs`, `days` or `weeks` (stout's `Duration`). Flags such as `--offer_timeout=30secs`
//! and environment values such as `MESOS_RECOVERY_TIMEOUT=15mins` use it.

use std::time::Duration;

/// A duration text that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration '{text}': expected <number><unit> with unit ns, us, ms, secs, mins, hrs, days or weeks"
)]
pub struct DurationError {
    /// The rejected text.
    pub text: String,
}

const UNITS: [(&str, u128); 8] = [
    ("weeks", 7 * 24 * 3_600_000_000_000),
    ("days", 24 * 3_600_000_000_000),
    ("hrs", 3_600_000_000_000),
    ("mins", 60_000_000_000),
    ("secs", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Parses `5secs`, `1.5mins`, `100ms`. Negative values are rejected.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(err)?;
    let (number, unit) = trimmed.split_at(split);
    let nanos_per_unit = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, n)| *n)
        .ok_or_else(err)?;
    let value: f64 = number.trim().parse().map_err(|_| err())?;
    if !value.is_finite() || value < 0.0 {
        return Err(err());
    }
    let nanos = value * nanos_per_unit as f64;
    if nanos > u64::MAX as f64 {
        return Err(err());
    }
    // In range and non-negative: checked above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let nanos = nanos.round() as u64;
    Ok(Duration::from_nanos(nanos))
}

/// Writes a duration the way Mesos does: the largest unit that gives a whole number
/// (`5secs`, `15mins`, `1500ms`, `0ns`).
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0ns".to_string();
    }
    for (name, per) in UNITS {
        if nanos.is_multiple_of(per) {
            return format!("{}{name}", nanos / per);
        }
    }
    format!("{nanos}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("5secs").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1.5mins").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("2hrs").unwrap(), Duration::from_secs(7200));
        assert_eq!(
            parse_duration("1weeks").unwrap(),
            Duration::from_secs(604_800)
        );
        assert_eq!(parse_duration("3us").unwrap(), Duration::from_micros(3));
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["", "5", "secs", "5sec", "-1secs", "NaNsecs", "1e30weeks"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_with_largest_whole_unit() {
        assert_eq!(format_duration(Duration::from_secs(5)), "5secs");
        assert_eq!(format_duration(Duration::from_secs(900)), "15mins");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0ns");
        for d in [Duration::from_nanos(7), Duration::from_secs(86_400 * 3)] {
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
