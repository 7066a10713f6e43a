//! spoke-mapping against the demo portal (a local HubSpot): discovery and its cache, criteria
//! that HubSpot search accepts and honours, dry runs on real records, write-back through
//! batch upsert and reading it back.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use spoke_hubspot::{Client, ClientConfig, ListObjects, Request, Secret, StaticToken};
use spoke_mapping::*;
use spoke_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

async fn portal() -> (SandboxHandle, Client) {
    let sb = Sandbox::start(SandboxConfig {
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await
    .expect("demo portal starts");
    let client = Client::new(ClientConfig::new(sb.base_url()))
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(
            sb.private_app_token().as_str(),
        ))));
    (sb, client)
}

fn cache_file(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

#[tokio::test]
async fn discovers_standard_and_custom_objects_and_caches_them() {
    let (sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let objects = discover_objects(&client, dir.path(), false).await.unwrap();
    assert_eq!(objects.custom_objects_unavailable, None);
    let contacts = objects
        .objects
        .iter()
        .find(|o| o.object_type == "contacts")
        .unwrap();
    assert_eq!(
        (contacts.object_type_id.as_str(), contacts.custom),
        ("0-1", false)
    );
    let projects = objects
        .objects
        .iter()
        .find(|o| o.custom && o.plural == "Projects")
        .expect("the demo portal's custom object");
    assert!(projects.object_type_id.starts_with("2-"));
    assert_eq!(
        projects.primary_display_property.as_deref(),
        Some("project_name")
    );
    assert_eq!(cache_file(dir.path(), "objects.json")["version"], 1);

    // From the cache when the portal is gone; a refresh needs the portal.
    sb.shutdown().await;
    let cached = discover_objects(&client, dir.path(), false).await.unwrap();
    assert_eq!(cached, objects);
    assert!(discover_objects(&client, dir.path(), true).await.is_err());
}

#[tokio::test]
async fn discovers_contact_properties_with_types_options_and_flags() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover_properties(&client, "contacts", dir.path(), false)
        .await
        .unwrap();
    assert_eq!(catalog.object_type_id.as_deref(), Some("0-1"));
    assert!(!catalog.custom);
    let email = catalog.property("email").unwrap();
    assert_eq!(
        (email.property_type, email.label.as_str()),
        (PropertyType::String, "Email")
    );
    assert!(catalog.is_key_candidate("email"));
    let tier = catalog.property("spoke_tier").unwrap();
    assert_eq!(tier.property_type, PropertyType::Enumeration);
    assert_eq!(
        tier.options
            .iter()
            .map(|o| o.value.as_str())
            .collect::<Vec<_>>(),
        ["bronze", "silver", "gold", "platinum"]
    );
    assert!(!tier.hubspot_defined);
    let interests = catalog.property("spoke_interests").unwrap();
    assert!(interests.is_multi());
    // Groups, for headings in the editor: every property's group is among them.
    assert!(catalog
        .groups
        .iter()
        .any(|g| g.name == "contactinformation" && !g.label.is_empty()));
    for p in catalog.live() {
        assert!(
            catalog.groups.iter().any(|g| g.name == p.group_name),
            "{} in {}",
            p.name,
            p.group_name
        );
    }
    let deals = catalog.property("num_associated_deals").unwrap();
    assert!(deals.calculated && deals.write_refusal().is_some());
    let days = catalog.property("spoke_days_as_customer").unwrap();
    assert!(days.calculated);
    assert!(catalog
        .property("spoke_last_seen_at")
        .is_some_and(|p| p.property_type == PropertyType::Datetime));
    assert!(catalog
        .property("spoke_renewal_date")
        .is_some_and(|p| p.property_type == PropertyType::Date));
    assert!(catalog
        .property("spoke_opt_in")
        .is_some_and(|p| p.property_type == PropertyType::Bool));
    // Sorted by name, so cache diffs stay readable.
    let names: Vec<&str> = catalog.properties.iter().map(|p| p.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let cached = cache_file(dir.path(), "properties-contacts.json");
    assert_eq!(
        cached["data"]["properties"].as_array().unwrap().len(),
        catalog.properties.len()
    );
}

#[tokio::test]
async fn discovers_a_custom_object_by_id_with_required_and_unique_properties() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let objects = discover_objects(&client, dir.path(), false).await.unwrap();
    let projects = objects.objects.iter().find(|o| o.custom).unwrap();
    let catalog = discover_properties(&client, &projects.object_type, dir.path(), false)
        .await
        .unwrap();
    assert!(catalog.custom);
    assert_eq!(
        catalog.object_type_id.as_deref(),
        Some(projects.object_type_id.as_str())
    );
    assert_eq!(catalog.required_properties, projects.required_properties);
    assert!(!catalog.required_properties.is_empty());
    let code = catalog.property("project_code").unwrap();
    assert!(code.unique);
    assert!(catalog.is_key_candidate("project_code"));
    assert!(!catalog.is_key_candidate("project_name"));

    // A mapping that writes projects but not their required properties is warned about.
    let mut m = Mapping::new(
        "p",
        &projects.object_type,
        Destination::Spoke {
            table: "projects".into(),
        },
        MatchKey::Property {
            property: "project_code".into(),
            column: "code".into(),
        },
    );
    let budget = catalog.property("budget").unwrap();
    m.fields.push(FieldMapping::new(
        budget,
        &LocalColumn::new("budget", LocalType::Real),
        Direction::Both,
    ));
    let issues = validate(&m, &catalog);
    assert!(
        issues
            .iter()
            .any(|i| i.code == "mapping.required_property_unmapped"),
        "{issues:?}"
    );

    assert!(matches!(
        discover_properties(&client, "../oauth", dir.path(), false).await,
        Err(Error::InvalidObjectType { .. })
    ));
    let missing = discover_properties(&client, "no_such_object", dir.path(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, Error::UnknownObject { object_type } if object_type == "no_such_object"),
        "{missing:?}"
    );
    assert_eq!(
        spoke_hubspot::Describe::code(&missing),
        "mapping.unknown_object"
    );
}

#[tokio::test]
async fn refresh_sees_new_and_archived_properties_and_mappings_flag_them() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let before = discover_properties(&client, "contacts", dir.path(), false)
        .await
        .unwrap();
    let _: Value = client
        .post(
            "/crm/v3/properties/contacts",
            json!({"name": "loyalty_number", "label": "Loyalty number", "type": "string", "fieldType": "text", "groupName": "contactinformation", "hasUniqueValue": true}),
        )
        .await
        .unwrap();
    // The cache answers until a refresh.
    let cached = discover_properties(&client, "contacts", dir.path(), false)
        .await
        .unwrap();
    assert_eq!(cached, before);
    assert!(cached.property("loyalty_number").is_none());
    let fresh = discover_properties(&client, "contacts", dir.path(), true)
        .await
        .unwrap();
    let loyalty = fresh
        .property("loyalty_number")
        .expect("seen after refresh");
    assert!(loyalty.unique && loyalty.is_live());

    let mut m = Mapping::new(
        "c",
        "contacts",
        Destination::Spoke {
            table: "contacts".into(),
        },
        MatchKey::Property {
            property: "loyalty_number".into(),
            column: "loyalty".into(),
        },
    );
    m.fields.push(FieldMapping::new(
        loyalty,
        &LocalColumn::new("loyalty", LocalType::Text),
        Direction::Both,
    ));
    assert_eq!(validate(&m, &fresh), vec![]);

    // Archived in HubSpot: still in the catalog, flagged, and the mapping says so.
    client
        .send(Request::new(
            reqwest::Method::DELETE,
            "/crm/v3/properties/contacts/loyalty_number",
        ))
        .await
        .unwrap();
    let after = discover_properties(&client, "contacts", dir.path(), true)
        .await
        .unwrap();
    let archived = after.property("loyalty_number").expect("kept, not dropped");
    assert!(archived.archived && !archived.is_live());
    let codes: Vec<(String, String)> = validate(&m, &after)
        .into_iter()
        .map(|i| (i.code, i.path))
        .collect();
    assert_eq!(
        codes,
        [
            (
                "mapping.property_archived".to_owned(),
                "matchKey.property".to_owned()
            ),
            (
                "mapping.property_archived".to_owned(),
                "fields[0].property".to_owned()
            )
        ]
    );
}

