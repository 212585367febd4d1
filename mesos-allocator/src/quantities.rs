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

/// Amounts of scalar resources by name, sorted by name; no entry is zero or negative.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Quantities {
    entries: Vec<(Name, i64)>,
}

impl Quantities {
    /// No quantities.
    pub const fn new() -> Quantities {
        Quantities {
            entries: Vec::new(),
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

    fn get_milli(&self, name: &str) -> i64 {
        match self
            .entries
            .binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
        {
            Ok(i) => self.entries[i].1,
            Err(_) => 0,
        }
    }

    /// Sets `name` to `amount`.
    pub fn set(&mut self, name: &str, amount: Scalar) {
        let milli = amount.milli();
        match self
            .entries
            .binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
        {
            Ok(i) if milli > 0 => self.entries[i].1 = milli,
            Ok(i) => {
                self.entries.remove(i);
            }
            Err(i) if milli > 0 => self.entries.insert(i, (Name::new(name), milli)),
            Err(_) => {}
        }
    }

    fn add_milli(&mut self, name: &str, milli: i64) {
        let current = self.get_milli(name);
        self.set(name, Scalar::from_milli(current.saturating_add(milli)));
    }

    /// Names and amounts in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Scalar)> + '_ {
        self.entries
            .iter()
            .map(|(n, m)| (n.as_str(), Scalar::from_milli(*m)))
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `other`.
    pub fn add(&mut self, other: &Quantities) {
        for (n, m) in &other.entries {
            self.add_milli(n.as_str(), *m);
        }
    }

    /// Subtracts `other`, dropping names that reach zero or below.
    pub fn subtract(&mut self, other: &Quantities) {
        for (n, m) in &other.entries {
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
        other
            .entries
            .iter()
            .all(|(n, m)| self.get_milli(n.as_str()) >= *m)
    }

    /// The dominant share of `self` relative to `total`: the largest `self[name] / total[name]`
    /// over the names in `total`.
    pub fn dominant_share(&self, total: &Quantities) -> f64 {
        let mut share = 0.0f64;
        for (n, t) in &total.entries {
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
        if self.entries.is_empty() {
            return f.write_str("{}");
        }
        for (i, (n, m)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{}:{}", n.as_str(), Scalar::from_milli(*m))?;
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
}
