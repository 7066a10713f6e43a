//! Write-back: local changes of a mapping's table sent to HubSpot in batches, with per-row
//! results, dead letters and echo suppression.
//!
//! - **Outbox.** A row is a local change when it has no HubSpot id yet (a create/upsert by the
//!   match key), or when the hash of its outbound values differs from the hash recorded in
//!   `_spoke_write_state` after the last successful write. When the row was read again from
//!   HubSpot since (its `_hs_raw` changed), the baseline is what that read would produce:
//!   the outbound values of the row with its inbound columns taken from `_hs_raw`. So rows
//!   changed by any program (Spoke's UI, the CLI, another process) are found, and rows only
//!   refreshed by a read are not.
//! - **Batches** of at most 100: `batch/update` by record id, `batch/upsert` by the unique match
//!   key (email lower-cased; two rows with one key never share a batch), `batch/create` when
//!   the key is the record id and the row has none. A batch-wide 409/400 is bisected until the
//!   offending rows stand alone. Per-row 207 errors become dead letters.
//! - **Echo suppression.** HubSpot answers a batch write with each record's id, `createdAt`,
//!   `updatedAt` and the properties it stored (those sent plus the object's defaults); those
//!   are stored (`_hs_raw` = the previous one merged with the echoed properties), so the next
//!   read sees the records unchanged and the next write does not send them again, without a
//!   read-back call.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spoke_hubspot::{
    BatchWrite, BatchWriteInput, BatchWriteResponse, CrmObject, Describe, ErrorBody, Request,
};
use spoke_mapping::{
    apply_inbound, apply_outbound, apply_outbound_checked, HubSpotProperties, HubSpotRecord,
    LocalRow, LocalValue, Mapping, MatchKey, ObjectCatalog,
};

use crate::deadletter::{ensure_write_tables, record_rejection, Rejection};
use crate::engine::{modified_property, Engine};
use crate::error::{Error, Result};
use crate::store::{iso_ms, now_ms, parse_ms, quote};
use crate::types::{CancelToken, Failure, RunCounts, RunStatus};

mod journal;

/// How a write-back runs.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase", default)]
pub struct WriteOptions {
    /// Rows per batch call (HubSpot: at most 100).
    pub batch_size: u32,
    /// First retry delay of a dead letter; doubles with every failed attempt.
    #[specta(type = f64)]
    pub retry_base_ms: u64,
    /// Longest retry delay of a dead letter.
    #[specta(type = f64)]
    pub retry_max_ms: u64,
    /// Batch calls in flight at once (the client's governor keeps them within the rate limits).
    /// Keeping the budget busy takes about its rate × a call's round trip: on Pro 19/s × ~0.3 s
    /// at 150 ms latency ≈ 6; 8 leaves room for slower answers (1–16).
    pub concurrency: u32,
    /// How long after an interrupted `batch/create` (record-id key) HubSpot's search is trusted
    /// to show what it created: a row whose create is not found is created again only after
    /// this; until then it waits (see the create journal in `write/journal.rs`).
    #[specta(type = f64)]
    pub create_settle_ms: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            batch_size: 100,
            retry_base_ms: 5 * 60 * 1000,
            retry_max_ms: 24 * 3600 * 1000,
            concurrency: 8,
            create_settle_ms: 120_000,
        }
    }
}

/// Live progress of a write-back (after every batch call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct WriteProgress {
    #[specta(type = f64)]
    pub run_id: i64,
    pub mapping: String,
    pub table: String,
    /// Local changes found for this run.
    #[specta(type = f64)]
    pub pending: u64,
    #[specta(type = f64)]
    pub written: u64,
    #[specta(type = f64)]
    pub rejected: u64,
    #[specta(type = f64)]
    pub api_calls: u64,
    #[specta(type = f64)]
    pub elapsed_ms: u64,
}

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum RowOutcome {
    Created,
    Updated,
    /// Kept as a dead letter.
    Rejected,
}

/// The result of one row of a write-back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    pub row_key: String,
    pub hubspot_id: Option<String>,
    pub outcome: RowOutcome,
    pub category: Option<String>,
    pub message: Option<String>,
    pub fix: Option<String>,
}

/// What a write-back did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct WriteSummary {
    #[specta(type = f64)]
    pub run_id: i64,
    pub mapping: String,
    pub object: String,
    pub table: String,
    pub status: RunStatus,
    /// Local changes found (including dead letters due for a retry).
    #[specta(type = f64)]
    pub pending: u64,
    #[specta(type = f64)]
    pub created: u64,
    #[specta(type = f64)]
    pub updated: u64,
    /// Rows refused (by HubSpot or by Spoke's checks), kept as dead letters.
    #[specta(type = f64)]
    pub rejected: u64,
    /// Records archived in HubSpot because their rows were deleted locally (mapping option
    /// `localDeletes: archive`).
    #[specta(type = f64)]
    pub archived: u64,
    /// Dead letters not due for a retry yet (and not edited since).
    #[specta(type = f64)]
    pub deferred: u64,
    /// Batches split in two after a batch-wide refusal.
    #[specta(type = f64)]
    pub bisections: u64,
    #[specta(type = f64)]
    pub api_calls: u64,
    #[specta(type = f64)]
    pub duration_ms: u64,
    /// Per-row results (up to 1000).
    pub results: Vec<RowResult>,
    pub message: String,
}

const MAX_RESULTS: usize = 1000;

/// Clears a row's local-edit mark once its edits (made before `?3`) are in HubSpot, unless a
/// conflict of the row waits for the user.
const UNMARK: &str = "DELETE FROM _spoke_local_edits WHERE tbl = ?1 AND rid = ?2 AND at_ms <= ?3 AND NOT EXISTS (SELECT 1 FROM _spoke_conflicts c WHERE c.tbl = ?1 AND c.rid = ?2 AND c.kept IS NULL)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Update,
    Upsert,
    Create,
}

impl Op {
    fn batch(self) -> BatchWrite {
        match self {
            Op::Update => BatchWrite::Update,
            Op::Upsert => BatchWrite::Upsert,
            Op::Create => BatchWrite::Create,
        }
    }
}

/// A row about to be sent.
#[derive(Debug, Clone)]
struct Item {
    rid: i64,
    key: String,
    hs_id: Option<String>,
    hash: String,
    op: Op,
    /// The id in the batch input (record id for updates, key value for upserts).
    input_id: Option<String>,
    out: HubSpotProperties,
    /// The local row as sent.
    row: LocalRow,
}

impl Item {
    fn input(&self) -> BatchWriteInput {
        BatchWriteInput {
            id: match self.op {
                Op::Create => None,
                Op::Update | Op::Upsert => self.input_id.clone(),
            },
            id_property: match self.op {
                Op::Upsert => self.out.id_property.clone(),
                Op::Update | Op::Create => None,
            },
            properties: self.out.properties.clone(),
            object_write_trace_id: Some(self.trace_id()),
        }
    }