/// The filters the sync engine adds to every group (its cursor), as OpsHub does.
fn with_engine_cursor(mut groups: Vec<FilterGroup>) -> Vec<FilterGroup> {
    for g in &mut groups {
        g.filters.push(Filter {
            property_name: "hs_lastmodifieddate".into(),
            operator: Operator::Gte,
            value: Some("0".into()),
            high_value: None,
            values: None,
        });
        g.filters.push(Filter {
            property_name: "hs_object_id".into(),
            operator: Operator::Gt,
            value: Some("0".into()),
            high_value: None,
            values: None,
        });
    }
    groups
}

async fn search(
    client: &Client,
    object: &str,
    groups: &[FilterGroup],
    properties: &[&str],
) -> Vec<HubSpotRecord> {
    let page = client
        .search_objects(
            object,
            json!({"filterGroups": groups, "properties": properties, "limit": 200}),
        )
        .await
        .expect("HubSpot search accepts the compiled filters");
    page.results.into_iter().map(HubSpotRecord::from).collect()
}

#[tokio::test]
async fn compiled_criteria_run_as_hubspot_search_with_room_for_the_engine() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let deals = discover_properties(&client, "deals", dir.path(), false)
        .await
        .unwrap();
    let stages: Vec<String> = deals
        .property("dealstage")
        .unwrap()
        .options
        .iter()
        .map(|o| o.value.clone())
        .collect();
    let criteria: Vec<Criterion> = serde_json::from_value(json!([
        {"condition": "IN", "field": "dealstage", "value": [stages[0], stages[1], stages[2]]},
        {"condition": "GREATER_THAN", "field": "amount", "value": 1000},
        {"condition": "HAS_PROPERTY", "field": "dealname"},
        {"condition": "GREATER_THAN", "field": "createdate", "value": "2000-01-01T00:00:00.000Z"}
    ]))
    .unwrap();
    let groups = compile_criteria(&criteria, &deals).unwrap();
    let results = search(
        &client,
        "deals",
        &with_engine_cursor(groups.clone()),
        &["dealstage", "amount", "dealname", "createdate"],
    )
    .await;
    assert!(!results.is_empty(), "the demo portal has such deals");
    for r in &results {
        assert!(
            stages[..3].contains(r.properties["dealstage"].as_ref().unwrap()),
            "{r:?}"
        );
        assert!(
            r.properties["amount"]
                .as_deref()
                .unwrap()
                .parse::<f64>()
                .unwrap()
                > 1000.0
        );
        assert!(
            matches(&groups, &deals, &r.properties),
            "local preview agrees with HubSpot: {r:?}"
        );
    }

    // One more criterion would leave the engine no room: refused at edit time.
    let mut five = criteria.clone();
    five.push(Criterion::new("HAS_PROPERTY", "closedate", None));
    assert!(matches!(
        compile_criteria(&five, &deals),
        Err(Error::FilterLimit { .. })
    ));
    // ... and HubSpot itself would have refused it with the engine's filters.
    let raw = compile_with_limits(&five, &deals, HUBSPOT_LIMITS).unwrap();
    let refused = client
        .search_objects(
            "deals",
            json!({"filterGroups": with_engine_cursor(raw), "limit": 1}),
        )
        .await;
    assert!(refused.is_err());

    // NOT_BETWEEN becomes two groups; every result lies outside the range.
    let outside: Vec<Criterion> = serde_json::from_value(
        json!([{"condition": "NOT_BETWEEN", "field": "amount", "value": [5000, 50000]}]),
    )
    .unwrap();
    let groups = compile_criteria(&outside, &deals).unwrap();
    assert_eq!(groups.len(), 2);
    let results = search(&client, "deals", &with_engine_cursor(groups), &["amount"]).await;
    assert!(!results.is_empty());
    for r in &results {
        let amount: f64 = r.properties["amount"].as_deref().unwrap().parse().unwrap();
        assert!(!(5000.0..=50000.0).contains(&amount), "{amount}");
    }
}

