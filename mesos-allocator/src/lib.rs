//! The allocator: decides which framework is offered which agent's resources.
//!
//! This crate is a placeholder in the workspace layout; the hierarchical DRF allocator itself is
//! built by the allocator issue on top of [`mesos_core::resources`].