    /// Unique within a batch (one row per item): HubSpot echoes it on the item's result.
    fn trace_id(&self) -> String {
        format!("spoke-row-{}", self.rid)
    }
}

/// A row of the outbox.
struct Pending {
    rid: i64,
    hs_id: Option<String>,
    /// `_hs_raw`: what HubSpot held at the last read or write.
    raw: Option<String>,
    row: LocalRow,
    key: String,
    hash: String,
}

pub(crate) fn sha(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hash of what a row sends (`None` when the mapping cannot run on it: always a change).
pub(crate) fn outbound_hash(mapping: &Mapping, row: &LocalRow) -> Option<String> {
    let out = apply_outbound(mapping, row).ok()?;
    Some(sha(&serde_json::to_string(&(
        &out.id,
        &out.id_property,
        &out.properties,
    ))
    .ok()?))
}

/// Email keys are sent trimmed and lower-cased (HubSpot stores them so).
fn normalize_email(mapping: &Mapping, out: &mut HubSpotProperties) {
    if let MatchKey::Property { property, .. } = &mapping.match_key {
        if property == "email" {
            if let Some(v) = out.properties.get_mut(property) {
                *v = v.trim().to_lowercase();
            }
        }
    }
}

/// What the row sent as the last read left it (inbound columns from `_hs_raw`).
fn baseline_out(
    mapping: &Mapping,
    row: &LocalRow,
    hs_id: &str,
    raw: &str,
) -> Option<HubSpotProperties> {
    let properties: BTreeMap<String, Option<String>> = serde_json::from_str(raw).ok()?;
    let record = HubSpotRecord {
        id: hs_id.to_owned(),
        properties,
    };
    let inbound = apply_inbound(mapping, &record).ok()?;
    let mut base = row.clone();
    base.extend(inbound);
    let mut out = apply_outbound(mapping, &base).ok()?;
    normalize_email(mapping, &mut out);
    Some(out)
}

fn normalize_key(mapping: &Mapping, value: &str) -> String {
    match &mapping.match_key {
        MatchKey::Property { property, .. } if property == "email" => value.trim().to_lowercase(),
        _ => value.trim().to_owned(),
    }
}

pub(crate) fn row_key(mapping: &Mapping, row: &LocalRow, hs_id: Option<&str>, rid: i64) -> String {
    if let MatchKey::Property { .. } = &mapping.match_key {
        if let Some(v) = row
            .get(mapping.match_key.column())
            .and_then(LocalValue::as_text)
        {
            let v = normalize_key(mapping, &v);
            if !v.is_empty() {
                return v;
            }
        }
    }
    match hs_id {
        Some(id) => id.to_owned(),
        None => format!("row:{rid}"),
    }
}

/// The row as the last read left it: inbound columns from `_hs_raw`, the rest as they are.
pub(crate) fn baseline_hash(
    mapping: &Mapping,
    row: &LocalRow,
    hs_id: &str,
    raw: &str,
) -> Option<String> {
    let properties: BTreeMap<String, Option<String>> = serde_json::from_str(raw).ok()?;
    let record = HubSpotRecord {
        id: hs_id.to_owned(),
        properties,
    };
    let inbound = apply_inbound(mapping, &record).ok()?;
    let mut base = row.clone();
    for (k, v) in inbound {
        base.insert(k, v);
    }
    outbound_hash(mapping, &base)
}

pub(crate) fn sql_to_local(v: rusqlite::types::ValueRef<'_>) -> LocalValue {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => LocalValue::Null,
        ValueRef::Integer(i) => LocalValue::Integer(i),
        ValueRef::Real(r) => LocalValue::Real(r),
        ValueRef::Text(t) => LocalValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => LocalValue::Text(String::from_utf8_lossy(b).into_owned()),
    }
}

/// A rejection from a HubSpot error (whole-batch or per input).
fn rejection_from_hubspot(item: &Item, status: u16, body: &ErrorBody) -> Rejection {
    let err = spoke_hubspot::Error::from_response(status, body);
    let d = spoke_connect::diagnose::diagnose(&err);
    let context = (!body.context.is_empty())
        .then(|| serde_json::to_string(&body.context).unwrap_or_default());
    Rejection {
        rid: item.rid,
        row_key: item.key.clone(),
        hs_id: item.hs_id.clone(),
        hash: item.hash.clone(),
        category: body
            .category
            .clone()
            .unwrap_or_else(|| format!("HTTP_{status}")),
        message: body.message.clone().unwrap_or_else(|| err.to_string()),
        context,
        code: d.code,
        cause: d.cause,
        fix: d.fix,
        correlation_id: body.correlation_id.clone(),
    }
}

fn rejection_from_error(item: &Item, err: &spoke_hubspot::Error) -> Rejection {
    let d = spoke_connect::diagnose::diagnose(err);
    let (category, message, correlation_id) = match err {
        spoke_hubspot::Error::Api {
            status,
            category,
            message,
            correlation_id,
        } => (
            category.clone().unwrap_or_else(|| format!("HTTP_{status}")),
            message.clone().unwrap_or_else(|| err.to_string()),
            correlation_id.clone(),
        ),
        other => (other.code().to_owned(), other.to_string(), None),
    };
    Rejection {
        rid: item.rid,
        row_key: item.key.clone(),
        hs_id: item.hs_id.clone(),
        hash: item.hash.clone(),
        category,
        message,
        context: None,
        code: d.code,
        cause: d.cause,
        fix: d.fix,
        correlation_id,
    }
}

fn status_of_category(category: Option<&str>) -> u16 {
    match category {
        Some("OBJECT_NOT_FOUND") => 404,
        Some("CONFLICT") => 409,
        _ => 400,
    }
}

/// What a batch call did to its items.
#[derive(Default)]
struct BatchOutcome {
    /// (item index, the record as HubSpot answered it, created)
    ok: Vec<(usize, CrmObject, bool)>,
    rejected: Vec<(usize, Rejection)>,
}