fn contacts_mapping(catalog: &ObjectCatalog) -> Mapping {
    let mut m = Mapping::new(
        "Contacts → customers",
        "contacts",
        Destination::Spoke {
            table: "customers".into(),
        },
        MatchKey::Property {
            property: "email".into(),
            column: "email".into(),
        },
    );
    let col = |name: &str, t: LocalType| LocalColumn::new(name, t);
    let prop = |name: &str| catalog.property(name).unwrap();
    let mut email = FieldMapping::new(
        prop("email"),
        &col("email", LocalType::Text),
        Direction::Both,
    );
    email.inbound = vec![Transform::Trim, Transform::Case { to: Case::Lower }];
    email.required = true;
    m.fields.push(email);
    m.fields.push(FieldMapping::new(
        prop("firstname"),
        &col("first_name", LocalType::Text),
        Direction::Both,
    ));
    m.fields.push(FieldMapping::new(
        prop("lastname"),
        &col("last_name", LocalType::Text),
        Direction::Both,
    ));
    m.fields.push(FieldMapping::new(
        prop("spoke_legacy_ids"),
        &col("legacy_id", LocalType::Integer),
        Direction::ToLocal,
    ));
    m.fields.push(FieldMapping::new(
        prop("spoke_interests"),
        &col("interests", LocalType::Json),
        Direction::Both,
    ));
    let mut seen = FieldMapping::new(
        prop("spoke_last_seen_at"),
        &col("last_seen_berlin", LocalType::Text),
        Direction::Both,
    );
    seen.inbound = vec![Transform::FormatDatetime {
        format: Some("%Y-%m-%d %H:%M:%S".into()),
        zone: Some("Europe/Berlin".into()),
    }];
    seen.outbound = vec![Transform::ParseDatetime {
        format: Some("%Y-%m-%d %H:%M:%S".into()),
        zone: Some("Europe/Berlin".into()),
    }];
    m.fields.push(seen);
    let mut tier = FieldMapping::new(
        prop("spoke_tier"),
        &col("tier", LocalType::Text),
        Direction::Both,
    );
    tier.outbound = vec![Transform::ValueMap {
        values: BTreeMap::from([
            ("Gold".to_owned(), "gold".to_owned()),
            ("Silver".to_owned(), "silver".to_owned()),
        ]),
        otherwise: None,
        strict: false,
    }];
    m.fields.push(tier);
    m
}

