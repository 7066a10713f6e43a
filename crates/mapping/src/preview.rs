//! Dry runs on live data: samples fetched from HubSpot (matching the criteria) or read from the
//! local table, each paired with what the other side holds for it today.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;
use spoke_hubspot::{Client, CrmObject, ListObjects, Request};

use crate::apply::{apply_inbound, dry_run, DryRunRow, DryRunSample, HubSpotRecord};
use crate::catalog::{check_object_type, ObjectCatalog};
use crate::criteria::compile_criteria;
use crate::error::{Error, Result};
use crate::local::{quote_ident, LocalRow, LocalValue};
use crate::model::{Mapping, MatchKey};

/// HubSpot's batch size for reads.
const BATCH: usize = 100;

fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Opens read-only; `None` when the file or the table does not exist yet (Spoke's own table
/// before the first sync).
fn open_table(path: &Path, table: &str) -> Result<Option<Connection>> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(path))?;
    let exists: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .map_err(sqlite_err(path))?;
    Ok((exists > 0).then_some(conn))
}

fn row_from(stmt_columns: &[String], r: &rusqlite::Row<'_>) -> rusqlite::Result<LocalRow> {
    let mut row = LocalRow::new();
    for (i, name) in stmt_columns.iter().enumerate() {
        let v = match r.get_ref(i)? {
            ValueRef::Null => LocalValue::Null,
            ValueRef::Integer(n) => LocalValue::Integer(n),
            ValueRef::Real(f) => LocalValue::Real(f),
            ValueRef::Text(t) => LocalValue::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => LocalValue::Text(String::from_utf8_lossy(b).into_owned()),
        };
        row.insert(name.clone(), v);
    }
    Ok(row)
}

fn query_rows(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<LocalRow>> {
    let mut stmt = conn.prepare(sql).map_err(sqlite_err(path))?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let rows = stmt
        .query_map(params, |r| row_from(&columns, r))
        .map_err(sqlite_err(path))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sqlite_err(path))
}

/// Up to `limit` rows of `table`, in storage order.
pub fn read_local_rows(path: &Path, table: &str, limit: usize) -> Result<Vec<LocalRow>> {
    let Some(conn) = open_table(path, table)? else {
        return Err(Error::NoSuchTable {
            path: path.display().to_string(),
            table: table.to_owned(),
        });
    };
    let sql = format!("SELECT * FROM {} LIMIT ?1", quote_ident(table));
    query_rows(&conn, path, &sql, &[&(limit as i64)])
}

/// The rows of `table` whose `key_column` equals one of `keys`, by key. A missing file or
/// table has no rows.
pub fn find_local_rows(
    path: &Path,
    table: &str,
    key_column: &str,
    keys: &[String],
) -> Result<BTreeMap<String, LocalRow>> {
    let mut out = BTreeMap::new();
    let Some(conn) = open_table(path, table)? else {
        return Ok(out);
    };
    let sql = format!(
        "SELECT * FROM {} WHERE {} = ?1 LIMIT 1",
        quote_ident(table),
        quote_ident(key_column)
    );
    for key in keys {
        if let Some(row) = query_rows(&conn, path, &sql, &[key])?.into_iter().next() {
            out.insert(key.clone(), row);
        }
    }
    Ok(out)
}

/// Up to `limit` HubSpot records the mapping would sync (through search when it has criteria),
/// with every property it reads.
pub async fn sample_records(
    client: &Client,
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    limit: usize,
) -> Result<Vec<HubSpotRecord>> {
    check_object_type(&mapping.object)?;
    let properties = mapping.hubspot_properties();
    let limit = limit.clamp(1, 200);
    let page = if mapping.criteria.is_empty() {
        let options = ListObjects {
            limit: Some(limit.min(100) as u32),
            after: None,
            properties,
            archived: false,
        };
        client.list_objects(&mapping.object, &options).await?
    } else {
        let groups = compile_criteria(&mapping.criteria, catalog)?;
        let body =
            serde_json::json!({ "filterGroups": groups, "properties": properties, "limit": limit });
        client.search_objects(&mapping.object, body).await?
    };
    Ok(page
        .results
        .into_iter()
        .take(limit)
        .map(HubSpotRecord::from)
        .collect())
}

#[derive(Deserialize)]
struct BatchResults {
    #[serde(default)]
    results: Vec<CrmObject>,
}

/// The HubSpot records matching these match-key values (record ids, or values of the key
/// property), by key. Keys HubSpot does not know are absent.
pub async fn find_hubspot_records(
    client: &Client,
    mapping: &Mapping,
    keys: &[String],
) -> Result<BTreeMap<String, HubSpotRecord>> {
    check_object_type(&mapping.object)?;
    let mut out = BTreeMap::new();
    let properties = mapping.hubspot_properties();
    let id_property = match &mapping.match_key {
        MatchKey::RecordId { .. } => None,
        MatchKey::Property { property, .. } => Some(property.clone()),
    };
    for chunk in keys.chunks(BATCH) {
        let mut body = serde_json::json!({
            "properties": properties,
            "inputs": chunk.iter().map(|k| serde_json::json!({ "id": k })).collect::<Vec<_>>(),
        });
        if let Some(p) = &id_property {
            body["idProperty"] = serde_json::Value::String(p.clone());
        }
        let req = Request::post(format!("/crm/v3/objects/{}/batch/read", mapping.object))
            .json(body)
            .idempotent(true);
        let answer: BatchResults = client.send(req).await?.json()?;
        for object in answer.results {
            let record = HubSpotRecord::from(object);
            let key = match &id_property {
                None => Some(record.id.clone()),
                Some(p) => {
                    let value = record.value(p).as_text();
                    value.and_then(|v| chunk.iter().find(|k| k.eq_ignore_ascii_case(&v)).cloned())
                }
            };
            if let Some(key) = key {
                out.insert(key, record);
            }
        }
    }
    Ok(out)
}

