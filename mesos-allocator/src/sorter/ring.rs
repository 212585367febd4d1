//! The ordered set of a sorter node's children as a sorted ring buffer.
//!
//! When whole agents go to one framework each (Mesos's DeclineOffers), the framework offered
//! an agent is the lowest child and, its share now the highest, moves to the back. In a sorted
//! ring that is taking the front off and putting it at the back, with a comparison or two; a
//! heap sifts it down every level. In-order walks cost a step per child. Other moves shift the
//! keys in between (the shorter side of the ring), which is why a node's children leave the
//! ring for a heap past [`super::children::RING_MAX`] of them.

use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub(super) struct SortedRing<K> {
    keys: VecDeque<K>,
}

impl<K> Default for SortedRing<K> {
    fn default() -> Self {
        SortedRing {
            keys: VecDeque::new(),
        }
    }
}

impl<K: Ord + Copy> SortedRing<K> {
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The lowest key.
    pub(super) fn first(&self) -> Option<&K> {
        self.keys.front()
    }

    /// The second lowest key.
    pub(super) fn second(&self) -> Option<&K> {
        self.keys.get(1)
    }

    /// The keys in ascending order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &K> {
        self.keys.iter()
    }

    pub(super) fn insert(&mut self, key: K) {
        match self.position_for(&key) {
            at if at == self.keys.len() => self.keys.push_back(key),
            0 => self.keys.push_front(key),
            at => self.keys.insert(at, key),
        }
    }

    /// Adds `key` at the back, out of order: a bulk load, which [`SortedRing::sort`] must
    /// finish before the ring is used otherwise. Loading keys one by one in order would shift
    /// half the ring per key.
    pub(super) fn push_unsorted(&mut self, key: K) {
        self.keys.push_back(key);
    }

    /// Puts the keys in order after [`SortedRing::push_unsorted`].
    pub(super) fn sort(&mut self) {
        // Most nodes of a rebuilt sorter hold one child or none: nothing to order.
        if self.keys.len() > 1 {
            self.keys.make_contiguous().sort_unstable();
        }
    }

    /// Removes every key, keeping the memory.
    pub(super) fn clear(&mut self) {
        self.keys.clear();
    }

    /// Removes `key`; false when it is not here.
    pub(super) fn remove(&mut self, key: &K) -> bool {
        match self.find(key) {
            Some(i) => {
                self.keys.remove(i);
                true
            }
            None => false,
        }
    }

    /// The DeclineOffers move, checked with two comparisons before any index arithmetic: when
    /// `old` is the lowest key and `new` is above every key, `old` goes from the front and `new`
    /// to the back. False, with nothing changed, otherwise.
    #[inline]
    pub(super) fn front_to_back(&mut self, old: &K, new: K) -> bool {
        if self.keys.front() == Some(old) && self.keys.back().is_some_and(|last| *last < new) {
            self.keys.pop_front();
            self.keys.push_back(new);
            return true;
        }
        false
    }

    /// Replaces `old` by `new`; false when `old` is not here.
    pub(super) fn replace(&mut self, old: &K, new: K) -> bool {
        if self.front_to_back(old, new) {
            return true;
        }
        // The same move for the second key, when the lowest client was passed over (it had
        // declined the agent).
        if self.keys.get(1) == Some(old) && self.keys.back().is_some_and(|last| *last < new) {
            self.move_second_to_back(new);
            return true;
        }
        let Some(i) = self.find(old) else {
            return false;
        };
        let fits_here = (i == 0 || self.keys[i - 1] < new)
            && self.keys.get(i + 1).is_none_or(|next| new < *next);
        if fits_here {
            self.keys[i] = new;
        } else {
            if i == 0 {
                self.keys.pop_front();
            } else {
                self.keys.remove(i);
            }
            self.insert(new);
        }
        true
    }

    /// Replaces the second key by `new`, which is above every key: the first key takes the
    /// second's place and the front goes (a general removal from the middle would shift keys
    /// around the ring's wrap point). Out of line, so that the front-to-back move above keeps
    /// its short inlined path.
    #[inline(never)]
    fn move_second_to_back(&mut self, new: K) {
        self.keys.swap(0, 1);
        self.keys.pop_front();
        self.keys.push_back(new);
    }

    /// Calls `f` on each key in ascending order while it returns true; false when `f` stopped.
    pub(super) fn visit_in_order(&self, f: impl FnMut(&K) -> bool) -> bool {
        self.keys.iter().all(f)
    }

    /// Where `key` is. The front is tried first: an allocation most often goes to the lowest
    /// child.
    fn find(&self, key: &K) -> Option<usize> {
        if self.keys.front() == Some(key) {
            return Some(0);
        }
        // Next the second: when the lowest child declined, the agent goes to the one after it.
        if self.keys.get(1) == Some(key) {
            return Some(1);
        }
        self.keys.binary_search(key).ok()
    }

    /// Where `key` belongs. The back is tried first: a child just allocated to most often has
    /// the highest key.
    fn position_for(&self, key: &K) -> usize {
        match self.keys.back() {
            Some(last) if *last < *key => self.keys.len(),
            None => 0,
            Some(_) => self.keys.partition_point(|k| k < key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32),
        Remove(u32),
        Replace(u32, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..30u32).prop_map(Op::Insert),
            (0..30u32).prop_map(Op::Remove),
            (0..30u32, 0..30u32).prop_map(|(a, b)| Op::Replace(a, b)),
        ]
    }

    proptest! {
        /// The ring holds the same keys as a B-tree set under the same operations, and walks
        /// them in the same order (whole or stopped early).
        #[test]
        fn agrees_with_an_ordered_set(ops in proptest::collection::vec(op(), 1..200), stop in 0..35usize) {
            let mut ring = SortedRing::default();
            let mut set = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(k) if !set.contains(&k) => {
                        ring.insert(k);
                        set.insert(k);
                    }
                    Op::Insert(_) => {}
                    Op::Remove(k) => prop_assert_eq!(ring.remove(&k), set.remove(&k)),
                    Op::Replace(old, new) if set.contains(&old) && (old == new || !set.contains(&new)) => {
                        prop_assert!(ring.replace(&old, new));
                        set.remove(&old);
                        set.insert(new);
                    }
                    Op::Replace(old, new) if !set.contains(&old) => {
                        prop_assert!(!ring.replace(&old, new), "replaced an absent key");
                    }
                    Op::Replace(..) => {}
                }
                prop_assert_eq!(ring.len(), set.len());
                prop_assert_eq!(ring.first(), set.first());
                prop_assert!(ring.iter().eq(set.iter()));
            }
            let mut prefix = Vec::new();
            let finished = ring.visit_in_order(|k| { prefix.push(*k); prefix.len() < stop });
            prop_assert_eq!(finished, stop > set.len() || set.is_empty());
            prop_assert_eq!(prefix, set.iter().copied().take(stop.max(1)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_bulk_load_sorted_is_the_ring_of_the_same_keys() {
        let mut loaded = SortedRing::default();
        let mut inserted = SortedRing::default();
        for k in [30, 10, 50, 20, 40] {
            loaded.push_unsorted(k);
            inserted.insert(k);
        }
        loaded.sort();
        assert!(loaded.iter().eq(inserted.iter()));
        assert!(loaded.replace(&10, 60) && inserted.replace(&10, 60));
        assert!(loaded.iter().eq(inserted.iter()));
    }

    #[test]
    fn the_lowest_moved_past_the_highest_goes_to_the_back() {
        let mut ring = SortedRing::default();
        for k in [10, 20, 30] {
            ring.insert(k);
        }
        assert!(ring.replace(&10, 40));
        assert!(ring.replace(&20, 25));
        assert!(ring.replace(&40, 5));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [5, 25, 30]);
    }
}
