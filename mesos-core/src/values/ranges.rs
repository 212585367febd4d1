//! Sets of unsigned integers held as sorted, coalesced, inclusive ranges (ports, for example).
//!
//! The representation is canonical: ranges are sorted, disjoint and non-adjacent (`[1-2, 3-4]`
//! becomes `[1-4]`). Canonical form makes equality structural and lets union, difference and
//! containment run as one linear merge over both operands.

use std::fmt;

/// Up to this many ranges, in-place edits and binary search beat a full merge.
const SMALL: usize = 8;

/// One inclusive range `begin..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    /// First value in the range.
    pub begin: u64,
    /// Last value in the range (inclusive).
    pub end: u64,
}

impl Range {
    /// A range; `begin` must not exceed `end` (checked by the constructors of [`Ranges`]).
    pub const fn new(begin: u64, end: u64) -> Range {
        Range { begin, end }
    }

    /// Number of values in the range.
    pub const fn count(&self) -> u64 {
        self.end - self.begin + 1
    }
}

/// A canonical set of inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ranges {
    ranges: Vec<Range>,
}

/// Why a list of ranges was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangesError {
    /// A range whose begin is greater than its end.
    #[error("invalid range [{begin}-{end}]: begin is greater than end")]
    Inverted {
        /// The range's begin.
        begin: u64,
        /// The range's end.
        end: u64,
    },
    /// Two ranges that share values, which Mesos rejects in a single resource.
    #[error("overlapping ranges [{}-{}] and [{}-{}]", .first.begin, .first.end, .second.begin, .second.end)]
    Overlapping {
        /// The earlier range.
        first: Range,
        /// The range that overlaps it.
        second: Range,
    },
}

impl Ranges {
    /// The empty set.
    pub const fn new() -> Ranges {
        Ranges { ranges: Vec::new() }
    }

    /// A set holding one range.
    pub fn single(begin: u64, end: u64) -> Result<Ranges, RangesError> {
        Ranges::from_ranges_coalescing([Range::new(begin, end)])
    }

    /// Builds the union of arbitrary ranges, merging overlaps. Inverted ranges are an error.
    pub fn from_ranges_coalescing(
        ranges: impl IntoIterator<Item = Range>,
    ) -> Result<Ranges, RangesError> {
        let mut list: Vec<Range> = ranges.into_iter().collect();
        if let Some(bad) = list.iter().find(|r| r.begin > r.end) {
            return Err(RangesError::Inverted {
                begin: bad.begin,
                end: bad.end,
            });
        }
        list.sort_unstable();
        Ok(Ranges {
            ranges: coalesce_sorted(list),
        })
    }

    /// Builds a set from ranges that must be valid and pairwise disjoint (adjacent is fine), the
    /// rule Mesos applies to a resource given as JSON or protobuf.
    pub fn from_disjoint(ranges: impl IntoIterator<Item = Range>) -> Result<Ranges, RangesError> {
        let mut list: Vec<Range> = ranges.into_iter().collect();
        if let Some(bad) = list.iter().find(|r| r.begin > r.end) {
            return Err(RangesError::Inverted {
                begin: bad.begin,
                end: bad.end,
            });
        }
        list.sort_unstable();
        for pair in list.windows(2) {
            if pair[1].begin <= pair[0].end {
                return Err(RangesError::Overlapping {
                    first: pair[0],
                    second: pair[1],
                });
            }
        }
        Ok(Ranges {
            ranges: coalesce_sorted(list),
        })
    }

