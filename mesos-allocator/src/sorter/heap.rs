//! The ordered set of a sorter node's children: an indexed binary min-heap.
//!
//! Allocation cycles mostly ask two things of a node's children: the lowest one (a visit
//! usually stops at the first or second child), and moving one child that just received an
//! allocation to its new place, which is most often at the back. A heap does the move with one
//! comparison per level and no memory allocation, where a B-tree searched two root-to-leaf
//! paths and split or merged nodes; a full in-order walk, which a heap makes costlier, only
//! happens when many children in a row are skipped. Each key's position is kept in a slice
//! indexed by [`Slotted::slot`], shared by all the heaps of one sorter (a node is in at most one
//! parent's heap), so a key can be found, moved or removed without a search.

use smallvec::SmallVec;

/// A heap key that names the slot where its position is kept.
pub(super) trait Slotted: Copy + Ord {
    fn slot(&self) -> usize;
}

#[derive(Debug, Clone)]
pub(super) struct KeyHeap<K> {
    keys: Vec<K>,
}

impl<K> Default for KeyHeap<K> {
    fn default() -> Self {
        KeyHeap { keys: Vec::new() }
    }
}

impl<K: Slotted> KeyHeap<K> {
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The lowest key.
    pub(super) fn first(&self) -> Option<&K> {
        self.keys.first()
    }

    /// Every key, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &K> {
        self.keys.iter()
    }

    pub(super) fn insert(&mut self, key: K, at: &mut [usize]) {
        self.keys.push(key);
        self.sift_up(self.keys.len() - 1, key, at);
    }

    /// Removes `key`; false when it is not in this heap.
    pub(super) fn remove(&mut self, key: &K, at: &mut [usize]) -> bool {
        let Some(i) = self.find(key, at) else {
            return false;
        };
        let last = self.keys.pop().expect("found in a non-empty heap");
        if i < self.keys.len() {
            self.place(i, key, last, at);
        }
        true
    }

    /// Replaces `old` by `new`, which must have the same slot; false when `old` is not here.
    pub(super) fn replace(&mut self, old: &K, new: K, at: &mut [usize]) -> bool {
        let Some(i) = self.find(old, at) else {
            return false;
        };
        self.place(i, old, new, at);
        true
    }

    /// Calls `f` on each key in ascending order while it returns true; false when `f` stopped.
    ///
    /// The walk is a best-first search of the heap: the next key is the lowest of the children
    /// of the keys already visited, kept in a small heap of its own.
    pub(super) fn visit_in_order(&self, mut f: impl FnMut(&K) -> bool) -> bool {
        let keys = &self.keys;
        let Some(first) = keys.first() else {
            return true;
        };
        if !f(first) {
            return false;
        }
        // The second key is the lower child of the first; most visits stop at it, before any
        // frontier is needed.
        let second = match keys.len() {
            1 => return true,
            2 => 1,
            _ if keys[2] < keys[1] => 2,
            _ => 1,
        };
        if !f(&keys[second]) {
            return false;
        }
        let mut frontier: SmallVec<[usize; 16]> = SmallVec::new();
        let push_children = |frontier: &mut SmallVec<[usize; 16]>, i: usize| {
            for child in [2 * i + 1, 2 * i + 2] {
                if child < keys.len() {
                    frontier.push(child);
                    let mut j = frontier.len() - 1;
                    while j > 0 {
                        let parent = (j - 1) / 2;
                        if keys[frontier[parent]] <= keys[frontier[j]] {
                            break;
                        }
                        frontier.swap(parent, j);
                        j = parent;
                    }
                }
            }
        };
        // The first key's other child, if any, then the second key's children.
        if keys.len() > 2 {
            frontier.push(3 - second);
        }
        push_children(&mut frontier, second);
        while let Some(i) = pop_lowest(&mut frontier, keys) {
            if !f(&keys[i]) {
                return false;
            }
            push_children(&mut frontier, i);
        }
        true
    }

    fn find(&self, key: &K, at: &[usize]) -> Option<usize> {
        let i = *at.get(key.slot())?;
        (self.keys.get(i) == Some(key)).then_some(i)
    }

    /// Puts `new` at position `i`, whose key was `old`, and restores the heap order.
    fn place(&mut self, i: usize, old: &K, new: K, at: &mut [usize]) {
        if new < *old {
            self.sift_up(i, new, at);
        } else {
            self.sift_down(i, new, at);
        }
    }

    fn set(&mut self, i: usize, key: K, at: &mut [usize]) {
        self.keys[i] = key;
        at[key.slot()] = i;
    }

    fn sift_up(&mut self, mut i: usize, key: K, at: &mut [usize]) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.keys[parent] <= key {
                break;
            }
            self.set(i, self.keys[parent], at);
            i = parent;
        }
        self.set(i, key, at);
    }

    /// Moves the hole at `i` down to a leaf along the lower children, then lets `key` rise
    /// from there: a key that grew usually belongs near the bottom, so this takes about one
    /// comparison per level where the textbook sift takes two.
    fn sift_down(&mut self, mut i: usize, key: K, at: &mut [usize]) {
        let len = self.keys.len();
        loop {
            let left = 2 * i + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let lower = if right < len && self.keys[right] < self.keys[left] {
                right
            } else {
                left
            };
            self.set(i, self.keys[lower], at);
            i = lower;
        }
        self.sift_up(i, key, at);
    }
}

