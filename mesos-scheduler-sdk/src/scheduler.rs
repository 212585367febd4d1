//! The callbacks a framework implements.

use async_trait::async_trait;
use mesos_core::proto::v1 as pb;

use crate::driver::Driver;

/// What SUBSCRIBED tells a framework.
#[derive(Debug, Clone)]
pub struct Subscribed {
    pub framework_id: pb::FrameworkId,
    pub heartbeat_interval_seconds: Option<f64>,
    pub master_info: Option<pb::MasterInfo>,
    /// True when this subscription resumed an earlier one (failover or reconnection).
    pub resubscribed: bool,
}

/// A framework's scheduler. Every method has a default that does nothing, so a framework
/// implements only what it cares about. Callbacks run one at a time, in event order.
#[async_trait]
pub trait Scheduler: Send {
    /// The master accepted the subscription.
    async fn subscribed(&mut self, _driver: &Driver, _info: Subscribed) {}
    /// New resource offers.
    async fn offers(&mut self, _driver: &Driver, _offers: Vec<pb::Offer>) {}
    /// Maintenance: offers to give resources back.
    async fn inverse_offers(&mut self, _driver: &Driver, _offers: Vec<pb::InverseOffer>) {}
    /// An offer is no longer valid.
    async fn rescind(&mut self, _driver: &Driver, _offer_id: pb::OfferId) {}
    /// An inverse offer is no longer valid.
    async fn rescind_inverse_offer(&mut self, _driver: &Driver, _id: pb::OfferId) {}
    /// A task status update. With automatic acknowledgement (the default) the driver
    /// acknowledges it after this returns.
    async fn update(&mut self, _driver: &Driver, _status: pb::TaskStatus) {}
    /// An operation status update (for operations given an id in ACCEPT). With automatic
    /// acknowledgement the driver acknowledges it after this returns.
    async fn operation_status(&mut self, _driver: &Driver, _status: pb::OperationStatus) {}
    /// A message from an executor.
    async fn message(
        &mut self,
        _driver: &Driver,
        _agent_id: pb::AgentId,
        _executor_id: pb::ExecutorId,
        _data: Vec<u8>,
    ) {
    }
    /// An executor terminated, or (without an executor id) an agent was lost.
    async fn failure(
        &mut self,
        _driver: &Driver,
        _agent_id: Option<pb::AgentId>,
        _executor_id: Option<pb::ExecutorId>,
        _status: Option<i32>,
    ) {
    }
    /// The master reported an error; the subscription is over and the driver stops.
    async fn error(&mut self, _driver: &Driver, _message: String) {}
    /// The connection to the master broke; the driver reconnects on its own.
    async fn disconnected(&mut self, _driver: &Driver) {}
}
