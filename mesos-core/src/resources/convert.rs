//! Conversion between [`Resource`] and the `mesos.v1.Resource` wire type, and between Mesos's
//! two reservation formats on the wire.
//!
//! Mesos 1.x has two shapes for reserved resources. The old ("pre-reservation-refinement")
//! shape has a `role` string (`*` when unreserved) and at most one `reservation`; the new
//! ("post-reservation-refinement") shape has a `reservations` stack and no `role`. Frameworks
//! without the RESERVATION_REFINEMENT capability see the old shape; endpoints show both at once.

// This module exists to translate the deprecated `role` and `reservation` fields.
#![allow(deprecated)]

use super::resource::SmolStr;
use super::resource::{
    DiskInfo, DiskSource, DiskSourceKind, Label, Persistence, Reservation, ReservationKind,
    Resource, ResourceValue, VolumeMode, VolumeMount,
};
use super::{ResourceError, Resources};
use crate::proto::v1 as pb;
use crate::roles::{self, STAR};
use crate::values::{Range, Ranges, Scalar, Set};

use pb::resource::disk_info::source::Type as SourceType;
use pb::resource::reservation_info::Type as ReservationType;

/// Which reservation shape to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceFormat {
    /// `role` plus a single `reservation`; refined reservations cannot be written this way.
    PreReservationRefinement,
    /// The `reservations` stack only.
    PostReservationRefinement,
    /// Both: `role` and `reservation` filled in as well as the stack (Mesos's endpoint output).
    Endpoint,
}

/// A refined reservation stack cannot be written in the old format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "resource '{name}' has {depth} stacked reservations and cannot be written in the pre-reservation-refinement format"
)]
pub struct DowngradeError {
    /// The resource's name.
    pub name: String,
    /// How many reservations it has.
    pub depth: usize,
}

/// Rewrites a wire resource into `format` in place. Any input shape is accepted.
///
/// Converting to the new format and back is lossless for every resource with at most one
/// reservation; deeper stacks can only be written in the new and endpoint formats.
pub fn convert_format(r: &mut pb::Resource, format: ResourceFormat) -> Result<(), DowngradeError> {
    upgrade(r);
    match format {
        ResourceFormat::PostReservationRefinement => Ok(()),
        ResourceFormat::PreReservationRefinement | ResourceFormat::Endpoint => {
            match r.reservations.len() {
                0 => r.role = Some(STAR.to_string()),
                1 => {
                    let top = r.reservations[0].clone();
                    if top.r#type == Some(ReservationType::Dynamic as i32) {
                        r.reservation = Some(pb::resource::ReservationInfo {
                            principal: top.principal.clone(),
                            labels: top.labels.clone(),
                            ..Default::default()
                        });
                    }
                    r.role = top.role.clone();
                    if format == ResourceFormat::PreReservationRefinement {
                        r.reservations.clear();
                    }
                }
                depth => {
                    if format == ResourceFormat::PreReservationRefinement {
                        return Err(DowngradeError {
                            name: r.name.to_string(),
                            depth,
                        });
                    }
                    r.role = r.reservations.last().and_then(|x| x.role.clone());
                }
            }
            Ok(())
        }
    }
}

/// Brings a wire resource into the post-reservation-refinement shape.
fn upgrade(r: &mut pb::Resource) {
    if !r.reservations.is_empty() {
        r.role = None;
        r.reservation = None;
        return;
    }
    let role = r.role.take();
    let legacy = r.reservation.take();
    match role.as_deref() {
        None | Some(STAR) => {}
        Some(role) => {
            // A legacy `reservation` field, even an empty one, marks a dynamic reservation.
            let kind = if legacy.is_some() {
                ReservationType::Dynamic
            } else {
                ReservationType::Static
            };
            let mut reservation = legacy.unwrap_or_default();
            reservation.r#type = Some(kind as i32);
            reservation.role = Some(role.to_string());
            r.reservations.push(reservation);
        }
    }
}

