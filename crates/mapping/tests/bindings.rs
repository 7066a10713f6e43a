//! Every type that crosses to the UI exports to TypeScript with the app's exporter settings.

use spoke_mapping::*;

#[test]
fn ui_types_export_to_typescript() {
    let mut types = specta::TypeCollection::default();
    types
        .register::<Mapping>()
        .register::<ObjectCatalog>()
        .register::<ObjectDirectory>()
        .register::<LocalTable>()
        .register::<Suggestion>()
        .register::<Issue>()
        .register::<Imported>()
        .register::<FilterGroup>()
        .register::<DryRunSample>()
        .register::<DryRunRow>()
        .register::<HubSpotProperties>();
    let ts = specta_typescript::Typescript::default()
        .bigint(specta_typescript::BigIntExportBehavior::Number)
        .export(&types)
        .expect("exports");
    if std::env::var_os("SPOKE_PRINT_BINDINGS").is_some() {
        println!("{ts}");
    }
    for name in [
        "Mapping",
        "FieldMapping",
        "Transform",
        "Criterion",
        "CriterionValue",
        "LocalValue",
        "DryRunRow",
        "Action",
        "Issue",
        "Severity",
        "Operator",
        "Destination",
        "MatchKey",
        "Direction",
    ] {
        assert!(
            ts.contains(&format!("export type {name} =")),
            "{name} missing from:\n{ts}"
        );
    }
    // serde's spelling, not Rust's.
    assert!(ts.contains("\"toHubSpot\""), "{ts}");
    assert!(ts.contains("matchKey"), "{ts}");
    assert!(ts.contains("\"parseDatetime\""), "{ts}");
    assert!(ts.contains("\"NOT_CONTAINS_TOKEN\""), "{ts}");
}
