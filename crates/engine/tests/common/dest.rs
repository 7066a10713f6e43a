//! Helpers for external destinations: the store table's mapped rows, to compare a destination
//! with (the store table itself is compared with the portal by `assert_same`).
#![allow(dead_code)]

use std::collections::BTreeMap;

use spoke_mapping::{LocalValue, Mapping};

/// The mapped columns of a mapping, match key column first (as the engine writes them).
pub fn mapped(m: &Mapping) -> Vec<String> {
    m.local_columns()
        .into_iter()
        .map(|c| c.name)
        .filter(|n| !n.starts_with("_hs_"))
        .collect()
}

fn value(v: rusqlite::types::ValueRef<'_>) -> LocalValue {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => LocalValue::Null,
        ValueRef::Integer(i) => LocalValue::Integer(i),
        ValueRef::Real(r) => LocalValue::Real(r),
        ValueRef::Text(t) => LocalValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(_) => LocalValue::Null,
    }
}

/// key → mapped values of an SQLite table (`filter`: an SQL condition).
pub fn sqlite_rows(
    path: &std::path::Path,
    table: &str,
    columns: &[String],
    filter: &str,
) -> BTreeMap<String, Vec<LocalValue>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let sql = format!(
        "SELECT {} FROM \"{table}\" WHERE {filter}",
        columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next().unwrap() {
        let vals: Vec<LocalValue> = (0..columns.len())
            .map(|i| value(r.get_ref(i).unwrap()))
            .collect();
        let key = match &vals[0] {
            LocalValue::Text(s) => s.clone(),
            other => format!("{other:?}"),
        };
        assert!(out.insert(key.clone(), vals).is_none(), "duplicate key {key}");
    }
    out
}

/// The live rows of a mapping's table in Spoke's store.
pub fn store_rows(
    store_db: &std::path::Path,
    m: &Mapping,
) -> BTreeMap<String, Vec<LocalValue>> {
    sqlite_rows(
        store_db,
        &spoke_engine::store_table(&m.destination),
        &mapped(m),
        "_hs_archived = 0",
    )
}
