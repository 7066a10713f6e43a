//! The create journal: crash safety of `batch/create` (record-id match key).
//!
//! `batch/create` is not idempotent: a write-back killed (or a call timed out) after HubSpot
//! created the records but before the store recorded their ids would create them again on the
//! next run. So, before a create batch is sent, its *intent* is committed to
//! `_spoke_create_intents`: per row the batch id, its place in the batch, the send time and the
//! exact properties sent (and the row as it was sent). The transaction that records the
//! created ids (or HubSpot's refusal) removes it.
//!
//! Every write-back starts with [`Engine::recover_creates`]: for the intents still there,
//! the records HubSpot may have created are looked for with a search (`createdate` ≥ send time
//! − [`CLOCK_SKEW_MS`], keyset by `hs_object_id`) and compared with the sent values; a record
//! whose values equal an intent's (or, for a record changed since, whose values at its create,
//! from the property history, do), and that no local row holds yet, is *adopted* exactly as
//! the lost answer would have recorded it (id, key column, create time, `_hs_raw` = the record
//! as created, so later HubSpot changes arrive with the next read) — each record once, so
//! identical rows need as many records as there are rows. HubSpot's search is
//! eventually consistent: a record created moments ago may not show yet. An intent not found is
//! therefore created again only once [`WriteOptions::create_settle_ms`] have passed since it was
//! sent; until then its row waits (it is not sent, and the run's message says so). Rows edited
//! locally since the lost answer are matched by what was *sent* and then updated as any edit.
//!
//! `objectWriteTraceId` does not help here: HubSpot only echoes it in the answer that was lost;
//! it is neither stored on the record nor searchable.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Value};
use spoke_hubspot::{CrmObject, Page, Request};
use spoke_mapping::{HubSpotProperties, LocalRow};

use super::{BatchOutcome, Item, Op, WriteRun};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::{now_ms, parse_ms, quote};

/// How far HubSpot's clock (`createdate`) may be behind Spoke's when a create is looked for.
pub(super) const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// History entries this close to a record's create time are the values it was created with.
const CREATE_HISTORY_SLACK_MS: i64 = 1000;
/// Records created since an interrupted create that are compared by their history, at most.
const HISTORY_LIMIT: usize = 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _spoke_create_intents (
    tbl TEXT NOT NULL,
    rid INTEGER NOT NULL,
    batch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    object TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    row_key TEXT NOT NULL,
    properties TEXT NOT NULL,
    hash TEXT NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (tbl, rid)
);
";

/// One row of a create batch that was (or was about to be) sent.
struct Intent {
    rid: i64,
    sent_ms: i64,
    row_key: String,
    properties: BTreeMap<String, String>,
    hash: String,
    row: LocalRow,
}

/// What recovery left for this run.
#[derive(Default)]
pub(super) struct Recovery {
    /// Rows whose interrupted create cannot be confirmed yet: not sent in this run.
    pub deferred: BTreeSet<i64>,
}

/// The create property of an object (`createdate` on contacts, `hs_createdate` elsewhere).
fn created_property(object: &str) -> &'static str {
    if object == "contacts" || object == "0-1" {
        "createdate"
    } else {
        "hs_createdate"
    }
}

/// Whether HubSpot's stored value is the one sent (HubSpot stores `""` as no value, trims,
/// lower-cases emails and normalises numbers and dates).
fn same_value(property: &str, sent: &str, got: Option<&str>) -> bool {
    let sent = sent.trim();
    let got = got.map(str::trim).unwrap_or_default();
    if sent == got {
        return true;
    }
    if sent.is_empty() || got.is_empty() {
        return false;
    }
    if property == "email" && sent.eq_ignore_ascii_case(got) {
        return true;
    }
    if let (Ok(a), Ok(b)) = (sent.parse::<f64>(), got.parse::<f64>()) {
        return a == b;
    }
    if sent.contains(['-', ':']) || got.contains(['-', ':']) {
        if let (Some(a), Some(b)) = (parse_ms(sent), parse_ms(got)) {
            return a == b;
        }
    }
    // Multiple checkboxes: the same options in any order.
    if sent.contains(';') {
        let a: BTreeSet<&str> = sent.split(';').map(str::trim).collect();
        let b: BTreeSet<&str> = got.split(';').map(str::trim).collect();
        return a == b;
    }
    false
}

fn matches(sent: &BTreeMap<String, String>, got: &BTreeMap<String, Option<String>>) -> bool {
    sent.iter()
        .all(|(k, v)| same_value(k, v, got.get(k).and_then(Option::as_deref)))
}

