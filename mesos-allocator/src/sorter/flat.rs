//! A sorter for one level of clients: the shape of a role's frameworks, each at its own id.
//!
//! The allocator offers every agent to the lowest framework of a role, and tells the role's
//! sorter of each offer. [`TreeSorter`] serves any hierarchy of paths, and pays for it on every
//! offer: a node of the tree per level, a walk up to the root, a test for folded leaves. While
//! every client's path is one segment, the tree is a root and its leaves, so this sorter keeps
//! just that: one dense slot per client and one ordered set of the listed clients' keys, built
//! by the same rules as the tree's ([`super::keys`]), hence the same order. The first path with
//! a `/` (Mesos nests them, and so must we) turns it into a [`TreeSorter`] holding the same
//! clients, weights, allocations and counts, which serves from then on.

use std::collections::HashMap;
use std::sync::Arc;

use super::children::Children;
use super::keys::{ClientLeaves, Key, PathRanks, Ranking, key_of};
use super::tree::TreeSorter;
use super::{ClientId, Sorter, Visit};
use crate::quantities::Quantities;

/// A sorter for clients at paths of one segment, which turns into a [`TreeSorter`] when a
/// client comes at a deeper path; see the module docs.
#[derive(Debug)]
pub struct FlatSorter {
    level: Level,
}

/// What serves: the flat level, or the tree it turned into.
#[derive(Debug)]
enum Level {
    Flat(Box<Flat>),
    Tree(Box<TreeSorter>),
}

/// A client's slot: what the tree keeps in a client's path node while the path has no
/// subpaths.
#[derive(Debug)]
struct Slot {
    client: ClientId,
    path: Arc<str>,
    /// The path's number in the sorter's [`PathRanks`].
    path_rank: u64,
    /// The path's weight.
    weight: f64,
    allocation: Quantities,
    /// Allocations made to the client since it was added.
    count: u64,
    active: bool,
    /// The client's key in the listed set, while it is listed.
    key: Option<Key>,
    /// `key` no longer reflects the allocation: allowed while the client is the only one
    /// listed, where order cannot matter (as in the tree); refreshed when another is listed.
    stale: bool,
}

impl Slot {
    /// The key of this slot, number `i`, as its allocation stands.
    #[inline]
    fn fresh_key(&self, ranking: Ranking, total: &Quantities, i: usize) -> Key {
        key_of(
            ranking,
            self.weight,
            &self.allocation,
            total,
            self.count,
            self.path_rank,
            i,
        )
    }
}

#[derive(Debug)]
struct Flat {
    ranking: Ranking,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    clients: ClientLeaves,
    by_path: HashMap<Arc<str>, usize>,
    /// Weights by path, including those of paths no client has yet.
    weights: HashMap<String, f64>,
    path_ranks: PathRanks,
    total: Quantities,
    /// The listed (active) clients' keys, in order.
    listed: Children<Key>,
    /// Each listed key's position in `listed` while it is a heap, by slot.
    positions: Vec<usize>,
    /// Keys are stale (total, weights or path numbers changed); rebuilt before the next visit.
    dirty: bool,
}

impl FlatSorter {
    fn with_ranking(ranking: Ranking) -> FlatSorter {
        FlatSorter {
            level: Level::Flat(Box::new(Flat {
                ranking,
                slots: Vec::new(),
                free: Vec::new(),
                clients: ClientLeaves::default(),
                by_path: HashMap::new(),
                weights: HashMap::new(),
                path_ranks: PathRanks::default(),
                total: Quantities::new(),
                listed: Children::default(),
                positions: Vec::new(),
                dirty: false,
            })),
        }
    }

    /// Weighted dominant resource fairness, ordering as [`TreeSorter::drf`].
    pub fn drf() -> FlatSorter {
        FlatSorter::with_ranking(Ranking::Share)
    }

    /// Strict priority, ordering as [`TreeSorter::strict_priority`].
    pub fn strict_priority() -> FlatSorter {
        FlatSorter::with_ranking(Ranking::Priority)
    }

    /// Whether the sorter still serves flat (no client has come at a nested path).
    pub fn is_flat(&self) -> bool {
        matches!(self.level, Level::Flat(_))
    }

