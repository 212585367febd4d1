//! Typed identifiers, so a framework id cannot be passed where an agent id is expected.

use std::fmt;

use smol_str::SmolStr;

use crate::proto::v1 as pb;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $wire:ty) => {
        $(#[$doc])*
        ///
        /// The text is a [`SmolStr`]: short ids live inline and long ones are shared, so
        /// copying an id (into every offer, update and index that names it) allocates nothing.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub SmolStr);

        impl $name {
            /// Wraps an id string.
            pub fn new(value: impl AsRef<str>) -> Self {
                $name(SmolStr::new(value))
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(SmolStr::new(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(SmolStr::from(s))
            }
        }

        impl From<$wire> for $name {
            fn from(wire: $wire) -> Self {
                $name(SmolStr::from(wire.value))
            }
        }

        impl From<&$wire> for $name {
            fn from(wire: &$wire) -> Self {
                $name(SmolStr::new(&wire.value))
            }
        }

        impl From<$name> for $wire {
            fn from(id: $name) -> Self {
                <$wire>::from_value(id.0.to_string())
            }
        }
    };
}

/// Builds wire id messages from strings.
trait FromValue {
    fn from_value(value: String) -> Self;
}

macro_rules! wire_from_value {
    ($($wire:ty),*) => {
        $(impl FromValue for $wire {
            fn from_value(value: String) -> Self {
                Self { value }
            }
        })*
    };
}

wire_from_value!(
    pb::FrameworkId,
    pb::AgentId,
    pb::OfferId,
    pb::TaskId,
    pb::ExecutorId,
    pb::ResourceProviderId,
    pb::OperationId
);

id_type!(
    /// Identifies a framework: `<master id>-<4 digits>`.
    FrameworkId,
    pb::FrameworkId
);
id_type!(
    /// Identifies an agent: `<master id>-S<n>`.
    AgentId,
    pb::AgentId
);
id_type!(
    /// Identifies an offer: `<master id>-O<n>`.
    OfferId,
    pb::OfferId
);
id_type!(
    /// Identifies a task within its framework.
    TaskId,
    pb::TaskId
);
id_type!(
    /// Identifies an executor within its framework.
    ExecutorId,
    pb::ExecutorId
);
id_type!(
    /// Identifies a resource provider.
    ResourceProviderId,
    pb::ResourceProviderId
);
id_type!(
    /// Identifies an offer operation.
    OperationId,
    pb::OperationId
);
