//! One resource: a named quantity with its reservation stack, disk details and flags.

use std::fmt;

pub use smol_str::SmolStr;

use crate::values::{Ranges, Scalar, Set, ValueType};

/// The amount carried by a resource. Resources are never text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceValue {
    /// Divisible quantities such as `cpus` and `mem`.
    Scalar(Scalar),
    /// Integer ranges such as `ports`.
    Ranges(Ranges),
    /// Named items.
    Set(Set),
}

impl ResourceValue {
    /// The kind of value.
    pub fn value_type(&self) -> ValueType {
        match self {
            ResourceValue::Scalar(_) => ValueType::Scalar,
            ResourceValue::Ranges(_) => ValueType::Ranges,
            ResourceValue::Set(_) => ValueType::Set,
        }
    }

    /// True for zero, no ranges, or no items.
    pub fn is_empty(&self) -> bool {
        match self {
            ResourceValue::Scalar(s) => s.is_zero(),
            ResourceValue::Ranges(r) => r.is_empty(),
            ResourceValue::Set(s) => s.is_empty(),
        }
    }

    /// True when `self` holds at least `other` (same kind required).
    pub fn contains(&self, other: &ResourceValue) -> bool {
        match (self, other) {
            (ResourceValue::Scalar(a), ResourceValue::Scalar(b)) => a >= b,
            (ResourceValue::Ranges(a), ResourceValue::Ranges(b)) => a.contains(b),
            (ResourceValue::Set(a), ResourceValue::Set(b)) => a.contains(b),
            _ => false,
        }
    }

    /// Adds a value of the same kind; a different kind is ignored (callers check addability).
    pub(crate) fn add_assign(&mut self, other: &ResourceValue) {
        match (self, other) {
            (ResourceValue::Scalar(a), ResourceValue::Scalar(b)) => *a += *b,
            (ResourceValue::Ranges(a), ResourceValue::Ranges(b)) => a.add_assign(b),
            (ResourceValue::Set(a), ResourceValue::Set(b)) => a.add_assign(b),
            _ => {}
        }
    }

    /// Subtracts a value of the same kind; a different kind is ignored.
    pub(crate) fn sub_assign(&mut self, other: &ResourceValue) {
        match (self, other) {
            (ResourceValue::Scalar(a), ResourceValue::Scalar(b)) => *a -= *b,
            (ResourceValue::Ranges(a), ResourceValue::Ranges(b)) => a.sub_assign(b),
            (ResourceValue::Set(a), ResourceValue::Set(b)) => a.sub_assign(b),
            _ => {}
        }
    }
}

impl fmt::Display for ResourceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceValue::Scalar(s) => s.fmt(f),
            ResourceValue::Ranges(r) => r.fmt(f),
            ResourceValue::Set(s) => s.fmt(f),
        }
    }
}

/// A key with an optional value, as in `mesos.v1.Label`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The key.
    pub key: String,
    /// The value, if any.
    pub value: Option<String>,
}

/// Whether a reservation comes from the agent's flags or from an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReservationKind {
    /// Declared by the agent's `--resources`.
    Static,
    /// Made by a RESERVE operation; carries principal and labels.
    Dynamic,
}

/// One level of a reservation stack. The last entry is the role the resource is reserved to;
/// earlier entries are the ancestors it was refined from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reservation {
    /// Static or dynamic.
    pub kind: ReservationKind,
    /// The role reserved to.
    pub role: String,
    /// Who made a dynamic reservation.
    pub principal: Option<String>,
    /// Free-form labels of a dynamic reservation.
    pub labels: Vec<Label>,
}

impl Reservation {
    /// A static reservation to `role`.
    pub fn static_to(role: impl Into<String>) -> Reservation {
        Reservation {
            kind: ReservationKind::Static,
            role: role.into(),
            principal: None,
            labels: Vec::new(),
        }
    }

    /// A dynamic reservation to `role`, optionally made by `principal`.
    pub fn dynamic_to(role: impl Into<String>, principal: Option<String>) -> Reservation {
        Reservation {
            kind: ReservationKind::Dynamic,
            role: role.into(),
            principal,
            labels: Vec::new(),
        }
    }
}

impl fmt::Display for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ReservationKind::Static => "STATIC",
            ReservationKind::Dynamic => "DYNAMIC",
        };
        write!(f, "{kind},{}", self.role)?;
        if let Some(p) = &self.principal {
            write!(f, ",{p}")?;
        }
        if !self.labels.is_empty() {
            f.write_str(",{")?;
            for (i, l) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                match &l.value {
                    Some(v) => write!(f, "{}: {v}", l.key)?,
                    None => f.write_str(&l.key)?,
                }
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// Kinds of disk a `disk` resource can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiskSourceKind {
    /// A directory that can be shared and split.
    Path,
    /// A mounted filesystem, used whole.
    Mount,
    /// A raw block device, used whole.
    Block,
    /// Unformatted storage from a resource provider.
    Raw,
}

