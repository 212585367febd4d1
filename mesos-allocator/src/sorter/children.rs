//! The ordered children of a sorter node, kept in whichever structure suits how they are
//! walked.
//!
//! Two patterns dominate. With whole agents offered to one framework each (Mesos's
//! DeclineOffers), a visit stops at the first or second child and every allocation moves one
//! child, usually from the front to the back: a [`SortedRing`] does that with a comparison or
//! two, and walks in order at a step per child, but other moves shift the keys in between. So
//! a node keeps its children in a ring up to [`RING_MAX`] of them, and in a [`KeyHeap`] beyond
//! (a move costs a logarithm, whatever its distance). With many roles at their quota limits
//! (LargeAndSmallQuota), a visit skips thousands of children in a row: a B-tree walks them in
//! order at constant cost per step, where a heap pays a logarithm per step, so a heap turns to
//! a B-tree the first time a visit walks more than [`LONG_WALK`] of its children. A node starts
//! over with a ring when the sorter rebuilds its keys. All give the same order, so the choice
//! never changes a decision.

use std::collections::BTreeSet;

use super::heap::{KeyHeap, Slotted};
use super::ring::SortedRing;

/// Children walked in one visit beyond which a node's children move to a B-tree.
#[cfg(not(test))]
pub(super) const LONG_WALK: usize = 16;
/// Tiny in tests, so that the sorter's property tests walk B-trees as well as heaps.
#[cfg(test)]
pub(super) const LONG_WALK: usize = 2;

/// Children a ring holds before they move to a heap: a move in the ring shifts up to half of
/// them (40 bytes each), a few microseconds at this size, where the common move is constant.
#[cfg(not(test))]
pub(super) const RING_MAX: usize = 2048;
/// Tiny in tests, so that the sorter's property tests use rings, heaps and B-trees.
#[cfg(test)]
pub(super) const RING_MAX: usize = 3;

#[derive(Debug, Clone)]
pub(super) enum Children<K> {
    Ring(SortedRing<K>),
    Heap(KeyHeap<K>),
    Tree(BTreeSet<K>),
}

impl<K> Default for Children<K> {
    fn default() -> Self {
        Children::Ring(SortedRing::default())
    }
}

