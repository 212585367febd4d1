//! What the frameworks hold on one agent: offered or in use, with allocation roles set.

use mesos_core::resources::Resources;
use smallvec::SmallVec;

/// What one framework holds on one agent.
///
/// Offers are appended as they are made and merged into one bag only when the holding is next
/// read, so that the allocation loop does no bag merging.
#[derive(Debug, Default)]
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

/// The holdings on one agent, by framework index, in the order the frameworks first took
/// something there.
///
/// An agent is held by one or two frameworks at a time in most clusters, so the first two
/// entries live inside the agent's state: recording an offer then reads no memory beyond the
/// agent's own (a hash map's control bytes are one more cache miss per offer when the cycle
/// visits thousands of agents in random order). Lookups scan the list: an agent shared by
/// hundreds of frameworks at once pays a scan per offer and recovery there.
#[derive(Debug, Default)]
pub(crate) struct Holdings {
    entries: SmallVec<[(usize, Holding); 2]>,
}

impl Holdings {
    fn position(&self, framework: usize) -> Option<usize> {
        self.entries.iter().position(|(f, _)| *f == framework)
    }

    pub(crate) fn get(&self, framework: usize) -> Option<&Holding> {
        self.position(framework).map(|i| &self.entries[i].1)
    }

    pub(crate) fn get_mut(&mut self, framework: usize) -> Option<&mut Holding> {
        self.position(framework).map(|i| &mut self.entries[i].1)
    }

    /// The framework's holding, created empty when it has none.
    pub(crate) fn entry(&mut self, framework: usize) -> &mut Holding {
        let i = match self.position(framework) {
            Some(i) => i,
            None => {
                self.entries.push((framework, Holding::default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }

    pub(crate) fn remove(&mut self, framework: usize) -> Option<Holding> {
        self.position(framework).map(|i| self.entries.remove(i).1)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Holding)> {
        self.entries.iter().map(|(f, h)| (*f, h))
    }

    pub(crate) fn frameworks(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().map(|(f, _)| *f)
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

    #[test]
    fn holdings_keep_entries_per_framework_beyond_the_inline_ones() {
        let mut h = Holdings::default();
        for f in [7, 3, 9] {
            h.entry(f).push(r("cpus:1"));
        }
        h.entry(3).push(r("cpus:2;mem:10"));
        assert_eq!(h.frameworks().collect::<Vec<_>>(), vec![7, 3, 9]);
        assert_eq!(h.get(3).unwrap().sum(), r("cpus:3;mem:10"));
        assert_eq!(*h.get_mut(3).unwrap().merged(), r("cpus:3;mem:10"));
        assert!(h.remove(7).is_some());
        assert!(h.remove(7).is_none());
        assert!(h.get(7).is_none());
        assert_eq!(h.frameworks().collect::<Vec<_>>(), vec![3, 9]);
        assert_eq!(
            sum_of(h.values().flat_map(Holding::parts)),
            r("cpus:4;mem:10")
        );
    }
}