impl DiskSourceKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskSourceKind::Path => "PATH",
            DiskSourceKind::Mount => "MOUNT",
            DiskSourceKind::Block => "BLOCK",
            DiskSourceKind::Raw => "RAW",
        }
    }
}

/// Where a disk resource comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiskSource {
    /// The kind of disk.
    pub kind: DiskSourceKind,
    /// Root directory for PATH and MOUNT disks.
    pub root: Option<String>,
    /// Provider-assigned identifier (CSI volumes).
    pub id: Option<String>,
    /// Storage profile.
    pub profile: Option<String>,
    /// Storage vendor.
    pub vendor: Option<String>,
    /// Provider metadata.
    pub metadata: Vec<Label>,
}

/// The identity of a persistent volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Persistence {
    /// Unique id of the volume on its agent.
    pub id: String,
    /// Who created it.
    pub principal: Option<String>,
}

/// Whether a volume is mounted writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolumeMode {
    /// Read-write.
    Rw,
    /// Read-only.
    Ro,
}

/// Where a persistent volume appears inside a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VolumeMount {
    /// Path inside the container.
    pub container_path: String,
    /// Path on the host, if bound from one.
    pub host_path: Option<String>,
    /// Access mode.
    pub mode: VolumeMode,
}

/// Disk details of a `disk` resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DiskInfo {
    /// Set for persistent volumes.
    pub persistence: Option<Persistence>,
    /// How the volume is mounted.
    pub volume: Option<VolumeMount>,
    /// Where the disk comes from; absent means the agent's root disk.
    pub source: Option<DiskSource>,
}

impl fmt::Display for DiskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.source {
            f.write_str(s.kind.as_str())?;
            if s.id.is_some() || s.profile.is_some() {
                write!(
                    f,
                    "({},{},{})",
                    s.vendor.as_deref().unwrap_or(""),
                    s.id.as_deref().unwrap_or(""),
                    s.profile.as_deref().unwrap_or("")
                )?;
            } else if let Some(root) = &s.root {
                write!(f, ":{root}")?;
            }
        }
        if let Some(p) = &self.persistence {
            if self.source.is_some() {
                f.write_str(",")?;
            }
            f.write_str(&p.id)?;
        }
        if let Some(v) = &self.volume {
            f.write_str(":")?;
            if let Some(h) = &v.host_path {
                write!(f, "{h}:")?;
            }
            f.write_str(&v.container_path)?;
            match v.mode {
                VolumeMode::Rw => f.write_str(":rw")?,
                VolumeMode::Ro => f.write_str(":ro")?,
            }
        }
        Ok(())
    }
}

/// A resource in Mesos's "post-reservation-refinement" shape: reservations form a stack.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    /// `cpus`, `mem`, `disk`, `ports`, `gpus`, or any custom name.
    pub name: SmolStr,
    /// The amount.
    pub value: ResourceValue,
    /// Reservation stack, outermost ancestor first; empty means unreserved.
    pub reservations: Vec<Reservation>,
    /// Disk details, only on `disk` resources.
    pub disk: Option<Box<DiskInfo>>,
    /// Revocable (oversubscribed) resources may be taken back at any time.
    pub revocable: bool,
    /// Shared resources (persistent volumes) may be used by several tasks at once.
    pub shared: bool,
    /// The role this resource is allocated to, once offered to a framework.
    pub allocation_role: Option<SmolStr>,
    /// The resource provider the resource comes from.
    pub provider_id: Option<String>,
}

impl Resource {
    /// An unreserved resource with the given value.
    pub fn new(name: impl Into<SmolStr>, value: ResourceValue) -> Resource {
        Resource {
            name: name.into(),
            value,
            reservations: Vec::new(),
            disk: None,
            revocable: false,
            shared: false,
            allocation_role: None,
            provider_id: None,
        }
    }

    /// An unreserved scalar resource, e.g. `Resource::scalar("cpus", 0.5)`.
    pub fn scalar(name: impl Into<SmolStr>, amount: f64) -> Resource {
        Resource::new(name, ResourceValue::Scalar(Scalar::from_f64(amount)))
    }

    /// An unreserved ranges resource holding `begin..=end`.
    ///
    /// An inverted range gives an empty resource; use [`Ranges::single`] to detect that.
    pub fn range(name: impl Into<SmolStr>, begin: u64, end: u64) -> Resource {
        Resource::new(
            name,
            ResourceValue::Ranges(Ranges::single(begin, end).unwrap_or_default()),
        )
    }

