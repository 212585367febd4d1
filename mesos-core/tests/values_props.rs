//! Property tests of the value types against simple reference models, and of the text forms of
//! values and attributes.

use std::collections::BTreeSet;

use mesos_core::attributes::{Attribute, Attributes};
use mesos_core::values::{Range, Ranges, Scalar, Value, parse_value};
use proptest::prelude::*;

/// Ranges over a small universe so that overlaps, adjacency and gaps all happen often.
fn ranges() -> impl Strategy<Value = (Ranges, BTreeSet<u64>)> {
    prop::collection::vec((0u64..60, 0u64..8), 0..6).prop_map(|list| {
        let model: BTreeSet<u64> = list.iter().flat_map(|&(b, len)| b..=b + len).collect();
        let ranges =
            Ranges::from_ranges_coalescing(list.iter().map(|&(b, len)| Range::new(b, b + len)))
                .unwrap();
        (ranges, model)
    })
}

fn members(r: &Ranges) -> BTreeSet<u64> {
    r.iter().flat_map(|x| x.begin..=x.end).collect()
}

fn is_canonical(r: &Ranges) -> bool {
    r.as_slice()
        .windows(2)
        .all(|w| w[0].end.saturating_add(1) < w[1].begin)
        && r.iter().all(|x| x.begin <= x.end)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn ranges_match_a_set_model((a, ma) in ranges(), (b, mb) in ranges()) {
        prop_assert_eq!(members(&a), ma.clone());
        let union = a.union(&b);
        prop_assert!(is_canonical(&union));
        prop_assert_eq!(members(&union), ma.union(&mb).copied().collect::<BTreeSet<_>>());
        let diff = a.difference(&b);
        prop_assert!(is_canonical(&diff));
        prop_assert_eq!(members(&diff), ma.difference(&mb).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(a.contains(&b), mb.is_subset(&ma));
        prop_assert_eq!(a.count(), ma.len() as u64);
        let mut in_place = a.clone();
        in_place.add_assign(&b);
        prop_assert_eq!(&in_place, &union);
        let mut in_place = a.clone();
        in_place.sub_assign(&b);
        prop_assert_eq!(&in_place, &diff);
        for v in 0..70 {
            prop_assert_eq!(a.contains_value(v), ma.contains(&v));
        }
    }

    #[test]
    fn scalar_arithmetic_is_exact(a in 0i64..10_000_000, b in 0i64..10_000_000) {
        let (x, y) = (Scalar::from_milli(a), Scalar::from_milli(b));
        prop_assert_eq!((x + y) - y, x);
        prop_assert_eq!(Scalar::from_f64(x.as_f64()), x);
        prop_assert_eq!(parse_value(&x.to_string()).unwrap(), Value::Scalar(x));
    }

    #[test]
    fn value_text_round_trips((r, _) in ranges(), items in prop::collection::btree_set("[a-z][a-z0-9]{0,5}", 1..5)) {
        if !r.is_empty() {
            prop_assert_eq!(parse_value(&r.to_string()).unwrap(), Value::Ranges(r.clone()));
        }
        let set_text = format!("{{{}}}", items.iter().cloned().collect::<Vec<_>>().join(","));
        let parsed = parse_value(&set_text).unwrap();
        prop_assert_eq!(parse_value(&parsed.to_string()).unwrap(), parsed);
    }

    #[test]
    fn attribute_text_round_trips(
        list in prop::collection::vec(
            ("[a-z]{1,6}", prop_oneof![
                (0i64..1_000_000).prop_map(|m| Value::Scalar(Scalar::from_milli(m))),
                "[a-z][a-z0-9-]{0,8}".prop_map(Value::Text),
                ranges().prop_filter("non-empty", |(r, _)| !r.is_empty()).prop_map(|(r, _)| Value::Ranges(r)),
            ]),
            0..6,
        )
    ) {
        let attrs: Attributes = list.into_iter().map(|(name, value)| Attribute { name, value }).collect();
        let text = attrs.to_string();
        prop_assert_eq!(Attributes::parse(&text).unwrap(), attrs.clone());
        prop_assert_eq!(Attributes::from_proto(&attrs.to_proto()).unwrap(), attrs);
    }

    #[test]
    fn value_parser_never_panics(text in "\\PC{0,40}") {
        let _ = parse_value(&text);
        let _ = Attributes::parse(&text);
        let _ = mesos_core::resources::parse_flag_text(&text, "*");
    }
}
