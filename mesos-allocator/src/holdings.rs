//! What the frameworks hold on one agent: offered or in use, by framework and role.

use mesos_core::resources::Resources;
use smallvec::SmallVec;

/// What one framework holds on one agent.
///
/// Offers are appended as they are made and merged into one bag only when the holding is next
/// read, so that the allocation loop does no bag merging.
#[derive(Debug)]
pub(crate) struct Holding {
    merged: Resources,
    unmerged: Vec<Resources>,
}

impl Holding {
    pub(crate) fn push(&mut self, resources: Resources) {
        // The first part of an empty holding becomes the merged bag: no list to allocate.
        if self.merged.is_empty() && self.unmerged.is_empty() {
            self.merged = resources;
        } else {
            self.unmerged.push(resources);
        }
    }

    /// The whole holding as one bag.
    pub(crate) fn merged(&mut self) -> &mut Resources {
        for part in self.unmerged.drain(..) {
            self.merged += &part;
        }
        &mut self.merged
    }

    /// The parts of the holding, without merging them.
    pub(crate) fn parts(&self) -> impl Iterator<Item = &Resources> {
        std::iter::once(&self.merged).chain(&self.unmerged)
    }

    /// The whole holding as one new bag.
    pub(crate) fn sum(&self) -> Resources {
        sum_of(self.parts())
    }
}

pub(crate) fn sum_of<'a>(parts: impl Iterator<Item = &'a Resources>) -> Resources {
    let mut out = Resources::new();
    for part in parts {
        out += part;
    }
    out
}

/// The holdings on one agent, by framework and role index, in the order they were first
/// taken there. The bags carry no allocation role: the key says which role they are allocated
/// to, so an offer is recorded without writing a role into each of its resources (a cache miss
/// per resource when the cycle visits thousands of agents).
///
/// An agent is held by one or two frameworks at a time in most clusters, so the first two
/// entries live inside the agent's state: recording an offer then reads no memory beyond the
/// agent's own (a hash map's control bytes are one more cache miss per offer). Lookups scan
/// the list: an agent shared by hundreds of frameworks at once pays a scan per offer and
/// recovery there.
#[derive(Debug, Default)]
pub(crate) struct Holdings {
    entries: SmallVec<[(HoldingKey, Holding); 2]>,
}

/// Which framework holds a bag, for which of its roles (indices into the allocator's tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HoldingKey {
    pub(crate) framework: usize,
    pub(crate) role: usize,
}

impl Holdings {
    fn position(&self, key: HoldingKey) -> Option<usize> {
        self.entries.iter().position(|(k, _)| *k == key)
    }

    pub(crate) fn get_mut(&mut self, key: HoldingKey) -> Option<&mut Holding> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    /// Adds `resources` to the holding under `key`, which is created when there is none.
    #[inline(always)]
    pub(crate) fn add(&mut self, key: HoldingKey, resources: Resources) {
        match self.position(key) {
            Some(i) => self.entries[i].1.push(resources),
            // The new holding is made with its first part: no empty holding to fill in after.
            None => self.entries.push((
                key,
                Holding {
                    merged: resources,
                    unmerged: Vec::new(),
                },
            )),
        }
    }

    pub(crate) fn remove(&mut self, key: HoldingKey) -> Option<Holding> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (HoldingKey, &Holding)> {
        self.entries.iter().map(|(k, h)| (*k, h))
    }

    /// One framework's holdings, by role.
    pub(crate) fn of_framework(
        &self,
        framework: usize,
    ) -> impl Iterator<Item = (usize, &Holding)> + '_ {
        self.iter()
            .filter(move |(k, _)| k.framework == framework)
            .map(|(k, h)| (k.role, h))
    }

    /// The frameworks holding something here, each once.
    pub(crate) fn frameworks(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self.entries.iter().map(|(k, _)| k.framework).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Holding> {
        self.entries.iter().map(|(_, h)| h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_core::resources::parse_flag_text;

    fn r(text: &str) -> Resources {
        parse_flag_text(text, "*").unwrap()
    }

    fn key(framework: usize, role: usize) -> HoldingKey {
        HoldingKey { framework, role }
    }

    #[test]
    fn holdings_keep_entries_per_framework_and_role_beyond_the_inline_ones() {
        let mut h = Holdings::default();
        for f in [7, 3, 9] {
            h.add(key(f, 0), r("cpus:1"));
        }
        h.add(key(3, 0), r("cpus:2;mem:10"));
        h.add(key(3, 1), r("cpus:5"));
        assert_eq!(h.frameworks(), vec![3, 7, 9]);
        let of_3: Vec<(usize, Resources)> =
            h.of_framework(3).map(|(role, h)| (role, h.sum())).collect();
        assert_eq!(of_3, vec![(0, r("cpus:3;mem:10")), (1, r("cpus:5"))]);
        assert_eq!(*h.get_mut(key(3, 0)).unwrap().merged(), r("cpus:3;mem:10"));
        assert!(h.remove(key(7, 0)).is_some());
        assert!(h.remove(key(7, 0)).is_none());
        assert!(h.get_mut(key(7, 0)).is_none());
        assert!(h.get_mut(key(3, 2)).is_none());
        assert_eq!(h.frameworks(), vec![3, 9]);
        assert_eq!(
            sum_of(h.values().flat_map(Holding::parts)),
            r("cpus:9;mem:10")
        );
    }

    #[test]
    fn removing_an_entry_keeps_the_order_of_the_rest() {
        let mut h = Holdings::default();
        for f in [1, 2, 3, 4] {
            h.add(key(f, 0), r("cpus:1"));
        }
        let order = |h: &Holdings| h.iter().map(|(k, _)| k.framework).collect::<Vec<_>>();
        assert_eq!(h.remove(key(1, 0)).map(|h| h.sum()), Some(r("cpus:1")));
        assert_eq!(order(&h), vec![2, 3, 4]);
        assert_eq!(h.remove(key(4, 0)).map(|h| h.sum()), Some(r("cpus:1")));
        assert_eq!(h.remove(key(2, 0)).map(|h| h.sum()), Some(r("cpus:1")));
        assert_eq!(order(&h), vec![3]);
        // A framework holding here after removals starts from an empty holding.
        h.add(key(5, 1), r("mem:8"));
        assert_eq!(order(&h), vec![3, 5]);
        assert_eq!(h.get_mut(key(5, 1)).map(|h| h.sum()), Some(r("mem:8")));
        assert_eq!(
            sum_of(h.values().flat_map(Holding::parts)),
            r("cpus:1;mem:8")
        );
    }
}
