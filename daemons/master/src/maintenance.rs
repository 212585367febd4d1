//! Maintenance, as Mesos's operators know it: a schedule of windows puts machines in DRAINING
//! mode, frameworks using their agents get inverse offers and answer them, START_MAINTENANCE
//! brings machines DOWN (their agents are shut down and removed, and may not register while
//! DOWN) and STOP_MAINTENANCE brings them back UP, off the schedule.
//!
//! A machine in the schedule is matched to an agent by every field it gives: `hostname`
//! (case-insensitively) against the agent's hostname and `ip` against the address the agent
//! registered from.

use std::net::Ipv4Addr;
use std::time::Duration;

use mesos_allocator::{InverseOffer, Unavailability};
use mesos_core::ids::AgentId;
use mesos_core::proto::v1 as pb;
use mesos_core::proto::v1::allocator::inverse_offer_status::Status as AnswerStatus;
use mesos_core::proto::v1::scheduler as spb;
use tracing::info;

use crate::master::{AgentRemoval, CallError, Master, now_secs, time_info};
use crate::state::Agent;

/// An inverse offer sent and not yet answered or rescinded.
#[derive(Debug, Clone)]
pub(crate) struct InverseOfferRecord {
    pub framework: String,
    pub agent: String,
}

/// The message to an agent whose machine goes DOWN, and the reason its tasks end.
const MACHINE_DOWN: &str = "Operator initiated 'Machine DOWN'";

/// Two machine ids name the same machine (hostnames compare case-insensitively).
pub(crate) fn same_machine(a: &pb::MachineId, b: &pb::MachineId) -> bool {
    let host = |m: &pb::MachineId| m.hostname.clone().unwrap_or_default().to_lowercase();
    let ip = |m: &pb::MachineId| m.ip.clone().unwrap_or_default();
    host(a) == host(b) && ip(a) == ip(b)
}

/// Whether a scheduled machine id names the machine an agent runs on.
fn names_agent(id: &pb::MachineId, hostname: &str, ip: &str) -> bool {
    let host = id.hostname.as_deref().filter(|h| !h.is_empty());
    let addr = id.ip.as_deref().filter(|i| !i.is_empty());
    (host.is_some() || addr.is_some())
        && host.is_none_or(|h| h.eq_ignore_ascii_case(hostname))
        && addr.is_none_or(|i| i == ip)
}

/// A machine id as Mesos prints it in errors: its JSON.
fn machine_text(id: &pb::MachineId) -> String {
    mesos_core::json::to_value(id).to_string()
}

fn validate_machine(id: &pb::MachineId) -> Result<(), String> {
    let hostname = id.hostname.as_deref().unwrap_or_default();
    let ip = id.ip.as_deref().unwrap_or_default();
    if hostname.is_empty() && ip.is_empty() {
        return Err("Both 'hostname' and 'ip' for a machine are empty".to_string());
    }
    if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
        return Err(format!("Failed to parse IP '{ip}' of a machine"));
    }
    Ok(())
}

/// Each id valid and none twice.
fn validate_unique(ids: &[&pb::MachineId]) -> Result<(), String> {
    for (i, id) in ids.iter().enumerate() {
        validate_machine(id)?;
        if ids[..i].iter().any(|earlier| same_machine(earlier, id)) {
            return Err(format!(
                "Machine '{}' appears more than once in the schedule",
                machine_text(id)
            ));
        }
    }
    Ok(())
}

/// The machine list of START_MAINTENANCE, STOP_MAINTENANCE, `/machine/down` and `/machine/up`.
pub(crate) fn validate_machines(ids: &[pb::MachineId]) -> Result<(), String> {
    if ids.is_empty() {
        return Err("List of machines is empty".to_string());
    }
    validate_unique(&ids.iter().collect::<Vec<_>>())
}

/// A new schedule: windows with machines, non-negative durations, each machine once, and
/// every DOWN machine still in it.
pub(crate) fn validate_schedule(
    schedule: &pb::maintenance::Schedule,
    down: &[pb::MachineId],
) -> Result<(), String> {
    for window in &schedule.windows {
        if window.machine_ids.is_empty() {
            return Err("List of machines in the maintenance window is empty".to_string());
        }
        if window
            .unavailability
            .duration
            .as_ref()
            .is_some_and(|d| d.nanoseconds < 0)
        {
            return Err("Unavailability 'duration' is negative".to_string());
        }
    }
    let all: Vec<&pb::MachineId> = schedule
        .windows
        .iter()
        .flat_map(|w| w.machine_ids.iter())
        .collect();
    validate_unique(&all)?;
    for id in down {
        if !all.iter().any(|m| same_machine(m, id)) {
            return Err(format!(
                "Machine '{}' is deactivated and cannot be removed from the schedule",
                machine_text(id)
            ));
        }
    }
    Ok(())
}

