//! [`Resources`]: a bag of resources with Mesos's arithmetic.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::Arc;

use super::resource::{Reservation, Resource, ResourceValue, SmolStr};
use crate::values::{Ranges, Scalar};

/// One entry: a resource and, for shared resources, how many copies are held.
///
/// The resource sits behind an `Arc` and is copied only when written to while shared, so that
/// copying a bag (an offer kept by both the allocator and the master, a snapshot of an agent)
/// copies pointers instead of names, reservation stacks and port ranges.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Slot {
    resource: Arc<Resource>,
    /// Copies of a shared resource; always 1 for others.
    count: u32,
}

/// A collection of resources kept in combined form: every pair of entries that could merge has
/// been merged, so arithmetic works entry by entry.
///
/// Subtraction follows Mesos: taking more than is there removes the entry rather than going
/// negative, so `a.contains(&b)` is exactly the condition under which `(a - b) + b == a`.
///
/// The entry list is itself shared between copies of a bag and copied when one of them is
/// written, so copying a bag is one reference count (the allocator keeps every offer it makes
/// in its ledger and hands the same bag to the master).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// `None` exactly when empty, so that emptiness is known without reading the list (a
    /// cache miss per agent when the allocator sweeps thousands of them).
    slots: Option<Arc<Vec<Slot>>>,
}

impl Resources {
    /// No resources.
    pub const fn new() -> Resources {
        Resources { slots: None }
    }

    fn from_slots(slots: Vec<Slot>) -> Resources {
        Resources {
            slots: (!slots.is_empty()).then(|| Arc::new(slots)),
        }
    }

    fn entries(&self) -> &[Slot] {
        debug_assert!(self.slots.as_ref().is_none_or(|s| !s.is_empty()));
        self.slots.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The entry list for writing, copied first if another bag shares it.
    fn entries_mut(&mut self) -> &mut Vec<Slot> {
        Arc::make_mut(self.slots.get_or_insert_with(Default::default))
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_none()
    }

    /// Number of distinct entries.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// The entries; each shared resource appears once (see [`Resources::shared_count`]).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Resource> + '_ {
        self.entries().iter().map(|s| &*s.resource)
    }

    /// How many copies of a shared resource are held (0 if none).
    pub fn shared_count(&self, resource: &Resource) -> u32 {
        self.entries()
            .iter()
            .find(|s| s.resource.shared && *s.resource == *resource)
            .map_or(0, |s| s.count)
    }

    /// Adds one resource, merging it into a matching entry when it can.
    pub fn add_resource(&mut self, resource: &Resource) {
        self.add_entry(resource, 1, || Arc::new(resource.clone()));
    }

    /// Adds another bag's entry, sharing it when it becomes a new entry here.
    fn add_slot(&mut self, slot: &Slot) {
        self.add_entry(&slot.resource, slot.count, || slot.resource.clone());
    }

    fn add_entry(
        &mut self,
        resource: &Resource,
        count: u32,
        entry: impl FnOnce() -> Arc<Resource>,
    ) {
        if resource.is_empty() || count == 0 {
            return;
        }
        let slots = self.entries_mut();
        for slot in slots.iter_mut() {
            if slot.resource.is_addable(resource) {
                if resource.shared {
                    slot.count = slot.count.saturating_add(count);
                } else {
                    Arc::make_mut(&mut slot.resource)
                        .value
                        .add_assign(&resource.value);
                }
                return;
            }
        }
        slots.push(Slot {
            resource: entry(),
            count,
        });
    }

    /// Takes one resource out. Entries that become empty or negative disappear.
    pub fn subtract_resource(&mut self, resource: &Resource) {
        self.subtract_slot(resource, 1);
    }

    fn subtract_slot(&mut self, resource: &Resource, count: u32) {
        if resource.is_empty() || count == 0 {
            return;
        }
        let Some(i) = self
            .entries()
            .iter()
            .position(|s| s.resource.is_subtractable(resource))
        else {
            return;
        };
        let slots = self.entries_mut();
        let slot = &mut slots[i];
        let gone = if resource.shared {
            if slot.count <= count {
                true
            } else {
                slot.count -= count;
                false
            }
        } else {
            // The remainder is worked out before the entry is written, so that an entry shared
            // with another bag is not copied only to be dropped (recovering a whole offer).
            let mut left = slot.resource.value.clone();
            left.sub_assign(&resource.value);
            let gone =
                matches!(&left, ResourceValue::Scalar(s) if s.is_negative()) || left.is_empty();
            if !gone {
                Arc::make_mut(&mut slot.resource).value = left;
            }
            gone
        };
        if gone {
            slots.swap_remove(i);
            if slots.is_empty() {
                self.slots = None;
            }
        }
    }

