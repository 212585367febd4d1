//! Property tests of the resource model: arithmetic laws, containment, and the text, JSON and
//! protobuf round trips.

#![allow(deprecated)] // The legacy format is checked through the deprecated `role` field.

use mesos_core::json;
use mesos_core::proto::v1 as pb;
use mesos_core::resources::convert::{
    ResourceFormat, resource_from_proto, resources_from_proto, resources_to_proto,
};
use mesos_core::resources::{
    DiskInfo, DiskSource, DiskSourceKind, Label, Persistence, Reservation, ReservationKind,
    Resource, ResourceValue, Resources, SmolStr, VolumeMode, VolumeMount, parse_flag_text,
};
use mesos_core::values::{Range, Ranges, Scalar, Set};
use proptest::prelude::*;
use prost::Message;

/// Which values a generated bag may use, so that two bags can be made disjoint in their ports
/// and set items (Mesos adds ranges and sets as unions, so `(a + b) - b == a` needs that).
#[derive(Clone, Copy)]
struct Space {
    port_base: u64,
    item_base: u8,
}

const LOW: Space = Space {
    port_base: 0,
    item_base: 0,
};
const HIGH: Space = Space {
    port_base: 10_000,
    item_base: 10,
};

fn reservation_stack() -> impl Strategy<Value = Vec<Reservation>> {
    prop_oneof![
        4 => Just(vec![]),
        2 => prop::sample::select(vec!["web", "batch", "eng/ml"])
            .prop_map(|r| vec![Reservation::static_to(r)]),
        1 => (prop::sample::select(vec!["web", "eng"]), prop::option::of("[a-z]{1,6}"))
            .prop_map(|(r, p)| vec![Reservation {
                kind: ReservationKind::Dynamic,
                role: r.to_string(),
                principal: p,
                labels: vec![Label { key: "k".into(), value: Some("v".into()) }],
            }]),
        1 => Just(vec![
            Reservation::static_to("eng"),
            Reservation::dynamic_to("eng/ml", Some("ops".into())),
        ]),
    ]
}

fn value_for(name: &'static str, space: Space) -> BoxedStrategy<ResourceValue> {
    match name {
        "ports" => prop::collection::vec((0u64..200, 0u64..20), 1..4)
            .prop_map(move |list| {
                let ranges = list
                    .into_iter()
                    .map(|(b, len)| Range::new(space.port_base + b, space.port_base + b + len));
                ResourceValue::Ranges(Ranges::from_ranges_coalescing(ranges).unwrap())
            })
            .boxed(),
        "devices" => prop::collection::btree_set(0u8..8, 1..4)
            .prop_map(move |items| {
                let items = items
                    .into_iter()
                    .map(|i| format!("d{}", i + space.item_base));
                ResourceValue::Set(Set::from_unique(items).unwrap())
            })
            .boxed(),
        _ => (1i64..100_000)
            .prop_map(|m| ResourceValue::Scalar(Scalar::from_milli(m)))
            .boxed(),
    }
}

fn plain_resource(space: Space) -> impl Strategy<Value = Resource> {
    prop::sample::select(vec!["cpus", "mem", "disk", "gpus", "ports", "devices"]).prop_flat_map(
        move |name| {
            (
                value_for(name, space),
                reservation_stack(),
                any::<bool>(),
                prop::option::of(Just("web")),
            )
                .prop_map(move |(value, reservations, revocable, alloc)| Resource {
                    name: name.into(),
                    value,
                    reservations,
                    disk: None,
                    revocable: revocable && name == "cpus",
                    shared: false,
                    allocation_role: alloc.map(SmolStr::from),
                    provider_id: None,
                })
        },
    )
}