#[tokio::test]
async fn dry_run_on_real_records_rejects_what_cannot_be_mapped() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover_properties(&client, "contacts", dir.path(), false)
        .await
        .unwrap();
    let m = contacts_mapping(&catalog);
    assert_eq!(validate(&m, &catalog), vec![]);
    let properties: Vec<String> = m.fields.iter().filter_map(|f| f.property.clone()).collect();
    let mut records: Vec<HubSpotRecord> = Vec::new();
    let mut after = None;
    while records.len() < 400 {
        let page = client
            .list_objects(
                "contacts",
                &ListObjects {
                    limit: Some(100),
                    after: after.clone(),
                    properties: properties.clone(),
                    archived: false,
                },
            )
            .await
            .unwrap();
        after = page.next_after().map(str::to_owned);
        records.extend(page.results.into_iter().map(HubSpotRecord::from));
        if after.is_none() {
            break;
        }
    }
    let samples: Vec<DryRunSample> = records
        .iter()
        .map(|r| DryRunSample::ToLocal {
            record: r.clone(),
            current: None,
        })
        .collect();
    let rows = dry_run(&m, &catalog, &samples);
    assert_eq!(rows.len(), records.len());
    let mut rejected_multi = 0;
    for (row, record) in rows.iter().zip(&records) {
        let legacy = record
            .properties
            .get("spoke_legacy_ids")
            .cloned()
            .flatten()
            .unwrap_or_default();
        if legacy.contains(';') {
            rejected_multi += 1;
            assert_eq!(row.action, Action::Reject);
            assert!(
                row.reasons.contains(&format!(
                    "spoke_legacy_ids ↔ legacy_id: '{legacy}' is not a number"
                )),
                "{:?}",
                row.reasons
            );
        } else {
            assert_eq!(row.action, Action::Create, "{:?}", row.reasons);
            // The same record through apply_inbound gives the previewed values.
            let local = apply_inbound(&m, record).unwrap();
            for f in &row.fields {
                if let Some(c) = &f.column {
                    assert_eq!(local.get(c).unwrap_or(&LocalValue::Null), &f.after, "{c}");
                }
            }
        }
    }
    assert!(
        rejected_multi > 0,
        "the demo portal seeds some ';'-separated ids"
    );
}

