//! The tree sorter: any hierarchy of paths, under all three shipped policies (for `drf` and
//! `priority`, [`super::FlatSorter`] serves until a path is nested, then hands over to one).
//!
//! Each `/`-separated path segment is a node; a client is a leaf (named `.`) under the node of
//! its path, so a role can hold frameworks and have subroles at the same time. Every node keeps
//! its active children ordered by the policy's key ([`Children`]), so an allocation
//! repositions only the nodes on one root-to-leaf path (per level, a pop and a push in the
//! common case, at most a logarithm or a shift of part of a small node's children), and a visit
//! walks the tree in order and can stop after the first eligible client instead of sorting
//! everyone.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use super::children::Children;
use super::keys::{ClientLeaves, Key, PathRanks, Ranking, key_of, ordered_bits};
use super::{ClientId, Sorter, Visit};
use crate::quantities::Quantities;
use crate::rng::SplitMix64;

/// The key of node `i` among its siblings, measured against `total`.
fn key_for(node: &Node, i: usize, total: &Quantities, policy: &Policy) -> Key {
    // A client's leaf sits under its path's node; like Mesos's virtual leaf `a/.` it has
    // weight 1, and the path's weight applies where the path competes with its siblings.
    let ranking = match policy {
        Policy::Drf | Policy::Random(_) => Ranking::Share,
        Policy::StrictPriority => Ranking::Priority,
    };
    key_of(
        ranking,
        node.weight,
        &node.allocation,
        total,
        node.count,
        node.path_rank,
        i,
    )
}

#[derive(Debug, Clone)]
enum Policy {
    Drf,
    StrictPriority,
    Random(SplitMix64),
}

#[derive(Debug)]
struct Node {
    /// Full path of the node (a leaf shares its parent's path).
    path: Arc<str>,
    /// The path's number in the sorter's [`PathRanks`].
    path_rank: u64,
    parent: Option<usize>,
    /// Ordered active children.
    children: Children<Key>,
    /// Path children by segment.
    by_segment: HashMap<String, usize>,
    /// The client leaf directly at this path, if any.
    leaf: Option<usize>,
    /// Set on leaves.
    client: Option<ClientId>,
    /// Leaves only: whether the client is visited.
    active: bool,
    /// The weight of the node's path where it competes with its siblings (1 for leaves),
    /// kept here so that repositioning a node needs no lookup by path.
    weight: f64,
    /// Everything allocated at or below the node. For a folded leaf (see
    /// [`TreeSorter::is_folded`]) out of date: its path's is the client's.
    allocation: Quantities,
    /// Allocations made at or below the node since it came into being. For a folded leaf out of
    /// date: the client's is its path's count less `count_base`.
    count: u64,
    /// Leaves only: the path's count less the client's, as of when the leaf was added or last
    /// folded.
    count_base: u64,
    /// Current key in the parent's `children`, when the node is in it.
    key: Option<Key>,
    /// `key` no longer reflects the allocation. Allowed only while the node is its parent's
    /// only listed child, where order cannot matter; refreshed when a sibling is linked. This
    /// spares every allocation a key computation and a move at levels with one listed child (a
    /// lone role, an unfolded leaf whose subpaths are not listed). A folded leaf's key is out
    /// of date without this flag; [`TreeSorter::unfold_leaf`] refreshes it.
    stale: bool,
}

impl Node {
    fn new(path: Arc<str>, path_rank: u64, parent: Option<usize>) -> Node {
        Node {
            path_rank,
            path,
            parent,
            children: Children::default(),
            by_segment: HashMap::new(),
            leaf: None,
            client: None,
            active: false,
            weight: 1.0,
            allocation: Quantities::new(),
            count: 0,
            count_base: 0,
            key: None,
            stale: false,
        }
    }
}

/// A hierarchical sorter; see the module docs.
#[derive(Debug)]
pub struct TreeSorter {
    nodes: Vec<Option<Node>>,
    free: Vec<usize>,
    clients: ClientLeaves,
    /// Each listed node's position in its parent's heap, by node index (unused, and out of
    /// date, for children of a parent whose children are in a ring or a B-tree).
    positions: Vec<usize>,
    /// Nodes whose children the last visit walked far: they move to a B-tree after it.
    long_walks: Vec<usize>,
    weights: HashMap<String, f64>,
    path_ranks: PathRanks,
    total: Quantities,
    /// Keys are stale (totals, weights or path numbers changed); rebuilt before the next visit.
    dirty: bool,
    /// Within [`TreeSorter::rebuild`]: children are loaded unordered and ordered at the end.
    bulk_loading: bool,
    policy: Policy,
    /// [`Sorter::sole_listed`]'s answer, once asked (`None` until then). Which clients are
    /// listed, and whether keys are due for a rebuild, change only through the `&mut` methods
    /// other than `allocated`, `allocated_times` and `unallocated`, which forget it; an
    /// allocation only reorders siblings. The cycle asks the role sorter for every agent, and
    /// most often the answer stays the same all cycle.
    sole_answer: Cell<Option<Option<ClientId>>>,
}

const ROOT: usize = 0;

impl TreeSorter {
    fn with_policy(policy: Policy) -> TreeSorter {
        TreeSorter {
            nodes: vec![Some(Node::new(Arc::from(""), 0, None))],
            free: Vec::new(),
            clients: ClientLeaves::default(),
            positions: vec![0],
            long_walks: Vec::new(),
            weights: HashMap::new(),
            path_ranks: PathRanks::default(),
            total: Quantities::new(),
            dirty: false,
            bulk_loading: false,
            policy,
            sole_answer: Cell::new(None),
        }
    }

