//! Scalar quantities by resource name: what DRF shares, quota and headroom are computed over.
//!
//! The allocator reasons about amounts, not about which reservation or range they come from, so
//! it keeps a small sorted list of `(name, fixed-point amount)` pairs instead of [`Resources`].

use std::fmt;

use mesos_core::resources::{ResourceValue, Resources};
use mesos_core::values::Scalar;

/// A resource name stored inline when short (`cpus`, `mem`, `disk`, `gpus` all are), so that
/// copying quantities around the allocation loop does not allocate.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Name {
    Inline { len: u8, bytes: [u8; 22] },
    Heap(std::sync::Arc<str>),
}

impl Name {
    fn new(s: &str) -> Name {
        if s.len() <= 22 {
            let mut bytes = [0u8; 22];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Name::Inline {
                len: u8::try_from(s.len()).unwrap_or(22),
                bytes,
            }
        } else {
            Name::Heap(std::sync::Arc::from(s))
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Name::Heap(s) => s.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // The bytes were copied from a `str` at a char boundary.
            Name::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or("")
            }
            Name::Heap(s) => s,
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The scalar kinds every agent has, in name order, kept in fixed slots so that the
/// arithmetic of the allocation loop is a few integer operations instead of name lookups.
const KNOWN: [&str; 4] = ["cpus", "disk", "gpus", "mem"];

fn known_slot(name: &str) -> Option<usize> {
    match name {
        "cpus" => Some(0),
        "disk" => Some(1),
        "gpus" => Some(2),
        "mem" => Some(3),
        _ => None,
    }
}

/// Amounts of scalar resources by name; no amount is zero or negative (absent means zero).
///
/// `cpus`, `disk`, `gpus` and `mem` live in fixed slots; other names in a short list sorted by
/// name, which stays unallocated unless custom resources appear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Quantities {
    /// Milli-amounts of [`KNOWN`], zero when absent.
    known: [i64; 4],
    /// Other names, sorted, all positive.
    other: Vec<(Name, i64)>,
}

impl Quantities {
    /// No quantities.
    pub const fn new() -> Quantities {
        Quantities {
            known: [0; 4],
            other: Vec::new(),
        }
    }

    /// Parses `cpus:1;mem:128` (scalars only).
    pub fn parse(text: &str) -> Result<Quantities, mesos_core::resources::ResourceError> {
        Ok(Quantities::of(&mesos_core::resources::parse_flag_text(
            text, "*",
        )?))
    }

    /// The scalar quantities in a bag of resources (reservations and flags ignored).
    pub fn of(resources: &Resources) -> Quantities {
        let mut q = Quantities::new();
        for r in resources.iter() {
            if let ResourceValue::Scalar(s) = r.value {
                q.add_milli(&r.name, s.milli());
            }
        }
        q
    }

    /// The amount of `name` (zero when absent).
    pub fn get(&self, name: &str) -> Scalar {
        Scalar::from_milli(self.get_milli(name))
    }

    fn other_position(&self, name: &str) -> Result<usize, usize> {
        self.other
            .binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
    }

    fn get_milli(&self, name: &str) -> i64 {
        if let Some(slot) = known_slot(name) {
            return self.known[slot];
        }
        match self.other_position(name) {
            Ok(i) => self.other[i].1,
            Err(_) => 0,
        }
    }

    /// Sets `name` to `amount` (zero or less removes it).
    pub fn set(&mut self, name: &str, amount: Scalar) {
        self.set_milli(name, amount.milli());
    }

    fn set_milli(&mut self, name: &str, milli: i64) {
        if let Some(slot) = known_slot(name) {
            self.known[slot] = milli.max(0);
            return;
        }
        match self.other_position(name) {
            Ok(i) if milli > 0 => self.other[i].1 = milli,
            Ok(i) => {
                self.other.remove(i);
            }
            Err(i) if milli > 0 => self.other.insert(i, (Name::new(name), milli)),
            Err(_) => {}
        }
    }

    /// Adds `milli` thousandths of `name` (negative amounts subtract, clamping at zero).
    pub(crate) fn add_milli(&mut self, name: &str, milli: i64) {
        if let Some(slot) = known_slot(name) {
            self.known[slot] = self.known[slot].saturating_add(milli).max(0);
            return;
        }
        let current = self.get_milli(name);
        self.set_milli(name, current.saturating_add(milli));
    }