/// Maps a 200/201/207 batch answer onto its items.
fn match_results(items: &[Item], body: &BatchWriteResponse) -> BatchOutcome {
    let mut out = BatchOutcome::default();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    // Errors whose context names no input of this batch (HubSpot does not always say which).
    let mut unplaced: Vec<(u16, ErrorBody)> = Vec::new();
    for parsed in &body.errors {
        let status = status_of_category(parsed.category.as_deref());
        let ctx = Some(&parsed.context);
        let mut hits: Vec<usize> = Vec::new();
        if let Some(ids) = ctx.and_then(|c| c.get("ids")).and_then(Value::as_array) {
            for id in ids.iter().filter_map(Value::as_str) {
                if let Some(i) = items.iter().position(|it| {
                    it.input_id
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(id.trim()))
                }) {
                    hits.push(i);
                }
            }
        }
        if let Some(idx) = ctx
            .and_then(|c| c.get("inputIndex"))
            .and_then(Value::as_array)
        {
            for v in idx {
                let n = v
                    .as_str()
                    .and_then(|s| s.parse::<usize>().ok())
                    .or_else(|| v.as_u64().map(|n| n as usize));
                if let Some(n) = n.filter(|n| *n < items.len()) {
                    hits.push(n);
                }
            }
        }
        if hits.is_empty() {
            unplaced.push((status, parsed.clone()));
        }
        for i in hits {
            if done.insert(i) {
                out.rejected
                    .push((i, rejection_from_hubspot(&items[i], status, parsed)));
            }
        }
    }
    let mut unclaimed: Vec<usize> = (0..items.len()).filter(|i| !done.contains(i)).collect();
    for r in &body.results {
        let id = r.object.id.as_str();
        // The echoed trace id names the input; without one (older answers), by id, by the
        // unique property, or for creates by position.
        let traced = r
            .object_write_trace_id
            .as_deref()
            .and_then(|t| unclaimed.iter().position(|&i| items[i].trace_id() == t));
        let pos = traced.or_else(|| unclaimed.iter().position(|&i| {
            let it = &items[i];
            match it.op {
                Op::Update => it.input_id.as_deref() == Some(id),
                Op::Upsert => {
                    let prop = it.out.id_property.as_deref().unwrap_or_default();
                    r.object
                        .properties
                        .get(prop)
                        .and_then(Option::as_deref)
                        .zip(it.input_id.as_deref())
                        .is_some_and(|(a, b)| a.trim().eq_ignore_ascii_case(b))
                }
                // Creates without a trace id: in input order.
                Op::Create => true,
            }
        }));
        if let Some(p) = pos {
            let i = unclaimed.remove(p);
            let created = match items[i].op {
                Op::Create => true,
                Op::Update => false,
                Op::Upsert => r.new.unwrap_or(false),
            };
            out.ok.push((i, r.object.clone(), created));
        }
    }
    // Rows with neither a result nor an error of their own: when HubSpot sent as many errors
    // without a row as there are such rows, they are theirs (in order); a single such error
    // stands for all of them; otherwise the row has no answer at all.
    if !unplaced.is_empty() && (unplaced.len() == unclaimed.len() || unplaced.len() == 1) {
        let one = unplaced.len() == 1;
        for (n, i) in unclaimed.into_iter().enumerate() {
            let (status, body) = &unplaced[if one { 0 } else { n }];
            out.rejected
                .push((i, rejection_from_hubspot(&items[i], *status, body)));
        }
        return out;
    }
    for i in unclaimed {
        let body = ErrorBody {
            category: Some("NO_RESULT".into()),
            message: Some(
                "HubSpot answered the batch without a result or an error for this row".into(),
            ),
            ..ErrorBody::default()
        };
        out.rejected
            .push((i, rejection_from_hubspot(&items[i], 500, &body)));
    }
    out
}

/// What happened to a batch sent in its own task.
enum Sent {
    /// HubSpot answered 200/201/207: the accepted records as it echoed them, and the refusals.
    Written(BatchOutcome),
    /// The write call failed (a batch-wide refusal or a failure of the call).
    Refused(spoke_hubspot::Error),
}

/// Sends one batch. No read-back: HubSpot's answer carries each record's id, timestamps and
/// stored properties, which is what echo suppression needs.
async fn send_batch(
    client: spoke_hubspot::Client,
    object: String,
    batch: Vec<Item>,
) -> (Vec<Item>, Sent) {
    let inputs: Vec<BatchWriteInput> = batch.iter().map(Item::input).collect();
    match client
        .batch_write(&object, batch[0].op.batch(), &inputs)
        .await
    {
        Ok(answer) => {
            let outcome = match_results(&batch, &answer);
            (batch, Sent::Written(outcome))
        }
        Err(e) => (batch, Sent::Refused(e)),
    }
}

/// A batch-wide refusal that one or more rows caused (bisect), as opposed to a failure of the
/// call itself (abort the run).
fn row_caused(err: &spoke_hubspot::Error) -> bool {
    matches!(err, spoke_hubspot::Error::Api { status, .. } if matches!(status, 400 | 409 | 422))
}

/// Splits items so that no batch holds one input id twice and none exceeds `size`.
fn batches(items: Vec<Item>, size: usize) -> Vec<Vec<Item>> {
    let mut out: Vec<(Vec<Item>, BTreeSet<String>)> = Vec::new();
    for it in items {
        let key = it.input_id.clone().map(|k| k.to_lowercase());
        let slot = out
            .iter()
            .position(|(b, keys)| b.len() < size && key.as_ref().is_none_or(|k| !keys.contains(k)));
        let slot = match slot {
            Some(s) => s,
            None => {
                out.push((Vec::new(), BTreeSet::new()));
                out.len() - 1
            }
        };
        if let Some(k) = key {
            out[slot].1.insert(k);
        }
        out[slot].0.push(it);
    }
    out.into_iter().map(|(b, _)| b).collect()
}

struct WriteRun<'a> {
    mapping: &'a Mapping,
    table: String,
    run_id: i64,
    options: &'a WriteOptions,
    mapped_properties: BTreeSet<String>,
    summary: WriteSummary,
    started: Instant,
    /// When the outbox was read: local-edit marks older than this are cleared by a write.
    started_ms: i64,
    /// Rows whose interrupted create was found in HubSpot and adopted.
    adopted: u64,
    /// Rows whose interrupted create could not be confirmed yet (kept back).
    waiting: u64,
    /// Added to the run's message.
    notes: Vec<String>,
}

impl Engine {
    /// Sends the local changes of `mapping`'s table to HubSpot. Refused rows become dead letters
    /// (see [`crate::DeadLetter`]); dead letters due for a retry, or edited since, are sent
    /// again. Recorded in the run history with mode `write`.
    pub async fn write_back(
        &self,
        mapping: &Mapping,
        catalog: &ObjectCatalog,
        options: WriteOptions,
        cancel: CancelToken,
        progress: &(dyn Fn(WriteProgress) + Send + Sync),
    ) -> Result<WriteSummary> {
        let store = self.store();
        let table = crate::dest::store_table(&mapping.destination);
        if !store.claim(&table) {
            return Err(Error::Busy { table });
        }
        let result = async {
            crate::dest::attach(store, mapping, &table).await?;
            let pulled = crate::dest::before_write(store, mapping, &table)?;
            let summary = self
                .write_claimed(mapping, catalog, options, cancel, progress)
                .await?;
            crate::dest::after_write(store, mapping, &table, &pulled)?;
            Ok(summary)
        }
        .await;
        store.detach(&table);
        store.release(&table);
        result
    }

    /// Makes the dead letters of `mapping` due (one row by its key or HubSpot id, or all) and
    /// runs a write-back.
    pub async fn resend(
        &self,
        mapping: &Mapping,
        catalog: &ObjectCatalog,
        row_key: Option<&str>,
        options: WriteOptions,
        cancel: CancelToken,
        progress: &(dyn Fn(WriteProgress) + Send + Sync),
    ) -> Result<WriteSummary> {
        self.store().mark_for_resend(&mapping.name, row_key)?;
        self.write_back(mapping, catalog, options, cancel, progress)
            .await
    }