#[tokio::test]
async fn write_back_through_batch_upsert_round_trips() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover_properties(&client, "contacts", dir.path(), false)
        .await
        .unwrap();
    let m = contacts_mapping(&catalog);
    let row: LocalRow = BTreeMap::from([
        (
            "email".to_owned(),
            LocalValue::Text("ada.lovelace@analytical-engine.example".into()),
        ),
        ("first_name".to_owned(), LocalValue::Text("Ada".into())),
        ("last_name".to_owned(), LocalValue::Text("Lovelace".into())),
        (
            "interests".to_owned(),
            LocalValue::Text(r#"["api","sync"]"#.into()),
        ),
        (
            "last_seen_berlin".to_owned(),
            LocalValue::Text("2025-06-15 09:00:00".into()),
        ),
        ("tier".to_owned(), LocalValue::Text("Gold".into())),
    ]);
    let preview = dry_run(
        &m,
        &catalog,
        &[DryRunSample::ToHubSpot {
            row: row.clone(),
            current: None,
        }],
    );
    assert_eq!(
        preview[0].action,
        Action::Create,
        "{:?}",
        preview[0].reasons
    );

    let out = apply_outbound(&m, &row).unwrap();
    assert_eq!(
        out.properties["spoke_last_seen_at"],
        "2025-06-15T07:00:00.000Z"
    );
    assert_eq!(out.properties["spoke_interests"], "api;sync");
    assert_eq!(out.properties["spoke_tier"], "gold");
    let answer: Value = client
        .post("/crm/v3/objects/contacts/batch/upsert", json!({"inputs": [{"idProperty": out.id_property, "id": out.id, "properties": out.properties}]}))
        .await
        .unwrap();
    let id = answer["results"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(answer["results"][0]["new"], true);

    // Read it back and bring it in: the local row comes back as it was.
    let props: Vec<String> = m.fields.iter().filter_map(|f| f.property.clone()).collect();
    let fetched: spoke_hubspot::CrmObject = client
        .get(
            &format!("/crm/v3/objects/contacts/{id}"),
            &[("properties", props.join(",").as_str())],
        )
        .await
        .unwrap();
    let record = HubSpotRecord::from(fetched);
    let local = apply_inbound(&m, &record).unwrap();
    assert_eq!(local["email"], row["email"]);
    assert_eq!(local["first_name"], row["first_name"]);
    assert_eq!(local["interests"], row["interests"]);
    assert_eq!(local["last_seen_berlin"], row["last_seen_berlin"]);
    assert_eq!(local["tier"], LocalValue::Text("gold".into()));

    // The same row again: the preview against the HubSpot record says nothing changes.
    let again = dry_run(
        &m,
        &catalog,
        &[DryRunSample::ToHubSpot {
            row: row.clone(),
            current: Some(record.clone()),
        }],
    );
    assert_eq!(again[0].action, Action::Skip, "{:?}", again[0]);

    // A target lookup with @email@ finds the record through search.
    let lookup: Vec<Criterion> = serde_json::from_value(
        json!([{"condition": "EQUALS", "field": "email", "value": "@email@"}]),
    )
    .unwrap();
    let groups = compile_lookup(&lookup, &catalog, &row).unwrap();
    let found = search(&client, "contacts", &groups, &["email"]).await;
    assert_eq!(
        found.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
}

#[tokio::test]
async fn suggestions_for_an_admins_customers_table() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover_properties(&client, "contacts", dir.path(), false)
        .await
        .unwrap();
    let db = dir.path().join("app.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, email_address TEXT NOT NULL, first_name TEXT, last_name TEXT, phone_number VARCHAR(40), job_title TEXT, created_at TIMESTAMP, lifecycle_stage TEXT, notes BLOB)")
        .unwrap();
    let table = discover_sqlite_table(&db, "customers").unwrap();
    let suggestions = suggest(&catalog, &table.columns);
    let picks: BTreeMap<&str, &str> = suggestions
        .iter()
        .filter_map(|s| {
            s.pick
                .as_ref()
                .map(|p| (s.column.as_str(), p.property.as_str()))
        })
        .collect();
    assert_eq!(picks.get("email_address"), Some(&"email"));
    assert_eq!(picks.get("first_name"), Some(&"firstname"));
    assert_eq!(picks.get("last_name"), Some(&"lastname"));
    assert_eq!(picks.get("phone_number"), Some(&"phone"));
    assert_eq!(picks.get("job_title"), Some(&"jobtitle"));
    assert_eq!(picks.get("created_at"), Some(&"createdate"));
    assert_eq!(picks.get("lifecycle_stage"), Some(&"lifecyclestage"));
    assert!(!picks.contains_key("id"));

    // A mapping built from the picks validates against both sides.
    let mut m = Mapping::new(
        "customers",
        "contacts",
        Destination::Sqlite {
            path: db.display().to_string(),
            table: "customers".into(),
        },
        MatchKey::Property {
            property: "email".into(),
            column: "email_address".into(),
        },
    );
    m.fields = suggestions
        .iter()
        .filter_map(|s| s.field(&catalog))
        .collect();
    let errors: Vec<Issue> = validate(&m, &catalog)
        .into_iter()
        .filter(|i| i.severity == Severity::Error)
        .collect();
    assert_eq!(errors, vec![]);
    assert_eq!(
        validate_columns(&m, &table.columns)
            .into_iter()
            .filter(|i| i.severity == Severity::Error)
            .count(),
        0
    );
    // createdate is read-only in HubSpot: suggested one way only.
    assert_eq!(
        m.fields
            .iter()
            .find(|f| f.property.as_deref() == Some("createdate"))
            .map(|f| f.direction),
        Some(Direction::ToLocal)
    );
    // Export, import: same mapping, no problems.
    let imported = import_mapping(&m.to_json_pretty(), &catalog).unwrap();
    assert_eq!(imported.mapping, m);
}

/// Writes rows into a local table the way the engine would (test helper).
fn insert_rows(db: &Path, table: &str, rows: &[LocalRow]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    for row in rows {
        let cols: Vec<String> = row.keys().map(|c| format!("\"{c}\"")).collect();
        let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
        let values: Vec<rusqlite::types::Value> = row
            .values()
            .map(|v| match v {
                LocalValue::Null => rusqlite::types::Value::Null,
                LocalValue::Bool(b) => rusqlite::types::Value::Integer(*b as i64),
                LocalValue::Integer(i) => rusqlite::types::Value::Integer(*i),
                LocalValue::Real(r) => rusqlite::types::Value::Real(*r),
                LocalValue::Text(t) => rusqlite::types::Value::Text(t.clone()),
            })
            .collect();
        let sql = format!(
            "INSERT INTO \"{table}\" ({}) VALUES ({})",
            cols.join(", "),
            marks.join(", ")
        );
        conn.execute(&sql, rusqlite::params_from_iter(values))
            .unwrap();
    }
}

#[tokio::test]
async fn live_previews_compare_with_what_each_side_holds() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover_properties(&client, "contacts", dir.path(), false)
        .await
        .unwrap();
    let mut m = contacts_mapping(&catalog);
    // Leave out the field the seeds sometimes make unmappable; keep only gold-tier contacts.
    m.fields
        .retain(|f| f.property.as_deref() != Some("spoke_legacy_ids"));
    // Keep the milliseconds in local time text, so write-back is lossless.
    let seen = m
        .fields
        .iter_mut()
        .find(|f| f.property.as_deref() == Some("spoke_last_seen_at"))
        .unwrap();
    seen.inbound = vec![Transform::FormatDatetime {
        format: Some("%Y-%m-%d %H:%M:%S%.3f".into()),
        zone: Some("Europe/Berlin".into()),
    }];
    seen.outbound = vec![Transform::ParseDatetime {
        format: Some("%Y-%m-%d %H:%M:%S%.3f".into()),
        zone: Some("Europe/Berlin".into()),
    }];
    m.criteria = serde_json::from_value(
        json!([{"condition": "EQUALS", "field": "spoke_tier", "value": "Gold"}]),
    )
    .unwrap();
    let db = dir.path().join("spoke.db");

    // No local table yet: every sample is a create, and every sample is gold.
    let rows = preview_inbound(&client, &m, &catalog, &db, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
    for r in &rows {
        assert_eq!(r.action, Action::Create, "{r:?}");
        let tier = r
            .fields
            .iter()
            .find(|f| f.property.as_deref() == Some("spoke_tier"))
            .unwrap();
        assert_eq!(tier.after, LocalValue::Text("gold".into()));
    }

    // The first two are in the local table: one as HubSpot has it, one with a stale first name.
    let samples = sample_records(&client, &m, &catalog, 2).await.unwrap();
    let same = apply_inbound(&m, &samples[0]).unwrap();
    let mut stale = apply_inbound(&m, &samples[1]).unwrap();
    stale.insert("first_name".into(), LocalValue::Text("Someone else".into()));
    assert_eq!(
        ensure_table(&db, &m).unwrap().len(),
        m.local_columns().len()
    );
    insert_rows(&db, "customers", &[same.clone(), stale.clone()]);
    let rows = preview_inbound(&client, &m, &catalog, &db, 10)
        .await
        .unwrap();
    assert_eq!(rows[0].action, Action::Skip, "{:?}", rows[0]);
    assert_eq!(rows[1].action, Action::Update);
    assert_eq!(rows[1].reasons, ["changes firstname ↔ first_name"]);
    assert!(rows[2..].iter().all(|r| r.action == Action::Create));

    // Write-back preview reads the local rows and finds their HubSpot records by email.
    let fresh: LocalRow = BTreeMap::from([
        (
            "email".to_owned(),
            LocalValue::Text("brand.new@spoke-demo.example".into()),
        ),
        ("first_name".to_owned(), LocalValue::Text("Brand".into())),
    ]);
    insert_rows(&db, "customers", &[fresh]);
    let found = find_hubspot_records(&client, &m, &[same["email"].as_text().unwrap()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let rows = preview_outbound(&client, &m, &catalog, &db, 10)
        .await
        .unwrap();
    let actions: Vec<Action> = rows.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [Action::Skip, Action::Update, Action::Create],
        "{rows:?}"
    );
    assert_eq!(rows[1].reasons, ["changes firstname ↔ first_name"]);
    assert_eq!(rows[2].key.as_deref(), Some("brand.new@spoke-demo.example"));
}

#[tokio::test]
async fn missing_scopes_keep_standard_objects_and_a_failed_refresh_keeps_the_cache() {
    let (sb, client) = portal().await;
    let minted: Value = client
        .post("/_sandbox/tokens", json!({"scopes": ["crm.objects.contacts.read", "crm.schemas.contacts.read"], "kind": "private"}))
        .await
        .unwrap();
    let token = minted["token"].as_str().unwrap().to_owned();
    let limited = Client::new(ClientConfig::new(sb.base_url()))
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(token.as_str()))));
    let dir = tempfile::tempdir().unwrap();

    // Custom objects need crm.schemas.custom.read: the standard objects are still listed, with
    // the reason the custom ones are not.
    let objects = discover_objects(&limited, dir.path(), false).await.unwrap();
    let reason = objects
        .custom_objects_unavailable
        .clone()
        .expect("says why");
    assert!(reason.contains("crm.schemas.custom.read"), "{reason}");
    assert!(objects.objects.iter().all(|o| !o.custom));
    assert!(objects.objects.iter().any(|o| o.object_type == "contacts"));
    assert!(
        !dir.path().join("objects.json").exists(),
        "a partial list is not cached"
    );

    // Deals' properties need deals scopes: the scope error comes through as HubSpot's.
    let err = discover_properties(&limited, "deals", dir.path(), false)
        .await
        .unwrap_err();
    assert_eq!(
        spoke_hubspot::Describe::code(&err),
        "hubspot.missing_scopes"
    );
    assert!(spoke_hubspot::Describe::hint(&err)
        .unwrap()
        .contains("scopes"));

    // Contacts work; once the token is revoked a refresh fails and the cache still answers.
    let catalog = discover_properties(&limited, "contacts", dir.path(), false)
        .await
        .unwrap();
    let _: Value = client
        .post("/_sandbox/tokens/revoke", json!({"token": token}))
        .await
        .unwrap_or(Value::Null);
    let err = discover_properties(&limited, "contacts", dir.path(), true)
        .await
        .unwrap_err();
    assert_eq!(spoke_hubspot::Describe::code(&err), "hubspot.unauthorized");
    assert_eq!(
        discover_properties(&limited, "contacts", dir.path(), false)
            .await
            .unwrap(),
        catalog
    );
}