    /// The canonical ranges, sorted.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Range> + '_ {
        self.ranges.iter()
    }

    /// The canonical ranges as a slice.
    pub fn as_slice(&self) -> &[Range] {
        &self.ranges
    }

    /// True when no value is in the set.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of values in the set (saturating at `u64::MAX`).
    pub fn count(&self) -> u64 {
        self.ranges
            .iter()
            .fold(0u64, |acc, r| acc.saturating_add(r.count()))
    }

    /// True when `value` is in the set.
    pub fn contains_value(&self, value: u64) -> bool {
        let idx = self.ranges.partition_point(|r| r.end < value);
        self.ranges.get(idx).is_some_and(|r| r.begin <= value)
    }

    /// True when every value of `other` is in `self`.
    pub fn contains(&self, other: &Ranges) -> bool {
        // A few ranges (a task's ports) are looked up by binary search; long lists are merged.
        if other.ranges.len() <= SMALL {
            return other.ranges.iter().all(|want| {
                let i = self.ranges.partition_point(|have| have.end < want.begin);
                self.ranges
                    .get(i)
                    .is_some_and(|have| have.begin <= want.begin && want.end <= have.end)
            });
        }
        let mut mine = self.ranges.iter().peekable();
        'outer: for want in &other.ranges {
            while let Some(have) = mine.peek() {
                if have.end < want.begin {
                    mine.next();
                    continue;
                }
                if have.begin <= want.begin && want.end <= have.end {
                    continue 'outer;
                }
                return false;
            }
            return false;
        }
        true
    }

    /// The union of both sets.
    pub fn union(&self, other: &Ranges) -> Ranges {
        if other.ranges.is_empty() {
            return self.clone();
        }
        if self.ranges.is_empty() {
            return other.clone();
        }
        let mut merged = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        let (mut a, mut b) = (
            self.ranges.iter().peekable(),
            other.ranges.iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => {
                    if x <= y {
                        a.next()
                    } else {
                        b.next()
                    }
                }
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some(r) = next {
                push_coalescing(&mut merged, *r);
            }
        }
        Ranges { ranges: merged }
    }

    /// The values of `self` that are not in `other`.
    pub fn difference(&self, other: &Ranges) -> Ranges {
        if other.ranges.is_empty() || self.ranges.is_empty() {
            return self.clone();
        }
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut cut = other.ranges.iter().peekable();
        for r in &self.ranges {
            let mut begin = r.begin;
            let end = r.end;
            let mut alive = true;
            while let Some(c) = cut.peek() {
                if c.end < begin {
                    cut.next();
                    continue;
                }
                if c.begin > end {
                    break;
                }
                // `c` overlaps [begin, end].
                if c.begin > begin {
                    out.push(Range::new(begin, c.begin - 1));
                }
                if c.end >= end {
                    alive = false;
                    break;
                }
                begin = c.end + 1;
                cut.next();
            }
            if alive {
                out.push(Range::new(begin, end));
            }
        }
        Ranges { ranges: out }
    }

    /// Adds `other` to `self` in place.
    pub fn add_assign(&mut self, other: &Ranges) {
        if other.ranges.len() <= SMALL {
            for r in &other.ranges {
                self.insert(*r);
            }
        } else {
            *self = self.union(other);
        }
    }

    /// Removes `other` from `self` in place.
    pub fn sub_assign(&mut self, other: &Ranges) {
        if other.ranges.len() <= SMALL {
            for r in &other.ranges {
                self.remove(*r);
            }
        } else {
            *self = self.difference(other);
        }
    }

    /// Adds one range in place: O(log n) to find it, plus a shift of the tail.
    fn insert(&mut self, r: Range) {
        // Entries that overlap or touch `r` form the window `lo..hi`.
        let lo = self
            .ranges
            .partition_point(|x| x.end.saturating_add(1) < r.begin);
        let hi = self
            .ranges
            .partition_point(|x| x.begin <= r.end.saturating_add(1));
        if lo >= hi {
            self.ranges.insert(lo, r);
            return;
        }
        let merged = Range::new(
            r.begin.min(self.ranges[lo].begin),
            r.end.max(self.ranges[hi - 1].end),
        );
        self.ranges[lo] = merged;
        self.ranges.drain(lo + 1..hi);
    }

    /// Removes one range in place, splitting the entries it cuts.
    fn remove(&mut self, r: Range) {
        let lo = self.ranges.partition_point(|x| x.end < r.begin);
        let hi = self.ranges.partition_point(|x| x.begin <= r.end);
        if lo >= hi {
            return;
        }
        let (first, last) = (self.ranges[lo], self.ranges[hi - 1]);
        let left = (first.begin < r.begin).then(|| Range::new(first.begin, r.begin - 1));
        let right = (last.end > r.end).then(|| Range::new(r.end + 1, last.end));
        self.ranges.splice(lo..hi, left.into_iter().chain(right));
    }
}

fn push_coalescing(out: &mut Vec<Range>, r: Range) {
    if let Some(last) = out.last_mut()
        && r.begin <= last.end.saturating_add(1)
    {
        last.end = last.end.max(r.end);
        return;
    }
    out.push(r);
}

fn coalesce_sorted(list: Vec<Range>) -> Vec<Range> {
    let mut out = Vec::with_capacity(list.len());
    for r in list {
        push_coalescing(&mut out, r);
    }
    out
}

impl fmt::Display for Ranges {
    /// Mesos's text form: `[31000-31005, 31010-31010]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}-{}", r.begin, r.end)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(list: &[(u64, u64)]) -> Ranges {
        Ranges::from_ranges_coalescing(list.iter().map(|&(b, e)| Range::new(b, e))).unwrap()
    }

    #[test]
    fn coalesces_adjacent_and_overlapping() {
        assert_eq!(
            r(&[(3, 4), (1, 2), (10, 12), (11, 20)]).to_string(),
            "[1-4, 10-20]"
        );
    }

    #[test]
    fn rejects_overlap_when_disjoint_required() {
        let err = Ranges::from_disjoint([Range::new(1, 5), Range::new(5, 6)]).unwrap_err();
        assert_eq!(err.to_string(), "overlapping ranges [1-5] and [5-6]");
        assert!(Ranges::from_disjoint([Range::new(1, 5), Range::new(6, 6)]).is_ok());
        let err = Ranges::single(5, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid range [5-1]: begin is greater than end"
        );
    }

    #[test]
    fn difference_splits_ranges() {
        let a = r(&[(1, 10), (20, 30)]);
        assert_eq!(
            a.difference(&r(&[(3, 4), (8, 22), (30, 40)])).to_string(),
            "[1-2, 5-7, 23-29]"
        );
        assert_eq!(a.difference(&r(&[(0, 100)])), Ranges::new());
        assert_eq!(a.difference(&Ranges::new()), a);
    }

    #[test]
    fn containment() {
        let a = r(&[(1, 10), (20, 30)]);
        assert!(a.contains(&r(&[(2, 3), (20, 30)])));
        assert!(!a.contains(&r(&[(9, 11)])));
        assert!(!a.contains(&r(&[(31, 31)])));
        assert!(a.contains(&Ranges::new()));
        assert!(a.contains_value(25) && !a.contains_value(15));
        assert_eq!(a.count(), 21);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let a = r(&[(u64::MAX - 1, u64::MAX)]);
        let b = r(&[(0, 0)]);
        assert_eq!(
            a.union(&b).to_string(),
            format!("[0-0, {}-{}]", u64::MAX - 1, u64::MAX)
        );
        assert_eq!(a.difference(&r(&[(u64::MAX, u64::MAX)])).count(), 1);
    }
}