    /// Turns the flat level into a tree holding the same clients, weights, allocations and
    /// counts.
    fn become_tree(&mut self) -> &mut TreeSorter {
        if let Level::Flat(flat) = &self.level {
            let mut tree = match flat.ranking {
                Ranking::Share => TreeSorter::drf(),
                Ranking::Priority => TreeSorter::strict_priority(),
            };
            tree.set_total(&flat.total);
            for (path, &weight) in &flat.weights {
                tree.set_weight(path, weight);
            }
            for slot in flat.slots.iter().flatten() {
                tree.add_client(slot.client, &slot.path);
                tree.allocated_times(slot.client, &slot.allocation, slot.count);
                tree.set_active(slot.client, slot.active);
            }
            self.level = Level::Tree(Box::new(tree));
        }
        match &mut self.level {
            Level::Tree(tree) => tree,
            Level::Flat(_) => unreachable!("turned into a tree above"),
        }
    }
}

impl Flat {
    fn slot(&self, i: usize) -> &Slot {
        self.slots[i].as_ref().expect("live slot")
    }

    fn slot_mut(&mut self, i: usize) -> &mut Slot {
        self.slots[i].as_mut().expect("live slot")
    }

    fn key_of(&self, i: usize) -> Key {
        self.slot(i).fresh_key(self.ranking, &self.total, i)
    }

    fn add(&mut self, client: ClientId, path: &str) {
        if self.clients.get(client).is_some() || self.by_path.contains_key(path) {
            // One client per path, as in the tree: a second one at a taken path is ignored.
            return;
        }
        let path: Arc<str> = Arc::from(path);
        let path_rank = match self.path_ranks.insert(&path) {
            Some(rank) => rank,
            None => {
                // Renumbered: every slot reads its number again, and keys are rebuilt.
                for slot in self.slots.iter_mut().flatten() {
                    slot.path_rank = self.path_ranks.get(&slot.path);
                }
                self.dirty = true;
                self.path_ranks.get(&path)
            }
        };
        let slot = Slot {
            client,
            weight: self.weights.get(&*path).copied().unwrap_or(1.0),
            path: path.clone(),
            path_rank,
            allocation: Quantities::new(),
            count: 0,
            active: false,
            key: None,
            stale: false,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.positions.push(0);
                self.slots.len() - 1
            }
        };
        self.by_path.insert(path, i);
        self.clients.insert(client, i);
    }

    fn remove(&mut self, client: ClientId) {
        let Some(i) = self.clients.remove(client) else {
            return;
        };
        self.unlist(i);
        let slot = self.slots[i].take().expect("live slot");
        self.by_path.remove(&slot.path);
        self.path_ranks.remove(&slot.path);
        self.free.push(i);
    }

    fn unlist(&mut self, i: usize) {
        let slot = self.slot_mut(i);
        slot.stale = false;
        if let Some(key) = slot.key.take() {
            self.listed.remove(&key, &mut self.positions);
        }
    }

    fn list(&mut self, i: usize) {
        if self.slot(i).key.is_some() {
            return;
        }
        // A lone listed client may carry a stale key; it must be ordered against the newcomer.
        if let Some(only) = self.listed.first().map(|k| k.node)
            && self.slot(only).stale
        {
            self.refresh(only);
        }
        let key = self.key_of(i);
        self.listed.insert(key, &mut self.positions);
        self.slot_mut(i).key = Some(key);
    }

    fn refresh(&mut self, i: usize) {
        let key = self.key_of(i);
        let slot = self.slot_mut(i);
        slot.stale = false;
        if let Some(old) = slot.key.replace(key) {
            self.listed.replace(&old, key, &mut self.positions);
        }
    }

    fn set_active(&mut self, client: ClientId, active: bool) {
        let Some(i) = self.clients.get(client) else {
            return;
        };
        if self.slot(i).active == active {
            return;
        }
        self.unlist(i);
        self.slot_mut(i).active = active;
        if active && !self.dirty {
            self.list(i);
        }
    }

    fn set_weight(&mut self, path: &str, weight: f64) {
        self.weights.insert(path.to_string(), weight);
        if let Some(&i) = self.by_path.get(path) {
            self.slot_mut(i).weight = weight;
        }
        self.dirty = true;
    }

    /// Applies `change` to a client's slot and moves its key to its new place.
    #[inline]
    fn update(&mut self, client: ClientId, change: impl FnOnce(&mut Slot)) {
        let Some(i) = self.clients.get(client) else {
            return;
        };
        let Flat {
            ranking,
            slots,
            total,
            listed,
            positions,
            dirty,
            ..
        } = self;
        let slot = slots[i].as_mut().expect("live slot");
        change(slot);
        let Some(old) = slot.key else {
            return;
        };
        if *dirty {
            return;
        }
        if listed.len() == 1 {
            slot.stale = true;
            return;
        }
        let key = slot.fresh_key(*ranking, total, i);
        slot.key = Some(key);
        slot.stale = false;
        listed.replace(&old, key, positions);
    }

    fn set_total(&mut self, total: &Quantities) {
        if self.total != *total {
            self.total = total.clone();
            self.dirty = true;
        }
    }

    fn rebuild(&mut self) {
        self.listed.clear();
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots[i].as_mut() else {
                continue;
            };
            slot.key = None;
            slot.stale = false;
            if slot.active {
                let key = self.key_of(i);
                self.listed.push_unsorted(key, &mut self.positions);
                self.slot_mut(i).key = Some(key);
            }
        }
        self.listed.finish_bulk(&mut self.positions);
        self.dirty = false;
    }

    fn client_of(&self, key: &Key) -> ClientId {
        self.slot(key.node).client
    }

    fn visit(&mut self, f: &mut dyn FnMut(ClientId) -> Visit) {
        if self.dirty {
            self.rebuild();
        }
        let (_, long) = self
            .listed
            .visit_in_order(|key| f(self.client_of(key)) == Visit::Continue);
        if long {
            self.listed.settle_into_tree();
        }
    }
}