    /// Names and amounts in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Scalar)> + '_ {
        let mut known = KNOWN
            .iter()
            .zip(self.known)
            .filter(|(_, m)| *m > 0)
            .map(|(n, m)| (*n, m))
            .peekable();
        let mut other = self.other.iter().map(|(n, m)| (n.as_str(), *m)).peekable();
        std::iter::from_fn(move || {
            let next = match (known.peek(), other.peek()) {
                (Some(k), Some(o)) if k.0 <= o.0 => known.next(),
                (Some(_), Some(_)) => other.next(),
                (Some(_), None) => known.next(),
                (None, _) => other.next(),
            };
            next.map(|(n, m)| (n, Scalar::from_milli(m)))
        })
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.known == [0; 4] && self.other.is_empty()
    }

    /// Adds `other`.
    pub fn add(&mut self, other: &Quantities) {
        // Both sides are never negative, so a sum below zero is an overflow: the four sums
        // are made without a check each (this runs for every offer, several times), and
        // redone saturating in the case that never happens with real amounts.
        let mut sums = [0i64; 4];
        for (sum, (mine, theirs)) in sums.iter_mut().zip(self.known.iter().zip(&other.known)) {
            *sum = mine.wrapping_add(*theirs);
        }
        if sums.iter().fold(0, |any, s| any | s) < 0 {
            self.add_known_saturating(other);
        } else {
            self.known = sums;
        }
        if !other.other.is_empty() {
            self.add_others(other);
        }
    }

    /// [`Quantities::add`]'s fixed slots when a sum overflows, apart so that the common case
    /// carries no code for it.
    #[cold]
    #[inline(never)]
    fn add_known_saturating(&mut self, other: &Quantities) {
        for (mine, theirs) in self.known.iter_mut().zip(other.known) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// [`Quantities::add`] for the names outside the fixed slots: apart, so that the common
    /// case needs few registers (and so saves few).
    #[cold]
    #[inline(never)]
    fn add_others(&mut self, other: &Quantities) {
        for (n, m) in &other.other {
            self.add_milli(n.as_str(), *m);
        }
    }

    /// Subtracts `other`, dropping names that reach zero or below.
    pub fn subtract(&mut self, other: &Quantities) {
        for (mine, theirs) in self.known.iter_mut().zip(other.known) {
            *mine = mine.saturating_sub(theirs).max(0);
        }
        for (n, m) in &other.other {
            self.add_milli(n.as_str(), -*m);
        }
    }

    /// `self - other`, clamped at zero per name.
    pub fn minus(&self, other: &Quantities) -> Quantities {
        let mut out = self.clone();
        out.subtract(other);
        out
    }

    /// True when every amount of `other` is at most the same amount here.
    pub fn contains(&self, other: &Quantities) -> bool {
        self.known.iter().zip(other.known).all(|(a, b)| *a >= b)
            && (other.other.is_empty() || self.contains_others(other))
    }

    /// [`Quantities::contains`] for the names outside the fixed slots, apart like
    /// [`Quantities::add_others`].
    #[cold]
    #[inline(never)]
    fn contains_others(&self, other: &Quantities) -> bool {
        other
            .other
            .iter()
            .all(|(n, m)| self.get_milli(n.as_str()) >= *m)
    }

    /// The dominant share of `self` relative to `total`: the largest `self[name] / total[name]`
    /// over the names in `total`.
    pub fn dominant_share(&self, total: &Quantities) -> f64 {
        // Amounts are never negative, so an absent amount (zero) gives a zero share; only a
        // kind absent from the total is left out. Written without branches on the amounts,
        // as this runs once per offer, and shares are never NaN, so a plain comparison takes
        // the larger.
        let mut share = 0.0f64;
        for (a, t) in self.known.iter().zip(total.known) {
            let s = *a as f64 / t.max(1) as f64;
            if t > 0 && s > share {
                share = s;
            }
        }
        if !self.other.is_empty() {
            share = share.max(self.dominant_share_of_others(total));
        }
        share
    }

    /// [`Quantities::dominant_share`] over the names outside the fixed slots, apart like
    /// [`Quantities::add_others`].
    #[cold]
    #[inline(never)]
    fn dominant_share_of_others(&self, total: &Quantities) -> f64 {
        let mut share = 0.0f64;
        for (n, t) in &total.other {
            let a = self.get_milli(n.as_str());
            if a > 0 {
                share = share.max(a as f64 / *t as f64);
            }
        }
        share
    }
}

impl fmt::Display for Quantities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("{}");
        }
        for (i, (n, m)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{n}:{m}")?;
        }
        Ok(())
    }
}