    /// The same resource reserved (statically) to `role`.
    pub fn reserved_to(mut self, reservation: Reservation) -> Resource {
        self.reservations.push(reservation);
        self
    }

    /// The role this resource is reserved to (the top of the stack), or `*`.
    pub fn reservation_role(&self) -> &str {
        self.reservations
            .last()
            .map_or(crate::roles::STAR, |r| r.role.as_str())
    }

    /// True when reserved to any role.
    pub fn is_reserved(&self) -> bool {
        !self.reservations.is_empty()
    }

    /// True when reserved to exactly `role`.
    pub fn is_reserved_to(&self, role: &str) -> bool {
        self.reservations.last().is_some_and(|r| r.role == role)
    }

    /// True when the top reservation was made dynamically.
    pub fn is_dynamically_reserved(&self) -> bool {
        self.reservations
            .last()
            .is_some_and(|r| r.kind == ReservationKind::Dynamic)
    }

    /// True for persistent volumes.
    pub fn is_persistent_volume(&self) -> bool {
        self.disk.as_ref().is_some_and(|d| d.persistence.is_some())
    }

    /// True when a framework in `role` may use this resource: it is unreserved, or reserved to
    /// `role` or one of its ancestors.
    pub fn is_allocatable_to(&self, role: &str) -> bool {
        match self.reservations.last() {
            None => true,
            Some(r) => crate::roles::is_same_or_descendant(role, &r.role),
        }
    }

    /// True for zero scalars, empty ranges and empty sets.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// True when both describe the same kind of resource apart from amount: same name, value
    /// kind, reservations, allocation, disk, revocability and provider.
    fn same_kind(&self, other: &Resource) -> bool {
        self.name == other.name
            && self.value.value_type() == other.value.value_type()
            && self.allocation_role == other.allocation_role
            && self.reservations == other.reservations
            && self.disk == other.disk
            && self.revocable == other.revocable
            && self.provider_id == other.provider_id
    }

    /// True when the two can merge into one entry of a [`super::Resources`].
    ///
    /// Shared resources merge only with identical ones (their count goes up). Whole-disk sources
    /// (MOUNT, BLOCK, RAW with an id) and persistent volumes never merge: each is a unit.
    pub fn is_addable(&self, other: &Resource) -> bool {
        if self.shared != other.shared {
            return false;
        }
        if self.shared {
            return self == other;
        }
        if !self.same_kind(other) {
            return false;
        }
        if let Some(disk) = &self.disk {
            if let Some(source) = &disk.source {
                match source.kind {
                    DiskSourceKind::Path => {}
                    DiskSourceKind::Mount | DiskSourceKind::Block => return false,
                    DiskSourceKind::Raw => {
                        if source.id.is_some() {
                            return false;
                        }
                    }
                }
            }
            if disk.persistence.is_some() {
                return false;
            }
        }
        true
    }

    /// True when `other` may be taken out of `self`; whole-disk units only as a whole.
    pub fn is_subtractable(&self, other: &Resource) -> bool {
        if self.shared != other.shared {
            return false;
        }
        if self.shared {
            return self == other;
        }
        if !self.same_kind(other) {
            return false;
        }
        if let Some(disk) = &self.disk {
            let whole_unit = match &disk.source {
                Some(s) => match s.kind {
                    DiskSourceKind::Path => false,
                    DiskSourceKind::Mount | DiskSourceKind::Block => true,
                    DiskSourceKind::Raw => s.id.is_some(),
                },
                None => false,
            } || disk.persistence.is_some();
            if whole_unit && self != other {
                return false;
            }
        }
        true
    }

    /// True when `self` holds all of `other`.
    pub fn contains(&self, other: &Resource) -> bool {
        self.is_subtractable(other) && self.value.contains(&other.value)
    }
}

impl fmt::Display for Resource {
    /// Mesos's log form, e.g. `cpus(allocated: web)(reservations: [(STATIC,web)]):2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(role) = &self.allocation_role {
            write!(f, "(allocated: {role})")?;
        }
        if !self.reservations.is_empty() {
            f.write_str("(reservations: [")?;
            for (i, r) in self.reservations.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "({r})")?;
            }
            f.write_str("])")?;
        }
        if let Some(disk) = &self.disk {
            write!(f, "[{disk}]")?;
        }
        if self.revocable {
            f.write_str("{REV}")?;
        }
        if self.shared {
            f.write_str("<SHARED>")?;
        }
        write!(f, ":{}", self.value)
    }
}
