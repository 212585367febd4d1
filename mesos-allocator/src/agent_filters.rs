//! The decline filters that refuse one agent's resources, kept with that agent.
//!
//! The cycle asks, for nearly every agent, whether the framework it is about to offer the agent
//! to declined it earlier. Kept by framework (a map from (role, agent) to filters, as Mesos
//! does), the answer costs two dependent cache misses whenever the framework holds any filter
//! there: the map's bucket and the list it points to, neither of which the cycle can fetch
//! ahead. Kept with the agent, the frameworks holding its filters are one list of 4-byte
//! indices, sixteen to a cache line, that the cycle asks the processor to load while it works
//! on earlier agents; the rest of a filter is read only when its framework is the one asked
//! about. (A framework's bit in the agent's [`FilterMask`] is set for about one agent in seven
//! once every agent holds ten filters, mostly for frameworks sharing the bit, so the list is
//! read far more often than a filter is found. Where a filter is found often, because the agent
//! holds filters of a good share of the frameworks, the filters are loaded ahead as well.)

use std::time::Duration;

use mesos_core::resources::Resources;

use crate::filter_mask::FilterMask;
use crate::prefetch::{prefetch_address, prefetch_slice};

/// Who holds a filter: a framework, for one of its roles (both allocator indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilterOwner {
    pub(crate) framework: usize,
    pub(crate) role: usize,
}

/// How many of an agent's filters [`AgentFilters::prefetch`] asks for: 512 bytes of them.
const PREFETCHED_REFUSALS: usize = 512 / size_of::<Refusal>();
const _: () = assert!(PREFETCHED_REFUSALS > 0, "a filter fits in 512 bytes");

/// [`AgentFilters::prefetch`] asks for an agent's filters when it holds at least one filter
/// per this many frameworks known.
const PREFETCH_REFUSALS_ABOVE: usize = 16;

/// What a filter refuses, to which of its framework's roles, and until when.
#[derive(Debug, Clone)]
struct Refusal {
    role: u32,
    resources: Resources,
    until: Duration,
}

/// An allocator index narrowed for a filter: indices count frameworks and roles ever added,
/// which sorters already require to be below 2^32.
fn narrow(index: usize) -> u32 {
    u32::try_from(index).expect("fewer than 2^32 frameworks and roles")
}

/// One agent's decline filters.
#[derive(Debug, Default)]
pub(crate) struct AgentFilters {
    /// The framework of each filter: the list the cycle scans.
    frameworks: Vec<u32>,
    /// The rest of each filter, in the order of `frameworks`.
    refusals: Vec<Refusal>,
    /// The frameworks holding a filter here, exactly (see [`FilterMask`] for what a bit means).
    mask: FilterMask,
}

impl AgentFilters {
    pub(crate) fn len(&self) -> usize {
        self.frameworks.len()
    }

    /// A set bit for every framework that holds a filter here (and for those sharing its bit).
    #[cfg(test)]
    fn mask(&self) -> FilterMask {
        self.mask
    }

    fn owner(&self, i: usize) -> FilterOwner {
        FilterOwner {
            framework: self.frameworks[i] as usize,
            role: self.refusals[i].role as usize,
        }
    }

    /// Files a filter: `owner` refuses `resources` here until `until`.
    pub(crate) fn add(&mut self, owner: FilterOwner, resources: Resources, until: Duration) {
        self.frameworks.push(narrow(owner.framework));
        self.refusals.push(Refusal {
            role: narrow(owner.role),
            resources,
            until,
        });
        self.mask.add(owner.framework);
    }

    /// Whether a filter of `owner` that has not expired at `now` refuses all of `offer`.
    pub(crate) fn refuses(&self, owner: FilterOwner, offer: &Resources, now: Duration) -> bool {
        if !self.mask.may_hold(owner.framework) {
            return false;
        }
        let (framework, role) = (narrow(owner.framework), narrow(owner.role));
        self.frameworks.iter().zip(&self.refusals).any(|(&f, r)| {
            f == framework && r.role == role && r.until > now && r.resources.contains(offer)
        })
    }

    /// Drops the filters `drop` picks (given owner and expiry), calling `dropped` with the owner
    /// of each; returns how many were dropped.
    pub(crate) fn drop_where(
        &mut self,
        mut drop: impl FnMut(FilterOwner, Duration) -> bool,
        mut dropped: impl FnMut(FilterOwner),
    ) -> usize {
        let before = self.len();
        let mut kept = 0;
        for i in 0..before {
            let owner = self.owner(i);
            if drop(owner, self.refusals[i].until) {
                dropped(owner);
            } else {
                // Kept filters move down over dropped ones, in order.
                self.frameworks.swap(kept, i);
                self.refusals.swap(kept, i);
                kept += 1;
            }
        }
        if kept == before {
            return 0;
        }
        self.frameworks.truncate(kept);
        self.refusals.truncate(kept);
        self.mask = FilterMask::default();
        for &f in &self.frameworks {
            self.mask.add(f as usize);
        }
        before - kept
    }

