//! The read path: full and incremental reads of one mapping into the local store.
//!
//! Reads use CRM search with the properties in the POST body (no 414 however many properties)
//! and keyset paging on `hs_object_id` (`hs_object_id > last`, sorted ascending, `after` never
//! used): no query ever pages toward the 10,000-result cap, and 10,000+ records sharing one
//! `lastmodifieddate` millisecond are read exactly once. The next key is the largest id of a
//! page, not its last row, so out-of-order pages lose nothing.
//!
//! Incremental reads filter `lastmodifieddate >= bookmark - overlap`; records seen again are
//! deduplicated by `(id, updatedAt)` (an older version returned by a lagging index never
//! overwrites a newer one). The bookmark is `min(scan start, max seen)`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

mod events;
pub use events::EventsSummary;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use spoke_hubspot::{Client, Describe, Page, Request};
use spoke_mapping::{
    apply_inbound, Filter, FilterGroup, HubSpotRecord, LocalRow, Mapping, MatchKey,
    Operator,
};

use crate::error::{Error, Result};
use crate::store::{now_ms, parse_ms, Checkpoint, Incoming, PageCtx, Scan, Store};
use crate::types::{
    CancelToken, Failure, MergeRedirect, Phase, Progress, RateGauge, RunCounts, RunStatus,
    RunSummary, SyncOptions,
};

/// Records per `batch/read` and per association `batch/read` call.
const BATCH_READ: usize = 100;
const ASSOC_BATCH: usize = 1000;
/// Records per page of the archived list.
const LIST_LIMIT: usize = 100;