/// Dry run of HubSpot → local on `limit` live records, each compared with its current row in
/// the local table at `local_db` (all are creates when there is no table yet).
pub async fn preview_inbound(
    client: &Client,
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    local_db: &Path,
    limit: usize,
) -> Result<Vec<DryRunRow>> {
    let records = sample_records(client, mapping, catalog, limit).await?;
    let keys: Vec<String> = records
        .iter()
        .filter_map(|r| apply_inbound(mapping, r).ok())
        .filter_map(|row| {
            row.get(mapping.match_key.column())
                .and_then(LocalValue::as_text)
        })
        .collect();
    let current = find_local_rows(
        local_db,
        mapping.destination.table(),
        mapping.match_key.column(),
        &keys,
    )?;
    let samples: Vec<DryRunSample> = records
        .into_iter()
        .map(|record| {
            let key = apply_inbound(mapping, &record).ok().and_then(|row| {
                row.get(mapping.match_key.column())
                    .and_then(LocalValue::as_text)
            });
            let current = key.and_then(|k| current.get(&k).cloned());
            DryRunSample::ToLocal { record, current }
        })
        .collect();
    Ok(dry_run(mapping, catalog, &samples))
}

/// The HubSpot records a target lookup finds for a local row (its `@column@` placeholders
/// filled from the row); at most `limit`.
pub async fn find_by_lookup(
    client: &Client,
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    row: &LocalRow,
    limit: usize,
) -> Result<Vec<HubSpotRecord>> {
    check_object_type(&mapping.object)?;
    let groups = crate::criteria::compile_lookup(&mapping.target_lookup, catalog, row)?;
    let body = serde_json::json!({
        "filterGroups": groups,
        "properties": mapping.hubspot_properties(),
        "limit": limit.clamp(1, 200),
    });
    let page = client.search_objects(&mapping.object, body).await?;
    Ok(page.results.into_iter().map(HubSpotRecord::from).collect())
}

/// Dry run of local → HubSpot on the first `limit` rows of the local table, each compared with
/// the HubSpot record its match key finds today, or else its target lookup (a lookup that finds
/// several records, or cannot be filled from the row, rejects the row).
pub async fn preview_outbound(
    client: &Client,
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    local_db: &Path,
    limit: usize,
) -> Result<Vec<DryRunRow>> {
    let rows = read_local_rows(local_db, mapping.destination.table(), limit)?;
    preview_outbound_rows(client, mapping, catalog, rows).await
}

/// Dry run of local → HubSpot on rows read elsewhere (e.g. a PostgreSQL destination's table),
/// each compared with the HubSpot record its match key (or target lookup) finds today.
pub async fn preview_outbound_rows(
    client: &Client,
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    rows: Vec<LocalRow>,
) -> Result<Vec<DryRunRow>> {
    let key_of = |row: &LocalRow| -> Option<String> {
        crate::apply::apply_outbound(mapping, row)
            .ok()
            .and_then(|p| p.id)
            .or_else(|| {
                row.get(mapping.match_key.column())
                    .and_then(LocalValue::as_text)
            })
    };
    let keys: Vec<String> = rows.iter().filter_map(key_of).collect();
    let by_key = if keys.is_empty() {
        BTreeMap::new()
    } else {
        find_hubspot_records(client, mapping, &keys).await?
    };
    let mut samples = Vec::with_capacity(rows.len());
    let mut lookup_problems: BTreeMap<usize, String> = BTreeMap::new();
    for (i, row) in rows.into_iter().enumerate() {
        let mut current = key_of(&row).and_then(|k| by_key.get(&k).cloned());
        if current.is_none() && !mapping.target_lookup.is_empty() {
            match find_by_lookup(client, mapping, catalog, &row, 2).await {
                Ok(found) if found.len() > 1 => {
                    lookup_problems.insert(
                        i,
                        "the target lookup finds more than one HubSpot record".to_owned(),
                    );
                }
                Ok(found) => current = found.into_iter().next(),
                Err(
                    e @ (Error::LookupValueMissing { .. }
                    | Error::Criterion { .. }
                    | Error::FilterLimit { .. }),
                ) => {
                    lookup_problems.insert(i, format!("target lookup: {e}"));
                }
                Err(e) => return Err(e),
            }
        }
        samples.push(DryRunSample::ToHubSpot { row, current });
    }
    let mut out = dry_run(mapping, catalog, &samples);
    for (i, reason) in lookup_problems {
        out[i].action = crate::apply::Action::Reject;
        out[i].reasons.push(reason);
    }
    Ok(out)
}