    /// Weighted dominant resource fairness: lowest `share / weight` first.
    pub fn drf() -> TreeSorter {
        TreeSorter::with_policy(Policy::Drf)
    }

    /// Strict priority: the highest weight first; equal weights in DRF order.
    pub fn strict_priority() -> TreeSorter {
        TreeSorter::with_policy(Policy::StrictPriority)
    }

    /// A weighted random order at each level, drawn anew for every visit from a seeded
    /// generator.
    pub fn random(seed: u64) -> TreeSorter {
        TreeSorter::with_policy(Policy::Random(SplitMix64::new(seed)))
    }

    fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("live node")
    }

    fn node_mut(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("live node")
    }

    /// The ordered children of `parent`, with the positions their heap keeps up to date.
    fn children_mut(&mut self, parent: usize) -> (&mut Children<Key>, &mut [usize]) {
        let node = self.nodes[parent].as_mut().expect("live node");
        (&mut node.children, &mut self.positions)
    }

    fn alloc_node(&mut self, node: Node) -> usize {
        if let Some(i) = self.free.pop() {
            self.nodes[i] = Some(node);
            i
        } else {
            self.nodes.push(Some(node));
            self.positions.push(0);
            self.nodes.len() - 1
        }
    }

    fn weight(&self, path: &str) -> f64 {
        self.weights.get(path).copied().unwrap_or(1.0)
    }

    fn key_of(&self, i: usize) -> Key {
        key_for(self.node(i), i, &self.total, &self.policy)
    }

    /// Whether a node belongs in its parent's ordered set: an active client, or a path with
    /// something to visit below it (so visits never walk empty subtrees, e.g. the paths of
    /// suppressed frameworks).
    fn is_listed(&self, i: usize) -> bool {
        let node = self.node(i);
        match node.client {
            Some(_) => node.active,
            None => !node.children.is_empty(),
        }
    }

    fn unlink(&mut self, i: usize) {
        self.node_mut(i).stale = false;
        if let Some(key) = self.node_mut(i).key.take()
            && let Some(parent) = self.node(i).parent
        {
            let (children, positions) = self.children_mut(parent);
            children.remove(&key, positions);
            if parent != ROOT && self.node(parent).children.is_empty() {
                self.unlink(parent);
            }
        }
    }

    fn link(&mut self, i: usize) {
        if self.node(i).key.is_some() || !self.is_listed(i) {
            return;
        }
        let Some(parent) = self.node(i).parent else {
            return;
        };
        // A lone sibling may carry a stale key; it must be ordered against the newcomer. (A
        // rebuild clears every stale flag and loads children unordered: nothing to refresh.)
        if !self.bulk_loading
            && let Some(only) = self.node(parent).children.first().map(|k| k.node)
            && self.node(only).stale
        {
            self.refresh_key(only, parent);
        }
        let key = self.key_of(i);
        let bulk = self.bulk_loading;
        let (children, positions) = self.children_mut(parent);
        if bulk {
            children.push_unsorted(key, positions);
        } else {
            children.insert(key, positions);
        }
        self.node_mut(i).key = Some(key);
        if parent != ROOT && self.node(parent).key.is_none() {
            self.link(parent);
        }
    }

    fn ensure_path(&mut self, path: &str) -> usize {
        let mut current = ROOT;
        let mut prefix_end = 0;
        for segment in path.split('/') {
            prefix_end += segment.len();
            if let Some(&next) = self.node(current).by_segment.get(segment) {
                current = next;
            } else {
                let path: Arc<str> = Arc::from(&path[..prefix_end]);
                let rank = match self.path_ranks.insert(&path) {
                    Some(rank) => rank,
                    None => {
                        self.renumber_nodes();
                        self.path_ranks.get(&path)
                    }
                };
                if self.is_folded(current) {
                    self.unfold_leaf(current);
                }
                let mut node = Node::new(path, rank, Some(current));
                node.weight = self.weight(&node.path);
                let i = self.alloc_node(node);
                self.node_mut(current)
                    .by_segment
                    .insert(segment.to_string(), i);
                self.link(i);
                current = i;
            }
            prefix_end += 1; // the '/'
        }
        current
    }

    /// Whether the client leaf under path node `path` is folded into it: the path has no
    /// subpaths, so the leaf is its only possible child, whose order against siblings cannot
    /// matter and whose allocation is the path's. A folded leaf's allocation and count are not
    /// kept up to date (every allocation would otherwise update two nodes per sorter); they
    /// are brought up to date by [`TreeSorter::unfold_leaf`] when the path gains a subpath.
    fn is_folded(&self, path: usize) -> bool {
        self.node(path).by_segment.is_empty()
    }

    /// Brings the leaf of `path` up to date before the path gains its first subpath.
    fn unfold_leaf(&mut self, path: usize) {
        let Some(leaf) = self.node(path).leaf else {
            return;
        };
        let (allocation, count) = (self.node(path).allocation.clone(), self.node(path).count);
        let node = self.node_mut(leaf);
        node.allocation = allocation;
        node.count = count - node.count_base;
        if node.key.is_some() && !self.dirty {
            self.refresh_key(leaf, path);
        }
    }

    /// Lets the leaf of `path` fold once the path has lost its last subpath.
    fn fold_leaf(&mut self, path: usize) {
        let count = self.node(path).count;
        if let Some(leaf) = self.node(path).leaf {
            let node = self.node_mut(leaf);
            node.count_base = count - node.count;
        }
    }

    /// What a client holds: its leaf's allocation, or its path's while the leaf is folded.
    fn client_allocation(&self, leaf: usize) -> &Quantities {
        match self.node(leaf).parent {
            Some(path) if self.is_folded(path) => &self.node(path).allocation,
            _ => &self.node(leaf).allocation,
        }
    }

    /// Applies `change` to the allocation of a leaf and every ancestor, keeping sibling order.
    ///
    /// Each listed node is moved within its parent's set in place: its membership does not
    /// change, so no parent is unlinked and relinked on the way up. A folded leaf is skipped.
    fn update_allocation(&mut self, leaf: usize, change: impl Fn(&mut Node)) {
        let mut current = match self.node(leaf).parent {
            Some(path) if self.is_folded(path) => path,
            _ => leaf,
        };
        // Runs for every offer: each node is looked up once or twice per level.
        let TreeSorter {
            nodes,
            positions,
            total,
            policy,
            dirty,
            ..
        } = self;
        while current != ROOT {
            let node = nodes[current].as_mut().expect("live node");
            let Some(parent) = node.parent else {
                break;
            };
            change(node);
            let old = if *dirty { None } else { node.key };
            if let Some(old) = old {
                let alone = nodes[parent].as_ref().expect("live node").children.len() == 1;
                let node = nodes[current].as_mut().expect("live node");
                if alone {
                    node.stale = true;
                } else {
                    let key = key_for(node, current, total, policy);
                    node.key = Some(key);
                    node.stale = false;
                    nodes[parent]
                        .as_mut()
                        .expect("live node")
                        .children
                        .replace(&old, key, positions);
                }
            }
            current = parent;
        }
    }

    /// Replaces the key of listed node `i` in its parent's set by one computed afresh.
    fn refresh_key(&mut self, i: usize, parent: usize) {
        debug_assert!(
            !self.bulk_loading,
            "a bulk-loaded set is searched before it is sorted"
        );
        let key = self.key_of(i);
        let node = self.node_mut(i);
        node.stale = false;
        let Some(old) = node.key.replace(key) else {
            return;
        };
        let (siblings, positions) = self.children_mut(parent);
        siblings.replace(&old, key, positions);
    }

    /// Reads every node's path number again after [`PathRanks`] renumbered them; the keys
    /// already in the sets carry the old numbers, so they are rebuilt before the next visit.
    fn renumber_nodes(&mut self) {
        for node in self.nodes.iter_mut().flatten() {
            node.path_rank = self.path_ranks.get(&node.path);
        }
        self.dirty = true;
    }

    fn rebuild(&mut self) {
        for i in 0..self.nodes.len() {
            if let Some(node) = self.nodes[i].as_mut() {
                node.children.clear();
                node.key = None;
                node.stale = false;
            }
        }
        // Every node's children are loaded unordered, then ordered once each.
        self.bulk_loading = true;
        for i in 1..self.nodes.len() {
            if self.nodes[i].is_some() {
                self.link(i);
            }
        }
        self.bulk_loading = false;
        let TreeSorter {
            nodes, positions, ..
        } = self;
        for node in nodes.iter_mut().flatten() {
            node.children.finish_bulk(positions);
        }
        self.dirty = false;
    }

    /// Visits the subtree of node `i` in order; nodes whose children were walked far are added
    /// to `long_walks`.
    fn visit_ordered(
        &self,
        i: usize,
        f: &mut dyn FnMut(ClientId) -> Visit,
        long_walks: &mut Vec<usize>,
    ) -> Visit {
        let (finished, long) = self.node(i).children.visit_in_order(|key| {
            let child = self.node(key.node);
            let step = match child.client.or_else(|| self.only_listed_leaf(child)) {
                Some(client) => f(client),
                None => self.visit_ordered(key.node, f, long_walks),
            };
            step == Visit::Continue
        });
        if long {
            long_walks.push(i);
        }
        if finished {
            Visit::Continue
        } else {
            Visit::Stop
        }
    }

    /// The client a visit would call first, found by the descent a visit makes before that
    /// call; with `sole`, only when every level on the way has one listed child (so that the
    /// client is the only one). `None` when the keys are due for a rebuild, or the policy is
    /// random (a visit draws from the generator).
    fn lowest_without_walk(&self, sole: bool) -> Option<ClientId> {
        if self.dirty || matches!(self.policy, Policy::Random(_)) {
            return None;
        }
        let mut node = self.node(ROOT);
        loop {
            if sole && node.children.len() != 1 {
                return None;
            }
            let child = self.node(node.children.first()?.node);
            if let Some(client) = child.client.or_else(|| self.only_listed_leaf(child)) {
                return Some(client);
            }
            node = child;
        }
    }

    /// The client a visit would call second, when the root's two lowest children each stand
    /// for one client (frameworks under their own paths, the common shape): the first is done
    /// after one call, so the visit's next call is the second's.
    fn second_without_walk(&self) -> Option<ClientId> {
        if self.dirty || matches!(self.policy, Policy::Random(_)) {
            return None;
        }
        let root = self.node(ROOT);
        let client_of = |key: &Key| {
            let child = self.node(key.node);
            child.client.or_else(|| self.only_listed_leaf(child))
        };
        client_of(root.children.first()?)?;
        client_of(root.children.second()?)
    }

    /// The client of a path node whose only listed child is the client leaf at that path (a
    /// framework under its own path, the common shape): visiting it needs no walk of the
    /// node's one-entry set.
    fn only_listed_leaf(&self, node: &Node) -> Option<ClientId> {
        let leaf = self.node(node.leaf?);
        (node.children.len() == 1 && leaf.active)
            .then_some(leaf.client)
            .flatten()
    }

    fn visit_random(
        &self,
        i: usize,
        rng: &mut SplitMix64,
        f: &mut dyn FnMut(ClientId) -> Visit,
    ) -> Visit {
        // Weighted random permutation (Efraimidis–Spirakis): sort by ln(u) / weight.
        let mut children: Vec<(u64, usize)> = Vec::with_capacity(self.node(i).children.len());
        self.node(i).children.for_each_unordered(|k| {
            let w = self.weight(&self.node(k.node).path).max(f64::MIN_POSITIVE);
            children.push((ordered_bits(-rng.next_unit().ln() / w), k.node));
        });
        children.sort_unstable();
        for (_, c) in children {
            let step = match self.node(c).client {
                Some(client) => f(client),
                None => self.visit_random(c, rng, f),
            };
            if step == Visit::Stop {
                return Visit::Stop;
            }
        }
        Visit::Continue
    }

    fn prune(&mut self, mut i: usize) {
        while i != ROOT {
            let node = self.node(i);
            if node.leaf.is_some() || !node.by_segment.is_empty() || node.client.is_some() {
                return;
            }
            let parent = node.parent.unwrap_or(ROOT);
            self.unlink(i);
            let path = self.node(i).path.clone();
            self.path_ranks.remove(&path);
            let segment = path.rsplit('/').next().unwrap_or("").to_string();
            self.node_mut(parent).by_segment.remove(&segment);
            if self.is_folded(parent) {
                self.fold_leaf(parent);
            }
            self.nodes[i] = None;
            self.free.push(i);
            i = parent;
        }
    }
}