/// The sync engine for one connection.
#[derive(Clone, Debug)]
pub struct Engine {
    store: Store,
    client: Client,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    id: String,
    #[serde(default)]
    properties: BTreeMap<String, Option<String>>,
    created_at: Option<String>,
    updated_at: Option<String>,
    archived_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AssocResults {
    #[serde(default)]
    results: Vec<AssocResult>,
}

#[derive(Debug, Deserialize)]
struct AssocResult {
    from: AssocFrom,
    #[serde(default)]
    to: Vec<AssocTo>,
}

#[derive(Debug, Deserialize)]
struct AssocFrom {
    id: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssocTo {
    to_object_id: serde_json::Value,
    #[serde(default)]
    association_types: Vec<AssocType>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssocType {
    type_id: i64,
    label: Option<String>,
}

fn id_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn id_num(id: &str) -> u64 {
    id.trim().parse().unwrap_or(0)
}

/// What a read asks HubSpot for: the mapped properties, and with them the engine's own
/// (modification date, record id, merged ids), sorted.
pub(crate) fn read_properties(mapping: &Mapping) -> (BTreeSet<String>, Vec<String>) {
    let mapped: BTreeSet<String> = mapping.hubspot_properties().into_iter().collect();
    let mut all = mapped.clone();
    all.insert(modified_property(&mapping.object).to_owned());
    all.insert("hs_object_id".to_owned());
    all.insert("hs_merged_object_ids".to_owned());
    (mapped, all.into_iter().collect())
}

/// `lastmodifieddate` on contacts, `hs_lastmodifieddate` elsewhere.
pub fn modified_property(object: &str) -> &'static str {
    if object == "contacts" || object == "0-1" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

/// A fingerprint of what a mapping reads and how it maps it (a change means a full re-read).
fn mapping_hash(mapping: &Mapping) -> String {
    let text = serde_json::to_string(&(
        &mapping.object,
        &mapping.match_key,
        &mapping.fields,
        &mapping.criteria,
    ))
    .unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Runs the mapping on one record; on failure, maps field by field so that the good fields are
/// kept, and says which failed.
pub(crate) fn map_record(mapping: &Mapping, record: &HubSpotRecord) -> (LocalRow, Option<String>) {
    match apply_inbound(mapping, record) {
        Ok(row) => (row, None),
        Err(first) => {
            let mut row = LocalRow::new();
            let mut failed = Vec::new();
            let mut single = mapping.clone();
            single.match_key = MatchKey::RecordId {
                column: "_hs_id".to_owned(),
            };
            for f in mapping.fields.iter().filter(|f| f.direction.inbound()) {
                single.fields = vec![f.clone()];
                match apply_inbound(&single, record) {
                    Ok(mut r) => {
                        r.remove("_hs_id");
                        row.extend(r);
                    }
                    Err(e) => failed.push(e.to_string()),
                }
            }
            if let MatchKey::Property { column, property } = &mapping.match_key {
                if !row.contains_key(column) {
                    row.insert(column.clone(), record.value(property));
                }
            }
            let message = if failed.is_empty() {
                first.to_string()
            } else {
                failed.join("; ")
            };
            (row, Some(message))
        }
    }
}

struct Run<'a> {
    mapping: &'a Mapping,
    table: String,
    columns: Vec<String>,
    properties: Vec<String>,
    mapped_properties: BTreeSet<String>,
    modified: &'static str,
    run_id: i64,
    counts: RunCounts,
    merges: Vec<MergeRedirect>,
    deleted_ids: Vec<String>,
    started: Instant,
    phase: Phase,
    scan_read: u64,
    scan_total: Option<u64>,
    scan_started: Option<Instant>,
    progress: &'a (dyn Fn(Progress) + Send + Sync),
    daily_reserve_percent: u32,
}

impl Engine {
    pub fn new(store: Store, client: Client) -> Engine {
        Engine { store, client }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn gauge(&self) -> Option<RateGauge> {
        self.client.governor().map(|g| {
            let s = g.snapshot();
            RateGauge {
                burst_limit: s.burst_limit,
                burst_remaining: s.burst_remaining,
                burst_window_ms: s.burst_window_ms,
                search_per_second: s.search_per_second,
                daily_limit: s.daily_limit,
                daily_remaining: s.daily_remaining,
            }
        })
    }

    fn emit(&self, run: &Run<'_>) {
        let elapsed = run.started.elapsed();
        let eta_ms = match (run.scan_total, run.scan_started, run.phase) {
            (Some(total), Some(at), Phase::FullRead | Phase::Incremental) if run.scan_read > 0 => {
                let per = at.elapsed().as_secs_f64() / run.scan_read as f64;
                Some((per * total.saturating_sub(run.scan_read) as f64 * 1000.0) as u64)
            }
            (_, _, Phase::Done) => Some(0),
            _ => None,
        };
        (run.progress)(Progress {
            run_id: run.run_id,
            mapping: run.mapping.name.clone(),
            object: run.mapping.object.clone(),
            table: run.table.clone(),
            phase: run.phase,
            records_read: run.counts.read,
            records_total: run.scan_total,
            pages: run.counts.pages,
            api_calls: run.counts.api_calls,
            rate: self.gauge(),
            elapsed_ms: elapsed.as_millis() as u64,
            eta_ms,
        });
    }

    /// Reads `mapping`'s object from HubSpot into the local store: a full read the first time,
    /// when `options.full` is set, when the mapping changed or when a periodic refresh is due;
    /// otherwise only what changed. Resumes an interrupted read from its last checkpoint.
    pub async fn sync(
        &self,
        mapping: &Mapping,
        options: SyncOptions,
        cancel: CancelToken,
        progress: impl Fn(Progress) + Send + Sync,
    ) -> Result<RunSummary> {
        let table = crate::dest::store_table(&mapping.destination);
        if table.starts_with("_spoke_") || table.contains("__assoc_") {
            return Err(Error::store(
                &self.store.path().display().to_string(),
                format!("{table:?} is a name the engine keeps for itself"),
            ));
        }
        if !self.store.claim(&table) {
            return Err(Error::Busy { table });
        }
        let result = match crate::dest::attach(&self.store, mapping, &table).await {
            Ok(()) => {
                self.sync_claimed(mapping, &table, options, cancel, &progress)
                    .await
            }
            Err(e) => Err(e),
        };
        self.store.detach(&table);
        self.store.release(&table);
        result
    }

    async fn sync_claimed(
        &self,
        mapping: &Mapping,
        table: &str,
        options: SyncOptions,
        cancel: CancelToken,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<RunSummary> {
        let columns = self.store.ensure_table(mapping)?;
        let modified = modified_property(&mapping.object);
        let (mapped_properties, properties) = read_properties(mapping);
        let stream = self.store.stream(table)?.unwrap_or_default();
        let hash = mapping_hash(mapping);
        let now = now_ms();

        // What kind of read: resume, full, or incremental.
        let (mode, scan, resumed) = match &stream.scan {
            Some(scan) => (scan.kind.clone(), Some(scan.clone()), true),
            None => {
                let mapping_changed = stream.mapping_hash.as_deref() != Some(hash.as_str());
                let refresh_due = options.refresh_every_ms > 0
                    && stream
                        .last_full_ms
                        .is_none_or(|at| now - at >= options.refresh_every_ms as i64);
                let full =
                    options.full || stream.bookmark_ms.is_none() || mapping_changed || refresh_due;
                let kind = if full { "full" } else { "incremental" };
                (kind.to_owned(), None, false)
            }
        };
        let run_id = self.store.start_run(mapping, &mode)?;
        let mut run = Run {
            mapping,
            table: table.to_owned(),
            columns,
            properties,
            mapped_properties,
            modified,
            run_id,
            counts: RunCounts::default(),
            merges: Vec::new(),
            deleted_ids: Vec::new(),
            started: Instant::now(),
            phase: Phase::Starting,
            scan_read: 0,
            scan_total: None,
            scan_started: None,
            progress,
            daily_reserve_percent: options.daily_reserve_percent,
        };
        self.emit(&run);
        let scan = match scan {
            Some(s) => s,
            None => {
                let full = mode == "full";
                let s = Scan {
                    kind: mode.clone(),
                    since_ms: if full {
                        None
                    } else {
                        stream.bookmark_ms.map(|b| b - options.overlap_ms as i64)
                    },
                    cursor: None,
                    started_ms: now,
                    max_seen_ms: None,
                    run: run_id,
                    rewrite: full
                        && stream.mapping_hash.is_some()
                        && stream.mapping_hash.as_deref() != Some(hash.as_str()),
                    // List + batch read cannot apply criteria: with criteria, search only.
                    dual: full && options.list_and_batch && mapping.criteria.is_empty(),
                    list_after: None,
                    list_max: None,
                };
                self.store.begin_scan(table, mapping, &s)?;
                s
            }
        };
        let outcome = self
            .run_scan(&mut run, scan, &stream, &options, &hash, &cancel)
            .await;
        // Versions of locally edited rows were parked: settle them per the conflict policies.
        let outcome = match outcome {
            Ok(true) => self.settle(mapping, &run.columns, run_id).await.map(|s| {
                run.counts.api_calls += s.api_calls;
                true
            }),
            other => other,
        };
        let duration_ms = run.started.elapsed().as_millis() as u64;
        let (status, failure) = match &outcome {
            Ok(true) if run.counts.errors > 0 => (RunStatus::SucceededWithErrors, None),
            Ok(true) => (RunStatus::Succeeded, None),
            Ok(false) => (RunStatus::Cancelled, None),
            Err(e) => (RunStatus::Failed, Some(Failure::from(e.problem()))),
        };
        let message = summary_message(&run.counts, status, &mode, duration_ms, failure.as_ref());
        self.store.finish_run(
            run_id,
            status,
            &run.counts,
            duration_ms,
            failure.as_ref(),
            &message,
        )?;
        run.phase = Phase::Done;
        self.emit(&run);
        outcome?;
        Ok(RunSummary {
            run_id,
            mapping: mapping.name.clone(),
            object: mapping.object.clone(),
            table: table.to_owned(),
            mode,
            status,
            resumed,
            counts: run.counts,
            merges: run.merges,
            deleted_ids: run.deleted_ids,
            duration_ms,
            message,
        })
    }

    /// Refuses to spend the share of today's budget kept for other tools (the run stops at a
    /// checkpoint and resumes from there).
    fn check_budget(&self, percent: u32) -> Result<()> {
        let Some(g) = self.client.governor() else {
            return Ok(());
        };
        let snap = g.snapshot();
        let reserve = snap.daily_limit.saturating_mul(percent.min(100) as u64) / 100;
        if percent > 0 && snap.daily_remaining <= reserve {
            return Err(Error::DailyReserve {
                remaining: snap.daily_remaining,
                reserve,
            });
        }
        Ok(())
    }

    /// Counts one call and sends it.
    async fn call(&self, run: &mut Run<'_>, req: Request) -> Result<spoke_hubspot::Response> {
        // A run's first call always goes: its answer is what updates the daily budget.
        if run.counts.api_calls > 0 {
            self.check_budget(run.daily_reserve_percent)?;
        }
        run.counts.api_calls += 1;
        Ok(self.client.send(req).await?)
    }

    /// Sends a read and parses its page on a task of its own. A full read's lanes share one
    /// task, so otherwise an answer waits while another lane parses or commits its page: the
    /// call then holds its governor slot longer (slots count from the answer) and the parsing
    /// never uses a second core.
    async fn fetch_page(&self, req: Request) -> Result<Page<Raw>> {
        let client = self.client.clone();
        match tokio::spawn(async move { client.send(req).await?.json::<Page<Raw>>() }).await {
            Ok(page) => Ok(page?),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Unexpected(format!("a read was stopped: {e}"))),
        }
    }

    /// Ok(true) when complete, Ok(false) when cancelled.
    async fn run_scan(
        &self,
        run: &mut Run<'_>,
        mut scan: Scan,
        stream: &crate::store::Stream,
        options: &SyncOptions,
        hash: &str,
        cancel: &CancelToken,
    ) -> Result<bool> {
        let full = scan.kind == "full";
        // First the recycle bin: cheap, and its answer tells the governor today's budget. A full
        // read into an empty table has nothing to flag (and its reconciliation would find
        // anything archived since), so it starts reading at once.
        let mut round_trip = std::time::Duration::from_millis(500);
        if !(full && self.store.rows(&run.table, 0, 0)?.total == 0) {
            run.phase = Phase::Archived;
            self.emit(run);
            let (calls_before, timer) = (run.counts.api_calls, Instant::now());
            self.archived_pass(run).await?;
            // One round trip as this portal answers now, for planning how many calls to overlap.
            round_trip = timer.elapsed() / (run.counts.api_calls - calls_before).max(1) as u32;
        }
        let criteria = self.criteria_groups(run).await?;
        let track_assoc = !options.associations.is_empty();
        run.phase = if full {
            Phase::FullRead
        } else {
            Phase::Incremental
        };
        run.scan_started = Some(Instant::now());
        self.emit(run);
        let limit = options.page_size.clamp(1, 200);
        let inline = list_inline(&run.properties, options.list_properties_max_chars);
        if scan.dual
            && !self
                .full_dual(
                    run,
                    &mut scan,
                    track_assoc,
                    limit,
                    // Parsing and committing a page takes about as long as a fast round trip.
                    Lanes::plan(
                        self.gauge().as_ref(),
                        round_trip + std::time::Duration::from_millis(60),
                        inline,
                    ),
                    cancel,
                )
                .await?
        {
            return Ok(false);
        }
        while !scan.dual {
            if cancel.is_cancelled() {
                return Ok(false);
            }
            let mut engine_filters = Vec::new();
            if let Some(since) = scan.since_ms {
                engine_filters.push(Filter {
                    property_name: run.modified.to_owned(),
                    operator: Operator::Gte,
                    value: Some(since.max(0).to_string()),
                    high_value: None,
                    values: None,
                });
            }
            if let Some(cursor) = &scan.cursor {
                engine_filters.push(Filter {
                    property_name: "hs_object_id".to_owned(),
                    operator: Operator::Gt,
                    value: Some(cursor.clone()),
                    high_value: None,
                    values: None,
                });
            }
            let groups = spoke_mapping::with_engine_filters(&criteria, &engine_filters)?;
            let body = json!({
                "filterGroups": groups,
                "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }],
                "properties": run.properties,
                "limit": limit,
            });
            let req = Request::post(format!("/crm/v3/objects/{}/search", run.mapping.object))
                .json(body)
                .search()
                .idempotent(true);
            let page: Page<Raw> = self.call(run, req).await?.json()?;
            if run.scan_total.is_none() {
                run.scan_total = page.total;
            }
            let last_page = page.results.is_empty() || page.next_after().is_none();
            let records: Vec<Incoming> = page
                .results
                .into_iter()
                .map(|r| self.incoming(run, r))
                .collect();
            if let Some(max_id) = records.iter().map(|r| id_num(&r.id)).max() {
                let current = scan.cursor.as_deref().map(id_num).unwrap_or(0);
                if max_id > current {
                    scan.cursor = Some(max_id.to_string());
                }
            }
            for r in &records {
                scan.max_seen_ms = Some(
                    scan.max_seen_ms
                        .map_or(r.updated_ms, |m| m.max(r.updated_ms)),
                );
            }
            run.scan_read += records.len() as u64;
            let ctx = PageCtx {
                table: &run.table,
                columns: &run.columns,
                run_id: run.run_id,
                scan_run: scan.run,
                rewrite: scan.rewrite,
                assoc_all: full,
                track_assoc,
            };
            let result = self.store.commit_page(
                &ctx,
                &records,
                Checkpoint::Search {
                    cursor: scan.cursor.clone(),
                    max_seen_ms: scan.max_seen_ms,
                },
                &mut run.counts,
            )?;
            self.note_merges(run, result.merges);
            self.emit(run);
            if last_page {
                break;
            }
        }
        // The scan is complete: reconcile what a full read did not see, move the bookmark.
        if full {
            run.phase = Phase::Reconcile;
            self.emit(run);
            self.reconcile(run, scan.run, !run.mapping.criteria.is_empty())
                .await?;
        }
        let bookmark = match (full, scan.max_seen_ms) {
            (true, seen) => seen.map_or(scan.started_ms, |m| m.min(scan.started_ms)),
            (false, seen) => {
                let old = stream.bookmark_ms.unwrap_or(0);
                seen.map_or(old, |m| m.max(old)).min(scan.started_ms)
            }
        };
        let props = run.properties.clone();
        self.store.finish_scan(
            &run.table,
            bookmark,
            if full {
                Some((scan.started_ms, props.as_slice(), hash))
            } else {
                None
            },
        )?;
        if cancel.is_cancelled() {
            return Ok(false);
        }
        if track_assoc {
            run.phase = Phase::Associations;
            self.emit(run);
            let due = full
                || (options.associations_every_ms > 0
                    && stream
                        .last_assoc_ms
                        .is_none_or(|at| now_ms() - at >= options.associations_every_ms as i64));
            if due {
                self.store.queue_all_assoc(&run.table)?;
            }
            if !self
                .associations(run, &options.associations, cancel)
                .await?
            {
                return Ok(false);
            }
            if due {
                self.store.set_last_assoc(&run.table, now_ms())?;
            }
        }
        Ok(true)
    }

    /// A full read by two paths at once, each on its own rate budget: search (properties in the
    /// body, 200 a page, highest id first) and list (ids only) + `batch/read` (100, the
    /// properties in the body, lowest id first), with as many requests in flight as the budgets
    /// can take at the measured round-trip time (see [`Lanes::plan`]).
    ///
    /// The ids still to read are a set of gaps. Each gap is read from both ends: a list lane
    /// upward from its bottom, a search lane downward (keyset `hs_object_id BETWEEN`) from its
    /// top; it is done where they meet. A lane without work splits the widest gap in two and
    /// takes the new end (a list lane starts the upper half with `after` = its first id, which
    /// is what HubSpot's list cursor is; a page that contradicts that turns list seeks off and
    /// leaves such halves to search). Each side claims ids before reading them, so no record is
    /// read twice, and every page commits the committed state of all gaps as its checkpoint.
    /// Ok(false) when cancelled.
    async fn full_dual(
        &self,
        run: &mut Run<'_>,
        scan: &mut Scan,
        track_assoc: bool,
        limit: u32,
        lanes: Lanes,
        cancel: &CancelToken,
    ) -> Result<bool> {
        let read_started = Instant::now();
        let gaps = GapState::restore(scan);
        let shared = std::sync::Mutex::new(DualState {
            counts: std::mem::take(&mut run.counts),
            merges: Vec::new(),
            gaps,
            seek_ok: true,
            density: None,
            max_seen: scan.max_seen_ms,
            read: 0,
            total: None,
            probing: None,
            list_claimed: 0,
        });
        let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
        let timings = std::sync::Mutex::new(Vec::<LaneTiming>::new());
        let view: &Run<'_> = run;
        let ctx = PageCtx {
            table: &view.table,
            columns: &view.columns,
            run_id: view.run_id,
            scan_run: scan.run,
            rewrite: scan.rewrite,
            assoc_all: true,
            track_assoc,
        };
        let progress = |s: &DualState| {
            let p = Run {
                counts: s.counts.clone(),
                merges: Vec::new(),
                deleted_ids: Vec::new(),
                scan_read: s.read,
                scan_total: s.total,
                mapping: view.mapping,
                table: view.table.clone(),
                columns: Vec::new(),
                properties: Vec::new(),
                mapped_properties: BTreeSet::new(),
                modified: view.modified,
                run_id: view.run_id,
                started: view.started,
                phase: view.phase,
                scan_started: view.scan_started,
                progress: view.progress,
                daily_reserve_percent: view.daily_reserve_percent,
            };
            self.emit(&p);
        };
        // A lane's page: its records and the committed state of every gap (the checkpoint), in
        // one transaction.
        let commit = |s: &mut DualState, records: &[Incoming]| -> Result<()> {
            let seen = records.iter().map(|r| r.updated_ms).max();
            s.read += records.len() as u64;
            let checkpoint = Checkpoint::Search {
                cursor: Some(s.checkpoint()),
                max_seen_ms: seen,
            };
            let result = self
                .store
                .commit_page(&ctx, records, checkpoint, &mut s.counts)?;
            s.merges.extend(result.merges);
            if let Some(m) = seen {
                s.max_seen = Some(s.max_seen.map_or(m, |x| x.max(m)));
            }
            progress(s);
            Ok(())
        };
        let object = view.mapping.object.clone();
        // Waits for work: Some(gap index) once this lane owns a side, None when all is read.
        let take = |side: Side, lane: usize| {
            let shared = &shared;
            async move {
                loop {
                    if cancel.is_cancelled() {
                        return Ok::<Option<usize>, Error>(None);
                    }
                    {
                        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                        // The first call is a list page when there is one: search answers
                        // carry no rate-limit headers, so they cannot tell today's budget.
                        let list_first = side == Side::Search
                            && s.probing.is_none()
                            && s.gaps
                                .iter()
                                .any(|g| !g.closed() && g.list_after.as_deref() != Some(""));
                        if s.probing == Some(true) || list_first {
                            // Wait below.
                        } else if let Some(i) = s.take(side, lane, limit) {
                            if s.probing.is_none() {
                                s.probing = Some(true);
                            }
                            return Ok(Some(i));
                        }
                        if s.gaps.iter().all(|g| {
                            g.closed() && g.list_owner.is_none() && g.search_owner.is_none()
                        }) {
                            return Ok(None);
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        };
        let search_lane = |lane: usize| {
            let object = object.clone();
            let take = &take;
            let commit = &commit;
            let timings = &timings;
            async move {
                let mut t = LaneTiming::new(Side::Search, lane);
                let result = async {
                while take(Side::Search, lane).await?.is_some() {
                    loop {
                        if cancel.is_cancelled() {
                            return Ok::<bool, Error>(false);
                        }
                        let (low, high, below) = {
                            let s = lock();
                            let Some(g) = s.owned(Side::Search, lane) else {
                                break;
                            };
                            (
                                g.list_max.saturating_add(1),
                                g.search_min.map(|m| m - 1),
                                s.list_claimed,
                            )
                        };
                        let filters = match (high, low) {
                            (None, 1) => Vec::new(),
                            (None, low) => vec![Filter {
                                property_name: "hs_object_id".to_owned(),
                                operator: Operator::Gte,
                                value: Some(low.to_string()),
                                high_value: None,
                                values: None,
                            }],
                            (Some(h), low) => vec![Filter {
                                property_name: "hs_object_id".to_owned(),
                                operator: Operator::Between,
                                value: Some(low.min(h).to_string()),
                                high_value: Some(h.to_string()),
                                values: None,
                            }],
                        };
                        let groups = spoke_mapping::with_engine_filters(&[], &filters)?;
                        let body = json!({
                            "filterGroups": groups,
                            "sorts": [{ "propertyName": "hs_object_id", "direction": "DESCENDING" }],
                            "properties": view.properties,
                            "limit": limit,
                        });
                        let req = Request::post(format!("/crm/v3/objects/{object}/search"))
                            .json(body)
                            .search()
                            .idempotent(true);
                        if lock().counts.api_calls > 0 {
                            self.check_budget(view.daily_reserve_percent)?;
                        }
                        lock().counts.api_calls += 1;
                        let call = Instant::now();
                        let sent = self.fetch_page(req).await;
                        t.calls += 1;
                        t.in_calls += call.elapsed();
                        lock().probing = Some(false);
                        let work = Instant::now();
                        let page = sent?;
                        let exhausted = page.results.is_empty() || page.next_after().is_none();
                        let mut records: Vec<Incoming> = page
                            .results
                            .into_iter()
                            .map(|r| self.incoming(view, r))
                            .collect();
                        let page_min = records.iter().map(|r| id_num(&r.id)).min();
                        let page_max = records.iter().map(|r| id_num(&r.id)).max();
                        let mut s = lock();
                        let Some(gi) = s.owner_index(Side::Search, lane) else {
                            break;
                        };
                        // The gap may have been split meanwhile: ids at or below its list side
                        // are someone else's to write.
                        let claimed = s.gaps[gi].list_max;
                        let top = s.gaps[gi].search_min.unwrap_or(u64::MAX);
                        records.retain(|r| {
                            let id = id_num(&r.id);
                            id > claimed && id < top
                        });
                        let covered_to = if exhausted {
                            claimed.saturating_add(1)
                        } else {
                            page_min.unwrap_or(0).max(claimed.saturating_add(1))
                        };
                        if !exhausted {
                            if let (Some(lo), Some(hi)) = (page_min, high.or(page_max)) {
                                s.note_density(limit as u64, hi.saturating_sub(lo) + 1);
                            }
                        }
                        let g = &mut s.gaps[gi];
                        if g.search_min.is_none_or(|m| covered_to < m) {
                            g.search_min = Some(covered_to);
                        }
                        let done = g.closed();
                        if done {
                            g.search_owner = None;
                        }
                        // The first page of the top gap counts what is left above the list's
                        // claims; with those, every record.
                        if s.total.is_none() && high.is_none() {
                            s.total = page.total.map(|t| t + below);
                        }
                        commit(&mut s, &records)?;
                        t.working += work.elapsed();
                        if done {
                            break;
                        }
                    }
                }
                Ok(!cancel.is_cancelled())
                }
                .await;
                t.finish(timings);
                result
            }
        };
        // With `inline`, list pages carry the properties (one call per 100 records); else ids
        // only, and `batch/read` fetches the properties in its body.
        let list_properties = if lanes.inline {
            view.properties.join(",")
        } else {
            "hs_object_id".to_owned()
        };
        let fetch_ids = |after: Option<String>| {
            let object = object.clone();
            let list_properties = list_properties.clone();
            async move {
                let mut req = Request::get(format!("/crm/v3/objects/{object}"))
                    .query("limit", LIST_LIMIT.to_string())
                    .query("properties", list_properties);
                if let Some(a) = after {
                    req = req.query("after", a);
                }
                // A run's first call always goes: its answer is what updates the daily budget.
                if lock().counts.api_calls > 0 {
                    self.check_budget(view.daily_reserve_percent)?;
                }
                lock().counts.api_calls += 1;
                let sent = self.fetch_page(req).await;
                lock().probing = Some(false);
                Ok::<Page<Raw>, Error>(sent?)
            }
        };
        let read_batch = |ids: Vec<String>| {
            let object = object.clone();
            async move {
                if ids.is_empty() {
                    return Ok::<Vec<Incoming>, Error>(Vec::new());
                }
                let body = json!({
                    "inputs": ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
                    "properties": view.properties,
                });
                let req = Request::post(format!("/crm/v3/objects/{object}/batch/read"))
                    .json(body)
                    .idempotent(true);
                self.check_budget(view.daily_reserve_percent)?;
                lock().counts.api_calls += 1;
                let found = self.fetch_page(req).await?;
                Ok(found
                    .results
                    .into_iter()
                    .map(|r| self.incoming(view, r))
                    .collect())
            }
        };
        // Pipelined: the next page of ids is listed while this page's records are read.
        let list_lane = |lane: usize| {
            let take = &take;
            let fetch_ids = &fetch_ids;
            let read_batch = &read_batch;
            let commit = &commit;
            let timings = &timings;
            async move {
                let mut t = LaneTiming::new(Side::List, lane);
                let result = async {
                'work: while take(Side::List, lane).await?.is_some() {
                    let (start, seek) = {
                        let s = lock();
                        let Some(g) = s.owned(Side::List, lane) else {
                            continue;
                        };
                        (g.list_after.clone(), g.seek)
                    };
                    let mut ids_page = match fetch_ids(start.clone()).await {
                        Ok(p) => p,
                        // HubSpot refused `after` = an id: no more seeks; search reads the half.
                        Err(Error::HubSpot(spoke_hubspot::Error::Api { status: 400, .. }))
                            if seek =>
                        {
                            let mut s = lock();
                            s.seek_ok = false;
                            if let Some(gi) = s.owner_index(Side::List, lane) {
                                s.gaps[gi].list_after = Some(String::new());
                                s.gaps[gi].list_owner = None;
                            }
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let mut seeking = seek;
                    loop {
                        if cancel.is_cancelled() {
                            return Ok::<bool, Error>(false);
                        }
                        let next = ids_page.next_after().map(str::to_owned);
                        let exhausted = next.is_none();
                        let page_max = ids_page.results.iter().map(|r| id_num(&r.id)).max();
                        let page_min = ids_page.results.iter().map(|r| id_num(&r.id)).min();
                        // Claim this page's ids before reading them; leave the search side's alone.
                        let (ids, go_on) = {
                            let mut s = lock();
                            let Some(gi) = s.owner_index(Side::List, lane) else {
                                continue 'work;
                            };
                            let from = s.gaps[gi].list_max;
                            if seeking {
                                let want = start.as_deref().map(id_num).unwrap_or(0);
                                if page_min.is_some_and(|m| m < want) {
                                    // `after` is not an id here: no more seeks; search reads the half.
                                    s.seek_ok = false;
                                    s.gaps[gi].list_after = Some(String::new());
                                    s.gaps[gi].list_owner = None;
                                    continue 'work;
                                }
                                seeking = false;
                            }
                            let g = &mut s.gaps[gi];
                            let top = g.search_min;
                            let ids: Vec<String> = ids_page
                                .results
                                .iter()
                                .map(|r| r.id.clone())
                                .filter(|id| {
                                    let n = id_num(id);
                                    n > from && top.is_none_or(|m| n < m)
                                })
                                .collect();
                            let reached =
                                top.is_some_and(|m| page_max.unwrap_or(0).saturating_add(1) >= m);
                            g.list_max = match top {
                                Some(m) if reached || exhausted => m - 1,
                                None if exhausted => u64::MAX,
                                _ => from.max(page_max.unwrap_or(0)),
                            };
                            s.list_claimed += ids.len() as u64;
                            (ids, !(reached || exhausted))
                        };
                        let prefetch = async {
                            if go_on {
                                fetch_ids(next.clone()).await.map(Some)
                            } else {
                                Ok(None)
                            }
                        };
                        let call = Instant::now();
                        let (records, following) = if lanes.inline {
                            // The page has the properties: its claimed records are the read.
                            let claimed: BTreeSet<&String> = ids.iter().collect();
                            let records: Vec<Incoming> = std::mem::take(&mut ids_page.results)
                                .into_iter()
                                .filter(|r| claimed.contains(&r.id))
                                .map(|r| self.incoming(view, r))
                                .collect();
                            (Ok::<Vec<Incoming>, Error>(records), prefetch.await)
                        } else {
                            tokio::join!(read_batch(ids), prefetch)
                        };
                        t.calls += u32::from(!lanes.inline) + u32::from(go_on);
                        t.in_calls += call.elapsed();
                        let work = Instant::now();
                        let mut records = records?;
                        let mut s = lock();
                        let Some(gi) = s.owner_index(Side::List, lane) else {
                            continue 'work;
                        };
                        let g = &mut s.gaps[gi];
                        // Never past the search side (it moves only down to this side's claim).
                        if let Some(m) = g.search_min {
                            records.retain(|r| id_num(&r.id) < m);
                        }
                        g.list_committed = g.list_max;
                        g.list_after = Some(if go_on {
                            next.clone().unwrap_or_default()
                        } else {
                            String::new()
                        });
                        g.seek = false;
                        if !go_on {
                            g.list_owner = None;
                        }
                        commit(&mut s, &records)?;
                        drop(s);
                        t.working += work.elapsed();
                        match following? {
                            Some(page) => ids_page = page,
                            None => continue 'work,
                        }
                    }
                }
                Ok(!cancel.is_cancelled())
                }
                .await;
                t.finish(timings);
                result
            }
        };
        let mut futures: Vec<
            std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool>> + Send + '_>>,
        > = Vec::new();
        for lane in 0..lanes.search {
            futures.push(Box::pin(search_lane(lane)));
        }
        for lane in 0..lanes.list {
            futures.push(Box::pin(list_lane(lane)));
        }
        let outcome = join_lanes(futures).await;
        let read_for = read_started.elapsed();
        for t in timings.into_inner().unwrap_or_else(|p| p.into_inner()) {
            // Where a lane's time went: in calls (the governor's wait and the round trip),
            // parsing and committing, or idle (waiting for work, and the read's tail).
            tracing::debug!(
                target: "spoke_engine::lanes",
                "{:?} lane {}: {} calls, {:.1} s in calls, {:.1} s parsing and committing, {:.1} s idle, done at {:.1} s of {:.1} s",
                t.side,
                t.lane,
                t.calls,
                t.in_calls.as_secs_f64(),
                t.working.as_secs_f64(),
                t.ended.saturating_sub(t.in_calls + t.working).as_secs_f64(),
                t.ended.as_secs_f64(),
                read_for.as_secs_f64(),
            );
        }
        let s = shared.into_inner().unwrap_or_else(|p| p.into_inner());
        run.counts = s.counts;
        run.scan_read += s.read;
        if run.scan_total.is_none() {
            run.scan_total = s.total;
        }
        scan.max_seen_ms = s.max_seen;
        self.note_merges(run, s.merges);
        outcome
    }

    fn note_merges(&self, run: &mut Run<'_>, merges: Vec<(String, String)>) {
        for (loser, survivor) in merges {
            if run.merges.len() < 100 {
                run.merges.push(MergeRedirect {
                    loser_id: loser,
                    survivor_id: survivor,
                });
            }
        }
    }

    fn incoming(&self, run: &Run<'_>, r: Raw) -> Incoming {
        let updated_ms = r
            .updated_at
            .as_deref()
            .and_then(parse_ms)
            .or_else(|| {
                r.properties
                    .get(run.modified)
                    .cloned()
                    .flatten()
                    .as_deref()
                    .and_then(parse_ms)
            })
            .unwrap_or(0);
        let merged_ids: Vec<String> = r
            .properties
            .get("hs_merged_object_ids")
            .cloned()
            .flatten()
            .map(|v| {
                v.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let raw_props: BTreeMap<&String, &Option<String>> = r
            .properties
            .iter()
            .filter(|(k, _)| run.mapped_properties.contains(*k))
            .collect();
        let raw = serde_json::to_string(&raw_props).unwrap_or_default();
        let record = HubSpotRecord {
            id: r.id.clone(),
            properties: r.properties,
        };
        let (row, error) = map_record(run.mapping, &record);
        Incoming {
            id: r.id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            updated_ms,
            raw,
            row,
            error,
            merged_ids,
        }
    }

    async fn criteria_groups(&self, run: &mut Run<'_>) -> Result<Vec<FilterGroup>> {
        if run.mapping.criteria.is_empty() {
            return Ok(Vec::new());
        }
        let cache = self
            .store
            .path()
            .parent()
            .map(|p| p.join("catalog"))
            .unwrap_or_else(|| std::path::PathBuf::from("catalog"));
        run.counts.api_calls += 1;
        let catalog =
            spoke_mapping::discover_properties(&self.client, &run.mapping.object, &cache, false)
                .await?;
        Ok(spoke_mapping::compile_criteria(
            &run.mapping.criteria,
            &catalog,
        )?)
    }

    /// After a full read: local records the read did not see were merged away, archived,
    /// hard-deleted, or (with criteria) no longer match. Finds out which with batch reads.
    async fn reconcile(&self, run: &mut Run<'_>, scan_run: i64, has_criteria: bool) -> Result<()> {
        let unseen = self.store.unseen_ids(&run.table, scan_run)?;
        for chunk in unseen.chunks(BATCH_READ) {
            let requested: BTreeSet<&String> = chunk.iter().collect();
            // Live records (a merged-away id answers with its survivor).
            let body = json!({
                "inputs": chunk.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
                "properties": run.properties,
            });
            let req = Request::post(format!("/crm/v3/objects/{}/batch/read", run.mapping.object))
                .json(body)
                .idempotent(true);
            let live: Page<Raw> = self.call(run, req).await?.json()?;
            let mut accounted: BTreeSet<String> = BTreeSet::new();
            let mut upserts = Vec::new();
            let mut out_of_criteria = Vec::new();
            for r in live.results {
                let inc = self.incoming(run, r);
                if requested.contains(&inc.id) {
                    accounted.insert(inc.id.clone());
                    if has_criteria {
                        out_of_criteria.push(inc.id.clone());
                        continue;
                    }
                }
                for m in &inc.merged_ids {
                    accounted.insert(m.clone());
                }
                upserts.push(inc);
            }
            if !upserts.is_empty() {
                let ctx = PageCtx {
                    table: &run.table,
                    columns: &run.columns,
                    run_id: run.run_id,
                    scan_run,
                    rewrite: false,
                    assoc_all: false,
                    track_assoc: false,
                };
                if has_criteria {
                    // A survivor outside the criteria: only its merges matter here.
                    for u in &mut upserts {
                        u.merged_ids.retain(|m| requested.contains(m));
                    }
                    let losers: Vec<(String, String)> = upserts
                        .iter()
                        .flat_map(|u| u.merged_ids.iter().map(|m| (m.clone(), u.id.clone())))
                        .collect();
                    self.store
                        .apply_merges(&run.table, run.run_id, &losers, &mut run.counts)?;
                    self.note_merges(run, losers);
                } else {
                    let result = self.store.commit_page(
                        &ctx,
                        &upserts,
                        Checkpoint::None,
                        &mut run.counts,
                    )?;
                    self.note_merges(run, result.merges);
                }
            }
            if !out_of_criteria.is_empty() {
                self.record_deleted(run, &out_of_criteria)?;
            }
            let rest: Vec<&String> = chunk.iter().filter(|id| !accounted.contains(*id)).collect();
            if rest.is_empty() {
                continue;
            }
            self.settle_missing(run, rest).await?;
            self.emit(run);
        }
        Ok(())
    }

    /// Ids a batch read did not answer: in the recycle bin → flagged archived; gone everywhere
    /// (hard-deleted, GDPR, purged from the recycle bin) → removed. Used by reconciliation and
    /// by webhook events.
    async fn settle_missing(&self, run: &mut Run<'_>, missing: Vec<&String>) -> Result<()> {
        if missing.is_empty() {
            return Ok(());
        }
        let body = json!({
            "inputs": missing.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
            "properties": ["hs_object_id"],
            "archived": true,
        });
        let req = Request::post(format!("/crm/v3/objects/{}/batch/read", run.mapping.object))
            .json(body)
            .idempotent(true);
        let archived: Page<Raw> = self.call(run, req).await?.json()?;
        let flagged: Vec<(String, Option<String>)> = archived
            .results
            .into_iter()
            .filter(|r| missing.contains(&&r.id))
            .map(|r| (r.id, r.archived_at))
            .collect();
        let flagged_ids: BTreeSet<String> = flagged.iter().map(|(id, _)| id.clone()).collect();
        self.store
            .mark_archived(&run.table, run.run_id, &flagged, &mut run.counts)?;
        let gone: Vec<String> = missing
            .into_iter()
            .filter(|id| !flagged_ids.contains(*id))
            .cloned()
            .collect();
        if !gone.is_empty() {
            self.record_deleted(run, &gone)?;
        }
        Ok(())
    }

    fn record_deleted(&self, run: &mut Run<'_>, ids: &[String]) -> Result<()> {
        self.store
            .delete_records(&run.table, run.run_id, ids, &mut run.counts)?;
        for id in ids {
            if run.deleted_ids.len() < 100 {
                run.deleted_ids.push(id.clone());
            }
        }
        Ok(())
    }

    /// Flags local records that HubSpot lists as archived (`archived=true`).
    async fn archived_pass(&self, run: &mut Run<'_>) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let mut req = Request::get(format!("/crm/v3/objects/{}", run.mapping.object))
                .query("limit", LIST_LIMIT.to_string())
                .query("archived", "true")
                .query("properties", "hs_object_id");
            if let Some(a) = &after {
                req = req.query("after", a.clone());
            }
            let page: Page<Raw> = self.call(run, req).await?.json()?;
            let next = page.next_after().map(str::to_owned);
            let items: Vec<(String, Option<String>)> = page
                .results
                .into_iter()
                .map(|r| (r.id, r.archived_at))
                .collect();
            self.store
                .mark_archived(&run.table, run.run_id, &items, &mut run.counts)?;
            match next {
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => break,
            }
        }
        self.emit(run);
        Ok(())
    }

    /// Reads the associations of queued records (v4 `batch/read`, 1,000 ids a call per object
    /// pair) and replaces their association rows. Ok(false) when cancelled.
    async fn associations(
        &self,
        run: &mut Run<'_>,
        to_objects: &[String],
        cancel: &CancelToken,
    ) -> Result<bool> {
        let mut tables = Vec::new();
        for to in to_objects {
            tables.push((to.clone(), self.store.ensure_assoc_table(&run.table, to)?));
        }
        loop {
            if cancel.is_cancelled() {
                return Ok(false);
            }
            let ids = self.store.pending_assoc(&run.table, ASSOC_BATCH)?;
            if ids.is_empty() {
                return Ok(true);
            }
            let mut per_table = Vec::new();
            for (to, assoc_table) in &tables {
                let body = json!({
                    "inputs": ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
                });
                let req = Request::post(format!(
                    "/crm/v4/associations/{}/{}/batch/read",
                    run.mapping.object, to
                ))
                .json(body)
                .idempotent(true);
                let found: AssocResults = self.call(run, req).await?.json()?;
                let mut map: crate::store::AssocRows = BTreeMap::new();
                for r in found.results {
                    let from = id_text(&r.from.id);
                    let list = map.entry(from).or_default();
                    for t in r.to {
                        list.push((
                            id_text(&t.to_object_id),
                            t.association_types.iter().map(|a| a.type_id).collect(),
                            t.association_types
                                .iter()
                                .filter_map(|a| a.label.clone())
                                .collect(),
                        ));
                    }
                }
                per_table.push((assoc_table.clone(), map));
            }
            self.store.commit_associations(
                &run.table,
                run.run_id,
                &ids,
                &per_table,
                &mut run.counts,
            )?;
            self.emit(run);
        }
    }
}

/// Which end of a gap a lane reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Search,
    List,
}

/// Where one lane of a full read spent its time (logged at debug level, target
/// `spoke_engine::lanes`; the bench prints it).
struct LaneTiming {
    side: Side,
    lane: usize,
    calls: u32,
    /// In `send`: the governor's wait plus the round trip (a list lane's list page and batch
    /// read overlap; counted once).
    in_calls: std::time::Duration,
    /// Parsing, claiming and committing pages.
    working: std::time::Duration,
    started: Instant,
    /// From the lane's start to its end.
    ended: std::time::Duration,
}

impl LaneTiming {
    fn new(side: Side, lane: usize) -> LaneTiming {
        LaneTiming {
            side,
            lane,
            calls: 0,
            in_calls: std::time::Duration::ZERO,
            working: std::time::Duration::ZERO,
            started: Instant::now(),
            ended: std::time::Duration::ZERO,
        }
    }

    fn finish(mut self, all: &std::sync::Mutex<Vec<LaneTiming>>) {
        self.ended = self.started.elapsed();
        all.lock().unwrap_or_else(|p| p.into_inner()).push(self);
    }
}

/// How many requests a full read keeps in flight on each path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lanes {
    pub search: usize,
    pub list: usize,
    /// List pages carry the properties (no `batch/read`), see [`list_inline`].
    pub inline: bool,
}

/// Whether list pages can carry the properties: their URL-encoded `properties` parameter (a
/// comma is `%2C`) stays within `max_chars`. Above it a 414 (URI too long) is a risk, so the
/// properties go in `batch/read` bodies instead.
pub fn list_inline(properties: &[String], max_chars: u32) -> bool {
    let encoded: usize = properties.iter().map(|p| p.len() + 3).sum();
    max_chars > 0 && !properties.is_empty() && encoded <= max_chars as usize
}

impl Lanes {
    /// Enough lanes to keep each budget busy when one call (round trip plus parsing and
    /// committing its page) takes `call`: search lanes ≈ search calls per second × call time,
    /// list lanes ≈ burst calls per second × call time (÷ 2 when a lane has a list page and a
    /// batch read in flight at once), plus one each to cover jitter. More would only queue in
    /// the governor.
    pub(crate) fn plan(gauge: Option<&RateGauge>, call: std::time::Duration, inline: bool) -> Lanes {
        let Some(g) = gauge else {
            return Lanes { search: 2, list: 2, inline };
        };
        let t = call.as_secs_f64();
        let burst_per_s = g.burst_limit as f64 / (g.burst_window_ms.max(1) as f64 / 1000.0);
        let search = (g.search_per_second as f64 * t).ceil() as usize + 1;
        let per_lane = if inline { 1.0 } else { 2.0 };
        let list = (burst_per_s * t / per_lane).ceil() as usize + 1;
        Lanes {
            search: search.clamp(1, 8),
            list: list.clamp(1, 8),
            inline,
        }
    }
}

/// One stretch of ids a full read still has to cover (see [`Engine::full_dual`]).
#[derive(Debug, Clone, Default)]
struct GapState {
    /// Ids up to here are claimed by the list side (or belong to the gap below).
    list_max: u64,
    /// Ids up to here are committed (the checkpoint's view of `list_max`).
    list_committed: u64,
    /// The list side's next cursor: `None` = from the start, `Some("")` = the list side is done.
    list_after: Option<String>,
    /// `list_after` is a seek (an id) not yet confirmed by a page.
    seek: bool,
    /// Ids from here up are read (or belong to the gap above); `None` = no upper bound yet.
    search_min: Option<u64>,
    list_owner: Option<usize>,
    search_owner: Option<usize>,
}

/// A gap as committed in the checkpoint (`scan_cursor`, JSON).
#[derive(Debug, Serialize, Deserialize)]
struct SavedGap {
    l: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    k: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<u64>,
}

impl GapState {
    fn closed(&self) -> bool {
        match self.search_min {
            Some(m) => self.list_max.saturating_add(1) >= m,
            None => self.list_max == u64::MAX,
        }
    }

    fn width(&self) -> Option<u64> {
        self.search_min
            .map(|m| m.saturating_sub(self.list_max.saturating_add(1)))
    }

    /// The gaps of an interrupted full read (or one gap over every id for a new one).
    fn restore(scan: &Scan) -> Vec<GapState> {
        if let Some(saved) = scan
            .cursor
            .as_deref()
            .filter(|c| c.starts_with('['))
            .and_then(|c| serde_json::from_str::<Vec<SavedGap>>(c).ok())
        {
            return saved
                .into_iter()
                .map(|g| GapState {
                    list_max: g.l,
                    list_committed: g.l,
                    list_after: g.a,
                    seek: g.k,
                    search_min: g.s,
                    ..GapState::default()
                })
                .collect();
        }
        // One search cursor and one list cursor (checkpoints written before gaps).
        let list_done = scan.list_after.as_deref() == Some("");
        let list_max = scan
            .list_max
            .as_deref()
            .map(id_num)
            .unwrap_or(if list_done { u64::MAX } else { 0 });
        vec![GapState {
            list_max,
            list_committed: list_max,
            list_after: scan.list_after.clone(),
            seek: false,
            search_min: scan.cursor.as_deref().map(id_num),
            ..GapState::default()
        }]
    }
}

struct DualState {
    counts: RunCounts,
    merges: Vec<(String, String)>,
    gaps: Vec<GapState>,
    /// HubSpot's list cursor behaves as an id (a seek returned what it should).
    seek_ok: bool,
    /// Records per id, from search pages.
    density: Option<(u64, u64)>,
    max_seen: Option<i64>,
    read: u64,
    total: Option<u64>,
    /// The read's first call is out and no answer has come yet: the others wait, so that the
    /// daily budget in its answer's headers is known before more calls are spent.
    probing: Option<bool>,
    /// Ids the list sides have claimed (for the first search page's total).
    list_claimed: u64,
}

impl DualState {
    fn owner_index(&self, side: Side, lane: usize) -> Option<usize> {
        self.gaps.iter().position(|g| match side {
            Side::Search => g.search_owner == Some(lane),
            Side::List => g.list_owner == Some(lane),
        })
    }

    fn owned(&self, side: Side, lane: usize) -> Option<&GapState> {
        self.owner_index(side, lane).map(|i| &self.gaps[i])
    }

    fn note_density(&mut self, records: u64, ids: u64) {
        let (r, i) = self.density.unwrap_or((0, 0));
        self.density = Some((r + records, i + ids));
    }

    /// The committed state of every gap still open.
    fn checkpoint(&self) -> String {
        let open: Vec<SavedGap> = self
            .gaps
            .iter()
            .filter(|g| match g.search_min {
                Some(m) => g.list_committed.saturating_add(1) < m,
                None => g.list_committed != u64::MAX,
            })
            .map(|g| SavedGap {
                l: g.list_committed,
                a: g.list_after.clone(),
                k: g.seek,
                s: g.search_min,
            })
            .collect();
        serde_json::to_string(&open).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Gives `lane` a side to read: a free one (widest gap first), else the new end of the
    /// widest gap split in two. None when there is nothing to take now.
    fn take(&mut self, side: Side, lane: usize, limit: u32) -> Option<usize> {
        let seek_ok = self.seek_ok;
        let free = |g: &GapState| {
            !g.closed()
                && match side {
                    Side::Search => g.search_owner.is_none(),
                    Side::List => {
                        g.list_owner.is_none()
                            && g.list_after.as_deref() != Some("")
                            && (!g.seek || seek_ok)
                    }
                }
        };
        let best = self
            .gaps
            .iter()
            .enumerate()
            .filter(|(_, g)| free(g))
            .max_by_key(|(_, g)| g.width().unwrap_or(u64::MAX))
            .map(|(i, _)| i);
        if let Some(i) = best {
            match side {
                Side::Search => self.gaps[i].search_owner = Some(lane),
                Side::List => self.gaps[i].list_owner = Some(lane),
            }
            return Some(i);
        }
        if side == Side::List && !seek_ok {
            return None;
        }
        // Split only gaps worth at least 8 pages (each new gap ends in a part-filled page).
        let (records, ids) = self.density?;
        if records == 0 {
            return None;
        }
        let min_width = (8 * limit as u64).saturating_mul(ids) / records;
        let (i, width) = self
            .gaps
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.closed())
            .filter_map(|(i, g)| g.width().map(|w| (i, w)))
            .max_by_key(|(_, w)| *w)?;
        if width < min_width.max(4) {
            return None;
        }
        let g = &self.gaps[i];
        let low = g.list_max + 1;
        let high = g.search_min? - 1;
        let mid = low + (high - low) / 2;
        // The lower half keeps the list side, the upper half the search side.
        let lower = GapState {
            list_max: g.list_max,
            list_committed: g.list_committed,
            list_after: g.list_after.clone(),
            seek: g.seek,
            search_min: Some(mid + 1),
            list_owner: g.list_owner,
            search_owner: None,
        };
        let upper = &mut self.gaps[i];
        upper.list_max = mid;
        upper.list_committed = mid;
        upper.list_after = Some((mid + 1).to_string());
        upper.seek = true;
        upper.list_owner = None;
        self.gaps.push(lower);
        let lower = self.gaps.len() - 1;
        match side {
            Side::Search => {
                self.gaps[lower].search_owner = Some(lane);
                Some(lower)
            }
            Side::List => {
                self.gaps[i].list_owner = Some(lane);
                Some(i)
            }
        }
    }
}

/// Runs every lane to the end; the first error ends them all (pages already committed stay).
async fn join_lanes(
    mut lanes: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool>> + Send + '_>>>,
) -> Result<bool> {
    let mut results: Vec<Option<bool>> = vec![None; lanes.len()];
    std::future::poll_fn(|cx| {
        for (i, lane) in lanes.iter_mut().enumerate() {
            if results[i].is_some() {
                continue;
            }
            if let std::task::Poll::Ready(r) = lane.as_mut().poll(cx) {
                match r {
                    Ok(done) => results[i] = Some(done),
                    Err(e) => return std::task::Poll::Ready(Err(e)),
                }
            }
        }
        if results.iter().all(Option::is_some) {
            std::task::Poll::Ready(Ok(results.iter().all(|r| *r == Some(true))))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

fn summary_message(
    c: &RunCounts,
    status: RunStatus,
    mode: &str,
    duration_ms: u64,
    failure: Option<&Failure>,
) -> String {
    let secs = duration_ms as f64 / 1000.0;
    let what = format!(
        "{mode} read: {} read, {} new, {} updated, {} unchanged, {} archived, {} restored, {} deleted, {} merged, {} association changes, {} errors; {} API calls in {secs:.1}s",
        c.read, c.created, c.updated, c.unchanged, c.archived, c.restored, c.deleted, c.merged,
        c.associations_changed, c.errors, c.api_calls
    );
    match (status, failure) {
        (RunStatus::Failed, Some(f)) => format!("Failed: {} ({what})", f.message),
        (RunStatus::Cancelled, _) => format!("Cancelled; the next sync resumes here ({what})"),
        _ => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoke_mapping::Destination;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn list_pages_carry_the_properties_only_while_the_url_stays_short() {
        let props = |n: usize| (0..n).map(|i| format!("custom_property_{i:03}")).collect::<Vec<_>>();
        // Names of 19 characters: 19 + 3 for the encoded comma = 22 each.
        assert!(list_inline(&props(50), 2_000)); // 1,100
        assert!(list_inline(&props(90), 2_000)); // 1,980
        assert!(!list_inline(&props(91), 2_000)); // 2,002: batch/read bodies instead
        assert!(!list_inline(&props(500), 2_000));
        assert!(!list_inline(&props(5), 0));
        assert!(!list_inline(&[], 2_000));
    }

    /// The app spawns syncs on a multi-threaded runtime: the future must be `Send`.
    #[test]
    fn the_sync_future_is_send() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        let client = Client::new(spoke_hubspot::ClientConfig::new("http://127.0.0.1:9")).unwrap();
        let engine = Engine::new(store, client);
        let mapping = Mapping::new(
            "m",
            "contacts",
            Destination::Spoke { table: "t".into() },
            MatchKey::RecordId {
                column: "id".into(),
            },
        );
        let fut = engine.sync(&mapping, SyncOptions::default(), CancelToken::new(), |_| {});
        assert_send(&fut);
    }

    #[test]
    fn free_lanes_split_the_widest_gap_and_the_checkpoint_restores_every_gap() {
        let mut s = DualState {
            counts: RunCounts::default(),
            merges: Vec::new(),
            gaps: vec![GapState::default()],
            seek_ok: true,
            density: None,
            max_seen: None,
            read: 0,
            total: None,
            probing: None,
            list_claimed: 0,
        };
        assert_eq!(s.take(Side::Search, 0, 200), Some(0));
        assert_eq!(s.take(Side::List, 0, 200), Some(0));
        assert_eq!(
            s.take(Side::Search, 1, 200),
            None,
            "no top known yet: nothing to split"
        );
        // The first pages came back: ids 1..=1,000 listed, 10,001 and up searched.
        s.gaps[0].list_max = 1_000;
        s.gaps[0].list_committed = 1_000;
        s.gaps[0].list_after = Some("1001".into());
        s.gaps[0].search_min = Some(10_001);
        s.note_density(200, 200);
        // A free search lane takes the top of the lower half; the list lane keeps its side.
        let lower = s.take(Side::Search, 1, 200).unwrap();
        assert_eq!(s.gaps[lower].search_min, Some(5_501));
        assert_eq!(s.gaps[lower].list_owner, Some(0));
        assert_eq!(s.gaps[lower].list_after.as_deref(), Some("1001"));
        // The upper half keeps the busy search side; its list side starts at its first id.
        assert_eq!(s.gaps[0].search_owner, Some(0));
        assert_eq!(
            (
                s.gaps[0].list_max,
                s.gaps[0].list_after.as_deref(),
                s.gaps[0].seek
            ),
            (5_500, Some("5501"), true)
        );
        assert_eq!(s.take(Side::List, 1, 200), Some(0));
        // List seeks turned off: a free list lane waits rather than split.
        s.seek_ok = false;
        assert_eq!(s.take(Side::List, 2, 200), None);
        // A gap narrower than eight pages is not split.
        s.gaps[lower].search_min = Some(2_500);
        s.gaps[0].search_min = Some(7_000);
        assert_eq!(s.take(Side::Search, 2, 200), None);

        let scan = Scan {
            kind: "full".into(),
            since_ms: None,
            cursor: Some(s.checkpoint()),
            started_ms: 0,
            max_seen_ms: None,
            run: 1,
            rewrite: false,
            dual: true,
            list_after: None,
            list_max: None,
        };
        let restored = GapState::restore(&scan);
        let view = |g: &[GapState]| {
            let mut v: Vec<_> = g
                .iter()
                .map(|g| (g.list_committed, g.list_after.clone(), g.seek, g.search_min))
                .collect();
            v.sort();
            v
        };
        assert_eq!(view(&restored), view(&s.gaps));
        assert!(restored
            .iter()
            .all(|g| g.list_owner.is_none() && g.search_owner.is_none()));
        // A closed gap is left out; none left = the read is complete.
        s.gaps[0].list_committed = 6_999;
        s.gaps[0].list_max = 6_999;
        assert_eq!(
            GapState::restore(&Scan {
                cursor: Some(s.checkpoint()),
                ..scan.clone()
            })
            .len(),
            1
        );
        assert!(GapState::restore(&Scan {
            cursor: Some("[]".into()),
            ..scan.clone()
        })
        .is_empty());
        // A checkpoint from before gaps: one search cursor and one list cursor.
        let old = GapState::restore(&Scan {
            cursor: Some("900".into()),
            list_after: Some("301".into()),
            list_max: Some("300".into()),
            ..scan
        });
        assert_eq!(
            view(&old),
            vec![(300, Some("301".into()), false, Some(900))]
        );
    }

    #[test]
    fn a_record_that_fails_to_map_keeps_its_good_fields() {
        let mut m = Mapping::new(
            "m",
            "contacts",
            Destination::Spoke { table: "t".into() },
            MatchKey::Property {
                property: "email".into(),
                column: "email".into(),
            },
        );
        let f = |p: &str, t: spoke_mapping::LocalType| spoke_mapping::FieldMapping {
            property: Some(p.into()),
            column: Some(p.into()),
            direction: spoke_mapping::Direction::ToLocal,
            property_type: Some(spoke_mapping::PropertyType::Number),
            column_type: Some(t),
            inbound: vec![],
            outbound: vec![],
            required: false,
        };
        m.fields = vec![
            f("spoke_score", spoke_mapping::LocalType::Real),
            f("spoke_legacy_ids", spoke_mapping::LocalType::Real),
        ];
        let record = HubSpotRecord {
            id: "7".into(),
            properties: [
                ("spoke_score".to_owned(), Some("42".to_owned())),
                (
                    "spoke_legacy_ids".to_owned(),
                    Some("3092727991;3881228353".to_owned()),
                ),
            ]
            .into(),
        };
        let (row, error) = map_record(&m, &record);
        assert_eq!(
            row.get("spoke_score"),
            Some(&spoke_mapping::LocalValue::Real(42.0))
        );
        assert!(!row.contains_key("spoke_legacy_ids"));
        assert!(error.unwrap().contains("spoke_legacy_ids"));
        // No email: the key column stays empty rather than losing the record.
        assert_eq!(row.get("email"), Some(&spoke_mapping::LocalValue::Null));
    }
}