/// Commits the intent of a create batch (before it is sent).
pub(super) fn record_intents(
    store: &crate::Store,
    run: &WriteRun<'_>,
    batch: &[Item],
) -> Result<()> {
    if batch.first().is_none_or(|i| i.op != Op::Create) {
        return Ok(());
    }
    let err = |e: rusqlite::Error| Error::store(&store.path().display().to_string(), e);
    let sent_ms = now_ms();
    let batch_id = format!("{}-{}-{}", run.run_id, batch[0].rid, sent_ms);
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(err)?;
    {
        let mut stmt = tx
            .prepare_cached("INSERT OR REPLACE INTO _spoke_create_intents (tbl, rid, batch, seq, object, sent_ms, row_key, properties, hash, row) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
            .map_err(err)?;
        for (seq, it) in batch.iter().enumerate() {
            stmt.execute(params![
                run.table,
                it.rid,
                batch_id,
                seq as i64,
                run.mapping.object,
                sent_ms,
                it.key,
                serde_json::to_string(&it.out.properties).unwrap_or_default(),
                it.hash,
                serde_json::to_string(&it.row).unwrap_or_default(),
            ])
            .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

/// Removes the intent of a row whose create is settled (recorded or refused), in the
/// transaction that records it.
pub(super) fn clear_intent(tx: &Transaction<'_>, table: &str, rid: i64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM _spoke_create_intents WHERE tbl = ?1 AND rid = ?2",
        params![table, rid],
    )?;
    Ok(())
}

pub(super) fn ensure_schema(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

impl Engine {
    /// Settles the create intents a killed or failed write-back left: records HubSpot created
    /// from them are adopted, intents that never reached HubSpot are dropped (their rows are
    /// created in this run), and the rest wait (see the module docs).
    pub(super) async fn recover_creates(&self, run: &mut WriteRun<'_>) -> Result<Recovery> {
        let store = self.store().clone();
        let err = |e: rusqlite::Error| Error::store(&store.path().display().to_string(), e);
        let t = quote(&run.table);
        let mut live: Vec<Intent> = Vec::new();
        {
            let conn = store.conn();
            ensure_schema(&conn).map_err(err)?;
            let mut stmt = conn
                .prepare("SELECT rid, sent_ms, row_key, properties, hash, row FROM _spoke_create_intents WHERE tbl = ?1 ORDER BY sent_ms, batch, seq")
                .map_err(err)?;
            let rows = stmt
                .query_map([&run.table], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .map_err(err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(err)?;
            let mut gone = 0u64;
            for (rid, sent_ms, row_key, props, hash, row) in rows {
                let state: Option<Option<String>> = conn
                    .query_row(&format!("SELECT _hs_id FROM {t} WHERE rowid = ?1"), [rid], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(err)?;
                match state {
                    Some(None) => live.push(Intent {
                        rid,
                        sent_ms,
                        row_key,
                        properties: serde_json::from_str(&props).unwrap_or_default(),
                        hash,
                        row: serde_json::from_str(&row).unwrap_or_default(),
                    }),
                    // The row has its id after all, or was deleted locally since.
                    other => {
                        if other.is_none() {
                            gone += 1;
                        }
                        conn.execute(
                            "DELETE FROM _spoke_create_intents WHERE tbl = ?1 AND rid = ?2",
                            params![run.table, rid],
                        )
                        .map_err(err)?;
                    }
                }
            }
            if gone > 0 {
                tracing::warn!(table = %run.table, rows = gone, "rows with an unconfirmed create were deleted locally; a record HubSpot may have created for them stays there");
            }
        }
        if live.is_empty() {
            return Ok(Recovery::default());
        }

        // The records created since the oldest intent was sent, that no local row holds yet.
        let object = run.mapping.object.clone();
        let created = created_property(&object);
        let since = live.iter().map(|i| i.sent_ms).min().unwrap_or(0) - CLOCK_SKEW_MS;
        let mut properties: BTreeSet<String> = live
            .iter()
            .flat_map(|i| i.properties.keys().cloned())
            .collect();
        properties.insert(created.to_owned());
        let properties: Vec<String> = properties.into_iter().collect();
        let mut candidates: Vec<(String, i64, BTreeMap<String, Option<String>>)> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let body = json!({
                "filterGroups": [{ "filters": [
                    { "propertyName": created, "operator": "GTE", "value": since.max(0).to_string() },
                    { "propertyName": "hs_object_id", "operator": "GT", "value": cursor.to_string() },
                ]}],
                "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }],
                "properties": properties,
                "limit": 200,
            });
            let req = Request::post(format!("/crm/v3/objects/{object}/search"))
                .json(body)
                .search()
                .idempotent(true);
            run.summary.api_calls += 1;
            let page: Value = self.client().send(req).await?.json()?;
            let results = page
                .get("results")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let conn = store.conn();
            let mut owned = conn
                .prepare_cached(&format!("SELECT 1 FROM {t} WHERE _hs_id = ?1"))
                .map_err(err)?;
            for r in &results {
                let Some(id) = r.get("id").and_then(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_u64().map(|n| n.to_string()))
                }) else {
                    continue;
                };
                cursor = cursor.max(id.parse().unwrap_or(0));
                if owned.exists([&id]).map_err(err)? {
                    continue;
                }
                let props: BTreeMap<String, Option<String>> = r
                    .get("properties")
                    .and_then(|p| serde_json::from_value(p.clone()).ok())
                    .unwrap_or_default();
                let at = props
                    .get(created)
                    .cloned()
                    .flatten()
                    .as_deref()
                    .and_then(parse_ms)
                    .unwrap_or(i64::MAX);
                candidates.push((id, at, props));
            }
            let more = page
                .pointer("/paging/next/after")
                .is_some_and(|a| !a.is_null());
            if results.len() < 200 || !more {
                break;
            }
        }

        // Each record once, each intent at most one record; identical rows need as many records.
        // `adopted`: (intent, candidate, the record's values as created).
        let mut taken: BTreeSet<usize> = BTreeSet::new();
        let mut adopted: Vec<(usize, usize, BTreeMap<String, Option<String>>)> = Vec::new();
        for (n, intent) in live.iter().enumerate() {
            let hit = candidates.iter().enumerate().position(|(c, (_, at, props))| {
                !taken.contains(&c)
                    && *at >= intent.sent_ms - CLOCK_SKEW_MS
                    && matches(&intent.properties, props)
            });
            if let Some(c) = hit {
                taken.insert(c);
                adopted.push((n, c, candidates[c].2.clone()));
            }
        }
        // Records changed since they were created (a workflow, a user): compared by the values
        // they were created with (the oldest entry of each property's history).
        let unmatched: Vec<usize> = (0..live.len())
            .filter(|n| !adopted.iter().any(|a| a.0 == *n))
            .collect();
        let rest: Vec<usize> = (0..candidates.len())
            .filter(|c| !taken.contains(c))
            .take(HISTORY_LIMIT)
            .collect();
        if !unmatched.is_empty() && !rest.is_empty() {
            let wanted: BTreeSet<&String> = unmatched
                .iter()
                .flat_map(|n| live[*n].properties.keys())
                .collect();
            let mut created_with: HashMap<usize, BTreeMap<String, Option<String>>> = HashMap::new();
            for chunk in rest.chunks(50) {
                let inputs: Vec<Value> = chunk
                    .iter()
                    .map(|c| json!({ "id": candidates[*c].0 }))
                    .collect();
                run.summary.api_calls += 1;
                let req = Request::post(format!("/crm/v3/objects/{object}/batch/read"))
                    .json(json!({ "inputs": inputs, "properties": [], "propertiesWithHistory": wanted }))
                    .idempotent(true);
                let v: Value = self.client().send(req).await?.json()?;
                for r in v.get("results").and_then(Value::as_array).into_iter().flatten() {
                    let Some(c) = r
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(|id| chunk.iter().find(|c| candidates[**c].0 == id))
                    else {
                        continue;
                    };
                    let at = candidates[*c].1;
                    let history = r.get("propertiesWithHistory");
                    let values = wanted
                        .iter()
                        .map(|p| {
                            let oldest = history
                                .and_then(|h| h.get(p.as_str()))
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                                .filter_map(|e| {
                                    let ts = e.get("timestamp").and_then(Value::as_str).and_then(parse_ms)?;
                                    Some((ts, e.get("value").and_then(Value::as_str)))
                                })
                                .min_by_key(|(ts, _)| *ts);
                            // A value set only after the create was not part of it.
                            let value = oldest
                                .filter(|(ts, _)| *ts <= at.saturating_add(CREATE_HISTORY_SLACK_MS))
                                .and_then(|(_, v)| v.map(str::to_owned));
                            ((*p).clone(), value)
                        })
                        .collect();
                    created_with.insert(*c, values);
                }
            }
            for n in unmatched {
                let intent = &live[n];
                let hit = rest.iter().copied().find(|c| {
                    !taken.contains(c)
                        && candidates[*c].1 >= intent.sent_ms - CLOCK_SKEW_MS
                        && created_with
                            .get(c)
                            .is_some_and(|values| matches(&intent.properties, values))
                });
                if let Some(c) = hit {
                    taken.insert(c);
                    adopted.push((n, c, created_with.remove(&c).unwrap_or_default()));
                }
            }
        }

        if !adopted.is_empty() {
            // Still there? (`batch/read` is consistent, search is not.)
            let mut live_ids: BTreeSet<String> = BTreeSet::new();
            for chunk in adopted.chunks(100) {
                let inputs: Vec<Value> = chunk
                    .iter()
                    .map(|a| json!({ "id": candidates[a.1].0 }))
                    .collect();
                run.summary.api_calls += 1;
                let req = Request::post(format!("/crm/v3/objects/{object}/batch/read"))
                    .json(json!({ "inputs": inputs, "properties": [created] }))
                    .idempotent(true);
                let page: Page<CrmObject> = self.client().send(req).await?.json()?;
                live_ids.extend(page.results.into_iter().map(|r| r.id));
            }
            // A record archived since is not adopted: its row waits, then is created.
            adopted.retain(|a| live_ids.contains(&candidates[a.1].0));
            // Recorded exactly as the lost answer would have been: the record as created (its
            // sent properties as HubSpot stored them, created = updated = its create time), so
            // that changes made in HubSpot since reach the row through the next read.
            let items: Vec<Item> = adopted
                .iter()
                .map(|(n, _, _)| {
                    let i = &live[*n];
                    Item {
                        rid: i.rid,
                        key: i.row_key.clone(),
                        hs_id: None,
                        hash: i.hash.clone(),
                        op: Op::Create,
                        input_id: None,
                        out: HubSpotProperties {
                            id: None,
                            id_property: None,
                            properties: i.properties.clone(),
                        },
                        row: i.row.clone(),
                    }
                })
                .collect();
            let outcome = BatchOutcome {
                ok: adopted
                    .iter()
                    .enumerate()
                    .map(|(k, (n, c, values))| {
                        let (id, at, _) = &candidates[*c];
                        let properties = live[*n]
                            .properties
                            .iter()
                            .map(|(p, sent)| {
                                let stored = values.get(p).cloned().flatten();
                                let v = if stored.is_some() { stored } else { Some(sent.clone()).filter(|s| !s.is_empty()) };
                                (p.clone(), v)
                            })
                            .collect();
                        let at = (*at != i64::MAX).then(|| crate::store::iso_ms(*at));
                        let record = CrmObject {
                            id: id.clone(),
                            properties,
                            created_at: at.clone(),
                            updated_at: at,
                            archived: false,
                        };
                        (k, record, true)
                    })
                    .collect(),
                rejected: Vec::new(),
            };
            // Local edits made after the lost answer stay marked (and are sent as updates).
            let started_ms = run.started_ms;
            run.started_ms = adopted
                .iter()
                .map(|(n, _, _)| live[*n].sent_ms)
                .min()
                .unwrap_or(started_ms);
            let committed = self.commit_outcome(run, &items, outcome, Vec::new());
            run.started_ms = started_ms;
            committed?;
            run.adopted += adopted.len() as u64;
        }

        // Not found: never reached HubSpot, or not searchable yet.
        let found: BTreeSet<usize> = adopted.iter().map(|a| a.0).collect();
        let now = now_ms();
        let settle = run.options.create_settle_ms as i64;
        let mut recovery = Recovery::default();
        let mut wait_until = 0i64;
        {
            let conn = store.conn();
            for (n, intent) in live.iter().enumerate() {
                if found.contains(&n) {
                    continue;
                }
                if now < intent.sent_ms + settle {
                    recovery.deferred.insert(intent.rid);
                    wait_until = wait_until.max(intent.sent_ms + settle);
                } else {
                    conn.execute(
                        "DELETE FROM _spoke_create_intents WHERE tbl = ?1 AND rid = ?2",
                        params![run.table, intent.rid],
                    )
                    .map_err(err)?;
                }
            }
        }
        if !recovery.deferred.is_empty() {
            let n = recovery.deferred.len();
            run.waiting = n as u64;
            tracing::warn!(table = %run.table, rows = n, "interrupted creates not found in HubSpot's search yet; those rows wait instead of risking duplicates");
            run.notes.push(format!(
                "{n} new row{} of an interrupted write not found in HubSpot's search yet: kept back until {} (search can lag; created then if still not found)",
                if n == 1 { "" } else { "s" },
                crate::store::iso_ms(wait_until),
            ));
        }
        Ok(recovery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_compare_as_hubspot_stores_them() {
        assert!(same_value("firstname", "Ada", Some("Ada")));
        assert!(!same_value("firstname", "Ada", Some("ada")));
        assert!(same_value("email", " Ada@X.com", Some("ada@x.com")));
        assert!(same_value("firstname", "", None));
        assert!(!same_value("firstname", "Ada", None));
        assert!(same_value("spoke_score", "3.50", Some("3.5")));
        assert!(same_value("closedate", "2024-01-02T00:00:00Z", Some("1704153600000")));
        assert!(same_value("tags", "a;b", Some("b;a")));
        assert!(!same_value("tags", "a;b", Some("a")));
    }
}
