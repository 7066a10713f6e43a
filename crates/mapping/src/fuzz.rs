//! Property-based tests: the transform and criteria parsers, and the mapping file reader, never
//! panic on arbitrary input; they answer with a value or a reason.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::criteria::{compile_criteria, compile_with_limits, Criterion, CriterionValue, HUBSPOT_LIMITS};
use crate::local::LocalValue;
use crate::transform::{parse_number, parse_zone, to_date, to_datetime_in, utc, Case, Kind, Transform};
use crate::validate::tests::contacts;

/// Text that is often near a valid value: digits, separators, strftime codes, zone names.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 .,+eE:TZ/-]{0,24}",
        "(%[a-zA-Z%:.#0-9-]|[ -~]){0,12}",
        prop::sample::select(vec![
            "Europe/Berlin", "+02:00", "-13:45", "UTC", "Z", "%Y-%m-%d", "%d/%m/%Y %H:%M", "%",
            "%Q", "%.3f", "%:z", "%#z", "%s", "1749956429864", "2025-03-30 02:30", "",
        ])
        .prop_map(str::to_owned),
    ]
}

fn value() -> impl Strategy<Value = LocalValue> {
    prop_oneof![
        Just(LocalValue::Null),
        any::<bool>().prop_map(LocalValue::Bool),
        any::<i64>().prop_map(LocalValue::Integer),
        any::<f64>().prop_map(LocalValue::Real),
        texty().prop_map(LocalValue::Text),
    ]
}

fn transform() -> impl Strategy<Value = Transform> {
    let opt = || prop::option::of(texty());
    prop_oneof![
        Just(Transform::Trim),
        prop::sample::select(vec![Case::Lower, Case::Upper, Case::Title]).prop_map(|to| Transform::Case { to }),
        (opt(), opt()).prop_map(|(decimal, thousands)| Transform::ParseNumber { decimal, thousands }),
        (prop::option::of(any::<u32>()), opt()).prop_map(|(decimals, decimal)| Transform::FormatNumber { decimals, decimal }),
        texty().prop_map(|format| Transform::ParseDate { format }),
        texty().prop_map(|format| Transform::FormatDate { format }),
        (opt(), opt()).prop_map(|(format, zone)| Transform::ParseDatetime { format, zone }),
        (opt(), opt()).prop_map(|(format, zone)| Transform::FormatDatetime { format, zone }),
        (prop::collection::btree_map(texty(), texty(), 0..4), opt(), any::<bool>())
            .prop_map(|(values, otherwise, strict)| Transform::ValueMap { values, otherwise, strict }),
        value().prop_map(|value| Transform::Default { value }),
        value().prop_map(|value| Transform::Constant { value }),
        (prop::collection::vec(texty(), 0..3), texty()).prop_map(|(fields, separator)| Transform::Concat { fields, separator }),
        (texty(), any::<usize>(), any::<bool>()).prop_map(|(separator, index, rest)| Transform::Split { separator, index, rest }),
    ]
}

fn criterion_value() -> impl Strategy<Value = CriterionValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(CriterionValue::Bool),
        any::<i64>().prop_map(CriterionValue::Integer),
        any::<f64>().prop_map(CriterionValue::Number),
        texty().prop_map(CriterionValue::Text),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| prop::collection::vec(inner, 0..4).prop_map(CriterionValue::List))
}

