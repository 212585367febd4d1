//! Generates the master–agent link's message types and tonic service from our `.proto`,
//! reusing `mesos_core`'s generated `mesos.v1` types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(
        ["mesos/internal/agent_link.proto"],
        ["proto", "../../mesos-core/proto"],
    )?;
    tonic_prost_build::configure()
        .extern_path(".mesos.v1", "::mesos_core::proto::v1")
        .compile_fds(fds)?;
    Ok(())
}