/// Quota limits: a cap per resource name; names without a cap are unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    caps: Quantities,
    /// Names capped at zero (kept apart because [`Quantities`] holds no zero entries).
    zero: Vec<String>,
}

impl Limits {
    /// No limits.
    pub fn none() -> Limits {
        Limits::default()
    }

    /// Caps each named resource at the given amount.
    pub fn from_caps(caps: impl IntoIterator<Item = (String, Scalar)>) -> Limits {
        let mut out = Limits::default();
        for (name, amount) in caps {
            if amount.milli() <= 0 {
                out.zero.push(name);
            } else {
                out.caps.set(&name, amount);
            }
        }
        out
    }

    /// True when nothing is capped.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.zero.is_empty()
    }

    /// The cap for `name`, if any.
    pub fn get(&self, name: &str) -> Option<Scalar> {
        if self.zero.iter().any(|z| z == name) {
            return Some(Scalar::ZERO);
        }
        let v = self.caps.get(name);
        (!v.is_zero()).then_some(v)
    }

    /// Every cap, by name.
    pub fn caps(&self) -> impl Iterator<Item = (&str, Scalar)> + '_ {
        self.caps
            .iter()
            .chain(self.zero.iter().map(|n| (n.as_str(), Scalar::ZERO)))
    }

    /// The caps left after `consumed` is taken off (never below zero).
    pub fn minus(&self, consumed: &Quantities) -> Limits {
        let mut out = Limits {
            caps: Quantities::new(),
            zero: self.zero.clone(),
        };
        for (name, cap) in self.caps.iter() {
            let left = cap - consumed.get(name);
            if left.milli() <= 0 {
                out.zero.push(name.to_string());
            } else {
                out.caps.set(name, left);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_and_share() {
        let total = Quantities::parse("cpus:10;mem:1000").unwrap();
        let mut a = Quantities::parse("cpus:1;mem:500").unwrap();
        assert_eq!(a.dominant_share(&total), 0.5);
        a.subtract(&Quantities::parse("mem:600").unwrap());
        assert_eq!(a.to_string(), "cpus:1");
        assert!(total.contains(&a) && !a.contains(&total));
        let limits = Limits::from_caps([("cpus".to_string(), Scalar::from_units(2))]);
        assert_eq!(limits.minus(&a).get("cpus"), Some(Scalar::from_units(1)));
        assert_eq!(limits.minus(&total).get("cpus"), Some(Scalar::ZERO));
        assert_eq!(limits.get("mem"), None);
    }

    #[test]
    fn sums_saturate_and_custom_names_add_up() {
        let mut q = Quantities::parse("cpus:1;zz:1").unwrap();
        q.add(&Quantities::parse("mem:2;zz:2;aa:1").unwrap());
        assert_eq!(q.to_string(), "aa:1;cpus:1;mem:2;zz:3");
        let total = Quantities::parse("cpus:100;zz:4").unwrap();
        assert_eq!(q.dominant_share(&total), 0.75, "zz dominates");
        assert!(q.contains(&Quantities::parse("zz:3;aa:1").unwrap()));
        assert!(!q.contains(&Quantities::parse("zz:3;aa:2").unwrap()));
        // An overflowing sum stops at the largest amount, and the other slots still add.
        let mut big = Quantities::new();
        big.known[0] = i64::MAX - 1;
        big.add(&Quantities::parse("cpus:1;mem:1").unwrap());
        assert_eq!(big.known[0], i64::MAX);
        assert_eq!(big.get("mem"), Scalar::from_units(1));
    }

    #[test]
    fn custom_names_interleave_with_the_known_ones_in_name_order() {
        let mut q = Quantities::parse("mem:2;zz:1;cpus:1;custom:3;disk:4;gpus:1").unwrap();
        assert_eq!(q.to_string(), "cpus:1;custom:3;disk:4;gpus:1;mem:2;zz:1");
        q.subtract(&Quantities::parse("custom:5;gpus:1").unwrap());
        assert_eq!(q.to_string(), "cpus:1;disk:4;mem:2;zz:1");
        assert_eq!(q.get("custom"), Scalar::ZERO);
        let total = Quantities::parse("cpus:4;zz:2").unwrap();
        assert_eq!(q.dominant_share(&total), 0.5);
        assert!(q.contains(&Quantities::parse("zz:1;mem:1").unwrap()));
        assert!(!q.contains(&Quantities::parse("zz:2").unwrap()));
        assert_eq!(q, Quantities::parse("zz:1;disk:4;mem:2;cpus:1").unwrap());
        assert_eq!(Quantities::new().to_string(), "{}");
    }
}
