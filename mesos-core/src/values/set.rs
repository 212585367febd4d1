//! Sets of strings (for example a resource of named devices, `{a, b}`).

use std::collections::BTreeSet;
use std::fmt;

/// A set of string items. Mesos compares sets without regard to order, so they are kept sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Set {
    items: BTreeSet<String>,
}

impl Set {
    /// The empty set.
    pub const fn new() -> Set {
        Set {
            items: BTreeSet::new(),
        }
    }

    /// Builds a set, or names the first item given twice (Mesos rejects duplicates).
    pub fn from_unique<I, S>(items: I) -> Result<Set, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = BTreeSet::new();
        for item in items {
            let item = item.into();
            if set.contains(&item) {
                return Err(item);
            }
            set.insert(item);
        }
        Ok(Set { items: set })
    }

    /// The items in sorted order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.items.iter().map(String::as_str)
    }

    /// True when the set has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when every item of `other` is in `self`.
    pub fn contains(&self, other: &Set) -> bool {
        other.items.is_subset(&self.items)
    }

    /// Adds the items of `other`.
    pub fn add_assign(&mut self, other: &Set) {
        self.items.extend(other.items.iter().cloned());
    }

    /// Removes the items of `other`.
    pub fn sub_assign(&mut self, other: &Set) {
        self.items.retain(|i| !other.items.contains(i));
    }
}

impl fmt::Display for Set {
    /// Mesos's text form: `{a, b}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(item)?;
        }
        f.write_str("}")
    }
}