    /// True when every entry of `other` fits in `self`.
    pub fn contains(&self, other: &Resources) -> bool {
        // Every bag contains itself. Copies share their list, so a bag checked against a copy
        // of itself (a decline filter against the agent's free bag it was declined from, which
        // is the same list) needs no walk of the entries.
        if let (Some(mine), Some(theirs)) = (&self.slots, &other.slots)
            && Arc::ptr_eq(mine, theirs)
        {
            return true;
        }
        other.entries().iter().all(|want| {
            self.entries().iter().any(|have| {
                if want.resource.shared {
                    have.resource == want.resource && have.count >= want.count
                } else {
                    have.resource.contains(&want.resource)
                }
            })
        })
    }

    /// True when `resource` fits in `self`.
    pub fn contains_resource(&self, resource: &Resource) -> bool {
        resource.is_empty()
            || self
                .entries()
                .iter()
                .any(|have| have.resource.contains(resource))
    }

    /// The entries for which `keep` is true.
    pub fn filter(&self, mut keep: impl FnMut(&Resource) -> bool) -> Resources {
        let entries = self.entries();
        // Up to the first entry left out, the result is a prefix; all kept shares the list.
        let Some(first_out) = entries.iter().position(|s| !keep(&s.resource)) else {
            return self.clone();
        };
        let mut kept = entries[..first_out].to_vec();
        kept.extend(
            entries[first_out + 1..]
                .iter()
                .filter(|s| keep(&s.resource))
                .cloned(),
        );
        Resources::from_slots(kept)
    }

    /// Reserved resources; with a role, only those reserved to exactly that role.
    pub fn reserved(&self, role: Option<&str>) -> Resources {
        match role {
            None => self.filter(Resource::is_reserved),
            Some(role) => self.filter(|r| r.is_reserved_to(role)),
        }
    }

    /// Unreserved resources.
    pub fn unreserved(&self) -> Resources {
        self.filter(|r| !r.is_reserved())
    }

