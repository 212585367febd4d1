//! Constructors for the offer operations an ACCEPT carries, for [`Driver::accept`].
//!
//! ```
//! use mesos_core::proto::v1 as pb;
//! use mesos_scheduler_sdk::ops;
//!
//! // Reserve a disk and make a persistent volume of it in one ACCEPT.
//! let disk = pb::Resource { name: "disk".into(), ..Default::default() };
//! let operations = vec![ops::reserve(vec![disk.clone()]), ops::create(vec![disk])];
//! assert_eq!(operations[1].r#type(), pb::offer::operation::Type::Create);
//! ```
//!
//! [`Driver::accept`]: crate::Driver::accept

use mesos_core::proto::v1 as pb;
use pb::offer::operation::{self, Type};

fn typed(kind: Type) -> pb::offer::Operation {
    pb::offer::Operation {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// LAUNCH: tasks, each with its own command or executor.
pub fn launch(tasks: Vec<pb::TaskInfo>) -> pb::offer::Operation {
    pb::offer::Operation {
        launch: Some(operation::Launch { task_infos: tasks }),
        ..typed(Type::Launch)
    }
}

/// LAUNCH_GROUP: tasks started together in one executor (usually the default executor).
pub fn launch_group(executor: pb::ExecutorInfo, tasks: Vec<pb::TaskInfo>) -> pb::offer::Operation {
    pb::offer::Operation {
        launch_group: Some(operation::LaunchGroup {
            executor,
            task_group: pb::TaskGroupInfo { tasks },
        }),
        ..typed(Type::LaunchGroup)
    }
}

/// RESERVE: dynamically reserves resources (each with its new reservation pushed).
pub fn reserve(resources: Vec<pb::Resource>) -> pb::offer::Operation {
    pb::offer::Operation {
        reserve: Some(operation::Reserve {
            source: vec![],
            resources,
        }),
        ..typed(Type::Reserve)
    }
}

/// UNRESERVE: gives dynamically reserved resources back.
pub fn unreserve(resources: Vec<pb::Resource>) -> pb::offer::Operation {
    pb::offer::Operation {
        unreserve: Some(operation::Unreserve { resources }),
        ..typed(Type::Unreserve)
    }
}

/// CREATE: makes persistent volumes of reserved disk.
pub fn create(volumes: Vec<pb::Resource>) -> pb::offer::Operation {
    pb::offer::Operation {
        create: Some(operation::Create { volumes }),
        ..typed(Type::Create)
    }
}

/// DESTROY: deletes persistent volumes (the disk stays reserved).
pub fn destroy(volumes: Vec<pb::Resource>) -> pb::offer::Operation {
    pb::offer::Operation {
        destroy: Some(operation::Destroy { volumes }),
        ..typed(Type::Destroy)
    }
}