/// Pops the index whose key is lowest from `frontier`, itself a binary heap of indices.
fn pop_lowest<K: Ord>(frontier: &mut SmallVec<[usize; 16]>, keys: &[K]) -> Option<usize> {
    let lowest = *frontier.first()?;
    let last = frontier.pop().expect("non-empty");
    if !frontier.is_empty() {
        frontier[0] = last;
        let mut j = 0;
        loop {
            let left = 2 * j + 1;
            if left >= frontier.len() {
                break;
            }
            let right = left + 1;
            let lower = if right < frontier.len() && keys[frontier[right]] < keys[frontier[left]] {
                right
            } else {
                left
            };
            if keys[frontier[j]] <= keys[frontier[lower]] {
                break;
            }
            frontier.swap(j, lower);
            j = lower;
        }
    }
    Some(lowest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct K {
        value: u32,
        slot: usize,
    }

    impl Slotted for K {
        fn slot(&self) -> usize {
            self.slot
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(usize, u32),
        Remove(usize),
        Replace(usize, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..40usize, 0..20u32).prop_map(|(s, v)| Op::Insert(s, v)),
            (0..40usize).prop_map(Op::Remove),
            (0..40usize, 0..20u32).prop_map(|(s, v)| Op::Replace(s, v)),
        ]
    }

    proptest! {
        /// The heap holds the same keys as a B-tree set under the same operations, walks them in
        /// the same order (whole or stopped early), and reports the same minimum.
        #[test]
        fn agrees_with_an_ordered_set(ops in proptest::collection::vec(op(), 1..200), stop in 0..45usize) {
            let mut heap = KeyHeap::default();
            let mut at = vec![usize::MAX; 40];
            let mut set = BTreeSet::new();
            let mut current: [Option<K>; 40] = [None; 40];
            for op in ops {
                match op {
                    Op::Insert(slot, value) if current[slot].is_none() => {
                        let key = K { value, slot };
                        heap.insert(key, &mut at);
                        set.insert(key);
                        current[slot] = Some(key);
                    }
                    Op::Insert(..) => {}
                    Op::Remove(slot) => {
                        let key = current[slot].take().unwrap_or(K { value: 99, slot });
                        prop_assert_eq!(heap.remove(&key, &mut at), set.remove(&key));
                    }
                    Op::Replace(slot, value) => {
                        let new = K { value, slot };
                        match current[slot].replace(new) {
                            Some(old) => {
                                prop_assert!(heap.replace(&old, new, &mut at));
                                set.remove(&old);
                                set.insert(new);
                            }
                            None => {
                                current[slot] = None;
                                let absent = K { value: 99, slot };
                                prop_assert!(!heap.replace(&absent, new, &mut at), "replaced an absent key");
                            }
                        }
                    }
                }
                prop_assert_eq!(heap.len(), set.len());
                prop_assert_eq!(heap.first(), set.first());
            }
            let mut walked = Vec::new();
            heap.visit_in_order(|k| { walked.push(*k); true });
            prop_assert_eq!(&walked, &set.iter().copied().collect::<Vec<_>>());
            let mut prefix = Vec::new();
            let finished = heap.visit_in_order(|k| { prefix.push(*k); prefix.len() < stop });
            prop_assert_eq!(finished, stop > set.len() || set.is_empty());
            prop_assert_eq!(prefix, set.iter().copied().take(stop.max(1)).collect::<Vec<_>>());
        }
    }
}
