//! The allocator: decides which framework is offered which agent's resources.
//!
//! A pure library: no async runtime, no sockets, no clock. The master feeds it events and asks
//! [`Allocator::allocate`] for decisions, passing the current time in.

mod agent_filters;
mod allocator;
mod filter_mask;
mod free_bag;
mod holdings;
mod prefetch;
pub mod quantities;
pub mod rng;
pub mod sorter;

pub use allocator::*;
