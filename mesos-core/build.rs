//! Compiles the Mesos v1 `.proto` files with protox (pure Rust, so no `protoc` is needed),
//! generates prost types that also implement `prost_reflect::ReflectMessage`, and saves the
//! descriptor set that the Mesos JSON mapping walks.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "mesos/v1/mesos.proto",
    "mesos/v1/scheduler/scheduler.proto",
    "mesos/v1/executor/executor.proto",
    "mesos/v1/allocator/allocator.proto",
    "mesos/v1/maintenance/maintenance.proto",
    "mesos/v1/quota/quota.proto",
    "mesos/v1/resource_provider/resource_provider.proto",
    "mesos/v1/master/master.proto",
    "mesos/v1/agent/agent.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let fds = protox::compile(PROTOS, ["proto"])?;
    let descriptor_path = out_dir.join("mesos_descriptor_set.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&fds))?;

    let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(fds.clone())?;
    let mut config = prost_build::Config::new();
    for message in pool.all_messages() {
        let name = message.full_name();
        if name.starts_with("google.") {
            continue;
        }
        config.type_attribute(name, "#[derive(::prost_reflect::ReflectMessage)]");
        config.type_attribute(
            name,
            format!(r#"#[prost_reflect(message_name = "{name}")]"#),
        );
        config.type_attribute(
            name,
            r#"#[prost_reflect(descriptor_pool = "crate::proto::DESCRIPTOR_POOL")]"#,
        );
    }
    config.compile_fds(fds)?;
    Ok(())
}
