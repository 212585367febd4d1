//! The scheduler SDK: write a Mesos framework in Rust against the v1 scheduler HTTP API, and
//! run it on this project's master or on Apache Mesos 1.x unchanged.
//!
//! Implement [`Scheduler`]; [`run`] subscribes, follows the leading master, reconnects and
//! fails over, calls your scheduler for each event, and acknowledges status updates. Calls go
//! through the [`Driver`] handle each callback receives. [`matching`] packs tasks into
//! offers in the offer's own resource format.
//!
//! A whole framework, from SUBSCRIBE to a finished task:
//!
//! ```no_run
//! use mesos_core::proto::v1 as pb;
//! use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, async_trait, run};
//! use mesos_scheduler_sdk::matching::{OfferSpace, TaskNeeds};
//!
//! struct Once { launched: bool, done: bool }
//!
//! #[async_trait]
//! impl Scheduler for Once {
//!     async fn offers(&mut self, driver: &Driver, offers: Vec<pb::Offer>) {
//!         for offer in offers {
//!             let mut space = OfferSpace::new(&offer).unwrap();
//!             let needs = TaskNeeds::parse("cpus:0.1;mem:32").unwrap();
//!             match space.take(&needs).filter(|_| !self.launched) {
//!                 Some(resources) => {
//!                     self.launched = true;
//!                     let task = pb::TaskInfo {
//!                         name: "hello".into(),
//!                         task_id: pb::TaskId { value: "hello-1".into() },
//!                         agent_id: offer.agent_id.clone(),
//!                         resources,
//!                         command: Some(pb::CommandInfo {
//!                             value: Some("echo hello".into()),
//!                             ..Default::default()
//!                         }),
//!                         ..Default::default()
//!                     };
//!                     driver.launch(offer.id.clone(), vec![task]).await.unwrap();
//!                 }
//!                 None => driver.decline(vec![offer.id.clone()], None).await.unwrap(),
//!             }
//!         }
//!     }
//!
//!     async fn update(&mut self, driver: &Driver, status: pb::TaskStatus) {
//!         if status.state() == pb::TaskState::TaskFinished {
//!             self.done = true;
//!             driver.teardown().await.unwrap();
//!         }
//!     }
//! }
//!
//! # async fn main_() -> Result<(), Box<dyn std::error::Error>> {
//! let framework = pb::FrameworkInfo { user: "root".into(), name: "once".into(), ..Default::default() };
//! let done = run(DriverConfig::new("127.0.0.1:5050", framework), Once { launched: false, done: false }).await?;
//! assert!(done.done);
//! # Ok(()) }
//! ```

pub mod detector;
mod driver;
mod error;
pub mod matching;
pub mod ops;
mod scheduler;
pub mod transport;

pub use async_trait::async_trait;
pub use driver::{Driver, DriverConfig, Format, run, run_with_transport};
pub use error::SdkError;
pub use scheduler::{Scheduler, Subscribed};
