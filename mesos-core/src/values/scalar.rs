//! Fixed-point scalar quantities.
//!
//! Mesos keeps scalar resources (cpus, mem, disk, gpus) to three decimal places: every double
//! that crosses the wire is rounded to the nearest thousandth before any arithmetic. Holding the
//! value as an integer number of thousandths makes addition and subtraction exact and
//! associative, which is what lets `(a + b) - b == a` hold.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// Number of fixed-point steps per unit.
const SCALE: i64 = 1000;

/// A scalar amount with exactly three decimal digits of precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Scalar(i64);

impl Scalar {
    /// The zero amount.
    pub const ZERO: Scalar = Scalar(0);

    /// Rounds a double to the nearest thousandth, as Mesos does on input.
    ///
    /// Values that do not fit (NaN, infinities, magnitudes beyond about 9.2e15) saturate; callers
    /// that take user input validate with [`Scalar::try_from_f64`] first.
    pub fn from_f64(value: f64) -> Scalar {
        // `as` saturates for out-of-range floats and maps NaN to 0, which is the behaviour we want
        // for an infallible conversion.
        #[allow(clippy::cast_possible_truncation)]
        Scalar((value * SCALE as f64).round() as i64)
    }

    /// Like [`Scalar::from_f64`] but rejects values that are not finite or do not fit.
    pub fn try_from_f64(value: f64) -> Option<Scalar> {
        let scaled = (value * SCALE as f64).round();
        if scaled.is_finite() && scaled.abs() < 9.0e18 {
            Some(Scalar::from_f64(value))
        } else {
            None
        }
    }

    /// Builds a scalar from a count of thousandths.
    pub const fn from_milli(milli: i64) -> Scalar {
        Scalar(milli)
    }

    /// Builds a scalar from a whole number of units.
    pub const fn from_units(units: i64) -> Scalar {
        Scalar(units * SCALE)
    }

    /// The amount as a count of thousandths.
    pub const fn milli(self) -> i64 {
        self.0
    }

    /// The amount as a double, as it is written on the wire.
    pub fn as_f64(self) -> f64 {
        // Split to keep whole parts exact, as Mesos does when converting back.
        (self.0 / SCALE) as f64 + (self.0 % SCALE) as f64 / SCALE as f64
    }

    /// True when the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True when the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Addition that reports overflow instead of wrapping.
    pub fn checked_add(self, other: Scalar) -> Option<Scalar> {
        self.0.checked_add(other.0).map(Scalar)
    }

    /// Subtraction that reports overflow instead of wrapping.
    pub fn checked_sub(self, other: Scalar) -> Option<Scalar> {
        self.0.checked_sub(other.0).map(Scalar)
    }
}

impl Add for Scalar {
    type Output = Scalar;
    fn add(self, other: Scalar) -> Scalar {
        Scalar(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Scalar {
    fn add_assign(&mut self, other: Scalar) {
        *self = *self + other;
    }
}

impl Sub for Scalar {
    type Output = Scalar;
    fn sub(self, other: Scalar) -> Scalar {
        Scalar(self.0.saturating_sub(other.0))
    }
}

impl SubAssign for Scalar {
    fn sub_assign(&mut self, other: Scalar) {
        *self = *self - other;
    }
}

impl fmt::Display for Scalar {
    /// Writes the shortest decimal form: `4`, `0.5`, `1024.125`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / SCALE.unsigned_abs();
        let frac = abs % SCALE.unsigned_abs();
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{frac:03}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_three_decimals() {
        assert_eq!(Scalar::from_f64(0.1234), Scalar::from_milli(123));
        assert_eq!(Scalar::from_f64(0.0005), Scalar::from_milli(1));
        assert_eq!(
            Scalar::from_f64(0.1) + Scalar::from_f64(0.2),
            Scalar::from_f64(0.3)
        );
    }

    #[test]
    fn displays_shortest_form() {
        assert_eq!(Scalar::from_units(4).to_string(), "4");
        assert_eq!(Scalar::from_f64(0.5).to_string(), "0.5");
        assert_eq!(Scalar::from_f64(1024.125).to_string(), "1024.125");
        assert_eq!(Scalar::from_f64(-1.25).to_string(), "-1.25");
    }

    #[test]
    fn converts_back_exactly() {
        assert_eq!(Scalar::from_f64(2.5).as_f64(), 2.5);
        assert_eq!(Scalar::from_f64(0.001).as_f64(), 0.001);
        assert!(Scalar::try_from_f64(f64::NAN).is_none());
        assert!(Scalar::try_from_f64(f64::INFINITY).is_none());
        assert!(Scalar::try_from_f64(1e300).is_none());
    }
}
