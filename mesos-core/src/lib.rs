//! The foundation every other crate of this Mesos implementation stands on.
//!
//! - [`proto`]: the Mesos v1 wire types (`mesos.v1.*` packages), generated at build time from
//!   this crate's own `.proto` files, with field names and numbers identical to Apache Mesos.
//! - [`json`]: Mesos's own JSON mapping of those types, in both directions.
//! - [`resources`], [`values`], [`roles`], [`attributes`]: the resource model with Mesos's
//!   arithmetic, reservation rules and text forms.
//! - [`recordio`]: the `<length>\n<payload>` framing of Mesos's streaming APIs.
//! - [`ids`]: typed identifiers.
//!
//! Nothing here performs I/O; the daemons and SDKs own sockets, clocks and files.
//!
//! ```
//! use mesos_core::resources::parse_flag_text;
//!
//! let agent = parse_flag_text("cpus:4;mem:4096;ports:[31000-32000]", "*").unwrap();
//! let task = parse_flag_text("cpus:0.5;mem:128;ports:[31000-31000]", "*").unwrap();
//! assert!(agent.contains(&task));
//! let left = &agent - &task;
//! assert_eq!(left.to_string(), "cpus:3.5; mem:3968; ports:[31001-32000]");
//! assert_eq!(&left + &task, agent);
//! ```

pub mod attributes;
pub mod duration;
pub mod ids;
pub mod json;
pub mod proto;
pub mod recordio;
pub mod resources;
pub mod roles;
pub mod values;