impl<K: Slotted> Children<K> {
    pub(super) fn len(&self) -> usize {
        match self {
            Children::Ring(r) => r.len(),
            Children::Heap(h) => h.len(),
            Children::Tree(t) => t.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the set, back to a ring. A ring keeps its memory: a sorter's rebuild empties
    /// and refills every node, most of them a ring of one.
    pub(super) fn clear(&mut self) {
        match self {
            Children::Ring(r) => r.clear(),
            _ => *self = Children::default(),
        }
    }

    /// The lowest key.
    pub(super) fn first(&self) -> Option<&K> {
        match self {
            Children::Ring(r) => r.first(),
            Children::Heap(h) => h.first(),
            Children::Tree(t) => t.first(),
        }
    }

    /// The second lowest key, where it is at hand: `None` from a heap, which would have to
    /// compare the root's children.
    pub(super) fn second(&self) -> Option<&K> {
        match self {
            Children::Ring(r) => r.second(),
            Children::Heap(_) => None,
            Children::Tree(t) => t.iter().nth(1),
        }
    }

    /// Every key, in no particular order.
    pub(super) fn for_each_unordered(&self, f: impl FnMut(&K)) {
        match self {
            Children::Ring(r) => r.iter().for_each(f),
            Children::Heap(h) => h.iter().for_each(f),
            Children::Tree(t) => t.iter().for_each(f),
        }
    }

    /// Adds `key`; `at` holds the positions a heap keeps by [`Slotted::slot`].
    pub(super) fn insert(&mut self, key: K, at: &mut [usize]) {
        match self {
            Children::Ring(r) if r.len() < RING_MAX => r.insert(key),
            Children::Ring(r) => {
                // Past the ring's size: to a heap, whose positions the inserts set.
                r.insert(key);
                self.finish_bulk(at);
            }
            Children::Heap(h) => h.insert(key, at),
            Children::Tree(t) => {
                t.insert(key);
            }
        }
    }

    /// Adds `key` as part of a bulk load into an emptied set, to be finished by
    /// [`Children::finish_bulk`]; until then only the length and emptiness may be asked for.
    pub(super) fn push_unsorted(&mut self, key: K, at: &mut [usize]) {
        match self {
            Children::Ring(r) => r.push_unsorted(key),
            _ => self.insert(key, at),
        }
    }

    /// Orders the keys of a bulk load, in a heap when they are too many for a ring.
    pub(super) fn finish_bulk(&mut self, at: &mut [usize]) {
        if let Children::Ring(r) = self {
            r.sort();
            if r.len() > RING_MAX {
                let mut heap = KeyHeap::default();
                for &k in r.iter() {
                    heap.insert(k, at);
                }
                *self = Children::Heap(heap);
            }
        }
    }

    /// Removes `key`; false when it is not here.
    pub(super) fn remove(&mut self, key: &K, at: &mut [usize]) -> bool {
        match self {
            Children::Ring(r) => r.remove(key),
            Children::Heap(h) => h.remove(key, at),
            Children::Tree(t) => t.remove(key),
        }
    }

    /// Replaces `old` by `new` (same slot); false when `old` is not here.
    ///
    /// The DeclineOffers move (a ring's lowest key, now the highest, to the back) is tried here,
    /// inlined into the sorter's update; every other move goes through the call below. Through
    /// the call, that move cost 94 instructions per allocation, most of them the calls'.
    #[inline]
    pub(super) fn replace(&mut self, old: &K, new: K, at: &mut [usize]) -> bool {
        if let Children::Ring(r) = self
            && r.front_to_back(old, new)
        {
            return true;
        }
        self.replace_any(old, new, at)
    }

    /// [`Children::replace`] for any move.
    #[inline(never)]
    fn replace_any(&mut self, old: &K, new: K, at: &mut [usize]) -> bool {
        match self {
            Children::Ring(r) => r.replace(old, new),
            Children::Heap(h) => h.replace(old, new, at),
            Children::Tree(t) => t.remove(old) && t.insert(new),
        }
    }

    /// Calls `f` on each key in ascending order while it returns true. Returns whether `f`
    /// went through every key, and whether the walk was long enough that the children should
    /// move to a B-tree ([`Children::settle_into_tree`]): never for a ring, which walks as
    /// cheaply.
    pub(super) fn visit_in_order(&self, mut f: impl FnMut(&K) -> bool) -> (bool, bool) {
        match self {
            Children::Ring(r) => (r.visit_in_order(f), false),
            Children::Heap(h) => {
                let mut steps = 0;
                let finished = h.visit_in_order(|k| {
                    steps += 1;
                    f(k)
                });
                (finished, steps > LONG_WALK)
            }
            Children::Tree(t) => (t.iter().all(f), false),
        }
    }

    /// Moves a heap's children into a B-tree, after a long walk.
    pub(super) fn settle_into_tree(&mut self) {
        if let Children::Heap(h) = self {
            *self = Children::Tree(h.iter().copied().collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct K(usize, usize);

    impl Slotted for K {
        fn slot(&self) -> usize {
            self.1
        }
    }

    fn walk(c: &Children<K>, limit: usize) -> (Vec<K>, (bool, bool)) {
        let mut seen = Vec::new();
        let result = c.visit_in_order(|k| {
            seen.push(*k);
            seen.len() < limit
        });
        (seen, result)
    }

    #[test]
    fn a_ring_turns_to_a_heap_past_its_size_and_the_heap_keeps_the_order() {
        let mut children = Children::default();
        let mut at = vec![usize::MAX; 8];
        for slot in 0..RING_MAX {
            children.insert(K(10 * (RING_MAX - slot), slot), &mut at);
        }
        assert!(matches!(children, Children::Ring(_)));
        let (ring_order, (finished, long)) = walk(&children, usize::MAX);
        assert!(finished && !long, "a ring never asks for a tree");
        children.insert(K(5, RING_MAX), &mut at);
        assert!(matches!(children, Children::Heap(_)));
        let (heap_order, _) = walk(&children, usize::MAX);
        assert_eq!(heap_order[0], K(5, RING_MAX));
        assert_eq!(heap_order[1..], ring_order[..]);
        // The heap knows where each key from the ring is.
        let lowest_from_ring = ring_order[0];
        assert!(children.replace(&lowest_from_ring, K(99, lowest_from_ring.1), &mut at));
        assert_eq!(
            walk(&children, usize::MAX).0.last(),
            Some(&K(99, lowest_from_ring.1))
        );
        assert!(children.remove(&K(99, lowest_from_ring.1), &mut at));
        assert_eq!(children.len(), RING_MAX);
    }

    #[test]
    fn a_long_walk_asks_for_a_tree_and_the_tree_keeps_the_order() {
        let mut children = Children::default();
        let mut at = vec![0; 64];
        for slot in 0..40 {
            children.insert(K((slot * 7) % 40, slot), &mut at);
        }
        assert!(
            matches!(children, Children::Heap(_)),
            "40 children are past a ring's size"
        );
        let (short, (finished, long)) = walk(&children, LONG_WALK);
        assert_eq!((short.len(), finished, long), (LONG_WALK, false, false));
        let (all, (finished, long)) = walk(&children, usize::MAX);
        assert!(finished && long, "walking all 40 children is a long walk");
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");

        children.settle_into_tree();
        assert!(matches!(children, Children::Tree(_)));
        assert_eq!(walk(&children, usize::MAX).0, all);
        let moved = all[0];
        assert!(children.replace(&moved, K(99, moved.1), &mut at));
        assert_eq!(walk(&children, usize::MAX).0.last(), Some(&K(99, moved.1)));
        assert!(children.remove(&K(99, moved.1), &mut at));
        assert_eq!(children.len(), 39);
        children.clear();
        assert!(matches!(children, Children::Ring(_)) && children.is_empty());
    }
}
