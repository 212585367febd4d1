//! What the sorters order by: keys of plain integers, numbers that order like paths, and the
//! index from client ids to a sorter's own slots. Shared by [`super::tree::TreeSorter`] and
//! [`super::flat::FlatSorter`], which must order alike.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::ClientId;
use super::heap::Slotted;
use crate::quantities::Quantities;

/// How a node's weight enters its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ranking {
    /// Weighted DRF: the share divided by the weight.
    Share,
    /// Strict priority: the higher weight first, then the share.
    Priority,
}

/// The key of slot `node`, whose path weighs `weight`, holds `allocation` (out of `total`)
/// from `count` allocations and is numbered `path_rank`.
#[inline]
pub(super) fn key_of(
    ranking: Ranking,
    weight: f64,
    allocation: &Quantities,
    total: &Quantities,
    count: u64,
    path_rank: u64,
    node: usize,
) -> Key {
    let share = allocation.dominant_share(total);
    let (rank, share) = match ranking {
        // Most nodes weigh 1, and a share divided by 1 is the share, exactly: the division
        // is skipped there, as it would lengthen the chain from one offer to the next
        // agent's choice (the next lowest client is known only once this key is placed).
        Ranking::Share if weight == 1.0 => (0.0, share),
        Ranking::Share => (0.0, share / weight),
        Ranking::Priority => (-weight, share),
    };
    Key {
        rank: ordered_bits(rank),
        share: ordered_bits(share),
        count,
        path_rank,
        node,
    }
}

/// A double's bits mapped so that unsigned integer order is [`f64::total_cmp`] order: keys
/// then compare as plain integers (the B-tree compares a key with up to eleven others per node
/// on every insert, and `total_cmp` re-derives this mapping at each comparison).
pub(super) fn ordered_bits(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Position of a node among its siblings: policy rank, then share, then how many allocations it
/// has received, then path (Mesos's DRF tie-breaking).
///
/// The path enters as its [`PathRanks`] number, so a key is a few plain integers: comparing two
/// never follows a pointer to a path's text, and making or dropping one touches no reference
/// count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    /// [`ordered_bits`] of the policy's rank.
    pub(super) rank: u64,
    /// [`ordered_bits`] of the share.
    pub(super) share: u64,
    pub(super) count: u64,
    pub(super) path_rank: u64,
    pub(super) node: usize,
}

impl Slotted for Key {
    fn slot(&self) -> usize {
        self.node
    }
}

/// Numbers that order like the paths they stand for: `a < b` as strings exactly when
/// `rank(a) < rank(b)`. A new path takes a number between its neighbours'; when two neighbours
/// leave no room, every path is renumbered (spaced evenly again) and the keys are rebuilt.
#[derive(Debug, Default)]
pub(super) struct PathRanks {
    pub(super) ranks: BTreeMap<Arc<str>, u64>,
}

/// Distance between consecutive numbers after a renumbering, and between a path added at
/// either end and its neighbour: room for 32 insertions into one gap, and for 2^32 paths.
#[cfg(not(test))]
pub(super) const RANK_SPACING: u64 = 1 << 32;
/// Tiny in tests, so that the property tests run out of room and renumber all the time.
#[cfg(test)]
pub(super) const RANK_SPACING: u64 = 4;

impl PathRanks {
    /// Numbers `path` (which must be new); `None` when there was no room and every path was
    /// renumbered, so every node's number must be read again.
    pub(super) fn insert(&mut self, path: &Arc<str>) -> Option<u64> {
        let below = self
            .ranks
            .range::<str, _>((Bound::Unbounded, Bound::Excluded(&**path)))
            .next_back()
            .map(|(_, &r)| r);
        let above = self
            .ranks
            .range::<str, _>((Bound::Excluded(&**path), Bound::Unbounded))
            .next()
            .map(|(_, &r)| r);
        let rank = match (below, above) {
            (None, None) => Some(RANK_SPACING),
            (Some(lo), None) => lo
                .checked_add(RANK_SPACING)
                .or_else(|| (u64::MAX - lo >= 2).then(|| lo + (u64::MAX - lo) / 2)),
            (None, Some(hi)) => hi
                .checked_sub(RANK_SPACING)
                .filter(|&r| r > 0)
                .or_else(|| (hi >= 2).then_some(hi / 2)),
            (Some(lo), Some(hi)) => (hi - lo >= 2).then(|| lo + (hi - lo) / 2),
        };
        self.ranks.insert(path.clone(), rank.unwrap_or(0));
        if rank.is_none() {
            let mut next = 0u64;
            for r in self.ranks.values_mut() {
                next += RANK_SPACING;
                *r = next;
            }
        }
        rank
    }