fn bad_request(message: String) -> CallError {
    CallError::bad_request(message)
}

fn unavailable(e: impl std::fmt::Display) -> CallError {
    CallError {
        status: 503,
        message: format!("Failed to update the registry: {e}"),
    }
}

impl Master {
    fn scheduled(&self, id: &pb::MachineId) -> bool {
        self.maintenance
            .windows
            .iter()
            .flat_map(|w| w.machine_ids.iter())
            .any(|m| same_machine(m, id))
    }

    fn is_down(&self, id: &pb::MachineId) -> bool {
        self.down_machines.iter().any(|m| same_machine(m, id))
    }

    /// Whether an agent on `hostname`/`ip` sits on a DOWN machine (and may not register).
    pub(crate) fn machine_is_down(&self, hostname: &str, ip: &str) -> bool {
        self.down_machines
            .iter()
            .any(|m| names_agent(m, hostname, ip))
    }

    /// The window an agent's machine is scheduled in, if any.
    fn agent_window(&self, agent: &Agent) -> Option<&pb::maintenance::Window> {
        self.maintenance.windows.iter().find(|w| {
            w.machine_ids
                .iter()
                .any(|m| names_agent(m, &agent.info.hostname, &agent.ip))
        })
    }

    /// UPDATE_MAINTENANCE_SCHEDULE and `POST /master/maintenance/schedule`.
    pub(crate) fn update_maintenance_schedule(
        &mut self,
        schedule: pb::maintenance::Schedule,
    ) -> Result<(), CallError> {
        validate_schedule(&schedule, &self.down_machines).map_err(bad_request)?;
        self.registry
            .update_maintenance(&schedule, &self.down_machines)
            .map_err(unavailable)?;
        self.maintenance = schedule;
        self.refresh_unavailability();
        Ok(())
    }

    /// The machines of a START/STOP_MAINTENANCE are valid, scheduled, and DOWN exactly when
    /// `down` says (else `wrong_mode` completes the error).
    fn check_transition(
        &self,
        machines: &[pb::MachineId],
        down: bool,
        wrong_mode: &str,
    ) -> Result<(), CallError> {
        validate_machines(machines).map_err(bad_request)?;
        for id in machines {
            if !self.scheduled(id) {
                return Err(bad_request(format!(
                    "Machine '{}' is not part of a maintenance schedule",
                    machine_text(id)
                )));
            }
            if self.is_down(id) != down {
                return Err(bad_request(format!(
                    "Machine '{}' {wrong_mode}",
                    machine_text(id)
                )));
            }
        }
        Ok(())
    }

    /// START_MAINTENANCE and `POST /master/machine/down`: DRAINING machines go DOWN.
    pub(crate) fn start_maintenance(
        &mut self,
        machines: &[pb::MachineId],
    ) -> Result<(), CallError> {
        self.check_transition(
            machines,
            false,
            "is not in DRAINING mode and cannot be brought down",
        )?;
        let mut down = self.down_machines.clone();
        down.extend(machines.iter().cloned());
        let doomed: Vec<String> = self
            .agents
            .values()
            .filter(|a| {
                machines
                    .iter()
                    .any(|m| names_agent(m, &a.info.hostname, &a.ip))
            })
            .map(|a| a.id.clone())
            .collect();
        for id in &doomed {
            self.registry.remove_agent(id).map_err(unavailable)?;
        }
        self.registry
            .update_maintenance(&self.maintenance, &down)
            .map_err(unavailable)?;
        self.down_machines = down;
        for id in doomed {
            info!(agent = %id, "machine DOWN: shutting the agent down");
            self.shutdown_agent(&id, MACHINE_DOWN);
            self.remove_agent(&id, AgentRemoval::ByOperator, MACHINE_DOWN);
        }
        Ok(())
    }

    /// STOP_MAINTENANCE and `POST /master/machine/up`: DOWN machines come back UP and leave
    /// the schedule.
    pub(crate) fn stop_maintenance(&mut self, machines: &[pb::MachineId]) -> Result<(), CallError> {
        self.check_transition(
            machines,
            true,
            "is not in DOWN mode and cannot be brought up",
        )?;
        let mut schedule = self.maintenance.clone();
        for window in &mut schedule.windows {
            window
                .machine_ids
                .retain(|m| !machines.iter().any(|id| same_machine(m, id)));
        }
        schedule.windows.retain(|w| !w.machine_ids.is_empty());
        let mut down = self.down_machines.clone();
        down.retain(|m| !machines.iter().any(|id| same_machine(m, id)));
        self.registry
            .update_maintenance(&schedule, &down)
            .map_err(unavailable)?;
        self.maintenance = schedule;
        self.down_machines = down;
        self.refresh_unavailability();
        Ok(())
    }