    /// Resources a framework in `role` may use: unreserved, or reserved to the role or one of
    /// its ancestors.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|r| r.is_allocatable_to(role))
    }

    /// Revocable resources.
    pub fn revocable(&self) -> Resources {
        self.filter(|r| r.revocable)
    }

    /// Non-revocable resources.
    pub fn non_revocable(&self) -> Resources {
        self.filter(|r| !r.revocable)
    }

    /// Persistent volumes.
    pub fn persistent_volumes(&self) -> Resources {
        self.filter(Resource::is_persistent_volume)
    }

    /// Shared resources.
    pub fn shared(&self) -> Resources {
        self.filter(|r| r.shared)
    }

    /// Non-shared resources.
    pub fn non_shared(&self) -> Resources {
        self.filter(|r| !r.shared)
    }

    /// Resources allocated to `role`.
    pub fn allocated_to(&self, role: &str) -> Resources {
        self.filter(|r| r.allocation_role.as_deref() == Some(role))
    }

    /// Reserved resources grouped by the role they are reserved to.
    pub fn reservations(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for slot in self.entries() {
            if let Some(r) = slot.resource.reservations.last() {
                out.entry(r.role.clone()).or_default().add_slot(slot);
            }
        }
        out
    }

    /// The same resources with every reservation and allocation removed, merged again.
    pub fn flatten(&self) -> Resources {
        self.map_resources(|r| {
            r.reservations.clear();
            r.allocation_role = None;
        })
    }

    /// The same resources with reservations removed (allocation kept).
    pub fn to_unreserved(&self) -> Resources {
        self.map_resources(|r| r.reservations.clear())
    }

    /// Marks every resource as allocated to `role`.
    pub fn allocate(&self, role: &str) -> Resources {
        let role = SmolStr::new(role);
        self.map_resources(|r| r.allocation_role = Some(role.clone()))
    }

    /// Like [`Resources::allocate`], but reuses `self` when nothing was allocated yet (the
    /// common case: a fresh offer), since then no entries can merge or split.
    pub fn into_allocated(mut self, role: impl Into<SmolStr>) -> Resources {
        let role: SmolStr = role.into();
        if self.is_empty() {
            return self;
        }
        if self
            .entries()
            .iter()
            .all(|s| s.resource.allocation_role.is_none())
        {
            for slot in self.entries_mut() {
                Arc::make_mut(&mut slot.resource).allocation_role = Some(role.clone());
            }
            self
        } else {
            self.allocate(&role)
        }
    }

    /// Clears allocation information.
    pub fn unallocate(&self) -> Resources {
        self.map_resources(|r| r.allocation_role = None)
    }

    /// Pushes a reservation on top of every resource's stack (used by RESERVE).
    pub fn push_reservation(&self, reservation: &Reservation) -> Resources {
        self.map_resources(|r| r.reservations.push(reservation.clone()))
    }

    /// Pops the top reservation of every resource (used by UNRESERVE).
    pub fn pop_reservation(&self) -> Resources {
        self.map_resources(|r| {
            r.reservations.pop();
        })
    }

    fn map_resources(&self, mut change: impl FnMut(&mut Resource)) -> Resources {
        let mut out = Resources::new();
        for slot in self.entries() {
            let mut changed = slot.clone();
            change(Arc::make_mut(&mut changed.resource));
            out.add_slot(&changed);
        }
        out
    }

    /// Total of a scalar resource across all entries, if any entry has that name.
    pub fn scalar(&self, name: &str) -> Option<Scalar> {
        let mut total = None;
        for slot in self.entries() {
            if slot.resource.name == name
                && let ResourceValue::Scalar(s) = slot.resource.value
            {
                total = Some(total.unwrap_or(Scalar::ZERO) + s);
            }
        }
        total
    }

    /// Union of a ranges resource across all entries, if any entry has that name.
    pub fn ranges(&self, name: &str) -> Option<Ranges> {
        let mut total: Option<Ranges> = None;
        for slot in self.entries() {
            if slot.resource.name == name
                && let ResourceValue::Ranges(r) = &slot.resource.value
            {
                total = Some(match total {
                    Some(t) => t.union(r),
                    None => r.clone(),
                });
            }
        }
        total
    }

    /// Total cpus.
    pub fn cpus(&self) -> Option<Scalar> {
        self.scalar("cpus")
    }

    /// Total memory in MB.
    pub fn mem(&self) -> Option<Scalar> {
        self.scalar("mem")
    }

    /// Total disk in MB.
    pub fn disk(&self) -> Option<Scalar> {
        self.scalar("disk")
    }

    /// Total GPUs.
    pub fn gpus(&self) -> Option<Scalar> {
        self.scalar("gpus")
    }

    /// All ports.
    pub fn ports(&self) -> Option<Ranges> {
        self.ranges("ports")
    }

    /// Scalar totals by name, ignoring reservations and flags (Mesos's "quantities").
    pub fn scalar_quantities(&self) -> BTreeMap<&str, Scalar> {
        let mut out: BTreeMap<&str, Scalar> = BTreeMap::new();
        for slot in self.entries() {
            if let ResourceValue::Scalar(s) = slot.resource.value {
                *out.entry(slot.resource.name.as_str()).or_default() += s;
            }
        }
        out
    }

    /// The `--resources` flag text for these resources, when they can be written that way: no
    /// more than one static reservation each, and no disk details, flags, allocation or provider.
    pub fn to_flag_text(&self) -> Option<String> {
        let mut parts = Vec::with_capacity(self.len());
        for slot in self.entries() {
            let r = &slot.resource;
            if r.disk.is_some()
                || r.revocable
                || r.shared
                || r.allocation_role.is_some()
                || r.provider_id.is_some()
                || r.reservations.len() > 1
                || r.is_dynamically_reserved()
            {
                return None;
            }
            let set_ok = match &r.value {
                ResourceValue::Set(items) => items.iter().all(plain_token),
                _ => true,
            };
            let role_ok = r.reservations.last().is_none_or(|x| plain_token(&x.role));
            if !plain_token(&r.name) || !role_ok || !set_ok {
                return None;
            }
            match r.reservations.last() {
                Some(res) => parts.push(format!("{}({}):{}", r.name, res.role, r.value)),
                None => parts.push(format!("{}:{}", r.name, r.value)),
            }
        }
        Some(parts.join(";"))
    }
}

/// True for a name, role or set item the flag text can carry unchanged.
fn plain_token(s: &str) -> bool {
    !s.is_empty() && !s.contains(|c: char| ";:()[]{},".contains(c) || c.is_whitespace())
}

impl PartialEq for Resources {
    /// Equal when both hold the same entries, in any order. The combined form is canonical
    /// (mergeable entries are always merged, values are canonical), so this compares entry
    /// multisets; it also tells apart bags of repeated whole-disk units that mutual containment
    /// alone would confuse.
    fn eq(&self, other: &Resources) -> bool {
        let (mine_all, theirs_all) = (self.entries(), other.entries());
        mine_all.len() == theirs_all.len()
            && mine_all.iter().all(|slot| {
                let mine = mine_all.iter().filter(|s| *s == slot).count();
                let theirs = theirs_all.iter().filter(|s| *s == slot).count();
                mine == theirs
            })
    }
}