/// Persistent volumes and whole disks: resources that never merge.
fn disk_unit() -> impl Strategy<Value = Resource> {
    (1i64..5000, "[a-z]{1,4}", any::<bool>(), any::<bool>()).prop_map(|(mb, id, shared, mount)| {
        let mut r = Resource::new("disk", ResourceValue::Scalar(Scalar::from_units(mb)))
            .reserved_to(Reservation::dynamic_to("web", None));
        r.disk = Some(Box::new(DiskInfo {
            persistence: Some(Persistence {
                id,
                principal: None,
            }),
            volume: Some(VolumeMount {
                container_path: "data".into(),
                host_path: None,
                mode: VolumeMode::Rw,
            }),
            source: mount.then(|| DiskSource {
                kind: DiskSourceKind::Mount,
                root: Some("/mnt/a".into()),
                id: None,
                profile: None,
                vendor: None,
                metadata: vec![],
            }),
        }));
        r.shared = shared;
        r
    })
}

fn bag(space: Space) -> impl Strategy<Value = Resources> {
    (
        prop::collection::vec(plain_resource(space), 0..8),
        prop::collection::vec(disk_unit(), 0..2),
    )
        .prop_map(|(plain, units)| plain.into_iter().chain(units).collect())
}

/// Resources that the `--resources` flag can express.
fn flag_bag() -> impl Strategy<Value = Resources> {
    prop::collection::vec(plain_resource(LOW), 0..8).prop_map(|list| {
        list.into_iter()
            .map(|mut r| {
                r.revocable = false;
                r.allocation_role = None;
                r.reservations.retain(|x| x.kind == ReservationKind::Static);
                r.reservations.truncate(1);
                r
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn subtracting_what_was_added_gives_back_the_original(a in bag(LOW), b in bag(HIGH)) {
        let sum = &a + &b;
        prop_assert_eq!(&(&sum - &b), &a);
        prop_assert!(sum.contains(&a) && sum.contains(&b));
    }

    #[test]
    fn addition_is_commutative(a in bag(LOW), b in bag(LOW)) {
        prop_assert_eq!(&a + &b, &b + &a);
    }

    #[test]
    fn addition_is_associative(a in bag(LOW), b in bag(LOW), c in bag(HIGH)) {
        prop_assert_eq!(&(&a + &b) + &c, &a + &(&b + &c));
    }

    #[test]
    fn contains_exactly_when_subtraction_loses_nothing(a in bag(LOW), b in bag(LOW)) {
        let restored = &(&a - &b) + &b;
        prop_assert_eq!(a.contains(&b), restored == a, "a = {}, b = {}", a, b);
    }

    #[test]
    fn subtraction_never_grows(a in bag(LOW), b in bag(LOW)) {
        let diff = &a - &b;
        prop_assert!(a.contains(&diff));
        for r in diff.iter() {
            prop_assert!(!r.is_empty());
            if let ResourceValue::Scalar(s) = r.value {
                prop_assert!(!s.is_negative());
            }
        }
    }

    #[test]
    fn a_bag_contains_itself_and_its_parts(a in bag(LOW)) {
        // The same list (answered without a walk), and an equal bag built entry by entry.
        prop_assert!(a.contains(&a));
        let mut rebuilt = Resources::new();
        for r in a.iter() {
            for _ in 0..a.shared_count(r).max(1) {
                rebuilt += r;
            }
        }
        prop_assert_eq!(&rebuilt, &a);
        prop_assert!(a.contains(&rebuilt) && rebuilt.contains(&a), "a = {}", a);
        prop_assert!((&a - &a).is_empty());
        for r in a.iter() {
            prop_assert!(a.contains_resource(r));
        }
    }

    #[test]
    fn flag_text_round_trips(a in flag_bag()) {
        let text = a.to_flag_text().expect("flag bags have a flag form");
        let back = parse_flag_text(&text, "*").unwrap();
        prop_assert_eq!(back, a);
    }

    #[test]
    fn protobuf_and_json_round_trip(a in bag(LOW)) {
        for format in [ResourceFormat::PostReservationRefinement, ResourceFormat::Endpoint] {
            let wire = resources_to_proto(&a, format).unwrap();
            // Protobuf bytes.
            let decoded: Vec<pb::Resource> = wire
                .iter()
                .map(|r| pb::Resource::decode(r.encode_to_vec().as_slice()).unwrap())
                .collect();
            prop_assert_eq!(&resources_from_proto(&decoded).unwrap(), &a);
            // Mesos JSON.
            let text = serde_json::Value::Array(wire.iter().map(json::to_value).collect()).to_string();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let parsed = json::list_from_value::<pb::Resource>(&value).unwrap();
            prop_assert_eq!(&resources_from_proto(&parsed).unwrap(), &a);
        }
    }

    #[test]
    fn both_offer_formats_convert_losslessly(a in bag(LOW)) {
        for r in a.iter() {
            let post = resources_to_proto(&Resources::from(r.clone()), ResourceFormat::PostReservationRefinement).unwrap();
            let pre = resources_to_proto(&Resources::from(r.clone()), ResourceFormat::PreReservationRefinement);
            if r.reservations.len() > 1 {
                prop_assert!(pre.is_err(), "refined reservations have no legacy form");
                continue;
            }
            let pre = pre.unwrap();
            prop_assert!(pre[0].reservations.is_empty());
            prop_assert_eq!(&resource_from_proto(&pre[0]).unwrap(), r);
            prop_assert_eq!(&resource_from_proto(&post[0]).unwrap(), r);
        }
    }
}

#[test]
fn legacy_offer_format_matches_mesos() {
    let r = Resource::scalar("cpus", 1.0).reserved_to(Reservation {
        kind: ReservationKind::Dynamic,
        role: "web".into(),
        principal: Some("ops".into()),
        labels: vec![],
    });
    let pre = resources_to_proto(
        &Resources::from(r.clone()),
        ResourceFormat::PreReservationRefinement,
    )
    .unwrap();
    assert_eq!(
        json::to_value(&pre[0]),
        serde_json::json!({
            "name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0},
            "role": "web", "reservation": {"principal": "ops"}
        })
    );
    let endpoint = resources_to_proto(&Resources::from(r), ResourceFormat::Endpoint).unwrap();
    assert_eq!(
        json::to_value(&endpoint[0]),
        serde_json::json!({
            "name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0},
            "role": "web", "reservation": {"principal": "ops"},
            "reservations": [{"type": "DYNAMIC", "role": "web", "principal": "ops"}]
        })
    );
    let unreserved = resources_to_proto(
        &Resources::from(Resource::scalar("mem", 32.0)),
        ResourceFormat::PreReservationRefinement,
    )
    .unwrap();
    assert_eq!(unreserved[0].role.as_deref(), Some("*"));
}

#[test]
fn rejects_malformed_wire_resources_with_a_reason() {
    let parse = |v: serde_json::Value| {
        let wire = json::from_value::<pb::Resource>(&v).unwrap();
        resource_from_proto(&wire).unwrap_err().to_string()
    };
    assert_eq!(
        parse(serde_json::json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": -1}})),
        "invalid scalar resource 'cpus': -1 is not a non-negative finite amount"
    );
    assert_eq!(
        parse(serde_json::json!({"name": "ports", "type": "RANGES",
            "ranges": {"range": [{"begin": 1, "end": 5}, {"begin": 4, "end": 9}]}})),
        "invalid ranges resource 'ports': overlapping ranges [1-5] and [4-9]"
    );
    assert_eq!(
        parse(serde_json::json!({"name": "cpus", "type": "RANGES", "scalar": {"value": 1}})),
        "invalid resource 'cpus': type RANGES needs 'ranges' and no other value"
    );
    assert_eq!(
        parse(
            serde_json::json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
            "reservations": [{"type": "STATIC", "role": "a"}, {"type": "DYNAMIC", "role": "b"}]})
        ),
        "invalid reservation of resource 'cpus': reservation 1 to 'b' does not refine the reservation to 'a'"
    );
    assert_eq!(
        parse(
            serde_json::json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
            "reservations": [{"type": "DYNAMIC", "role": "*"}]})
        ),
        "invalid reservation of resource 'cpus': role \"*\" cannot be reserved"
    );
    let err = json::from_str::<pb::Resource>(r#"{"name": "cpus", "type": "SCALAR", "scalar": {}}"#)
        .unwrap_err();
    assert_eq!(err.to_string(), "missing required field 'scalar.value'");
    let err = json::from_str::<pb::Resource>(r#"{"name": "cpus", "type": "NUMBER"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field 'type': 'NUMBER' is not a value of enum mesos.v1.Value.Type"
    );
}