#[tokio::test]
async fn write_back_preview_finds_records_by_target_lookup() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover_properties(&client, "deals", dir.path(), false)
        .await
        .unwrap();
    let stage = catalog.property("dealstage").unwrap().options[0]
        .value
        .clone();
    let pipeline = catalog.property("pipeline").unwrap().options[0]
        .value
        .clone();
    for name in [
        "Spoke lookup: unique",
        "Spoke lookup: twice",
        "Spoke lookup: twice",
    ] {
        let _: Value = client
            .post("/crm/v3/objects/deals", json!({"properties": {"dealname": name, "dealstage": stage, "pipeline": pipeline, "amount": "100"}}))
            .await
            .unwrap();
    }
    let mut m = Mapping::new(
        "deals",
        "deals",
        Destination::Spoke {
            table: "deals".into(),
        },
        MatchKey::RecordId {
            column: "hubspot_id".into(),
        },
    );
    let col = |name: &str, t: LocalType| LocalColumn::new(name, t);
    m.fields.push(FieldMapping::new(
        catalog.property("dealname").unwrap(),
        &col("deal_name", LocalType::Text),
        Direction::Both,
    ));
    m.fields.push(FieldMapping::new(
        catalog.property("amount").unwrap(),
        &col("amount", LocalType::Real),
        Direction::Both,
    ));
    m.target_lookup = serde_json::from_value(
        json!([{"condition": "EQUALS", "field": "dealname", "value": "@deal_name@"}]),
    )
    .unwrap();
    assert_eq!(validate(&m, &catalog), vec![]);

    let db = dir.path().join("spoke.db");
    ensure_table(&db, &m).unwrap();
    let row = |name: Option<&str>, amount: f64| -> LocalRow {
        BTreeMap::from([
            (
                "deal_name".to_owned(),
                name.map(|n| LocalValue::Text(n.into()))
                    .unwrap_or(LocalValue::Null),
            ),
            ("amount".to_owned(), LocalValue::Real(amount)),
        ])
    };
    insert_rows(
        &db,
        "deals",
        &[
            row(Some("Spoke lookup: unique"), 250.0),
            row(Some("Spoke lookup: twice"), 1.0),
            row(Some("Spoke lookup: nowhere"), 1.0),
            row(None, 1.0),
        ],
    );
    let rows = preview_outbound(&client, &m, &catalog, &db, 10)
        .await
        .unwrap();
    let actions: Vec<Action> = rows.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            Action::Update,
            Action::Reject,
            Action::Create,
            Action::Reject
        ],
        "{rows:?}"
    );
    assert_eq!(rows[0].reasons, ["changes amount"]);
    assert!(rows[0].key.is_some(), "the found record's id");
    assert_eq!(
        rows[1].reasons,
        ["the target lookup finds more than one HubSpot record"]
    );
    assert_eq!(
        rows[3].reasons,
        ["target lookup: the lookup placeholder @deal_name@ has no value in this row"]
    );
}

