//! The Mesos resource model: typed resources, their arithmetic, and their text, JSON and
//! protobuf forms.
//!
//! [`Resources`] is the domain type used by the allocator and the daemons. It converts to and
//! from the `mesos.v1.Resource` wire type at the edges ([`convert`]), where both of Mesos's
//! reservation formats are understood.

mod collection;
pub mod convert;
mod parse;
mod resource;

pub use collection::Resources;
pub use parse::parse_flag_text;
pub use resource::{
    DiskInfo, DiskSource, DiskSourceKind, Label, Persistence, Reservation, ReservationKind,
    Resource, ResourceValue, SmolStr, VolumeMode, VolumeMount,
};

use crate::roles::RoleError;
use crate::values::{RangesError, ValueParseError, ValueType};

/// Why resources were rejected. Each message names the resource and the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResourceError {
    /// A flag token without exactly one `:`.
    #[error("expected 'name:value' in resource '{0}'")]
    NotNameValue(String),
    /// `name(role` or similar.
    #[error("mismatched parentheses in resource '{0}'")]
    MismatchedParentheses(String),
    /// A token with no name before the value.
    #[error("empty resource name in '{0}'")]
    EmptyName(String),
    /// The value text did not parse.
    #[error("bad value for resource '{name}': {source}")]
    Value {
        /// The resource's name.
        name: String,
        /// What was wrong with the value.
        source: ValueParseError,
    },
    /// A value that parsed as text.
    #[error("resource '{name}' has text value '{text}'; resources must be scalars, ranges or sets")]
    TextValue {
        /// The resource's name.
        name: String,
        /// The text found.
        text: String,
    },
    /// A role that is not a valid role name.
    #[error("bad role for resource '{name}': {source}")]
    Role {
        /// The resource's name.
        name: String,
        /// Why the role is invalid.
        source: RoleError,
    },
    /// One name used with two value types.
    #[error("resource '{name}' is given as both {first} and {second}")]
    MixedTypes {
        /// The resource's name.
        name: String,
        /// The first type seen.
        first: ValueType,
        /// The conflicting type.
        second: ValueType,
    },
    /// Something that only operations, not flags, may create.
    #[error("{0}")]
    CommandLine(String),
    /// A negative, NaN or infinite scalar.
    #[error("invalid scalar resource '{name}': {value} is not a non-negative finite amount")]
    BadScalar {
        /// The resource's name.
        name: String,
        /// The amount given.
        value: f64,
    },
    /// Inverted or overlapping ranges.
    #[error("invalid ranges resource '{name}': {source}")]
    Ranges {
        /// The resource's name.
        name: String,
        /// What was wrong.
        source: RangesError,
    },
    /// A set that lists an item twice.
    #[error("invalid set resource '{name}': item '{item}' appears twice")]
    DuplicateItem {
        /// The resource's name.
        name: String,
        /// The repeated item.
        item: String,
    },
    /// `type` does not match the value fields present, or is TEXT or unknown.
    #[error("invalid resource '{name}': {detail}")]
    Malformed {
        /// The resource's name.
        name: String,
        /// What is inconsistent.
        detail: String,
    },
    /// A reservation stack that breaks Mesos's rules.
    #[error("invalid reservation of resource '{name}': {detail}")]
    Reservation {
        /// The resource's name.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// JSON that is not a list of Mesos resources.
    #[error("invalid resources JSON: {0}")]
    Json(String),
}
