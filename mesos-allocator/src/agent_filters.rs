//! The decline filters that refuse one agent's resources, kept with that agent.
//!
//! The cycle asks, for nearly every agent, whether the framework it is about to offer the agent
//! to declined it earlier. Kept by framework (a map from (role, agent) to filters, as Mesos
//! does), the answer costs two dependent cache misses whenever the framework holds any filter
//! there: the map's bucket and the list it points to, neither of which the cycle can fetch
//! ahead. Kept with the agent, the filters are one short list, 32 bytes a filter, that the cycle
//! asks the processor to load while it works on earlier agents.

use std::time::Duration;

use mesos_core::resources::Resources;

use crate::filter_mask::FilterMask;
use crate::prefetch::prefetch_address;

/// Who holds a filter: a framework, for one of its roles (both allocator indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilterOwner {
    pub(crate) framework: usize,
    pub(crate) role: usize,
}

/// A declined offer's resources, refused to one framework for one role until a time.
#[derive(Debug, Clone)]
struct Filter {
    /// The owner's framework and role, narrowed so that a filter fits in half a cache line.
    framework: u32,
    role: u32,
    resources: Resources,
    until: Duration,
}

const _: () = assert!(size_of::<Filter>() == 32, "two filters to a cache line");

impl Filter {
    fn owner(&self) -> FilterOwner {
        FilterOwner {
            framework: self.framework as usize,
            role: self.role as usize,
        }
    }
}

/// An allocator index narrowed for a [`Filter`]: indices count frameworks and roles ever
/// added, which sorters already require to be below 2^32.
fn narrow(index: usize) -> u32 {
    u32::try_from(index).expect("fewer than 2^32 frameworks and roles")
}

/// One agent's decline filters.
#[derive(Debug, Default)]
pub(crate) struct AgentFilters {
    filters: Vec<Filter>,
    /// The frameworks holding a filter here, exactly (see [`FilterMask`] for what a bit means).
    mask: FilterMask,
}

impl AgentFilters {
    pub(crate) fn len(&self) -> usize {
        self.filters.len()
    }

    /// A set bit for every framework that holds a filter here (and for those sharing its bit).
    #[cfg(test)]
    fn mask(&self) -> FilterMask {
        self.mask
    }

    /// Files a filter: `owner` refuses `resources` here until `until`.
    pub(crate) fn add(&mut self, owner: FilterOwner, resources: Resources, until: Duration) {
        self.filters.push(Filter {
            framework: narrow(owner.framework),
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
        self.filters.iter().any(|f| {
            f.framework == framework
                && f.role == role
                && f.until > now
                && f.resources.contains(offer)
        })
    }

    /// Drops the filters `drop` picks (given owner and expiry), calling `dropped` with the owner
    /// of each; returns how many were dropped.
    pub(crate) fn drop_where(
        &mut self,
        mut drop: impl FnMut(FilterOwner, Duration) -> bool,
        mut dropped: impl FnMut(FilterOwner),
    ) -> usize {
        let before = self.filters.len();
        self.filters.retain(|f| {
            let gone = drop(f.owner(), f.until);
            if gone {
                dropped(f.owner());
            }
            !gone
        });
        if self.filters.len() == before {
            return 0;
        }
        self.mask = FilterMask::default();
        for f in &self.filters {
            self.mask.add(f.framework as usize);
        }
        before - self.filters.len()
    }

    /// The earliest expiry among the filters; `Duration::MAX` when there are none.
    pub(crate) fn next_expiry(&self) -> Duration {
        self.filters
            .iter()
            .map(|f| f.until)
            .min()
            .unwrap_or(Duration::MAX)
    }

    /// Hints that the filters are about to be scanned.
    pub(crate) fn prefetch(&self) {
        let start = self.filters.as_ptr().cast::<u8>();
        for offset in (0..self.filters.len() * size_of::<Filter>()).step_by(64) {
            prefetch_address(start.wrapping_add(offset));
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