    async fn write_claimed(
        &self,
        mapping: &Mapping,
        catalog: &ObjectCatalog,
        options: WriteOptions,
        cancel: CancelToken,
        progress: &(dyn Fn(WriteProgress) + Send + Sync),
    ) -> Result<WriteSummary> {
        let store = self.store();
        let columns = store.ensure_table(mapping)?;
        let table = crate::dest::store_table(&mapping.destination);
        {
            let conn = store.conn();
            ensure_write_tables(&conn)
                .map_err(|e| Error::store(&store.path().display().to_string(), e))?;
        }
        let run_id = store.start_run(mapping, "write")?;
        let mapped_properties: BTreeSet<String> =
            mapping.hubspot_properties().into_iter().collect();
        let mut run = WriteRun {
            mapping,
            table: table.clone(),
            run_id,
            options: &options,
            mapped_properties,
            summary: WriteSummary {
                run_id,
                mapping: mapping.name.clone(),
                object: mapping.object.clone(),
                table: table.clone(),
                status: RunStatus::Running,
                pending: 0,
                created: 0,
                updated: 0,
                rejected: 0,
                archived: 0,
                deferred: 0,
                bisections: 0,
                api_calls: 0,
                duration_ms: 0,
                results: Vec::new(),
                message: String::new(),
            },
            started: Instant::now(),
            started_ms: now_ms(),
            adopted: 0,
            waiting: 0,
            notes: Vec::new(),
        };
        let outcome = self
            .write_inner(&mut run, catalog, &columns, &cancel, progress)
            .await;
        let s = &mut run.summary;
        s.duration_ms = run.started.elapsed().as_millis() as u64;
        let counts = RunCounts {
            read: s.pending,
            created: s.created,
            updated: s.updated,
            errors: s.rejected,
            deleted: s.archived,
            api_calls: s.api_calls,
            pages: s.api_calls,
            ..RunCounts::default()
        };
        match outcome {
            Ok(()) => {
                s.status = if cancel.is_cancelled() {
                    RunStatus::Cancelled
                } else if s.rejected > 0 {
                    RunStatus::SucceededWithErrors
                } else {
                    RunStatus::Succeeded
                };
                s.message = format!(
                    "{} local change{}: {} created, {} updated in HubSpot, {} refused (dead letters){}{}{}.",
                    s.pending,
                    if s.pending == 1 { "" } else { "s" },
                    s.created,
                    s.updated,
                    s.rejected,
                    if s.archived > 0 {
                        format!(", {} archived (deleted locally)", s.archived)
                    } else {
                        String::new()
                    },
                    if s.deferred > 0 {
                        format!(", {} dead letters waiting for their retry", s.deferred)
                    } else {
                        String::new()
                    },
                    if s.status == RunStatus::Cancelled {
                        "; cancelled"
                    } else {
                        ""
                    },
                );
                if run.adopted > 0 {
                    s.message.push_str(&format!(
                        " {} of the created were made by an interrupted earlier write and adopted, not created again.",
                        run.adopted
                    ));
                }
                for note in &run.notes {
                    s.message.push_str(&format!(" {note}."));
                }
                store.finish_run(run_id, s.status, &counts, s.duration_ms, None, &s.message)?;
                Ok(run.summary)
            }
            Err(e) => {
                let failure = Failure::from(e.problem());
                s.status = RunStatus::Failed;
                let _ = store.finish_run(
                    run_id,
                    RunStatus::Failed,
                    &counts,
                    s.duration_ms,
                    Some(&failure),
                    &e.to_string(),
                );
                Err(e)
            }
        }
    }

