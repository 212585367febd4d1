//! Offer matching: describe what a task needs, then pack tasks into offers.
//!
//! Resources are taken from an offer exactly as offered (keeping their reservation and, for
//! MULTI_ROLE frameworks, their `allocation_info`), and written back in the offer's own format,
//! so the same code serves frameworks with and without RESERVATION_REFINEMENT.

use mesos_core::proto::v1 as pb;
use mesos_core::resources::convert::{ResourceFormat, resources_from_proto, resources_to_proto};
use mesos_core::resources::{Resource, ResourceValue, Resources, parse_flag_text};
use mesos_core::values::{Range, Ranges, Scalar};

use crate::error::SdkError;

/// What one task needs: scalar amounts by name plus a number of ports.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskNeeds {
    pub scalars: Vec<(String, Scalar)>,
    pub ports: u64,
}

impl TaskNeeds {
    /// Parses `cpus:0.5;mem:128`, optionally with `ports:2` (a count of any ports).
    pub fn parse(text: &str) -> Result<TaskNeeds, SdkError> {
        let mut ports = 0;
        let mut rest = Vec::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            match part.strip_prefix("ports:") {
                Some(n) if n.trim().parse::<u64>().is_ok() => {
                    ports = n.trim().parse().unwrap_or(0);
                }
                _ => rest.push(part),
            }
        }
        let parsed = parse_flag_text(&rest.join(";"), "*")
            .map_err(|e| SdkError::Config(format!("task resources '{text}': {e}")))?;
        let mut scalars = Vec::new();
        for r in parsed.iter() {
            match &r.value {
                ResourceValue::Scalar(s) => scalars.push((r.name.to_string(), *s)),
                _ => {
                    return Err(SdkError::Config(format!(
                        "task resources '{text}': only scalars and a port count are supported"
                    )));
                }
            }
        }
        Ok(TaskNeeds { scalars, ports })
    }
}

/// An offer's resources still free while tasks are being packed into it.
#[derive(Debug, Clone)]
pub struct OfferSpace {
    pub offer_id: pb::OfferId,
    pub agent_id: pb::AgentId,
    remaining: Resources,
    format: ResourceFormat,
}

impl OfferSpace {
    pub fn new(offer: &pb::Offer) -> Result<OfferSpace, SdkError> {
        let remaining = resources_from_proto(&offer.resources)
            .map_err(|e| SdkError::Protocol(format!("offer {}: {e}", offer.id.value)))?;
        #[allow(deprecated)]
        let legacy = offer
            .resources
            .iter()
            .any(|r| r.role.is_some() && r.reservations.is_empty());
        Ok(OfferSpace {
            offer_id: offer.id.clone(),
            agent_id: offer.agent_id.clone(),
            remaining,
            format: if legacy {
                ResourceFormat::PreReservationRefinement
            } else {
                ResourceFormat::PostReservationRefinement
            },
        })
    }

    /// What is left.
    pub fn remaining(&self) -> &Resources {
        &self.remaining
    }

    /// Takes what `needs` asks for, or nothing when it does not fit.
    pub fn take(&mut self, needs: &TaskNeeds) -> Option<Vec<pb::Resource>> {
        let mut taken = Resources::new();
        for (name, amount) in &needs.scalars {
            let mut missing = *amount;
            // Reserved resources first: they can serve nobody else.
            let mut candidates: Vec<&Resource> = self
                .remaining
                .iter()
                .filter(|r| r.name == name && matches!(r.value, ResourceValue::Scalar(_)))
                .filter(|r| r.disk.as_ref().is_none_or(|d| d.persistence.is_none()))
                .collect();
            candidates.sort_by_key(|r| !r.is_reserved());
            for r in candidates {
                if missing.is_zero() {
                    break;
                }
                let ResourceValue::Scalar(available) = r.value else {
                    continue;
                };
                let part = available.min(missing);
                let mut piece = r.clone();
                piece.value = ResourceValue::Scalar(part);
                taken.add_resource(&piece);
                missing -= part;
            }
            if !missing.is_zero() {
                return None;
            }
        }
        if needs.ports > 0 {
            let mut missing = needs.ports;
            let ports: Vec<&Resource> = self
                .remaining
                .iter()
                .filter(|r| r.name == "ports")
                .collect();
            for r in ports {
                let ResourceValue::Ranges(ranges) = &r.value else {
                    continue;
                };
                let mut chosen = Vec::new();
                for range in ranges.iter() {
                    if missing == 0 {
                        break;
                    }
                    let n = range.count().min(missing);
                    chosen.push(Range::new(range.begin, range.begin + n - 1));
                    missing -= n;
                }
                if let Ok(set) = Ranges::from_disjoint(chosen) {
                    let mut piece = r.clone();
                    piece.value = ResourceValue::Ranges(set);
                    taken.add_resource(&piece);
                }
                if missing == 0 {
                    break;
                }
            }
            if missing > 0 {
                return None;
            }
        }
        self.remaining -= &taken;
        resources_to_proto(&taken, self.format).ok()
    }
}