impl Sorter for FlatSorter {
    fn add_client(&mut self, client: ClientId, path: &str) {
        match &mut self.level {
            Level::Flat(flat) if !path.contains('/') => flat.add(client, path),
            _ => self.become_tree().add_client(client, path),
        }
    }

    fn remove_client(&mut self, client: ClientId) {
        match &mut self.level {
            Level::Flat(flat) => flat.remove(client),
            Level::Tree(tree) => tree.remove_client(client),
        }
    }

    fn set_active(&mut self, client: ClientId, active: bool) {
        match &mut self.level {
            Level::Flat(flat) => flat.set_active(client, active),
            Level::Tree(tree) => tree.set_active(client, active),
        }
    }

    fn set_weight(&mut self, path: &str, weight: f64) {
        match &mut self.level {
            Level::Flat(flat) => flat.set_weight(path, weight),
            Level::Tree(tree) => tree.set_weight(path, weight),
        }
    }

    fn allocated(&mut self, client: ClientId, quantities: &Quantities) {
        match &mut self.level {
            Level::Flat(flat) => flat.update(client, |s| {
                s.allocation.add(quantities);
                s.count += 1;
            }),
            Level::Tree(tree) => tree.allocated(client, quantities),
        }
    }

    fn allocated_times(&mut self, client: ClientId, quantities: &Quantities, times: u64) {
        match &mut self.level {
            Level::Flat(flat) => flat.update(client, |s| {
                s.allocation.add(quantities);
                s.count += times;
            }),
            Level::Tree(tree) => tree.allocated_times(client, quantities, times),
        }
    }

    fn unallocated(&mut self, client: ClientId, quantities: &Quantities) {
        match &mut self.level {
            Level::Flat(flat) => flat.update(client, |s| s.allocation.subtract(quantities)),
            Level::Tree(tree) => tree.unallocated(client, quantities),
        }
    }

    fn set_total(&mut self, total: &Quantities) {
        match &mut self.level {
            Level::Flat(flat) => flat.set_total(total),
            Level::Tree(tree) => tree.set_total(total),
        }
    }

    fn visit(&mut self, f: &mut dyn FnMut(ClientId) -> Visit) {
        match &mut self.level {
            Level::Flat(flat) => flat.visit(f),
            Level::Tree(tree) => tree.visit(f),
        }
    }

    fn sole_listed(&self) -> Option<ClientId> {
        match &self.level {
            Level::Flat(flat) => (!flat.dirty && flat.listed.len() == 1)
                .then(|| flat.listed.first().map(|k| flat.client_of(k)))
                .flatten(),
            Level::Tree(tree) => tree.sole_listed(),
        }
    }

