//! The scheduler SDK: a typed `Scheduler` trait and a driver for the v1 scheduler HTTP API.
//!
//! This crate is a placeholder in the workspace layout; the SDK is built by the scheduler SDK
//! issue on top of [`mesos_core::proto`] and [`mesos_core::json`].
