//! Architecture invariant: the allocator is a pure library. Its normal dependency tree holds no
//! async runtime and no network crate, so it can be embedded in simulations and tested without
//! I/O.

use std::process::Command;

#[test]
fn dependency_tree_has_no_runtime_or_network_crate() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "mesos-allocator",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("utf-8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"mesos-core"), "the tree was read: {tree}");
    let forbidden = [
        "tokio",
        "mio",
        "async-std",
        "smol",
        "hyper",
        "reqwest",
        "tonic",
        "axum",
        "socket2",
        "futures",
        "tracing-subscriber",
    ];
    for name in forbidden {
        assert!(
            !crates.contains(&name),
            "mesos-allocator depends on {name}:\n{tree}"
        );
    }
}
