//! The table editor's store functions against the demo portal: a page shows each row's write
//! state the way the write-back sees it; cell edits and inserts are checked against the
//! mapping's columns and become exactly the changes the next push sends.

mod common;

use std::collections::BTreeMap;

use common::*;
use spoke_engine::{
    CancelToken, Error, RowFilter, RowState, SyncOptions, WriteOptions, WriteProgress,
};
use spoke_hubspot::Describe;
use spoke_mapping::{
    discover_properties, Destination, Direction, FieldMapping, LocalType, LocalValue, Mapping,
    MatchKey,
};
use spoke_sandbox::SandboxConfig;

fn field(p: &str, t: LocalType, direction: Direction) -> FieldMapping {
    FieldMapping {
        property: Some(p.into()),
        column: Some(p.into()),
        direction,
        property_type: None,
        column_type: Some(t),
        inbound: vec![],
        outbound: vec![],
        required: false,
    }
}

fn people() -> Mapping {
    let mut m = Mapping::new(
        "People",
        "contacts",
        Destination::Spoke {
            table: "people".into(),
        },
        MatchKey::Property {
            property: "email".into(),
            column: "email".into(),
        },
    );
    m.fields = vec![
        field("email", LocalType::Text, Direction::Both),
        field("firstname", LocalType::Text, Direction::Both),
        field("lastname", LocalType::Text, Direction::Both),
        field("spoke_score", LocalType::Real, Direction::Both),
        field(
            "spoke_days_as_customer",
            LocalType::Text,
            Direction::ToLocal,
        ),
    ];
    m
}