    /// The earliest expiry among the filters; `Duration::MAX` when there are none.
    pub(crate) fn next_expiry(&self) -> Duration {
        self.refusals
            .iter()
            .map(|r| r.until)
            .min()
            .unwrap_or(Duration::MAX)
    }

    /// Hints that the list of frameworks is about to be scanned (its first line: sixteen),
    /// and, when a filter is likely to be found there, that it will be read.
    ///
    /// Which framework the cycle will ask about is not known this early, so the filters are
    /// asked for all together (the first [`PREFETCHED_REFUSALS`], 512 bytes), and only when
    /// the agent holds at least one filter per [`PREFETCH_REFUSALS_ABOVE`] of the `frameworks`
    /// known (filters counted, so several of one framework count several times): then the
    /// framework asked about often holds one (one agent in eight in 1k x 100 DeclineOffers
    /// round 10, where waiting for that filter took 12 % of the cycle's samples), and
    /// otherwise the extra lines only crowd out those the cycle reads (10k x 1k round 10, one
    /// agent in a hundred: 25 % slower with every agent's filters asked for).
    pub(crate) fn prefetch(&self, frameworks: usize) {
        if self.frameworks.is_empty() {
            return;
        }
        prefetch_address(self.frameworks.as_ptr().cast::<u8>());
        if self.frameworks.len() * PREFETCH_REFUSALS_ABOVE >= frameworks {
            let refusals = &self.refusals[..self.refusals.len().min(PREFETCHED_REFUSALS)];
            prefetch_slice(refusals);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_core::resources::parse_flag_text;

    fn bag(text: &str) -> Resources {
        parse_flag_text(text, "*").expect("valid resources")
    }

    fn owner(framework: usize, role: usize) -> FilterOwner {
        FilterOwner { framework, role }
    }

    #[test]
    fn a_filter_refuses_its_owner_what_it_contains_until_it_expires() {
        let mut filters = AgentFilters::default();
        let declined = bag("cpus:4;mem:1024");
        filters.add(owner(3, 0), declined.clone(), Duration::from_secs(10));
        let now = Duration::from_secs(5);
        assert!(filters.refuses(owner(3, 0), &declined, now));
        assert!(filters.refuses(owner(3, 0), &bag("cpus:1"), now));
        assert!(
            !filters.refuses(owner(3, 0), &bag("cpus:5"), now),
            "more than declined"
        );
        assert!(
            !filters.refuses(owner(3, 1), &declined, now),
            "another role"
        );
        assert!(
            !filters.refuses(owner(67, 0), &declined, now),
            "same mask bit, other framework"
        );
        assert!(
            !filters.refuses(owner(3, 0), &declined, Duration::from_secs(10)),
            "expired"
        );
    }

    #[test]
    fn dropping_filters_keeps_the_rest_and_the_mask_exact() {
        let mut filters = AgentFilters::default();
        let declined = bag("cpus:1");
        for (f, secs) in [(1, 10), (2, 20), (1, 30), (3, 40)] {
            filters.add(owner(f, 0), declined.clone(), Duration::from_secs(secs));
        }
        assert_eq!(filters.next_expiry(), Duration::from_secs(10));
        let mut gone = Vec::new();
        let dropped = filters.drop_where(|o, _| o.framework == 1, |o| gone.push(o.framework));
        assert_eq!((dropped, gone), (2, vec![1, 1]));
        assert_eq!(filters.len(), 2);
        assert!(
            !filters.mask().may_hold(1),
            "no filter of framework 1 is left"
        );
        assert!(filters.mask().may_hold(2) && filters.mask().may_hold(3));
        assert!(filters.refuses(owner(2, 0), &declined, Duration::ZERO));
        assert_eq!(filters.next_expiry(), Duration::from_secs(20));
        let expired = filters.drop_where(|_, until| until <= Duration::from_secs(25), |_| {});
        assert_eq!(expired, 1);
        assert!(filters.refuses(owner(3, 0), &declined, Duration::ZERO));
        assert!(!filters.refuses(owner(2, 0), &declined, Duration::ZERO));
        assert_eq!(filters.drop_where(|_, _| false, |_| {}), 0);
    }
}