fn criterion() -> impl Strategy<Value = Criterion> {
    let condition = prop_oneof![
        prop::sample::select(vec![
            "EQUALS", "NOT_EQUALS", "GREATER_THAN", "GREATER_THAN_OR_EQUALS", "LESS_THAN",
            "LESS_THAN_OR_EQUALS", "BETWEEN", "NOT_BETWEEN", "IN", "NOT_IN", "CONTAINS",
            "NOT_CONTAINS", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "eq", "gt", "not-between",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    let field = prop_oneof![
        prop::sample::select(vec![
            "email", "firstname", "lifecyclestage", "createdate", "hs_object_id", "num_employees",
            "annualrevenue", "hs_lead_status", "missing",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ];
    (
        condition,
        field,
        prop::option::of(criterion_value()),
        prop::option::of(criterion_value()),
        prop::option::of(prop::collection::vec(criterion_value(), 0..4)),
    )
        .prop_map(|(condition, field, value, high_value, values)| Criterion {
            condition,
            field,
            value,
            high_value,
            values,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any step on any value: a value or a reason, never a panic — checked or not.
    #[test]
    fn transforms_never_panic(steps in prop::collection::vec(transform(), 1..4), input in value(), other in value()) {
        let lookup = |_: &str| other.clone();
        let mut kind = Kind::Any;
        for step in &steps {
            if let Ok(k) = step.check(kind) { kind = k; }
            let _ = step.apply(input.clone(), &lookup);
        }
    }

    /// The value parsers behind the transforms.
    #[test]
    fn value_parsers_never_panic(text in texty(), v in value()) {
        let _ = parse_number(&text);
        let _ = parse_zone(Some(&text));
        let _ = to_date(&v);
        let _ = to_datetime_in(&v, &utc());
        if let Ok(zone) = parse_zone(Some(&text)) {
            let _ = to_datetime_in(&LocalValue::Text(text.clone()), &zone);
        }
    }

    /// A number formatted by `formatNumber` parses back to itself.
    #[test]
    fn numbers_round_trip(n in any::<i64>().prop_map(|i| i as f64 / 1000.0)) {
        let formatted = Transform::FormatNumber { decimals: None, decimal: Some(",".into()) }
            .apply(LocalValue::Real(n), &|_| LocalValue::Null).unwrap();
        let parsed = Transform::ParseNumber { decimal: Some(",".into()), thousands: None }
            .apply(formatted.clone(), &|_| LocalValue::Null).unwrap();
        let back = match parsed { LocalValue::Integer(i) => i as f64, LocalValue::Real(f) => f, other => panic!("{formatted:?} → {other:?}") };
        prop_assert_eq!(back, n);
    }

    /// Arbitrary criteria compile or are refused with a reason; what compiles keeps HubSpot's
    /// limits with room for the engine's two cursor filters per group.
    #[test]
    fn criteria_never_panic_and_respect_limits(criteria in prop::collection::vec(criterion(), 0..8)) {
        let catalog = contacts();
        if let Ok(groups) = compile_criteria(&criteria, &catalog) {
            prop_assert!(groups.len() <= 5);
            prop_assert!(groups.iter().all(|g| g.filters.len() <= 4));
            prop_assert!(groups.iter().map(|g| g.filters.len()).sum::<usize>() <= 18 - 2 * groups.len());
        }
        let _ = compile_with_limits(&criteria, &catalog, HUBSPOT_LIMITS);
    }

    /// Criteria JSON as an admin might paste it: arbitrary text, or valid JSON of any shape.
    #[test]
    fn criteria_json_never_panics(text in any::<String>(), json in json_value()) {
        let catalog = contacts();
        for source in [text, json.to_string()] {
            if let Ok(criteria) = serde_json::from_str::<Vec<Criterion>>(&source) {
                let _ = compile_criteria(&criteria, &catalog);
            }
        }
    }

    /// A mapping file with one byte changed or cut short: read, or refused with a reason.
    #[test]
    fn damaged_mapping_files_never_panic(at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let catalog = contacts();
        let good = crate::validate::tests::mapping().to_json_pretty();
        let mut bytes = good.into_bytes();
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] = byte }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = crate::validate::import_mapping(&text, &catalog) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        texty().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["condition", "field", "value", "values", "highValue", "x"]).prop_map(str::to_owned),
                inner,
                0..5
            )
            .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The format the property test found: refused at edit time, and an error (not a panic) at run time.
#[test]
fn a_dangling_strftime_flag_is_refused() {
    let step = Transform::FormatDate { format: "%#".into() };
    assert!(step.check(Kind::Date).is_err(), "{:?}", step.check(Kind::Date));
    let err = step.apply(LocalValue::Text("2025-06-15".into()), &|_| LocalValue::Null).unwrap_err();
    assert!(err.contains("not a valid date format"), "{err}");
}
