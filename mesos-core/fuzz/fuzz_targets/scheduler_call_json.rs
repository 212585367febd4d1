//! Fuzzes Mesos-style JSON reading of a scheduler `Call` with arbitrary bytes.
//!
//! Reading must never panic. For every `Call` that reads, writing it with `json::to_string` and
//! reading that back must succeed and give an equal `Call`.
//!
//! "Equal" needs two allowances that come from the JSON mapping itself, not from bugs:
//!
//! - Mesos writes an unset optional field that declares an explicit `[default = ...]` with its
//!   default (`refuse_seconds: 5.0`, `failover_timeout: 0.0`), so after one round trip such a
//!   field is set where the original left it unset. The two calls are therefore compared by
//!   their JSON form, and the round-tripped call must then be a fixed point: writing and reading
//!   it again gives exactly the same `Call`.
//! - `NaN != NaN`, so a call holding a NaN (read from `"NaN"`) is compared by its JSON form.
//!
//! Doubles must survive the round trip exactly; see the `serde_json` entry in `../Cargo.toml`
//! for the known serde_json precision issue this target found.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_core::json;
use mesos_core::proto::v1::scheduler::Call;

fn read_back(written: &str) -> Call {
    json::from_str(written)
        .unwrap_or_else(|e| panic!("JSON written by to_string does not read back: {e}\n{written}"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(call) = json::from_str::<Call>(text) else {
        return;
    };

    let written = json::to_string(&call);
    let back = read_back(&written);
    assert_eq!(
        json::to_value(&back),
        json::to_value(&call),
        "round trip changed the call\ninput: {text}\nwritten: {written}"
    );

    let rewritten = json::to_string(&back);
    let again = read_back(&rewritten);
    #[allow(clippy::eq_op)]
    let has_nan = back != back;
    if has_nan {
        assert_eq!(
            json::to_value(&again),
            json::to_value(&back),
            "second round trip changed the call\nwritten: {rewritten}"
        );
    } else {
        assert_eq!(
            again, back,
            "second round trip changed the call\nwritten: {rewritten}"
        );
    }
});