impl Sorter for TreeSorter {
    fn add_client(&mut self, client: ClientId, path: &str) {
        self.sole_answer.set(None);
        if self.clients.get(client).is_some() {
            return;
        }
        let at = self.ensure_path(path);
        let (path, rank) = (self.node(at).path.clone(), self.node(at).path_rank);
        let leaf = self.alloc_node(Node {
            client: Some(client),
            count_base: self.node(at).count,
            ..Node::new(path, rank, Some(at))
        });
        if let Some(old) = self.node_mut(at).leaf.replace(leaf) {
            // One client per path: a second one replaces the first's slot.
            self.node_mut(at).leaf = Some(old);
            self.nodes[leaf] = None;
            self.free.push(leaf);
            return;
        }
        self.clients.insert(client, leaf);
    }

    fn remove_client(&mut self, client: ClientId) {
        self.sole_answer.set(None);
        let Some(leaf) = self.clients.remove(client) else {
            return;
        };
        let allocation = self.client_allocation(leaf).clone();
        self.update_allocation(leaf, |n| n.allocation.subtract(&allocation));
        self.unlink(leaf);
        let parent = self.node(leaf).parent.unwrap_or(ROOT);
        self.nodes[leaf] = None;
        self.free.push(leaf);
        self.node_mut(parent).leaf = None;
        self.prune(parent);
    }