/// Where one task goes.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Index into the task list given to the packer.
    pub task: usize,
    /// Index into the offers.
    pub offer: usize,
    /// The resources to put in the task's `TaskInfo.resources`.
    pub resources: Vec<pb::Resource>,
}

/// The packing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// Each task into the first offer it fits.
    FirstFit,
    /// Each task into the offer it leaves the least room in (by its largest share).
    BestFit,
}

/// Packs tasks into offers; tasks that fit nowhere are left out of the result.
pub fn pack(offers: &mut [OfferSpace], tasks: &[TaskNeeds], packing: Packing) -> Vec<Placement> {
    let mut out = Vec::new();
    for (t, needs) in tasks.iter().enumerate() {
        let choice = match packing {
            Packing::FirstFit => (0..offers.len()).find(|&o| fits(&offers[o], needs)),
            Packing::BestFit => (0..offers.len())
                .filter(|&o| fits(&offers[o], needs))
                .min_by(|&a, &b| {
                    slack(&offers[a], needs)
                        .partial_cmp(&slack(&offers[b], needs))
                        .unwrap_or(std::cmp::Ordering::Equal)
                }),
        };
        if let Some(o) = choice
            && let Some(resources) = offers[o].take(needs)
        {
            out.push(Placement {
                task: t,
                offer: o,
                resources,
            });
        }
    }
    out
}

fn fits(space: &OfferSpace, needs: &TaskNeeds) -> bool {
    space.clone().take(needs).is_some()
}

/// How much room the offer keeps after the task, as the largest remaining fraction.
fn slack(space: &OfferSpace, needs: &TaskNeeds) -> f64 {
    needs
        .scalars
        .iter()
        .map(|(name, amount)| {
            let have = space
                .remaining
                .scalar(name)
                .map(|s| s.as_f64())
                .unwrap_or(0.0);
            have - amount.as_f64()
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_core::resources::convert::convert_format;

    fn offer(id: &str, text: &str, format: ResourceFormat) -> pb::Offer {
        let res = parse_flag_text(text, "*").unwrap();
        let mut wire = resources_to_proto(&res, ResourceFormat::PostReservationRefinement).unwrap();
        for r in &mut wire {
            convert_format(r, format).unwrap();
        }
        pb::Offer {
            id: pb::OfferId { value: id.into() },
            agent_id: pb::AgentId { value: "a".into() },
            resources: wire,
            ..Default::default()
        }
    }

    #[test]
    fn parses_needs() {
        let n = TaskNeeds::parse("cpus:0.5;mem:128;ports:2").unwrap();
        assert_eq!(n.ports, 2);
        assert_eq!(n.scalars.len(), 2);
        assert!(TaskNeeds::parse("cpus:x").is_err());
    }

    #[test]
    fn first_fit_and_best_fit() {
        let offers = [
            offer(
                "big",
                "cpus:4;mem:4096;ports:[31000-31010]",
                ResourceFormat::PreReservationRefinement,
            ),
            offer(
                "small",
                "cpus:1;mem:256",
                ResourceFormat::PreReservationRefinement,
            ),
        ];
        let task = TaskNeeds::parse("cpus:1;mem:200").unwrap();
        let mut spaces: Vec<OfferSpace> =
            offers.iter().map(|o| OfferSpace::new(o).unwrap()).collect();
        let p = pack(&mut spaces, std::slice::from_ref(&task), Packing::FirstFit);
        assert_eq!(p[0].offer, 0);
        let mut spaces: Vec<OfferSpace> =
            offers.iter().map(|o| OfferSpace::new(o).unwrap()).collect();
        let p = pack(&mut spaces, &[task], Packing::BestFit);
        assert_eq!(p[0].offer, 1);
        // Legacy format in, legacy format out.
        #[allow(deprecated)]
        let role = p[0].resources[0].role.clone();
        assert_eq!(role.as_deref(), Some("*"));
    }

    #[test]
    fn ports_and_exhaustion() {
        let o = offer(
            "o",
            "cpus:2;mem:512;ports:[31000-31001,31005-31005]",
            ResourceFormat::PostReservationRefinement,
        );
        let mut space = OfferSpace::new(&o).unwrap();
        let needs = TaskNeeds::parse("cpus:1;mem:256;ports:3").unwrap();
        let r = space.take(&needs).unwrap();
        let taken = resources_from_proto(&r).unwrap();
        assert_eq!(taken.ports().unwrap().count(), 3);
        assert!(space.take(&needs).is_none(), "no ports left");
        assert_eq!(space.remaining().cpus().unwrap().as_f64(), 1.0);
    }
}