    pub(super) fn remove(&mut self, path: &str) {
        self.ranks.remove(path);
    }

    /// The number of `path`; 0 for a path not numbered (the tree's root, which has no siblings).
    pub(super) fn get(&self, path: &str) -> u64 {
        self.ranks.get(path).copied().unwrap_or(0)
    }
}

/// Client ids from this one up are never kept in [`ClientLeaves::dense`].
pub(super) const DENSE_CLIENTS: usize = 1 << 20;

/// How far past twice its number of clients a sorter's vector may grow for a new id.
const DENSE_SLACK: usize = 64;

/// The node (or slot) of each client. Client ids are dense handles (see [`ClientId`]), so they
/// index a vector, which every allocation reads without hashing. The vector grows for a new
/// id only while it stays within about twice the sorter's number of clients: the allocator
/// gives each role a framework sorter, and one role's few frameworks may have large ids (the
/// frameworks of thousands of roles are numbered together), so a vector reaching up to each
/// id would cost roles times frameworks in memory. Other ids go to a map.
#[derive(Debug, Default)]
pub(super) struct ClientLeaves {
    /// Node by client id; `usize::MAX` where there is no such client (or it is in `sparse`).
    pub(super) dense: Vec<usize>,
    /// Clients in `dense`.
    dense_count: usize,
    pub(super) sparse: FxHashMap<ClientId, usize>,
}

impl ClientLeaves {
    #[inline]
    pub(super) fn get(&self, client: ClientId) -> Option<usize> {
        match self.dense.get(client as usize) {
            Some(&leaf) if leaf != usize::MAX => Some(leaf),
            _ if self.sparse.is_empty() => None,
            _ => self.get_sparse(client),
        }
    }

    /// [`ClientLeaves::get`] for ids outside the vector, apart so that the hash probe does not
    /// crowd the sorters' per-allocation updates, which inline `get`. Not rare in every
    /// cluster: with many roles of few frameworks each, most framework sorters keep their
    /// clients here (LargeAndSmallQuota), and pay a call on top of the probe.
    #[inline(never)]
    fn get_sparse(&self, client: ClientId) -> Option<usize> {
        self.sparse.get(&client).copied()
    }

    /// Records a client that is not here yet.
    pub(super) fn insert(&mut self, client: ClientId, leaf: usize) {
        let id = client as usize;
        let clients = self.dense_count + self.sparse.len();
        if id < self.dense.len() {
            self.dense[id] = leaf;
            self.dense_count += 1;
        } else if id < DENSE_CLIENTS && id <= 2 * clients + DENSE_SLACK {
            self.dense.resize(id + 1, usize::MAX);
            self.dense[id] = leaf;
            self.dense_count += 1;
        } else {
            self.sparse.insert(client, leaf);
        }
    }

    pub(super) fn remove(&mut self, client: ClientId) -> Option<usize> {
        if let Some(slot) = self.dense.get_mut(client as usize)
            && *slot != usize::MAX
        {
            self.dense_count -= 1;
            return Some(std::mem::replace(slot, usize::MAX));
        }
        self.sparse.remove(&client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few clients with large ids go to the map; many with dense ids to the vector; either
    /// way each is found, and only once.
    #[test]
    fn ids_far_past_the_number_of_clients_go_to_the_map() {
        let mut leaves = ClientLeaves::default();
        leaves.insert(3_000, 0);
        assert!(leaves.dense.is_empty() && leaves.sparse.len() == 1);
        for id in 0..200 {
            leaves.insert(id, id as usize + 1);
        }
        assert_eq!((leaves.dense.len(), leaves.sparse.len()), (200, 1));
        assert_eq!(leaves.get(3_000), Some(0));
        assert_eq!(leaves.get(150), Some(151));
        assert_eq!(leaves.get(200), None);
        assert_eq!(leaves.remove(3_000), Some(0));
        assert_eq!(leaves.remove(3_000), None);
        assert_eq!(leaves.get(3_000), None);
        // Far past twice the 200 clients: the map again.
        leaves.insert(1_000, 7);
        assert_eq!((leaves.dense.len(), leaves.sparse.len()), (200, 1));
        assert_eq!(leaves.remove(150), Some(151));
        assert_eq!(leaves.get(150), None);
        leaves.insert(150, 9);
        assert_eq!(leaves.get(150), Some(9));
        assert_eq!(leaves.get(1_000), Some(7));
    }
}