#[tokio::test]
async fn an_exported_mapping_file_imports_against_refreshed_properties() {
    let (_sb, client) = portal().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = discover_properties(&client, "contacts", dir.path(), false)
        .await
        .unwrap();
    let m = contacts_mapping(&catalog);
    let file = dir.path().join("contacts.mapping.json");
    m.write_file(&file).unwrap();
    let imported = import_mapping_file(&file, &catalog).unwrap();
    assert_eq!(
        (imported.mapping.clone(), imported.issues.clone()),
        (m.clone(), vec![])
    );

    // Someone edits the file by hand: a misspelt property and write-back of a calculated one.
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("\"property\": \"lastname\"", "\"property\": \"last_name\"", 1).replacen(
        "\"property\": \"spoke_legacy_ids\",\n      \"column\": \"legacy_id\",\n      \"direction\": \"toLocal\"",
        "\"property\": \"num_associated_deals\",\n      \"column\": \"legacy_id\",\n      \"direction\": \"both\"",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&file, &edited).unwrap();
    let imported = import_mapping_file(&file, &catalog).unwrap();
    let line_of = |needle: &str| edited.lines().position(|l| l.contains(needle)).unwrap() + 1;
    // The edited field: property, column, direction on consecutive lines.
    let deals_line = line_of("\"property\": \"num_associated_deals\"");
    let got: Vec<(&str, Option<usize>)> = imported
        .issues
        .iter()
        .map(|i| (i.code.as_str(), i.line))
        .collect();
    assert_eq!(
        got,
        [
            ("mapping.unknown_property", Some(line_of("\"last_name\","))),
            ("mapping.read_only_property", Some(deals_line + 2)),
        ]
    );
    assert!(imported.issues[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("Did you mean lastname?"));
    assert!(imported.into_result().is_err());
}