    fn set_active(&mut self, client: ClientId, active: bool) {
        self.sole_answer.set(None);
        let Some(leaf) = self.clients.get(client) else {
            return;
        };
        if self.node(leaf).active == active {
            return;
        }
        self.unlink(leaf);
        self.node_mut(leaf).active = active;
        if !self.dirty {
            self.link(leaf);
        }
    }

    fn set_weight(&mut self, path: &str, weight: f64) {
        self.sole_answer.set(None);
        self.weights.insert(path.to_string(), weight);
        for node in self.nodes.iter_mut().flatten() {
            if node.client.is_none() && &*node.path == path {
                node.weight = weight;
            }
        }
        self.dirty = true;
    }

    fn allocated(&mut self, client: ClientId, quantities: &Quantities) {
        self.allocated_times(client, quantities, 1);
    }

    fn allocated_times(&mut self, client: ClientId, quantities: &Quantities, times: u64) {
        if let Some(leaf) = self.clients.get(client) {
            self.update_allocation(leaf, |n| {
                n.allocation.add(quantities);
                n.count += times;
            });
        }
    }

    fn unallocated(&mut self, client: ClientId, quantities: &Quantities) {
        if let Some(leaf) = self.clients.get(client) {
            self.update_allocation(leaf, |n| n.allocation.subtract(quantities));
        }
    }

    fn set_total(&mut self, total: &Quantities) {
        self.sole_answer.set(None);
        if self.total != *total {
            self.total = total.clone();
            self.dirty = true;
        }
    }

    fn sole_listed(&self) -> Option<ClientId> {
        if let Some(known) = self.sole_answer.get() {
            return known;
        }
        let sole = self.lowest_without_walk(true);
        self.sole_answer.set(Some(sole));
        sole
    }

    fn first_listed(&self) -> Option<ClientId> {
        self.lowest_without_walk(false)
    }

    fn second_listed(&self) -> Option<ClientId> {
        self.second_without_walk()
    }