    fn first_listed(&self) -> Option<ClientId> {
        match &self.level {
            Level::Flat(flat) if flat.dirty => None,
            Level::Flat(flat) => flat.listed.first().map(|k| flat.client_of(k)),
            Level::Tree(tree) => tree.first_listed(),
        }
    }

    fn second_listed(&self) -> Option<ClientId> {
        match &self.level {
            Level::Flat(flat) if flat.dirty => None,
            Level::Flat(flat) => flat.listed.second().map(|k| flat.client_of(k)),
            Level::Tree(tree) => tree.second_listed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantities {
        Quantities::parse(text).unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(ClientId, &'static str),
        Remove(ClientId),
        Active(ClientId, bool),
        Allocated(ClientId, u32, u32, u64),
        Unallocated(ClientId, u32),
        Weight(&'static str, u8),
        Total(u32),
    }

    fn op(paths: Vec<&'static str>) -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let path = prop::sample::select(paths);
        let client = 0..9u32;
        prop_oneof![
            3 => (client.clone(), path.clone()).prop_map(|(c, p)| Op::Add(c, p)),
            1 => client.clone().prop_map(Op::Remove),
            3 => (client.clone(), any::<bool>()).prop_map(|(c, a)| Op::Active(c, a)),
            6 => (client.clone(), 0..20u32, 0..20u32, 0..3u64)
                .prop_map(|(c, x, y, n)| Op::Allocated(c, x, y, n)),
            1 => (client, 0..20u32).prop_map(|(c, x)| Op::Unallocated(c, x)),
            1 => (path, 0..4u8).prop_map(|(p, w)| Op::Weight(p, w)),
            1 => (50..200u32).prop_map(Op::Total),
        ]
    }

    /// Applies `op` to both sorters.
    fn apply(flat: &mut FlatSorter, tree: &mut TreeSorter, op: &Op) {
        let both = |f: &mut dyn FnMut(&mut dyn Sorter)| {
            f(flat);
            f(tree);
        };
        let mut both = both;
        match *op {
            Op::Add(c, path) => both(&mut |s| s.add_client(c, path)),
            Op::Remove(c) => both(&mut |s| s.remove_client(c)),
            Op::Active(c, active) => both(&mut |s| s.set_active(c, active)),
            Op::Allocated(c, cpus, mem, 1) => {
                let amount = q(&format!("cpus:{cpus};mem:{mem}"));
                both(&mut |s| s.allocated(c, &amount));
            }
            Op::Allocated(c, cpus, mem, times) => {
                let amount = q(&format!("cpus:{cpus};mem:{mem}"));
                both(&mut |s| s.allocated_times(c, &amount, times));
            }
            Op::Unallocated(c, cpus) => {
                let amount = q(&format!("cpus:{cpus}"));
                both(&mut |s| s.unallocated(c, &amount));
            }
            Op::Weight(path, w) => {
                let weight = [0.5, 1.0, 2.0, 3.0][usize::from(w)];
                both(&mut |s| s.set_weight(path, weight));
            }
            Op::Total(cpus) => {
                let total = q(&format!("cpus:{cpus};mem:1000"));
                both(&mut |s| s.set_total(&total));
            }
        }
    }

    /// Runs `ops` on a flat sorter and on a tree sorter of the same policy, comparing the
    /// order after the operations flagged for it: the flat sorter must order exactly as the
    /// tree, and its answers without a walk must never be wrong.
    fn same_as_tree(
        mut flat: FlatSorter,
        mut tree: TreeSorter,
        ops: &[(Op, bool)],
    ) -> Result<bool, proptest::test_runner::TestCaseError> {
        let total = q("cpus:100;mem:1000");
        flat.set_total(&total);
        tree.set_total(&total);
        for (op, check) in ops {
            apply(&mut flat, &mut tree, op);
            if !check {
                continue;
            }
            let expected = tree.order();
            let (first, second, sole) = (
                flat.first_listed(),
                flat.second_listed(),
                flat.sole_listed(),
            );
            proptest::prop_assert!(first.is_none() || first == expected.first().copied());
            proptest::prop_assert!(second.is_none() || second == expected.get(1).copied());
            proptest::prop_assert!(
                sole.is_none() || (expected.len() == 1 && sole == Some(expected[0]))
            );
            proptest::prop_assert_eq!(flat.order(), expected.clone(), "after {:?}", op);
            if flat.is_flat() {
                // After a visit the keys are fresh: the flat sorter knows without a walk.
                proptest::prop_assert_eq!(flat.first_listed(), expected.first().copied());
                let second = flat.second_listed();
                proptest::prop_assert!(second.is_none() || second == expected.get(1).copied());
                proptest::prop_assert_eq!(
                    flat.sole_listed(),
                    (expected.len() == 1).then(|| expected[0])
                );
            }
        }
        proptest::prop_assert_eq!(flat.order(), tree.order());
        Ok(flat.is_flat())
    }

    const FLAT_PATHS: [&str; 8] = ["a", "b", "c", "ab", "bb", "ba", "", "c0"];
    const NESTED_PATHS: [&str; 8] = ["a", "b", "c", "ab", "", "a/x", "b/y/z", "c/a"];

    proptest::proptest! {
        #[test]
        fn drf_orders_as_the_tree(
            ops in proptest::collection::vec(
                (op(FLAT_PATHS.to_vec()), proptest::bool::weighted(0.6)), 1..80),
        ) {
            proptest::prop_assert!(same_as_tree(FlatSorter::drf(), TreeSorter::drf(), &ops)?);
        }

        #[test]
        fn strict_priority_orders_as_the_tree(
            ops in proptest::collection::vec(
                (op(FLAT_PATHS.to_vec()), proptest::bool::weighted(0.6)), 1..80),
        ) {
            let flat = FlatSorter::strict_priority();
            proptest::prop_assert!(same_as_tree(flat, TreeSorter::strict_priority(), &ops)?);
        }

        /// With nested paths among the others, the flat sorter turns into a tree at the first
        /// one and goes on ordering as a tree that saw every operation.
        #[test]
        fn a_nested_path_hands_over_to_a_tree_that_orders_the_same(
            ops in proptest::collection::vec(
                (op(NESTED_PATHS.to_vec()), proptest::bool::weighted(0.6)), 1..80),
        ) {
            same_as_tree(FlatSorter::drf(), TreeSorter::drf(), &ops)?;
        }

        #[test]
        fn a_nested_path_hands_over_to_a_strict_priority_tree(
            ops in proptest::collection::vec(
                (op(NESTED_PATHS.to_vec()), proptest::bool::weighted(0.6)), 1..80),
        ) {
            let flat = FlatSorter::strict_priority();
            same_as_tree(flat, TreeSorter::strict_priority(), &ops)?;
        }
    }

    #[test]
    fn a_nested_path_turns_the_sorter_into_a_tree_with_the_same_clients() {
        let mut s = FlatSorter::drf();
        s.set_total(&q("cpus:10;mem:100"));
        s.set_weight("b", 2.0);
        for (id, path) in [(0, "a"), (1, "b"), (2, "c")] {
            s.add_client(id, path);
            s.set_active(id, true);
        }
        s.allocated_times(0, &q("cpus:2"), 2);
        s.allocated(1, &q("cpus:3"));
        s.set_active(2, false);
        assert_eq!(s.order(), vec![1, 0], "b's 0.3 / 2 is below a's 0.2");
        assert!(s.is_flat());
        s.add_client(3, "b/x");
        assert!(!s.is_flat());
        s.set_active(3, true);
        // `b` now holds b and b/x, still weighs 2; c stays inactive.
        assert_eq!(s.order(), vec![3, 1, 0]);
        s.set_active(2, true);
        assert_eq!(s.order(), vec![2, 3, 1, 0]);
    }

    #[test]
    fn a_second_client_at_a_taken_path_is_ignored_as_in_the_tree() {
        let mut s = FlatSorter::drf();
        s.add_client(0, "a");
        s.add_client(1, "a");
        s.set_active(0, true);
        s.set_active(1, true);
        assert_eq!(s.order(), vec![0]);
        s.remove_client(0);
        s.add_client(1, "a");
        s.set_active(1, true);
        assert_eq!(s.order(), vec![1]);
    }
}