fn labels_from_proto(labels: Option<&pb::Labels>) -> Vec<Label> {
    labels
        .map(|l| {
            l.labels
                .iter()
                .map(|x| Label {
                    key: x.key.clone(),
                    value: x.value.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn labels_to_proto(labels: &[Label]) -> Option<pb::Labels> {
    if labels.is_empty() {
        return None;
    }
    Some(pb::Labels {
        labels: labels
            .iter()
            .map(|l| pb::Label {
                key: l.key.clone(),
                value: l.value.clone(),
            })
            .collect(),
    })
}

/// Validates a wire resource as Mesos does and turns it into a [`Resource`]. Either reservation
/// format is accepted.
pub fn resource_from_proto(wire: &pb::Resource) -> Result<Resource, ResourceError> {
    let mut r = wire.clone();
    validate_legacy_reservation(&r)?;
    upgrade(&mut r);
    let name = r.name.clone();
    if name.is_empty() {
        return Err(ResourceError::EmptyName(format!("{wire:?}")));
    }
    let malformed = |detail: &str| ResourceError::Malformed {
        name: name.clone(),
        detail: detail.to_string(),
    };
    let value = match pb::value::Type::try_from(r.r#type) {
        Ok(pb::value::Type::Scalar) => {
            let (Some(s), None, None) = (&r.scalar, &r.ranges, &r.set) else {
                return Err(malformed("type SCALAR needs 'scalar' and no other value"));
            };
            let amount = Scalar::try_from_f64(s.value)
                .filter(|a| !a.is_negative() && (s.value == 0.0 || !a.is_zero()))
                .ok_or(ResourceError::BadScalar {
                    name: name.clone(),
                    value: s.value,
                })?;
            ResourceValue::Scalar(amount)
        }
        Ok(pb::value::Type::Ranges) => {
            let (None, Some(list), None) = (&r.scalar, &r.ranges, &r.set) else {
                return Err(malformed("type RANGES needs 'ranges' and no other value"));
            };
            let ranges =
                Ranges::from_disjoint(list.range.iter().map(|x| Range::new(x.begin, x.end)))
                    .map_err(|source| ResourceError::Ranges {
                        name: name.clone(),
                        source,
                    })?;
            ResourceValue::Ranges(ranges)
        }
        Ok(pb::value::Type::Set) => {
            let (None, None, Some(set)) = (&r.scalar, &r.ranges, &r.set) else {
                return Err(malformed("type SET needs 'set' and no other value"));
            };
            let set = Set::from_unique(set.item.iter().cloned()).map_err(|item| {
                ResourceError::DuplicateItem {
                    name: name.clone(),
                    item,
                }
            })?;
            ResourceValue::Set(set)
        }
        Ok(pb::value::Type::Text) => {
            return Err(malformed("type TEXT is not allowed for resources"));
        }
        Err(_) => return Err(malformed(&format!("unknown value type {}", r.r#type))),
    };
    let reservations = reservations_from_proto(&name, &r.reservations)?;
    let disk = match &r.disk {
        None => None,
        Some(d) => {
            if name != "disk" {
                return Err(malformed("disk info is only allowed on 'disk' resources"));
            }
            Some(disk_from_proto(&name, d)?)
        }
    };
    let allocation_role = match &r.allocation_info {
        Some(a) => match &a.role {
            Some(role) => {
                roles::validate_role(role).map_err(|source| ResourceError::Role {
                    name: name.clone(),
                    source,
                })?;
                Some(role.clone())
            }
            None => None,
        },
        None => None,
    };
    Ok(Resource {
        name: name.into(),
        value,
        reservations,
        disk: disk.map(Box::new),
        revocable: r.revocable.is_some(),
        shared: r.shared.is_some(),
        allocation_role: allocation_role.map(SmolStr::from),
        provider_id: r.provider_id.as_ref().map(|p| p.value.clone()),
    })
}

fn validate_legacy_reservation(r: &pb::Resource) -> Result<(), ResourceError> {
    if !r.reservations.is_empty() {
        return Ok(());
    }
    let err = |detail: &str| ResourceError::Reservation {
        name: r.name.to_string(),
        detail: detail.to_string(),
    };
    if let Some(role) = &r.role {
        roles::validate_role(role).map_err(|source| ResourceError::Role {
            name: r.name.to_string(),
            source,
        })?;
    }
    if let Some(res) = &r.reservation {
        if res.r#type.is_some() {
            return Err(err(
                "'reservation.type' must not be set in the single 'reservation' field",
            ));
        }
        if res.role.is_some() {
            return Err(err(
                "'reservation.role' must not be set in the single 'reservation' field",
            ));
        }
        if r.role.as_deref().unwrap_or(STAR) == STAR {
            return Err(err("role \"*\" cannot be dynamically reserved"));
        }
    }
    Ok(())
}

fn reservations_from_proto(
    name: &str,
    list: &[pb::resource::ReservationInfo],
) -> Result<Vec<Reservation>, ResourceError> {
    let err = |detail: String| ResourceError::Reservation {
        name: name.to_string(),
        detail,
    };
    let mut out: Vec<Reservation> = Vec::with_capacity(list.len());
    for (i, x) in list.iter().enumerate() {
        let kind = match x.r#type.map(ReservationType::try_from) {
            None => return Err(err("'type' must be set on every reservation".into())),
            Some(Ok(ReservationType::Static)) => ReservationKind::Static,
            Some(Ok(ReservationType::Dynamic)) => ReservationKind::Dynamic,
            Some(_) => return Err(err("reservation type must be STATIC or DYNAMIC".into())),
        };
        let Some(role) = &x.role else {
            return Err(err("'role' must be set on every reservation".into()));
        };
        roles::validate_role(role).map_err(|source| ResourceError::Role {
            name: name.to_string(),
            source,
        })?;
        if role == STAR {
            return Err(err("role \"*\" cannot be reserved".into()));
        }
        if let Some(parent) = out.last() {
            if !roles::is_strict_descendant(role, &parent.role) {
                return Err(err(format!(
                    "reservation {i} to '{role}' does not refine the reservation to '{}'",
                    parent.role
                )));
            }
            if kind == ReservationKind::Static {
                return Err(err(format!(
                    "reservation {i} to '{role}' is static; only the first reservation may be static"
                )));
            }
        }
        out.push(Reservation {
            kind,
            role: role.clone(),
            principal: x.principal.clone(),
            labels: labels_from_proto(x.labels.as_ref()),
        });
    }
    Ok(out)
}

fn disk_from_proto(name: &str, d: &pb::resource::DiskInfo) -> Result<DiskInfo, ResourceError> {
    let malformed = |detail: &str| ResourceError::Malformed {
        name: name.to_string(),
        detail: detail.to_string(),
    };
    let source = match &d.source {
        None => None,
        Some(s) => {
            let kind = match SourceType::try_from(s.r#type) {
                Ok(SourceType::Path) => DiskSourceKind::Path,
                Ok(SourceType::Mount) => DiskSourceKind::Mount,
                Ok(SourceType::Block) => DiskSourceKind::Block,
                Ok(SourceType::Raw) => DiskSourceKind::Raw,
                _ => return Err(malformed("unsupported disk source type")),
            };
            let root = match kind {
                DiskSourceKind::Path => s.path.as_ref().and_then(|p| p.root.clone()),
                DiskSourceKind::Mount => s.mount.as_ref().and_then(|m| m.root.clone()),
                DiskSourceKind::Block | DiskSourceKind::Raw => {
                    if s.mount.is_some() || s.path.is_some() {
                        return Err(malformed(
                            "BLOCK and RAW disk sources take no path or mount",
                        ));
                    }
                    None
                }
            };
            Some(DiskSource {
                kind,
                root,
                id: s.id.clone(),
                profile: s.profile.clone(),
                vendor: s.vendor.clone(),
                metadata: labels_from_proto(s.metadata.as_ref()),
            })
        }
    };
    let volume = d.volume.as_ref().map(|v| VolumeMount {
        container_path: v.container_path.clone(),
        host_path: v.host_path.clone(),
        mode: if v.mode == pb::volume::Mode::Ro as i32 {
            VolumeMode::Ro
        } else {
            VolumeMode::Rw
        },
    });
    let persistence = d.persistence.as_ref().map(|p| Persistence {
        id: p.id.clone(),
        principal: p.principal.clone(),
    });
    Ok(DiskInfo {
        persistence,
        volume,
        source,
    })
}

/// Writes a [`Resource`] as a wire resource in the given format.
///
/// Fails only for the pre-reservation-refinement format and a refined reservation stack.
pub fn resource_to_proto(
    r: &Resource,
    format: ResourceFormat,
) -> Result<pb::Resource, DowngradeError> {
    let (value_type, scalar, ranges, set) = match &r.value {
        ResourceValue::Scalar(s) => (
            pb::value::Type::Scalar,
            Some(pb::value::Scalar { value: s.as_f64() }),
            None,
            None,
        ),
        ResourceValue::Ranges(list) => (
            pb::value::Type::Ranges,
            None,
            Some(pb::value::Ranges {
                range: list
                    .iter()
                    .map(|x| pb::value::Range {
                        begin: x.begin,
                        end: x.end,
                    })
                    .collect(),
            }),
            None,
        ),
        ResourceValue::Set(items) => (
            pb::value::Type::Set,
            None,
            None,
            Some(pb::value::Set {
                item: items.iter().map(str::to_string).collect(),
            }),
        ),
    };
    let mut wire = pb::Resource {
        provider_id: r
            .provider_id
            .as_ref()
            .map(|v| pb::ResourceProviderId { value: v.clone() }),
        name: r.name.to_string(),
        r#type: value_type as i32,
        scalar,
        ranges,
        set,
        role: None,
        allocation_info: r
            .allocation_role
            .as_ref()
            .map(|role| pb::resource::AllocationInfo {
                role: Some(role.to_string()),
            }),
        reservation: None,
        reservations: r
            .reservations
            .iter()
            .map(|x| pb::resource::ReservationInfo {
                r#type: Some(match x.kind {
                    ReservationKind::Static => ReservationType::Static as i32,
                    ReservationKind::Dynamic => ReservationType::Dynamic as i32,
                }),
                role: Some(x.role.clone()),
                principal: x.principal.clone(),
                labels: labels_to_proto(&x.labels),
            })
            .collect(),
        disk: r.disk.as_deref().map(disk_to_proto),
        revocable: r.revocable.then(pb::resource::RevocableInfo::default),
        shared: r.shared.then(pb::resource::SharedInfo::default),
    };
    convert_format(&mut wire, format)?;
    Ok(wire)
}

fn disk_to_proto(d: &DiskInfo) -> pb::resource::DiskInfo {
    use pb::resource::disk_info::{Persistence as WirePersistence, Source, source};
    pb::resource::DiskInfo {
        persistence: d.persistence.as_ref().map(|p| WirePersistence {
            id: p.id.clone(),
            principal: p.principal.clone(),
        }),
        volume: d.volume.as_ref().map(|v| pb::Volume {
            mode: match v.mode {
                VolumeMode::Rw => pb::volume::Mode::Rw as i32,
                VolumeMode::Ro => pb::volume::Mode::Ro as i32,
            },
            container_path: v.container_path.clone(),
            host_path: v.host_path.clone(),
            ..Default::default()
        }),
        source: d.source.as_ref().map(|s| Source {
            r#type: match s.kind {
                DiskSourceKind::Path => SourceType::Path as i32,
                DiskSourceKind::Mount => SourceType::Mount as i32,
                DiskSourceKind::Block => SourceType::Block as i32,
                DiskSourceKind::Raw => SourceType::Raw as i32,
            },
            path: (s.kind == DiskSourceKind::Path).then(|| source::Path {
                root: s.root.clone(),
            }),
            mount: (s.kind == DiskSourceKind::Mount).then(|| source::Mount {
                root: s.root.clone(),
            }),
            vendor: s.vendor.clone(),
            id: s.id.clone(),
            metadata: labels_to_proto(&s.metadata),
            profile: s.profile.clone(),
        }),
    }
}

/// Validates and collects wire resources.
pub fn resources_from_proto(list: &[pb::Resource]) -> Result<Resources, ResourceError> {
    let mut out = Resources::new();
    for wire in list {
        out.add_resource(&resource_from_proto(wire)?);
    }
    Ok(out)
}

/// Writes resources as wire resources in the given format (each shared resource once).
pub fn resources_to_proto(
    resources: &Resources,
    format: ResourceFormat,
) -> Result<Vec<pb::Resource>, DowngradeError> {
    resources
        .iter()
        .map(|r| resource_to_proto(r, format))
        .collect()
}