    /// Rows of the table that are local changes, and how many dead letters wait.
    fn outbox(&self, run: &mut WriteRun<'_>, columns: &[String]) -> Result<Vec<Pending>> {
        let store = self.store();
        let err = |e: rusqlite::Error| Error::store(&store.path().display().to_string(), e);
        let mapping = run.mapping;
        let now = now_ms();
        let mut conn = store.conn();
        let tx = conn.transaction().map_err(err)?;
        let mut out = Vec::new();
        {
            let select = format!(
                "SELECT rowid, _hs_id, _hs_raw{} FROM {} WHERE _hs_archived = 0 ORDER BY rowid",
                columns
                    .iter()
                    .map(|c| format!(", {}", quote(c)))
                    .collect::<String>(),
                quote(&run.table)
            );
            let mut stmt = tx.prepare(&select).map_err(err)?;
            let mut state = tx
                .prepare("SELECT hs_id, hash, raw_hash FROM _spoke_write_state WHERE tbl = ?1 AND rid = ?2")
                .map_err(err)?;
            let mut dead = tx
                .prepare("SELECT hash, next_retry_ms FROM _spoke_dead_letters WHERE tbl = ?1 AND rid = ?2")
                .map_err(err)?;
            let mut unmark = tx.prepare(UNMARK).map_err(err)?;
            let mut adopt = tx
                .prepare("INSERT OR REPLACE INTO _spoke_write_state (tbl, rid, hs_id, hash, raw_hash, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    let mut row = LocalRow::new();
                    for (i, c) in columns.iter().enumerate() {
                        row.insert(c.clone(), sql_to_local(r.get_ref(i + 3)?));
                    }
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        row,
                    ))
                })
                .map_err(err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(err)?;
            for (rid, hs_id, raw, row) in rows {
                let hash =
                    outbound_hash(mapping, &row).unwrap_or_else(|| format!("unmappable:{rid}"));
                let changed = match &hs_id {
                    None => true,
                    Some(id) => {
                        let st: Option<(Option<String>, String, Option<String>)> = state
                            .query_row(params![run.table, rid], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                            })
                            .optional()
                            .map_err(err)?;
                        let raw_hash = raw.as_deref().map(sha);
                        match st {
                            Some((sid, shash, sraw))
                                if sid.as_deref() == Some(id.as_str()) && sraw == raw_hash =>
                            {
                                shash != hash
                            }
                            _ => {
                                let base = raw
                                    .as_deref()
                                    .and_then(|raw| baseline_hash(mapping, &row, id, raw));
                                let changed = base.as_deref() != Some(hash.as_str());
                                if !changed {
                                    adopt
                                        .execute(params![
                                            run.table,
                                            rid,
                                            id,
                                            hash,
                                            raw_hash,
                                            iso_ms(now)
                                        ])
                                        .map_err(err)?;
                                }
                                changed
                            }
                        }
                    }
                };
                if !changed {
                    unmark.execute(params![run.table, rid, now]).map_err(err)?;
                    continue;
                }
                let dl: Option<(String, i64)> = dead
                    .query_row(params![run.table, rid], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(err)?;
                if let Some((dhash, next)) = dl {
                    if dhash == hash && next > now {
                        run.summary.deferred += 1;
                        continue;
                    }
                }
                let key = row_key(mapping, &row, hs_id.as_deref(), rid);
                out.push(Pending {
                    rid,
                    hs_id,
                    raw,
                    row,
                    key,
                    hash,
                });
            }
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    async fn write_inner(
        &self,
        run: &mut WriteRun<'_>,
        catalog: &ObjectCatalog,
        columns: &[String],
        cancel: &CancelToken,
        progress: &(dyn Fn(WriteProgress) + Send + Sync),
    ) -> Result<()> {
        let mapping = run.mapping;
        // Versions read while rows were edited locally are settled first (conflict policies).
        let settled = self.settle(mapping, columns, run.run_id).await?;
        run.summary.api_calls += settled.api_calls;
        run.started_ms = now_ms();
        // Creates a killed or failed run may have made: adopted, or their rows held back.
        let recovery = self.recover_creates(run).await?;
        let mut pending = self.outbox(run, columns)?;
        pending.retain(|p| !recovery.deferred.contains(&p.rid));
        run.summary.pending = pending.len() as u64;
        let mut items: Vec<Item> = Vec::new();
        let mut refused: Vec<Rejection> = Vec::new();
        let open = self.store().open_conflict_fields(&run.table)?;
        // Rows whose only changes wait for the user: nothing to send; recorded as seen.
        let mut unsent: Vec<(i64, String, String, String)> = Vec::new();
        for p in pending {
            match apply_outbound_checked(mapping, catalog, &p.row) {
                Ok(mut out) => {
                    let (op, input_id) = match (&p.hs_id, &mapping.match_key) {
                        (Some(id), _) => (Op::Update, Some(id.clone())),
                        (None, MatchKey::RecordId { .. }) => match out.id.clone() {
                            Some(id) => (Op::Update, Some(id)),
                            None => (Op::Create, None),
                        },
                        (None, MatchKey::Property { property, .. }) => {
                            let key = out.id.clone().map(|k| normalize_key(mapping, &k));
                            if let Some(k) = &key {
                                out.properties.insert(property.clone(), k.clone());
                            }
                            (Op::Upsert, key)
                        }
                    };
                    normalize_email(mapping, &mut out);
                    // An update sends only what changed locally since HubSpot and the row last
                    // agreed (so HubSpot's own changes to other fields are never overwritten),
                    // and never a field whose conflict waits for the user.
                    if let (Op::Update, Some(id), Some(raw)) = (op, &p.hs_id, &p.raw) {
                        if let Some(base) = baseline_out(mapping, &p.row, id, raw) {
                            out.properties
                                .retain(|k, v| base.properties.get(k) != Some(v));
                        }
                        if let Some(held) = open.get(&p.rid) {
                            out.properties.retain(|k, _| !held.contains(k));
                        }
                        if out.properties.is_empty() {
                            unsent.push((p.rid, id.clone(), p.hash.clone(), sha(raw)));
                            continue;
                        }
                    }
                    items.push(Item {
                        rid: p.rid,
                        key: p.key,
                        hs_id: p.hs_id,
                        hash: p.hash,
                        op,
                        input_id,
                        out,
                        row: p.row,
                    });
                }
                Err(e) => {
                    let problem = e.problem();
                    refused.push(Rejection {
                        rid: p.rid,
                        row_key: p.key,
                        hs_id: p.hs_id,
                        hash: p.hash,
                        category: "WRITE_REFUSED".into(),
                        message: e.to_string(),
                        context: None,
                        code: problem.code,
                        cause: problem.message,
                        fix: problem.hint.unwrap_or_default(),
                        correlation_id: None,
                    });
                }
            }
        }
        self.refuse_duplicate_keys(run, &mut items, &mut refused)?;
        self.commit_outcome(run, &[], BatchOutcome::default(), refused)?;
        if !unsent.is_empty() {
            let store = self.store();
            let err = |e: rusqlite::Error| Error::store(&store.path().display().to_string(), e);
            let mut conn = store.conn();
            let tx = conn.transaction().map_err(err)?;
            for (rid, id, hash, raw_hash) in &unsent {
                tx.execute(
                    "INSERT OR REPLACE INTO _spoke_write_state (tbl, rid, hs_id, hash, raw_hash, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![run.table, rid, id, hash, raw_hash, iso_ms(now_ms())],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
        }
        self.send_local_deletes(run, cancel).await?;
        let size = (run.options.batch_size.clamp(1, 100)) as usize;
        let mut queue: Vec<Vec<Item>> = Vec::new();
        for op in [Op::Update, Op::Upsert, Op::Create] {
            let of_op: Vec<Item> = items.iter().filter(|i| i.op == op).cloned().collect();
            queue.extend(batches(of_op, size));
        }
        queue.reverse();
        // Up to `concurrency` batch calls in flight, so that HubSpot's latency does not leave
        // the rate budget unused (the governor holds the calls the budget has no room for);
        // results are committed one at a time, in the order they come back.
        let concurrency = run.options.concurrency.clamp(1, 16) as usize;
        let mut inflight: tokio::task::JoinSet<(Vec<Item>, Sent)> = tokio::task::JoinSet::new();
        let mut failure: Option<Error> = None;
        loop {
            while failure.is_none() && !cancel.is_cancelled() && inflight.len() < concurrency {
                let Some(batch) = queue.pop() else { break };
                // A create's intent is in the store before HubSpot sees it (crash safety).
                if let Err(e) = journal::record_intents(self.store(), run, &batch) {
                    failure.get_or_insert(e);
                    break;
                }
                run.summary.api_calls += 1;
                inflight.spawn(send_batch(
                    self.client().clone(),
                    mapping.object.clone(),
                    batch,
                ));
            }
            let Some(joined) = inflight.join_next().await else {
                break;
            };
            let (batch, sent) =
                joined.map_err(|e| Error::Unexpected(format!("a write task stopped: {e}")))?;
            match sent {
                Sent::Written(outcome) => {
                    if let Err(e) = self.commit_outcome(run, &batch, outcome, Vec::new()) {
                        failure.get_or_insert(e);
                    }
                }
                Sent::Refused(e) if row_caused(&e) => {
                    if batch.len() > 1 {
                        run.summary.bisections += 1;
                        let mut left = batch;
                        let right = left.split_off(left.len() / 2);
                        queue.push(right);
                        queue.push(left);
                    } else {
                        let r = rejection_from_error(&batch[0], &e);
                        if let Err(e) =
                            self.commit_outcome(run, &batch, BatchOutcome::default(), vec![r])
                        {
                            failure.get_or_insert(e);
                        }
                    }
                }
                Sent::Refused(e) => {
                    failure.get_or_insert(e.into());
                }
            }
            progress(WriteProgress {
                run_id: run.run_id,
                mapping: mapping.name.clone(),
                table: run.table.clone(),
                pending: run.summary.pending,
                written: run.summary.created + run.summary.updated,
                rejected: run.summary.rejected,
                api_calls: run.summary.api_calls,
                elapsed_ms: run.started.elapsed().as_millis() as u64,
            });
        }
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(())
    }

    /// Rows deleted locally (recorded by a trigger; the engine's own deletes are not): with
    /// `localDeletes: archive` their records are archived in HubSpot (`batch/archive`, 100 a
    /// call); with `ignore` (the default) they are forgotten (a later read may bring the row
    /// back). Until then reads do not bring such a row back; a row put back locally with the
    /// same record id cancels the delete. Dead letters and open conflicts of deleted rows go
    /// with them.
    async fn send_local_deletes(&self, run: &mut WriteRun<'_>, cancel: &CancelToken) -> Result<()> {
        let store = self.store();
        let err = |e: rusqlite::Error| Error::store(&store.path().display().to_string(), e);
        let t = quote(&run.table);
        let ids: Vec<String> = {
            let conn = store.conn();
            for sql in [
                format!("DELETE FROM _spoke_local_deletes WHERE tbl = ?1 AND EXISTS (SELECT 1 FROM {t} WHERE _hs_id = _spoke_local_deletes.hs_id)"),
                format!("DELETE FROM _spoke_dead_letters WHERE tbl = ?1 AND rid NOT IN (SELECT rowid FROM {t})"),
                format!("DELETE FROM _spoke_conflicts WHERE tbl = ?1 AND kept IS NULL AND rid NOT IN (SELECT rowid FROM {t})"),
            ] {
                conn.execute(&sql, [&run.table]).map_err(err)?;
            }
            if run.mapping.two_way.local_deletes == spoke_mapping::LocalDeletes::Ignore {
                conn.execute("DELETE FROM _spoke_local_deletes WHERE tbl = ?1", [&run.table])
                    .map_err(err)?;
                return Ok(());
            }
            let mut stmt = conn
                .prepare("SELECT hs_id FROM _spoke_local_deletes WHERE tbl = ?1 ORDER BY at_ms, hs_id")
                .map_err(err)?;
            let rows = stmt
                .query_map([&run.table], |r| r.get(0))
                .map_err(err)?
                .collect::<rusqlite::Result<Vec<String>>>()
                .map_err(err)?;
            rows
        };
        for chunk in ids.chunks(100) {
            if cancel.is_cancelled() {
                break;
            }
            let inputs: Vec<Value> = chunk.iter().map(|id| json!({ "id": id })).collect();
            run.summary.api_calls += 1;
            let path = format!("/crm/v3/objects/{}/batch/archive", run.mapping.object);
            self.client()
                .send(Request::post(path).json(json!({ "inputs": inputs })).idempotent(true))
                .await?;
            let mut conn = store.conn();
            let tx = conn.transaction().map_err(err)?;
            for id in chunk {
                tx.execute(
                    "DELETE FROM _spoke_local_deletes WHERE tbl = ?1 AND hs_id = ?2",
                    params![run.table, id],
                )
                .map_err(err)?;
            }
            tx.commit().map_err(err)?;
            run.summary.archived += chunk.len() as u64;
        }
        Ok(())
    }

    /// A new row whose match key another local row already has (a synced one, or an earlier
    /// new one) would silently turn two rows into one HubSpot record: it is refused instead
    /// (`DUPLICATE_KEY`), the first row goes.
    fn refuse_duplicate_keys(
        &self,
        run: &WriteRun<'_>,
        items: &mut Vec<Item>,
        refused: &mut Vec<Rejection>,
    ) -> Result<()> {
        let MatchKey::Property { column, property } = &run.mapping.match_key else {
            return Ok(());
        };
        if !items.iter().any(|i| i.op == Op::Upsert) {
            return Ok(());
        }
        let store = self.store();
        let err = |e: rusqlite::Error| Error::store(&store.path().display().to_string(), e);
        let mut owner: HashMap<String, (i64, String)> = HashMap::new();
        {
            let conn = store.conn();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT rowid, {c}, _hs_id FROM {t} WHERE _hs_id IS NOT NULL AND {c} IS NOT NULL AND _hs_archived = 0",
                    c = quote(column),
                    t = quote(&run.table)
                ))
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)?, sql_to_local(r.get_ref(1)?), r.get::<_, String>(2)?))
                })
                .map_err(err)?;
            for row in rows {
                let (rid, v, id) = row.map_err(err)?;
                if let Some(v) = v.as_text() {
                    owner.insert(normalize_key(run.mapping, &v), (rid, id));
                }
            }
        }
        let mut first: HashMap<String, String> = HashMap::new();
        let mut kept = Vec::with_capacity(items.len());
        let mut upserts: Vec<Item> = Vec::new();
        for it in items.drain(..) {
            if it.op == Op::Upsert {
                upserts.push(it);
            } else {
                kept.push(it);
            }
        }
        upserts.sort_by_key(|i| i.rid);
        for it in upserts {
            let Some(key) = it.input_id.clone().map(|k| k.to_lowercase()) else {
                kept.push(it);
                continue;
            };
            let other = match owner.get(&key) {
                Some((rid, id)) if *rid != it.rid => Some(format!("the synced row of HubSpot record {id}")),
                _ => first.get(&key).map(|k| format!("the new row {k}")),
            };
            match other {
                Some(other) => refused.push(Rejection {
                    rid: it.rid,
                    row_key: it.key.clone(),
                    hs_id: None,
                    hash: it.hash.clone(),
                    category: "DUPLICATE_KEY".into(),
                    message: format!("{other} has the same {property} {key:?}; HubSpot keeps one record per {property}"),
                    context: Some(json!({ property: [key] }).to_string()),
                    code: "engine.duplicate_key".into(),
                    cause: format!("Two local rows of {} have one {property}, and writing both would make them one HubSpot record.", run.table),
                    fix: format!("Merge the two rows, or give this row its own {property}; then resend it."),
                    correlation_id: None,
                }),
                None => {
                    first.insert(key, it.key.clone());
                    kept.push(it);
                }
            }
        }
        *items = kept;
        Ok(())
    }

    /// Records the written records as HubSpot answered them (id, timestamps, raw, hash), clears
    /// their dead letters, and stores the rejections, in one transaction.
    ///
    /// No read-back: HubSpot's answer has each record's `createdAt`, `updatedAt` and the
    /// properties it stored (those sent, normalised, plus the object's defaults). `_hs_raw`
    /// becomes the previous one with the echoed properties laid over it (mapped properties
    /// HubSpot neither echoed nor had before are `null`, as a read of a new record gives them),
    /// which is what the next read finds unless HubSpot changed something else: a change made
    /// in HubSpot meanwhile to a field not sent, or a value HubSpot computes (a calculated
    /// property the write moved, a default it set on create). Those need no extra call: the
    /// write moved the record's `updatedAt`, so the next incremental read fetches it anyway
    /// and, its `_hs_raw` differing, takes the new values as a HubSpot change (never as a
    /// local one: only what differs from `_hs_raw` is sent, and these fields are not sent).
    fn commit_outcome(
        &self,
        run: &mut WriteRun<'_>,
        items: &[Item],
        outcome: BatchOutcome,
        mut extra: Vec<Rejection>,
    ) -> Result<()> {
        extra.extend(outcome.rejected.into_iter().map(|(_, r)| r));
        let store = self.store();
        let err = |e: rusqlite::Error| Error::store(&store.path().display().to_string(), e);
        let now = iso_ms(now_ms());
        let mut conn = store.conn();
        let tx = conn.transaction().map_err(err)?;
        let t = quote(&run.table);
        for (i, rec, created) in &outcome.ok {
            let item = &items[*i];
            let id = &rec.id;
            let echoed = &rec.properties;
            // What HubSpot held before this write, as far as Spoke knows: the row's `_hs_raw`,
            // or that of a copy of the record read earlier (an upsert of a new row by a key
            // HubSpot already had).
            let previous: Option<String> = tx
                .query_row(
                    &format!("SELECT coalesce((SELECT _hs_raw FROM {t} WHERE rowid = ?1), (SELECT _hs_raw FROM {t} WHERE _hs_id = ?2 AND rowid <> ?1 AND _hs_raw IS NOT NULL LIMIT 1))"),
                    params![item.rid, id],
                    |r| r.get(0),
                )
                .map_err(err)?;
            let previous: BTreeMap<String, Option<String>> = previous
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default();
            let props: BTreeMap<String, Option<String>> = run
                .mapped_properties
                .iter()
                .map(|p| {
                    let v = echoed
                        .get(p)
                        .or_else(|| previous.get(p))
                        .cloned()
                        .flatten();
                    (p.clone(), v)
                })
                .collect();
            let raw = serde_json::to_string(&props).unwrap_or_default();
            let raw_hash = sha(&raw);
            let created_at = rec.created_at.clone();
            let updated_at = rec.updated_at.clone();
            let updated_ms = updated_at.as_deref().and_then(parse_ms).or_else(|| {
                echoed
                    .get(modified_property(&run.mapping.object))
                    .cloned()
                    .flatten()
                    .as_deref()
                    .and_then(parse_ms)
            });
            // A copy of the record read earlier under this id (the row was upserted by its
            // key): this row is now that record.
            let others: Vec<i64> = {
                let mut s = tx
                    .prepare_cached(&format!(
                        "SELECT rowid FROM {t} WHERE _hs_id = ?1 AND rowid <> ?2"
                    ))
                    .map_err(err)?;
                let rows = s
                    .query_map(params![id, item.rid], |r| r.get(0))
                    .map_err(err)?
                    .collect::<rusqlite::Result<Vec<i64>>>()
                    .map_err(err)?;
                rows
            };
            for other in others {
                tx.execute(&format!("DELETE FROM {t} WHERE rowid = ?1"), [other])
                    .map_err(err)?;
                crate::twoway::forget_local_delete(&tx, &run.table, id).map_err(err)?;
                tx.execute(
                    "DELETE FROM _spoke_write_state WHERE tbl = ?1 AND rid = ?2",
                    params![run.table, other],
                )
                .map_err(err)?;
            }
            tx.execute(
                &format!("UPDATE {t} SET _hs_id = ?2, _hs_created_at = coalesce(?3, _hs_created_at), _hs_updated_at = coalesce(?4, _hs_updated_at), _hs_updated_ms = coalesce(?5, _hs_updated_ms), _hs_raw = ?6, _hs_archived = 0 WHERE rowid = ?1"),
                params![item.rid, id, created_at, updated_at, updated_ms, raw],
            )
            .map_err(err)?;
            // The row as it now is: with a record-id key the created record's id goes into the
            // key column; columns of properties this write did not send but HubSpot echoed
            // (an object's default properties) take the echoed values (HubSpot's own
            // concurrent changes), so that they are neither lost nor sent back. The hash
            // follows.
            let mut row = item.row.clone();
            let mut sets: Vec<(String, LocalValue)> = Vec::new();
            if let MatchKey::RecordId { column } = &run.mapping.match_key {
                let current = item.row.get(column).and_then(LocalValue::as_text);
                if current.as_deref().map(str::trim) != Some(id.as_str()) {
                    sets.push((column.clone(), LocalValue::Text(id.clone())));
                }
            }
            {
                let record = HubSpotRecord {
                    id: id.clone(),
                    properties: props,
                };
                let (incoming, _) = crate::engine::map_record(run.mapping, &record);
                let echoed_columns: BTreeSet<&str> = run
                    .mapping
                    .fields
                    .iter()
                    .filter(|f| f.property.as_ref().is_some_and(|p| echoed.contains_key(p)))
                    .filter_map(|f| f.column.as_deref())
                    .collect();
                let sent: BTreeSet<&str> = run
                    .mapping
                    .fields
                    .iter()
                    .filter(|f| {
                        f.property
                            .as_ref()
                            .is_some_and(|p| item.out.properties.contains_key(p))
                    })
                    .filter_map(|f| f.column.as_deref())
                    .chain(std::iter::once(run.mapping.match_key.column()))
                    .collect();
                // A column whose conflict waits for the user keeps the local value.
                let held: Vec<String> = {
                    let mut s = tx
                        .prepare_cached("SELECT col FROM _spoke_conflicts WHERE tbl = ?1 AND rid = ?2 AND kept IS NULL")
                        .map_err(err)?;
                    let rows = s
                        .query_map(params![run.table, item.rid], |r| r.get(0))
                        .map_err(err)?
                        .collect::<rusqlite::Result<Vec<String>>>()
                        .map_err(err)?;
                    rows
                };
                for (c, v) in incoming {
                    if echoed_columns.contains(c.as_str())
                        && !sent.contains(c.as_str())
                        && !held.contains(&c)
                        && row.contains_key(&c)
                        && row.get(&c) != Some(&v)
                        && !sets.iter().any(|(k, _)| k == &c)
                    {
                        sets.push((c, v));
                    }
                }
            }
            for (c, v) in &sets {
                tx.execute(
                    &format!("UPDATE {t} SET {} = ?2 WHERE rowid = ?1", quote(c)),
                    params![item.rid, crate::twoway::local_to_sql(v)],
                )
                .map_err(err)?;
                row.insert(c.clone(), v.clone());
            }
            let hash = if sets.is_empty() {
                item.hash.clone()
            } else {
                outbound_hash(run.mapping, &row).unwrap_or_else(|| item.hash.clone())
            };
            tx.execute(
                "INSERT OR REPLACE INTO _spoke_write_state (tbl, rid, hs_id, hash, raw_hash, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run.table, item.rid, id, hash, raw_hash, now],
            )
            .map_err(err)?;
            tx.execute(
                "DELETE FROM _spoke_dead_letters WHERE tbl = ?1 AND rid = ?2",
                params![run.table, item.rid],
            )
            .map_err(err)?;
            tx.execute(UNMARK, params![run.table, item.rid, run.started_ms])
                .map_err(err)?;
            journal::clear_intent(&tx, &run.table, item.rid).map_err(err)?;
            if *created {
                run.summary.created += 1;
            } else {
                run.summary.updated += 1;
            }
            if run.summary.results.len() < MAX_RESULTS {
                run.summary.results.push(RowResult {
                    row_key: item.key.clone(),
                    hubspot_id: Some(id.clone()),
                    outcome: if *created {
                        RowOutcome::Created
                    } else {
                        RowOutcome::Updated
                    },
                    category: None,
                    message: None,
                    fix: None,
                });
            }
        }
        for r in &extra {
            record_rejection(
                &tx,
                run.mapping,
                run.run_id,
                r,
                run.options.retry_base_ms,
                run.options.retry_max_ms,
            )
            .map_err(err)?;
            tx.execute(
                "INSERT INTO _spoke_run_errors (run_id, record_id, code, message, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run.run_id, r.hs_id.clone().unwrap_or_else(|| r.row_key.clone()), format!("hubspot.{}", r.category.to_lowercase()), format!("{}: {}", r.row_key, r.message), now],
            )
            .map_err(err)?;
            journal::clear_intent(&tx, &run.table, r.rid).map_err(err)?;
            run.summary.rejected += 1;
            if run.summary.results.len() < MAX_RESULTS {
                run.summary.results.push(RowResult {
                    row_key: r.row_key.clone(),
                    hubspot_id: r.hs_id.clone(),
                    outcome: RowOutcome::Rejected,
                    category: Some(r.category.clone()),
                    message: Some(r.message.clone()),
                    fix: Some(r.fix.clone()),
                });
            }
        }
        tx.commit().map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The app spawns write-backs on a multi-threaded runtime: the futures must be `Send`.
    #[test]
    fn the_write_futures_are_send() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path().join("s.db")).unwrap();
        let client =
            spoke_hubspot::Client::new(spoke_hubspot::ClientConfig::new("http://127.0.0.1:9"))
                .unwrap();
        let engine = Engine::new(store, client);
        let mapping = Mapping::new(
            "m",
            "contacts",
            spoke_mapping::Destination::Spoke { table: "t".into() },
            MatchKey::RecordId {
                column: "id".into(),
            },
        );
        let catalog = ObjectCatalog {
            object_type: "contacts".into(),
            object_type_id: None,
            custom: false,
            required_properties: Vec::new(),
            properties: Vec::new(),
            groups: Vec::new(),
            fetched_at: String::new(),
        };
        let progress = |_: WriteProgress| {};
        let fut = engine.write_back(
            &mapping,
            &catalog,
            WriteOptions::default(),
            CancelToken::new(),
            &progress,
        );
        assert_send(&fut);
        let own = Mapping::new(
            "own",
            "contacts",
            spoke_mapping::Destination::Sqlite {
                path: dir.path().join("mine.db").display().to_string(),
                table: "people".into(),
            },
            MatchKey::RecordId {
                column: "id".into(),
            },
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt
            .block_on(engine.write_back(
                &own,
                &catalog,
                WriteOptions::default(),
                CancelToken::new(),
                &progress,
            ))
            .unwrap_err();
        // The admin's file must exist: Spoke never creates it, nor touches the store for it.
        assert!(matches!(err, Error::Destination { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(!dir.path().join("mine.db").exists());
        let fut = engine.resend(
            &mapping,
            &catalog,
            None,
            WriteOptions::default(),
            CancelToken::new(),
            &progress,
        );
        assert_send(&fut);
    }

    fn item(op: Op, input_id: Option<&str>) -> Item {
        Item {
            rid: 1,
            key: input_id.unwrap_or("row:1").to_owned(),
            hs_id: None,
            hash: "h".into(),
            op,
            input_id: input_id.map(str::to_owned),
            out: HubSpotProperties {
                id: input_id.map(str::to_owned),
                id_property: Some("email".into()),
                properties: BTreeMap::from([(
                    "email".to_owned(),
                    input_id.unwrap_or("").to_owned(),
                )]),
            },
            row: LocalRow::new(),
        }
    }

    #[test]
    fn errors_without_a_row_go_to_the_rows_without_a_result() {
        let items = vec![
            item(Op::Create, None),
            item(Op::Create, None),
            item(Op::Create, None),
        ];
        let body = json!({
            "results": [{ "id": "7", "properties": {} }],
            "errors": [
                { "status": "error", "category": "VALIDATION_ERROR", "message": "bad one", "context": {} },
                { "status": "error", "category": "VALIDATION_ERROR", "message": "bad two" }
            ]
        });
        let out = match_results(&items, &serde_json::from_value(body).unwrap());
        assert_eq!(out.ok.len(), 1);
        let rejected: Vec<(usize, &str, &str)> = out
            .rejected
            .iter()
            .map(|(i, r)| (*i, r.category.as_str(), r.message.as_str()))
            .collect();
        assert_eq!(
            rejected,
            vec![
                (1, "VALIDATION_ERROR", "bad one"),
                (2, "VALIDATION_ERROR", "bad two")
            ]
        );
        assert_eq!(out.rejected[0].1.code, "validation_error");
    }

    #[test]
    fn upsert_results_and_errors_are_matched_by_key_in_any_case_and_order() {
        let items = vec![
            item(Op::Upsert, Some("a@x.com")),
            item(Op::Upsert, Some("b@x.com")),
            item(Op::Upsert, Some("c@x.com")),
        ];
        let body = json!({
            "results": [
                { "id": "2", "new": true, "properties": { "email": "C@X.com" } },
                { "id": "1", "new": false, "properties": { "email": "a@x.com" } }
            ],
            "errors": [{ "status": "error", "category": "VALIDATION_ERROR", "message": "no", "context": { "ids": ["B@x.com"] } }]
        });
        let out = match_results(&items, &serde_json::from_value(body).unwrap());
        let mut ok: Vec<(usize, String, bool)> = out
            .ok
            .iter()
            .map(|(i, r, new)| (*i, r.id.clone(), *new))
            .collect();
        ok.sort();
        assert_eq!(
            ok,
            vec![(0, "1".to_owned(), false), (2, "2".to_owned(), true)]
        );
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.rejected[0].0, 1);
        assert!(out.rejected[0]
            .1
            .context
            .as_deref()
            .unwrap()
            .contains("B@x.com"));
    }

    #[test]
    fn batches_keep_one_key_per_batch_and_the_size() {
        let items: Vec<Item> = ["a", "A", "b", "a", "c", "d"]
            .iter()
            .map(|k| item(Op::Upsert, Some(k)))
            .collect();
        let b = batches(items, 2);
        let keys: Vec<Vec<String>> = b
            .iter()
            .map(|b| b.iter().map(|i| i.input_id.clone().unwrap()).collect())
            .collect();
        assert_eq!(keys, vec![vec!["a", "b"], vec!["A", "c"], vec!["a", "d"]]);
    }
}
