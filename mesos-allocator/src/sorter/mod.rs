//! Sorters decide the order in which roles, and frameworks within a role, are offered an agent.
//!
//! The allocator holds one sorter over roles and one per role over its frameworks, all behind
//! the [`Sorter`] trait, so the ordering policy is pluggable. Three policies ship:
//! weighted DRF ([`TreeSorter::drf`], Mesos's default), strict priority
//! ([`TreeSorter::strict_priority`]: a higher weight always goes first, ties broken by DRF) and
//! seeded random ([`TreeSorter::random`], Mesos's `random` sorter). [`by_name`] maps the names
//! Mesos's `--role_sorter` / `--framework_sorter` flags take; for `drf` and `priority` it gives
//! a [`FlatSorter`], which orders as the tree would at less cost per allocation while no path
//! is nested (the common case: a role's frameworks, top-level roles), and becomes a tree when
//! one is.

mod children;
mod flat;
mod heap;
mod keys;
mod ring;
mod tree;

pub use flat::FlatSorter;
pub use tree::TreeSorter;

use crate::quantities::Quantities;

/// Dense handle of a client (a role or a framework) chosen by the allocator.
pub type ClientId = u32;

/// Whether a visit should go on to the next client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Offer the next client too.
    Continue,
    /// Stop visiting.
    Stop,
}

/// An ordering policy over clients.
///
/// Clients live at `/`-separated paths (`eng/web`), forming a tree: siblings are ordered
/// against each other, and a subtree's share is the sum of its clients' allocations. Only
/// active clients are visited.
pub trait Sorter {
    /// Adds a client at `path` (inactive until activated).
    fn add_client(&mut self, client: ClientId, path: &str);
    /// Removes a client and its allocation.
    fn remove_client(&mut self, client: ClientId);
    /// Includes the client in visits or leaves it out.
    fn set_active(&mut self, client: ClientId, active: bool);
    /// Sets the weight of a path (default 1).
    fn set_weight(&mut self, path: &str, weight: f64);
    /// Records resources allocated to a client.
    fn allocated(&mut self, client: ClientId, quantities: &Quantities);
    /// Records `times` allocations to a client at once, `quantities` being their sum: should
    /// leave the sorter as `times` calls of [`Sorter::allocated`] with those parts would. The
    /// allocator sums a cycle's allocations to the role sorter's only listed role (see
    /// [`Sorter::sole_listed`]) and records them this way when the cycle ends. The default
    /// records the sum as one allocation and the others as allocations of nothing: right for a
    /// sorter that adds amounts and counts every call; override it otherwise.
    fn allocated_times(&mut self, client: ClientId, quantities: &Quantities, times: u64) {
        if times == 0 {
            return;
        }
        self.allocated(client, quantities);
        let nothing = Quantities::new();
        for _ in 1..times {
            self.allocated(client, &nothing);
        }
    }
    /// Records resources a client gave back.
    fn unallocated(&mut self, client: ClientId, quantities: &Quantities);
    /// Sets the pool that shares are measured against (the cluster's total).
    fn set_total(&mut self, total: &Quantities);
    /// Calls `f` for each active client in order until it returns [`Visit::Stop`].
    fn visit(&mut self, f: &mut dyn FnMut(ClientId) -> Visit);
    /// The only client a visit would call, when the sorter knows without a walk that there is
    /// exactly one; `None` is always a correct answer (the caller then visits). For the role
    /// sorter, answering `Some` also lets the allocator hold back that role's allocations
    /// until the cycle ends and record them with [`Sorter::allocated_times`]: with one role
    /// listed there is no order among roles to keep.
    fn sole_listed(&self) -> Option<ClientId> {
        None
    }
    /// The client a visit would call first, when the sorter can tell without a walk; `None`
    /// is always a correct answer (the caller then visits). Lets the allocator offer an agent
    /// to the lowest client directly and visit the others only when that one leaves something.
    fn first_listed(&self) -> Option<ClientId> {
        None
    }
    /// The client a visit would call second, when the sorter can tell without a walk; `None`
    /// is always a correct answer (the caller then visits, skipping the first). Lets the
    /// allocator go on to the next client without a walk when the first declined the agent.
    fn second_listed(&self) -> Option<ClientId> {
        None
    }
    /// The active clients in order (convenience for tests and tools).
    fn order(&mut self) -> Vec<ClientId> {
        let mut out = Vec::new();
        self.visit(&mut |c| {
            out.push(c);
            Visit::Continue
        });
        out
    }
}

/// Visits `sorter`'s clients in order with `f`, as [`Sorter::visit`] does, but without a walk
/// where the sorter can name the client: its only listed client, or its first and second,
/// after which the others are visited (skipping those) only when `f` asks for more. The
/// allocation cycle visits roles and each role's frameworks this way for every agent, and most
/// agents go whole to the first client.
pub fn visit_lowest_first(sorter: &mut dyn Sorter, f: &mut dyn FnMut(ClientId) -> Visit) {
    if let Some(sole) = sorter.sole_listed() {
        f(sole);
        return;
    }
    match sorter.first_listed() {
        Some(first) => {
            if f(first) == Visit::Continue {
                visit_after_first(sorter, first, f);
            }
        }
        None => sorter.visit(f),
    }
}

/// The rest of [`visit_lowest_first`] once its first client asked for more: the second
/// client where the sorter names it, then a visit skipping those two. Kept out of line: most
/// agents go whole to the first client, and the cycle's inlined path stays as short.
#[inline(never)]
fn visit_after_first(
    sorter: &mut dyn Sorter,
    first: ClientId,
    f: &mut dyn FnMut(ClientId) -> Visit,
) {
    let second = sorter.second_listed();
    if let Some(second) = second
        && f(second) == Visit::Stop
    {
        return;
    }
    sorter.visit(&mut |client| {
        if client == first || Some(client) == second {
            Visit::Continue
        } else {
            f(client)
        }
    });
}

/// Builds a sorter from a Mesos sorter name: `drf`, `random`, or `priority` (also spelled
/// `strict_priority`).
pub fn by_name(name: &str, seed: u64) -> Option<Box<dyn Sorter + Send>> {
    match name {
        "drf" => Some(Box::new(FlatSorter::drf())),
        "random" => Some(Box::new(TreeSorter::random(seed))),
        "priority" | "strict_priority" => Some(Box::new(FlatSorter::strict_priority())),
        _ => None,
    }
}