impl Eq for Resources {}

impl From<Resource> for Resources {
    fn from(resource: Resource) -> Resources {
        let mut out = Resources::new();
        out.add_resource(&resource);
        out
    }
}

impl FromIterator<Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = Resource>>(iter: I) -> Resources {
        let mut out = Resources::new();
        for r in iter {
            out.add_resource(&r);
        }
        out
    }
}

impl<'a> FromIterator<&'a Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = &'a Resource>>(iter: I) -> Resources {
        let mut out = Resources::new();
        for r in iter {
            out.add_resource(r);
        }
        out
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, other: &Resources) {
        // Adding to nothing is sharing the other bag's entries.
        if self.is_empty() {
            self.clone_from(other);
            return;
        }
        for slot in other.entries() {
            self.add_slot(slot);
        }
    }
}

impl AddAssign<&Resource> for Resources {
    fn add_assign(&mut self, other: &Resource) {
        self.add_resource(other);
    }
}

impl SubAssign<&Resources> for Resources {
    fn sub_assign(&mut self, other: &Resources) {
        for slot in other.entries() {
            self.subtract_slot(&slot.resource, slot.count);
        }
    }
}

impl SubAssign<&Resource> for Resources {
    fn sub_assign(&mut self, other: &Resource) {
        self.subtract_resource(other);
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;
    fn add(self, other: &Resources) -> Resources {
        let mut out = self.clone();
        out += other;
        out
    }
}

impl Sub<&Resources> for &Resources {
    type Output = Resources;
    fn sub(self, other: &Resources) -> Resources {
        let mut out = self.clone();
        out -= other;
        out
    }
}

impl fmt::Display for Resources {
    /// Mesos's log form: entries joined by `; `, `{}` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("{}");
        }
        for (i, slot) in self.entries().iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}", slot.resource)?;
            if slot.resource.shared {
                write!(f, "<{}>", slot.count)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{DiskInfo, DiskSource, DiskSourceKind};

    fn mount(root: &str) -> Resource {
        let mut r = Resource::scalar("disk", 100.0);
        r.disk = Some(Box::new(DiskInfo {
            source: Some(DiskSource {
                kind: DiskSourceKind::Mount,
                root: Some(root.into()),
                id: None,
                profile: None,
                vendor: None,
                metadata: vec![],
            }),
            ..Default::default()
        }));
        r
    }

    #[test]
    fn equality_counts_whole_disk_units() {
        let (m1, m2) = (mount("/a"), mount("/b"));
        let a: Resources = [m1.clone(), m1.clone(), m2.clone()].into_iter().collect();
        let b: Resources = [m1.clone(), m2.clone(), m2.clone()].into_iter().collect();
        assert_eq!(a.len(), 3, "MOUNT disks never merge");
        assert_ne!(a, b);
        let c: Resources = [m2, m1.clone(), m1].into_iter().collect();
        assert_eq!(a, c);
    }

    #[test]
    fn copies_of_a_bag_are_independent_once_written() {
        let bag: Resources = [Resource::scalar("cpus", 4.0), Resource::scalar("mem", 64.0)]
            .into_iter()
            .collect();
        let mut copy = bag.clone();
        assert!(Arc::ptr_eq(
            bag.slots.as_ref().unwrap(),
            copy.slots.as_ref().unwrap()
        ));
        copy -= &Resource::scalar("cpus", 1.0);
        copy = copy.into_allocated("web");
        assert_eq!(bag.cpus().unwrap().as_f64(), 4.0);
        assert!(bag.iter().all(|r| r.allocation_role.is_none()));
        assert_eq!(copy.cpus().unwrap().as_f64(), 3.0);
        assert!(
            copy.iter()
                .all(|r| r.allocation_role.as_deref() == Some("web"))
        );

        // Adding to nothing shares; taking everything away leaves nothing.
        let mut sum = Resources::new();
        sum += &bag;
        assert_eq!(sum, bag);
        sum -= &bag;
        assert!(sum.is_empty() && sum.slots.is_none());
        assert_eq!(bag.len(), 2);
        assert_eq!(sum.filter(|_| true), Resources::new());
        assert!(Resources::new().into_allocated("web").slots.is_none());

        // Each entry is judged once.
        let mut judged = 0;
        let cpus_only = bag.filter(|r| {
            judged += 1;
            r.name == "cpus"
        });
        assert_eq!((cpus_only.len(), judged), (1, 2));
    }
}
