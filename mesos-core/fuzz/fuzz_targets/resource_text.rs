//! Fuzzes the `--resources` and `--attributes` text parsers with arbitrary UTF-8.
//!
//! Parsing must never panic. For every resource list that parses, the arithmetic and text-form
//! invariants must hold:
//!
//! - `r.to_flag_text()`, when `Some`, parses back (with default role `*`) to a `Resources`
//!   equal to `r`;
//! - `r - r` is empty;
//! - `r + r` contains `r` (and `r` contains itself).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_core::attributes::Attributes;
use mesos_core::resources::{Resources, parse_flag_text};

fn check_resources(text: &str, r: &Resources) {
    // The log form must not panic.
    let _ = r.to_string();

    if let Some(flag_text) = r.to_flag_text() {
        match parse_flag_text(&flag_text, "*") {
            Ok(back) => assert_eq!(
                &back, r,
                "flag text {flag_text:?} of {r} (from {text:?}) parsed back differently"
            ),
            Err(e) => panic!("flag text {flag_text:?} of {r} (from {text:?}) is rejected: {e}"),
        }
    }

    assert!(r.contains(r), "{r} does not contain itself");
    let difference = r - r;
    assert!(difference.is_empty(), "{r} - itself = {difference}");
    let sum = r + r;
    assert!(sum.contains(r), "{r} + itself = {sum}, which does not contain it");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    for default_role in ["*", "role1"] {
        if let Ok(r) = parse_flag_text(text, default_role) {
            check_resources(text, &r);
        }
    }

    if let Ok(attributes) = Attributes::parse(text) {
        let _ = attributes.to_string();
        let _ = Attributes::from_proto(&attributes.to_proto());
        assert!(attributes.matches_all(&attributes));
    }
});