    /// GET_MAINTENANCE_STATUS and `/master/maintenance/status`: scheduled machines that are
    /// not DOWN are draining, with the frameworks' latest answers to inverse offers for
    /// agents on them.
    pub(crate) fn maintenance_status(&self) -> pb::maintenance::ClusterStatus {
        let mut status = pb::maintenance::ClusterStatus {
            draining_machines: vec![],
            down_machines: self.down_machines.clone(),
        };
        for id in self.maintenance.windows.iter().flat_map(|w| &w.machine_ids) {
            if self.is_down(id) {
                continue;
            }
            let statuses = self
                .inverse_offer_statuses
                .iter()
                .filter(|((agent, _), _)| {
                    self.agents
                        .get(agent)
                        .is_some_and(|a| names_agent(id, &a.info.hostname, &a.ip))
                })
                .map(|(_, s)| s.clone())
                .collect();
            status
                .draining_machines
                .push(pb::maintenance::cluster_status::DrainingMachine {
                    id: id.clone(),
                    statuses,
                });
        }
        status
    }

    /// Tells the allocator which agents face maintenance, for those whose window changed.
    pub(crate) fn refresh_unavailability(&mut self) {
        let ids: Vec<String> = self.agents.keys().cloned().collect();
        for id in ids {
            self.refresh_agent_unavailability(&id);
        }
        self.allocation_wanted = true;
    }

    /// Brings one agent's unavailability up to date with the schedule. An agent leaving
    /// maintenance (or changing window) has its inverse offers rescinded and answers
    /// forgotten.
    pub(crate) fn refresh_agent_unavailability(&mut self, id: &str) {
        let Some(agent) = self.agents.get(id) else {
            return;
        };
        let wanted = self.agent_window(agent).map(|w| w.unavailability);
        if wanted == agent.unavailability {
            return;
        }
        let for_allocator = wanted.as_ref().map(|u| self.allocator_unavailability(u));
        let _ = self
            .allocator
            .update_unavailability(&AgentId::new(id), for_allocator);
        self.rescind_agent_inverse_offers(id);
        self.inverse_offer_statuses
            .retain(|(agent, _), _| agent != id);
        if let Some(agent) = self.agents.get_mut(id) {
            agent.unavailability = wanted;
        }
    }

