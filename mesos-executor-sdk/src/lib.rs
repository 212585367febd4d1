//! The executor SDK: a typed `Executor` trait and a driver for the v1 executor HTTP API.
//!
//! This crate is a placeholder in the workspace layout; the SDK is built by the agent issue on
//! top of [`mesos_core::proto`] and [`mesos_core::recordio`].