    fn visit(&mut self, f: &mut dyn FnMut(ClientId) -> Visit) {
        self.sole_answer.set(None);
        if self.dirty {
            self.rebuild();
        }
        if let Policy::Random(rng) = &self.policy {
            let mut rng = rng.clone();
            self.visit_random(ROOT, &mut rng, f);
            self.policy = Policy::Random(rng);
        } else {
            let mut long_walks = std::mem::take(&mut self.long_walks);
            self.visit_ordered(ROOT, f, &mut long_walks);
            for &i in &long_walks {
                self.node_mut(i).children.settle_into_tree();
            }
            long_walks.clear();
            self.long_walks = long_walks;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantities {
        Quantities::parse(text).unwrap()
    }

    fn sorter_with(names: &[&str]) -> TreeSorter {
        let mut s = TreeSorter::drf();
        s.set_total(&q("cpus:100;mem:1000"));
        for (i, name) in names.iter().enumerate() {
            let id = ClientId::try_from(i).unwrap();
            s.add_client(id, name);
            s.set_active(id, true);
        }
        s
    }

    #[test]
    fn clients_with_large_ids_are_kept_apart_from_dense_ones() {
        let mut s = TreeSorter::drf();
        s.set_total(&q("cpus:10"));
        for (id, path) in [(ClientId::MAX, "big"), (3, "small"), (1 << 20, "edge")] {
            s.add_client(id, path);
            s.set_active(id, true);
        }
        s.allocated(3, &q("cpus:2"));
        s.allocated(ClientId::MAX, &q("cpus:1"));
        assert_eq!(s.order(), vec![1 << 20, ClientId::MAX, 3]);
        s.remove_client(ClientId::MAX);
        s.remove_client(ClientId::MAX);
        s.remove_client(7);
        // Ids 0 to 2 are below the dense vector's length but were never added.
        s.remove_client(1);
        s.set_active(2, false);
        s.allocated(0, &q("cpus:5"));
        assert_eq!(s.order(), vec![1 << 20, 3]);
        assert!(s.clients.sparse.len() == 1 && s.clients.dense.len() == 4);
    }

    #[test]
    fn ordered_bits_order_like_total_cmp() {
        let values = [
            f64::NEG_INFINITY,
            -2.5,
            -1e-300,
            -0.0,
            0.0,
            1e-300,
            0.25,
            1.0,
            7e10,
            f64::INFINITY,
            f64::NAN,
        ];
        for a in values {
            for b in values {
                assert_eq!(
                    ordered_bits(a).cmp(&ordered_bits(b)),
                    a.total_cmp(&b),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn lowest_dominant_share_first_with_weights() {
        let mut s = sorter_with(&["a", "b", "c"]);
        s.allocated(0, &q("cpus:10"));
        s.allocated(1, &q("mem:50"));
        assert_eq!(s.order(), vec![2, 1, 0]);
        s.set_weight("a", 4.0); // a's share 0.1 / 4 < b's 0.05
        assert_eq!(s.order(), vec![2, 0, 1]);
        s.set_active(2, false);
        assert_eq!(s.order(), vec![0, 1]);
    }

    #[test]
    fn ties_break_by_allocation_count_then_path() {
        let mut s = sorter_with(&["b", "a"]);
        assert_eq!(s.order(), vec![1, 0]);
        s.allocated(1, &q("cpus:1"));
        s.unallocated(1, &q("cpus:1"));
        assert_eq!(s.order(), vec![0, 1]);
    }

    /// Paths that each fall into the gap the previous one left: `b`, `c`, then `bz`, `bzz`,
    /// ... between the last of them and `c`, so the numbers run out and are renumbered.
    fn crowded_paths(n: usize) -> Vec<String> {
        let mut paths = vec!["b".to_string(), "c".to_string()];
        paths.extend((1..n).map(|k| format!("b{}", "z".repeat(k))));
        paths
    }

    #[test]
    fn path_numbers_order_like_paths_through_renumbering() {
        let mut ranks = PathRanks::default();
        let mut renumbered = 0;
        // Crowded paths, then some at both ends and in between.
        let mut paths = crowded_paths(100);
        paths.extend(["a", "d", "ba", "bzy", "0", "~"].map(str::to_string));
        for (i, path) in paths.iter().enumerate() {
            if ranks.insert(&Arc::from(path.as_str())).is_none() {
                renumbered += 1;
            }
            let numbers: Vec<u64> = ranks.ranks.values().copied().collect();
            assert!(
                numbers.windows(2).all(|w| w[0] < w[1]),
                "after inserting {i} paths the numbers are not increasing: {numbers:?}"
            );
        }
        assert!(
            renumbered >= 2,
            "the crowded paths renumber ({renumbered} times)"
        );
        ranks.remove("bz");
        assert_eq!(ranks.ranks.len(), paths.len() - 1);
        assert_eq!(ranks.get("bz"), 0);
    }

    #[test]
    fn ties_follow_paths_after_the_numbers_are_redistributed() {
        let paths = crowded_paths(80);
        let names: Vec<&str> = paths.iter().map(String::as_str).collect();
        let mut s = sorter_with(&[]);
        let mut by_path = Vec::new();
        // The order is read after every addition, so no earlier change has the keys rebuilt
        // anyway when the numbers run out.
        for (i, name) in names.iter().enumerate() {
            let id = ClientId::try_from(i).unwrap();
            s.add_client(id, name);
            s.set_active(id, true);
            by_path.push(id);
            by_path.sort_by_key(|&c| names[c as usize]);
            assert_eq!(s.order(), by_path, "after adding {name}");
        }
        // Equal allocations to every third client: they move behind the others, and both
        // groups stay in path order.
        let busy: Vec<ClientId> = by_path.iter().copied().step_by(3).collect();
        for &c in &busy {
            s.allocated(c, &q("cpus:1"));
        }
        let idle: Vec<ClientId> = by_path
            .iter()
            .copied()
            .filter(|c| !busy.contains(c))
            .collect();
        assert_eq!(s.order(), [idle, busy].concat());
    }

    /// A client's leaf is folded into its path while the path has no subpaths; the order
    /// against a subpath that appears later must still see the client's own allocation and
    /// count, not stale ones nor the path's (which keeps a removed subpath's allocations).
    #[test]
    fn a_client_keeps_its_allocation_and_count_across_subpaths_coming_and_going() {
        let mut s = sorter_with(&["a", "a/x", "b"]);
        s.allocated(2, &q("cpus:6"));
        for _ in 0..3 {
            s.allocated(0, &q("cpus:1"));
        }
        for _ in 0..2 {
            s.allocated(1, &q("cpus:1"));
        }
        s.unallocated(1, &q("cpus:2"));
        s.remove_client(1); // `a` folds: path count 5, the client's 3
        s.allocated(0, &q("cpus:1")); // the client: cpus 4, count 4; the path's count 6
        s.add_client(3, "a/x"); // `a` unfolds
        s.set_active(3, true);
        for _ in 0..4 {
            s.allocated(3, &q("cpus:0.875"));
        }
        assert_eq!(
            s.order(),
            vec![2, 3, 0],
            "b holds 6 cpus, a 7.5: a/x 3.5 and the client at a 4"
        );
        s.allocated(3, &q("cpus:0.5"));
        assert_eq!(
            s.order(),
            vec![2, 0, 3],
            "equal shares under a: the client at a has 4 allocations, a/x 5"
        );
        s.remove_client(3); // folded under a/x, still holding 4 cpus
        assert_eq!(s.order(), vec![0, 2], "a holds 4 cpus again, b 6");
    }

    #[test]
    fn hierarchy_orders_subtrees_by_their_total() {
        // eng has two busy subroles; ops has one idle role.
        let mut s = sorter_with(&["eng/web", "eng/ml", "ops", "eng"]);
        s.allocated(0, &q("cpus:20"));
        s.allocated(1, &q("cpus:5"));
        assert_eq!(s.order(), vec![2, 3, 1, 0]);
        s.remove_client(2);
        assert_eq!(s.order(), vec![3, 1, 0]);
        s.remove_client(0);
        s.remove_client(1);
        s.remove_client(3);
        assert!(s.order().is_empty());
        assert_eq!(
            s.nodes.iter().filter(|n| n.is_some()).count(),
            1,
            "pruned to the root"
        );
    }

    #[test]
    fn strict_priority_puts_heavier_roles_first() {
        let mut s = TreeSorter::strict_priority();
        s.set_total(&q("cpus:10"));
        for (id, name) in [(0, "low"), (1, "high")] {
            s.add_client(id, name);
            s.set_active(id, true);
        }
        s.set_weight("high", 10.0);
        s.allocated(1, &q("cpus:9"));
        assert_eq!(s.order(), vec![1, 0]);
    }

    /// What the tree sorter must agree with: the order computed from scratch, by sorting the
    /// children of every path by (weighted share, allocation count, path), where a path's
    /// allocation is that of every client at or below it, active or not, and its count is how
    /// many allocations were made below it since the path last came into being (as in Mesos,
    /// removing a client leaves its allocations counted in the paths above it).
    #[derive(Debug, Clone)]
    struct Reference {
        total: Quantities,
        weights: HashMap<String, f64>,
        counts: HashMap<String, u64>,
        /// client → (path, allocation, allocations counted, active)
        clients: std::collections::BTreeMap<ClientId, (String, Quantities, u64, bool)>,
    }

    impl Reference {
        fn below<'a>(
            &'a self,
            path: &'a str,
        ) -> impl Iterator<Item = &'a (String, Quantities, u64, bool)> {
            self.clients.values().filter(move |(p, ..)| {
                p == path
                    || p.strip_prefix(path)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        }

        /// Active clients ordered under `path` (the root is "").
        fn order_under(&self, path: &str, out: &mut Vec<ClientId>) {
            // Children: the client at `path` itself (a leaf of weight 1), then every next segment
            // with an active client below it.
            let mut children: Vec<(f64, u64, String, Option<ClientId>)> = Vec::new();
            for (&id, (p, allocation, count, active)) in &self.clients {
                if p == path && *active && !path.is_empty() {
                    children.push((
                        allocation.dominant_share(&self.total),
                        *count,
                        p.clone(),
                        Some(id),
                    ));
                }
            }
            let mut segments = std::collections::BTreeSet::new();
            for (p, _, _, active) in self.clients.values() {
                let rest = if path.is_empty() {
                    Some(p.as_str())
                } else {
                    p.strip_prefix(path).and_then(|r| r.strip_prefix('/'))
                };
                if let Some(rest) = rest.filter(|r| !r.is_empty())
                    && *active
                {
                    let segment = rest.split('/').next().unwrap_or(rest);
                    let child = if path.is_empty() {
                        segment.to_string()
                    } else {
                        format!("{path}/{segment}")
                    };
                    segments.insert(child);
                }
            }
            for child in segments {
                let mut allocation = Quantities::new();
                for (_, a, ..) in self.below(&child) {
                    allocation.add(a);
                }
                let count = self.counts.get(&child).copied().unwrap_or(0);
                let weight = self.weights.get(&child).copied().unwrap_or(1.0);
                children.push((
                    allocation.dominant_share(&self.total) / weight,
                    count,
                    child,
                    None,
                ));
            }
            children.sort_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then(a.1.cmp(&b.1))
                    .then(a.2.cmp(&b.2))
                    // The leaf of a path shares the path with nothing else at its level.
                    .then(a.3.is_none().cmp(&b.3.is_none()))
            });
            for (_, _, child, client) in children {
                match client {
                    Some(id) => out.push(id),
                    None => self.order_under(&child, out),
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(ClientId, String),
        Remove(ClientId),
        Active(ClientId, bool),
        Allocated(ClientId, u32, u32),
        Unallocated(ClientId),
        Weight(String, u8),
        Total(u32),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let path = prop::sample::select(vec![
            "a", "b", "a/x", "a/y", "b/x", "c", "a/x/z", "ab", "a/w", "b/y", "a/x/y", "bb",
        ])
        .prop_map(str::to_string);
        let client = 0..9u32;
        prop_oneof![
            (client.clone(), path.clone()).prop_map(|(c, p)| Op::Add(c, p)),
            client.clone().prop_map(Op::Remove),
            (client.clone(), any::<bool>()).prop_map(|(c, a)| Op::Active(c, a)),
            (client.clone(), 0..20u32, 0..20u32).prop_map(|(c, x, y)| Op::Allocated(c, x, y)),
            client.prop_map(Op::Unallocated),
            (path, 1..4u8).prop_map(|(p, w)| Op::Weight(p, w)),
            (50..200u32).prop_map(Op::Total),
        ]
    }

    proptest::proptest! {
        #[test]
        fn drf_order_matches_a_sort_from_scratch(
            ops in proptest::collection::vec((op(), proptest::bool::weighted(0.6)), 1..80),
        ) {
            let mut sorter = TreeSorter::drf();
            let total = q("cpus:100;mem:1000");
            sorter.set_total(&total);
            let mut reference = Reference {
                total,
                weights: HashMap::new(),
                counts: HashMap::new(),
                clients: Default::default(),
            };
            // The order is compared after some operations only, so that several changes
            // (a new total, then allocations) meet the sorter between two visits.
            for (op, check) in ops {
                match op {
                    Op::Add(c, path) => {
                        // One client per path, as the allocator uses the sorter.
                        if !reference.clients.contains_key(&c)
                            && !reference.clients.values().any(|(p, ..)| *p == path)
                        {
                            sorter.add_client(c, &path);
                            reference.clients.insert(c, (path, Quantities::new(), 0, false));
                        }
                    }
                    Op::Remove(c) => {
                        sorter.remove_client(c);
                        reference.clients.remove(&c);
                        // Paths with no client left at or below them are pruned.
                        let r = reference.clone();
                        reference.counts.retain(|path, _| r.below(path).next().is_some());
                    }
                    Op::Active(c, active) => {
                        sorter.set_active(c, active);
                        if let Some(entry) = reference.clients.get_mut(&c) {
                            entry.3 = active;
                        }
                    }
                    Op::Allocated(c, cpus, mem) => {
                        let amount = q(&format!("cpus:{cpus};mem:{mem}"));
                        sorter.allocated(c, &amount);
                        if let Some(entry) = reference.clients.get_mut(&c) {
                            entry.1.add(&amount);
                            entry.2 += 1;
                            let mut end = 0;
                            for segment in entry.0.split('/') {
                                end += segment.len();
                                *reference.counts.entry(entry.0[..end].to_string()).or_default() += 1;
                                end += 1;
                            }
                        }
                    }
                    Op::Unallocated(c) => {
                        if let Some(entry) = reference.clients.get_mut(&c) {
                            let all = entry.1.clone();
                            sorter.unallocated(c, &all);
                            entry.1.subtract(&all);
                        }
                    }
                    Op::Total(cpus) => {
                        let total = q(&format!("cpus:{cpus};mem:1000"));
                        sorter.set_total(&total);
                        reference.total = total;
                    }
                    Op::Weight(path, w) => {
                        sorter.set_weight(&path, f64::from(w));
                        reference.weights.insert(path, f64::from(w));
                    }
                }
                if check {
                    let mut expected = Vec::new();
                    reference.order_under("", &mut expected);
                    // Before the visit, keys may be due for a rebuild: the first client is
                    // either not known or the right one.
                    let first = sorter.first_listed();
                    proptest::prop_assert!(first.is_none() || first == expected.first().copied());
                    let sole = sorter.sole_listed();
                    proptest::prop_assert!(
                        sole.is_none() || (expected.len() == 1 && sole == Some(expected[0])),
                        "sole_listed {:?} before the visit, order {:?}",
                        sole,
                        expected
                    );
                    check_second_listed(&sorter, &expected, "before")?;
                    proptest::prop_assert_eq!(sorter.order(), expected.clone());
                    proptest::prop_assert_eq!(sorter.first_listed(), expected.first().copied());
                    // After a visit, the second client is known whenever the root's two lowest
                    // children are clients or lone clients' paths; never a wrong one.
                    check_second_listed(&sorter, &expected, "after")?;
                    // After a visit the keys are fresh: a lone listed client is known without
                    // a walk, and no other answer is given.
                    proptest::prop_assert_eq!(
                        sorter.sole_listed(),
                        (expected.len() == 1).then(|| expected[0])
                    );
                }
            }
            let mut expected = Vec::new();
            reference.order_under("", &mut expected);
            proptest::prop_assert_eq!(sorter.order(), expected);
            check_path_ranks(&sorter);
        }
    }

    /// Same share, so the number of allocations decides: a sum recorded as three allocations
    /// must count three, or `a` (fewer counted, and first by path) would go first.
    #[test]
    fn allocations_recorded_at_once_count_as_many() {
        let one_by_one = {
            let mut s = sorter_with(&["a", "b"]);
            for _ in 0..3 {
                s.allocated(0, &q("cpus:1"));
            }
            s.allocated(1, &q("cpus:3"));
            s.order()
        };
        let at_once = {
            let mut s = sorter_with(&["a", "b"]);
            s.allocated_times(0, &q("cpus:3"), 3);
            s.allocated(1, &q("cpus:3"));
            s.order()
        };
        assert_eq!(one_by_one, vec![1, 0], "b has fewer allocations");
        assert_eq!(at_once, one_by_one);
    }

    /// A sorter that keeps every `allocated` call, for the trait's default `allocated_times`.
    #[derive(Default)]
    struct Recording(Vec<(ClientId, Quantities)>);

    impl Sorter for Recording {
        fn add_client(&mut self, _: ClientId, _: &str) {}
        fn remove_client(&mut self, _: ClientId) {}
        fn set_active(&mut self, _: ClientId, _: bool) {}
        fn set_weight(&mut self, _: &str, _: f64) {}
        fn allocated(&mut self, client: ClientId, quantities: &Quantities) {
            self.0.push((client, quantities.clone()));
        }
        fn unallocated(&mut self, _: ClientId, _: &Quantities) {}
        fn set_total(&mut self, _: &Quantities) {}
        fn visit(&mut self, _: &mut dyn FnMut(ClientId) -> Visit) {}
    }

    #[test]
    fn the_default_records_the_sum_once_and_counts_the_rest_as_nothing() {
        let mut s = Recording::default();
        s.allocated_times(7, &q("cpus:3;mem:30"), 3);
        s.allocated_times(8, &q("cpus:1"), 0);
        assert_eq!(
            s.0,
            vec![
                (7, q("cpus:3;mem:30")),
                (7, Quantities::new()),
                (7, Quantities::new())
            ]
        );
    }

    /// The numbered paths are exactly those of the live path nodes, and numbers increase with
    /// the paths.
    fn check_path_ranks(sorter: &TreeSorter) {
        let mut paths: Vec<&str> = sorter.nodes[1..]
            .iter()
            .flatten()
            .filter(|n| n.client.is_none())
            .map(|n| &*n.path)
            .collect();
        paths.sort_unstable();
        let numbered: Vec<&str> = sorter.path_ranks.ranks.keys().map(|p| &**p).collect();
        assert_eq!(numbered, paths);
        let numbers: Vec<u64> = sorter.path_ranks.ranks.values().copied().collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        for node in sorter.nodes.iter().flatten() {
            assert_eq!(node.path_rank, sorter.path_ranks.get(&node.path));
        }
    }

    #[test]
    fn the_first_or_lone_client_is_known_without_a_walk_only_when_no_walk_is_due() {
        let mut s = sorter_with(&["a", "b/c"]);
        assert_eq!(s.sole_listed(), None, "keys are rebuilt by the first visit");
        assert_eq!(
            s.first_listed(),
            None,
            "keys are rebuilt by the first visit"
        );
        s.order();
        assert_eq!(s.sole_listed(), None, "two clients");
        assert_eq!(
            s.first_listed(),
            Some(0),
            "a before b/c with nothing allocated"
        );
        s.allocated(0, &q("cpus:1"));
        assert_eq!(s.first_listed(), Some(1), "b/c now has the lower share");
        s.set_total(&q("cpus:200;mem:1000"));
        assert_eq!(
            s.first_listed(),
            None,
            "new totals: the keys are rebuilt by the next visit"
        );
        s.order();
        assert_eq!(s.first_listed(), Some(1));
        s.set_active(0, false);
        assert_eq!(s.sole_listed(), Some(1), "b/c is the only one left");
        s.set_weight("b", 2.0);
        assert_eq!(s.sole_listed(), None, "a weight change rebuilds the keys");
        let mut random = TreeSorter::random(7);
        random.add_client(0, "a");
        random.set_active(0, true);
        random.order();
        assert_eq!(
            random.sole_listed(),
            None,
            "a random visit draws from its generator even for one client"
        );
        assert_eq!(
            random.first_listed(),
            None,
            "the generator decides who is first"
        );
    }

    /// `second_listed` is either not known or the client a visit calls second (`when`: before
    /// or after the visit that produced `expected`).
    fn check_second_listed(
        sorter: &TreeSorter,
        expected: &[ClientId],
        when: &str,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let second = sorter.second_listed();
        proptest::prop_assert!(
            second.is_none() || second == expected.get(1).copied(),
            "second_listed {:?} {} the visit, order {:?}",
            second,
            when,
            expected
        );
        Ok(())
    }

    #[test]
    fn the_second_client_is_known_without_a_walk_only_when_it_stands_alone_at_the_root() {
        let mut s = sorter_with(&["a", "b", "c/d"]);
        assert_eq!(
            s.second_listed(),
            None,
            "keys are rebuilt by the first visit"
        );
        assert_eq!(s.order(), vec![0, 1, 2]);
        assert_eq!(
            s.second_listed(),
            Some(1),
            "b after a, each at its own path"
        );
        s.allocated(0, &q("cpus:1"));
        assert_eq!(s.order(), vec![1, 2, 0]);
        assert_eq!(
            s.second_listed(),
            None,
            "the second is under c: a walk finds it"
        );
        s.allocated(1, &q("cpus:1"));
        assert_eq!(s.order(), vec![2, 0, 1]);
        assert_eq!(s.second_listed(), None, "the first is under c");
        s.allocated(2, &q("cpus:2"));
        assert_eq!(s.order(), vec![0, 1, 2]);
        assert_eq!(s.second_listed(), Some(1));
        s.set_active(1, false);
        assert_eq!(s.second_listed(), None, "the second is now under c");
        s.set_active(2, false);
        assert_eq!(s.second_listed(), None, "a is alone");
        let mut random = TreeSorter::random(7);
        for (client, path) in [(0, "a"), (1, "b")] {
            random.add_client(client, path);
            random.set_active(client, true);
        }
        random.order();
        assert_eq!(random.second_listed(), None, "the generator decides");
    }

    #[test]
    fn random_is_seeded_and_covers_all_orders() {
        let mut a = TreeSorter::random(7);
        let mut b = TreeSorter::random(7);
        for s in [&mut a, &mut b] {
            for id in 0..3 {
                s.add_client(id, &format!("r{id}"));
                s.set_active(id, true);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let order = a.order();
            assert_eq!(order, b.order());
            seen.insert(order);
        }
        assert_eq!(seen.len(), 6);
    }
}