    /// The allocator's clock starts with the master; times before that are "now".
    fn allocator_unavailability(&self, u: &pb::Unavailability) -> Unavailability {
        let since_start = u.start.nanoseconds as f64 / 1e9 - self.start_time;
        Unavailability {
            start: Duration::try_from_secs_f64(since_start).unwrap_or(Duration::ZERO),
            duration: u
                .duration
                .as_ref()
                .map(|d| Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0))),
        }
    }

    /// Turns the allocator's inverse offers into INVERSE_OFFERS events.
    pub(crate) fn send_inverse_offers(&mut self, offers: Vec<InverseOffer>) {
        let mut by_framework: std::collections::BTreeMap<String, Vec<pb::InverseOffer>> =
            Default::default();
        for offer in offers {
            let framework = offer.framework.as_str().to_string();
            let agent = offer.agent.as_str().to_string();
            let Some(unavailability) = self.agents.get(&agent).and_then(|a| a.unavailability)
            else {
                continue;
            };
            if !self.frameworks.contains_key(&framework) {
                continue;
            }
            let n = self.next_offer_id();
            let id = format!("{}-O{n}", self.info.id);
            by_framework
                .entry(framework.clone())
                .or_default()
                .push(pb::InverseOffer {
                    id: pb::OfferId { value: id.clone() },
                    url: None,
                    framework_id: pb::FrameworkId {
                        value: framework.clone(),
                    },
                    agent_id: Some(pb::AgentId {
                        value: agent.clone(),
                    }),
                    unavailability,
                    resources: vec![],
                });
            self.inverse_offers
                .insert(id, InverseOfferRecord { framework, agent });
        }
        for (framework, inverse_offers) in by_framework {
            let event = spb::Event {
                r#type: Some(spb::event::Type::InverseOffers as i32),
                inverse_offers: Some(spb::event::InverseOffers { inverse_offers }),
                ..Default::default()
            };
            self.send_event(&framework, &event);
        }
    }

    /// Rescinds the outstanding inverse offers for an agent.
    pub(crate) fn rescind_agent_inverse_offers(&mut self, agent: &str) {
        let ids: Vec<String> = self
            .inverse_offers
            .iter()
            .filter(|(_, o)| o.agent == agent)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let Some(offer) = self.inverse_offers.remove(&id) else {
                continue;
            };
            let event = spb::Event {
                r#type: Some(spb::event::Type::RescindInverseOffer as i32),
                rescind_inverse_offer: Some(spb::event::RescindInverseOffer {
                    inverse_offer_id: pb::OfferId { value: id },
                }),
                ..Default::default()
            };
            self.send_event(&offer.framework, &event);
        }
    }

    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: the answer is recorded for the
    /// maintenance status. Ids that are unknown or belong to another framework are ignored,
    /// as Mesos ignores them.
    pub(crate) fn answer_inverse_offers(
        &mut self,
        framework: &str,
        ids: &[pb::OfferId],
        accept: bool,
    ) {
        let status = if accept {
            AnswerStatus::Accept
        } else {
            AnswerStatus::Decline
        };
        for id in ids {
            if self
                .inverse_offers
                .get(&id.value)
                .is_none_or(|o| o.framework != framework)
            {
                continue;
            }
            let Some(offer) = self.inverse_offers.remove(&id.value) else {
                continue;
            };
            self.inverse_offer_statuses.insert(
                (offer.agent, offer.framework.clone()),
                pb::allocator::InverseOfferStatus {
                    status: status as i32,
                    framework_id: pb::FrameworkId {
                        value: offer.framework,
                    },
                    timestamp: time_info(now_secs()),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(hostname: &str, ip: &str) -> pb::MachineId {
        pb::MachineId {
            hostname: (!hostname.is_empty()).then(|| hostname.to_string()),
            ip: (!ip.is_empty()).then(|| ip.to_string()),
        }
    }

    fn window(machines: Vec<pb::MachineId>, duration_ns: Option<i64>) -> pb::maintenance::Window {
        pb::maintenance::Window {
            machine_ids: machines,
            unavailability: pb::Unavailability {
                start: pb::TimeInfo { nanoseconds: 0 },
                duration: duration_ns.map(|n| pb::DurationInfo { nanoseconds: n }),
            },
        }
    }

    #[test]
    fn machines_match_agents_by_every_given_field() {
        assert!(names_agent(&machine("Host-A", ""), "host-a", "10.0.0.1"));
        assert!(names_agent(&machine("", "10.0.0.1"), "host-a", "10.0.0.1"));
        assert!(names_agent(
            &machine("host-a", "10.0.0.1"),
            "host-a",
            "10.0.0.1"
        ));
        assert!(!names_agent(
            &machine("host-a", "10.0.0.2"),
            "host-a",
            "10.0.0.1"
        ));
        assert!(!names_agent(&machine("", ""), "host-a", "10.0.0.1"));
        assert!(same_machine(
            &machine("A", "1.2.3.4"),
            &machine("a", "1.2.3.4")
        ));
        assert!(!same_machine(&machine("a", ""), &machine("a", "1.2.3.4")));
    }

    #[test]
    fn schedules_are_validated_as_mesos_validates_them() {
        let ok = pb::maintenance::Schedule {
            windows: vec![window(vec![machine("a", "")], Some(10))],
        };
        assert_eq!(validate_schedule(&ok, &[]), Ok(()));
        let empty = pb::maintenance::Schedule {
            windows: vec![window(vec![], None)],
        };
        assert!(
            validate_schedule(&empty, &[])
                .unwrap_err()
                .contains("is empty")
        );
        let negative = pb::maintenance::Schedule {
            windows: vec![window(vec![machine("a", "")], Some(-1))],
        };
        assert!(
            validate_schedule(&negative, &[])
                .unwrap_err()
                .contains("negative")
        );
        let twice = pb::maintenance::Schedule {
            windows: vec![
                window(vec![machine("a", "")], None),
                window(vec![machine("A", "")], None),
            ],
        };
        assert!(
            validate_schedule(&twice, &[])
                .unwrap_err()
                .contains("more than once")
        );
        let bad_ip = pb::maintenance::Schedule {
            windows: vec![window(vec![machine("", "not-an-ip")], None)],
        };
        assert!(validate_schedule(&bad_ip, &[]).unwrap_err().contains("IP"));
        let without_down = pb::maintenance::Schedule { windows: vec![] };
        assert!(
            validate_schedule(&without_down, &[machine("a", "")])
                .unwrap_err()
                .contains("cannot be removed")
        );
        assert!(validate_machines(&[]).unwrap_err().contains("empty"));
    }
}