fn text(s: &str) -> LocalValue {
    LocalValue::Text(s.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_inserts_are_validated_and_become_the_next_push() {
    let env = env(SandboxConfig {
        contacts: 25,
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await;
    let m = people();

    // Before the first sync the table exists (empty), so rows can be added right away.
    let page = env
        .store
        .data_page(&m, RowFilter::All, 10, 0, None)
        .unwrap();
    assert_eq!((page.all, page.changes, page.total), (0, 0, 0));
    let names: Vec<&str> = page.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "email",
            "firstname",
            "lastname",
            "spoke_score",
            "spoke_days_as_customer"
        ]
    );
    assert!(page.columns[0].key && page.columns[0].editable);
    let ro = &page.columns[4];
    assert!(
        !ro.editable
            && ro
                .read_only_reason
                .as_deref()
                .unwrap()
                .contains("Read from HubSpot only")
    );

    env.sync(&m, SyncOptions::default()).await;
    let page = env
        .store
        .data_page(&m, RowFilter::All, 10, 0, None)
        .unwrap();
    let live = env.count("SELECT count(*) FROM people");
    assert_eq!(page.all as i64, live);
    assert_eq!((page.changes, page.refused, page.rows.len()), (0, 0, 10));
    assert!(page
        .rows
        .iter()
        .all(|r| r.state == RowState::Synced && r.hubspot_id.is_some()));

    // An edit: the row is changed, with the converted value; the filter lists just it.
    let target = page.rows[3].clone();
    let row = env
        .store
        .update_cell(&m, target.row_id, "firstname", text("  Augusta "))
        .unwrap();
    assert_eq!(row.state, RowState::Changed);
    assert_eq!(row.values[1], text("Augusta"));
    let row = env
        .store
        .update_cell(&m, target.row_id, "spoke_score", text("42.5"))
        .unwrap();
    assert_eq!(row.values[3], LocalValue::Real(42.5));

    // Refusals name the column and the fix, and change nothing.
    let err = env
        .store
        .update_cell(&m, target.row_id, "spoke_score", text("lots"))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    assert_eq!(err.code(), "engine.invalid_value");
    assert!(err.to_string().starts_with("spoke_score:"), "{err}");
    assert!(err.hint().unwrap().contains("a number"), "{:?}", err.hint());
    let err = env
        .store
        .update_cell(&m, target.row_id, "spoke_days_as_customer", text("3"))
        .unwrap_err();
    assert_eq!(err.code(), "engine.read_only_column", "{err}");
    let err = env
        .store
        .update_cell(&m, target.row_id, "nickname", text("x"))
        .unwrap_err();
    assert_eq!(err.code(), "engine.unknown_column");
    assert!(err.to_string().contains("email, firstname"), "{err}");
    let err = env
        .store
        .update_cell(&m, 999_999, "firstname", text("x"))
        .unwrap_err();
    assert_eq!(err.code(), "engine.no_such_row");
    let err = env
        .store
        .update_cell(&m, target.row_id, "email", text(" "))
        .unwrap_err();
    assert_eq!(err.code(), "engine.missing_key");

    // An insert needs the key; a good one is new.
    let mut values = BTreeMap::from([("firstname".to_owned(), text("Nobody"))]);
    let err = env.store.insert_row(&m, &values).unwrap_err();
    assert_eq!(err.code(), "engine.missing_key", "{err}");
    values.insert("email".into(), text("new.person@example.com"));
    let added = env.store.insert_row(&m, &values).unwrap();
    assert_eq!(added.state, RowState::New);
    assert!(added.hubspot_id.is_none());
    values.insert("email".into(), text("not-an-email"));
    let bad = env.store.insert_row(&m, &values).unwrap();

    let changes = env
        .store
        .data_page(&m, RowFilter::Changes, 50, 0, None)
        .unwrap();
    let ids: Vec<i64> = changes.rows.iter().map(|r| r.row_id).collect();
    assert_eq!(ids, vec![target.row_id, added.row_id, bad.row_id]);
    assert_eq!(
        (changes.total, changes.changes, changes.all as i64),
        (3, 3, live + 2)
    );

    // The page holding a row, under the filter.
    let focused = env
        .store
        .data_page(&m, RowFilter::All, 10, 0, Some(bad.row_id))
        .unwrap();
    assert_eq!(focused.offset, (live as u64 + 1) / 10 * 10);
    assert!(focused.rows.iter().any(|r| r.row_id == bad.row_id));

    // The push sends exactly those three; the bad email is refused and shown as such.
    let catalog = discover_properties(
        &env.client,
        "contacts",
        &env.dir.path().join("catalog"),
        false,
    )
    .await
    .unwrap();
    let summary = env
        .engine
        .write_back(
            &m,
            &catalog,
            WriteOptions::default(),
            CancelToken::new(),
            &|_: WriteProgress| {},
        )
        .await
        .unwrap();
    assert_eq!(
        (
            summary.pending,
            summary.created,
            summary.updated,
            summary.rejected
        ),
        (3, 1, 1, 1),
        "{summary:?}"
    );
    let after = env
        .store
        .data_page(&m, RowFilter::All, 1000, 0, None)
        .unwrap();
    assert_eq!((after.changes, after.refused), (0, 1));
    let refused = after.rows.iter().find(|r| r.row_id == bad.row_id).unwrap();
    assert_eq!(refused.state, RowState::Refused);
    let problem = refused.problem.as_ref().unwrap();
    assert!(
        !problem.fix.is_empty() && problem.message.to_lowercase().contains("email"),
        "{problem:?}"
    );
    let edited = after
        .rows
        .iter()
        .find(|r| r.row_id == target.row_id)
        .unwrap();
    assert_eq!(edited.state, RowState::Synced);

    // Fixing the refused row makes it a change again (still showing why it was refused).
    let fixed = env
        .store
        .update_cell(&m, bad.row_id, "email", text("fixed.person@example.com"))
        .unwrap();
    assert_eq!(fixed.state, RowState::New);
    assert!(fixed.problem.is_some());

    // A row not in HubSpot yet can be discarded; one in HubSpot cannot.
    let err = env.store.discard_row(&m, target.row_id).unwrap_err();
    assert_eq!(err.code(), "engine.in_hubspot");
    env.store.discard_row(&m, bad.row_id).unwrap();
    assert!(env.store.dead_letters(Some("People")).unwrap().is_empty());
    let end = env
        .store
        .data_page(&m, RowFilter::All, 10, 0, None)
        .unwrap();
    assert_eq!((end.all as i64, end.changes, end.refused), (live + 1, 0, 0));
}
