//! Webhook events fed into the mapping's table: changed ids read with `batch/read`, deletions
//! archived locally, merges redirected, association changes re-read. Each event is applied
//! once per table (a per-table cursor over the stored events moves after the writes commit).

use super::*;
use crate::webhooks::{object_name, StoredEvent};

/// Events read per round.
const EVENT_CHUNK: usize = 1000;

/// What [`Engine::apply_events`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct EventsSummary {
    /// Events applied to the table by this call.
    #[specta(type = f64)]
    pub events: u64,
    /// The run recorded in the history (`None` when no event was waiting). Its mode is
    /// `webhook`, or `incremental`/`full` when the table needed a read first (never synced, a
    /// read to resume, or criteria that only a search can apply).
    pub run: Option<RunSummary>,
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Refresh,
    Archive(Option<i64>),
    Purge,
}

impl Engine {
    /// Applies the webhook events stored for `connection_id` that concern `mapping`'s object
    /// and were not yet applied to its table.
    pub async fn apply_events(
        &self,
        connection_id: &str,
        mapping: &Mapping,
        options: SyncOptions,
        cancel: CancelToken,
        progress: impl Fn(Progress) + Send + Sync,
    ) -> Result<EventsSummary> {
        let table = crate::dest::store_table(&mapping.destination);
        let pending = self
            .store
            .pending_events(connection_id, &table, &mapping.object)?;
        if pending == 0 {
            return Ok(EventsSummary {
                events: 0,
                run: None,
            });
        }
        let stream = self.store.stream(&table)?.unwrap_or_default();
        let needs_read = stream.bookmark_ms.is_none()
            || stream.scan.is_some()
            || !mapping.criteria.is_empty()
            || stream.mapping_hash.as_deref() != Some(mapping_hash(mapping).as_str());
        if needs_read {
            // A read covers every event stored before it starts.
            let last = self.store.last_event_seq(connection_id)?;
            let run = self.sync(mapping, options, cancel, progress).await?;
            if run.status != RunStatus::Cancelled && run.status != RunStatus::Failed {
                self.store.advance_events(connection_id, &table, last)?;
            }
            return Ok(EventsSummary {
                events: pending as u64,
                run: Some(run),
            });
        }
        if !self.store.claim(&table) {
            return Err(Error::Busy { table });
        }
        let result = match crate::dest::attach(&self.store, mapping, &table).await {
            Ok(()) => {
                self.apply_claimed(connection_id, mapping, &table, options, cancel, &progress)
                    .await
            }
            Err(e) => Err(e),
        };
        self.store.detach(&table);
        self.store.release(&table);
        result
    }

    async fn apply_claimed(
        &self,
        connection_id: &str,
        mapping: &Mapping,
        table: &str,
        options: SyncOptions,
        cancel: CancelToken,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<EventsSummary> {
        let columns = self.store.ensure_table(mapping)?;
        let modified = modified_property(&mapping.object);
        let (mapped_properties, properties) = read_properties(mapping);
        let run_id = self.store.start_run(mapping, "webhook")?;
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
            phase: Phase::Incremental,
            scan_read: 0,
            scan_total: None,
            scan_started: Some(Instant::now()),
            progress,
            daily_reserve_percent: options.daily_reserve_percent,
        };
        self.emit(&run);
        let mut applied = 0u64;
        let outcome = self
            .apply_rounds(connection_id, &mut run, &options, &cancel, &mut applied)
            .await;
        let duration_ms = run.started.elapsed().as_millis() as u64;
        let (status, failure) = match &outcome {
            Ok(true) if run.counts.errors > 0 => (RunStatus::SucceededWithErrors, None),
            Ok(true) => (RunStatus::Succeeded, None),
            Ok(false) => (RunStatus::Cancelled, None),
            Err(e) => (RunStatus::Failed, Some(Failure::from(e.problem()))),
        };
        let message = format!(
            "{applied} webhook events: {}",
            summary_message(
                &run.counts,
                status,
                "webhook",
                duration_ms,
                failure.as_ref()
            )
        );
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
        Ok(EventsSummary {
            events: applied,
            run: Some(RunSummary {
                run_id,
                mapping: mapping.name.clone(),
                object: mapping.object.clone(),
                table: table.to_owned(),
                mode: "webhook".to_owned(),
                status,
                resumed: false,
                counts: run.counts,
                merges: run.merges,
                deleted_ids: run.deleted_ids,
                duration_ms,
                message,
            }),
        })
    }

    /// Ok(false) when cancelled.
    async fn apply_rounds(
        &self,
        connection_id: &str,
        run: &mut Run<'_>,
        options: &SyncOptions,
        cancel: &CancelToken,
        applied: &mut u64,
    ) -> Result<bool> {
        let object = object_name(&run.mapping.object);
        let track_assoc = !options.associations.is_empty();
        loop {
            if cancel.is_cancelled() {
                return Ok(false);
            }
            let events =
                self.store
                    .events_after(connection_id, &run.table, &object, EVENT_CHUNK)?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            self.apply_chunk(run, &object, &events, track_assoc).await?;
            self.store.advance_events(connection_id, &run.table, last)?;
            *applied += events.len() as u64;
            self.emit(run);
        }
        if track_assoc {
            run.phase = Phase::Associations;
            self.emit(run);
            return self.associations(run, &options.associations, cancel).await;
        }
        Ok(true)
    }

    async fn apply_chunk(
        &self,
        run: &mut Run<'_>,
        object: &str,
        events: &[StoredEvent],
        track_assoc: bool,
    ) -> Result<()> {
        // The last event about an id decides what happens to it.
        let mut actions: BTreeMap<String, Action> = BTreeMap::new();
        let mut merges: Vec<(String, String)> = Vec::new();
        let mut assoc: BTreeSet<String> = BTreeSet::new();
        for e in events {
            if e.object_type != object {
                // The other side of an association change.
                if e.kind == "associationChange" && e.other_type.as_deref() == Some(object) {
                    assoc.extend(e.other_id.clone());
                }
                continue;
            }
            match e.kind.as_str() {
                "creation" | "propertyChange" | "restore" => {
                    actions.insert(e.object_id.clone(), Action::Refresh);
                }
                "deletion" => {
                    actions.insert(e.object_id.clone(), Action::Archive(e.occurred_at));
                }
                "privacyDeletion" => {
                    actions.insert(e.object_id.clone(), Action::Purge);
                }
                "merge" => {
                    let survivor = e
                        .payload
                        .get("newObjectId")
                        .or_else(|| e.payload.get("primaryObjectId"))
                        .map(id_text)
                        .unwrap_or_else(|| e.object_id.clone());
                    let losers: Vec<String> = e
                        .payload
                        .get("mergedObjectIds")
                        .and_then(|v| v.as_array())
                        .map(|a| a.iter().map(id_text).collect())
                        .unwrap_or_default();
                    for loser in losers.into_iter().filter(|l| *l != survivor) {
                        actions.remove(&loser);
                        merges.push((loser, survivor.clone()));
                    }
                    actions.insert(survivor, Action::Refresh);
                }
                "associationChange" => {
                    assoc.insert(e.object_id.clone());
                }
                _ => {}
            }
        }
        if !merges.is_empty() {
            self.store
                .apply_merges(&run.table, run.run_id, &merges, &mut run.counts)?;
            self.note_merges(run, merges);
        }
        let refresh: Vec<String> = actions
            .iter()
            .filter(|(_, a)| **a == Action::Refresh)
            .map(|(id, _)| id.clone())
            .collect();
        for chunk in refresh.chunks(BATCH_READ) {
            self.refresh(run, chunk, track_assoc).await?;
        }
        let archived: Vec<(String, Option<String>)> = actions
            .iter()
            .filter_map(|(id, a)| match a {
                Action::Archive(at) => Some((id.clone(), at.map(crate::store::iso_ms))),
                _ => None,
            })
            .collect();
        if !archived.is_empty() {
            self.store
                .mark_archived(&run.table, run.run_id, &archived, &mut run.counts)?;
        }
        let purged: Vec<String> = actions
            .iter()
            .filter(|(_, a)| **a == Action::Purge)
            .map(|(id, _)| id.clone())
            .collect();
        if !purged.is_empty() {
            self.record_deleted(run, &purged)?;
        }
        if track_assoc && !assoc.is_empty() {
            let conn = self.store.conn();
            for id in &assoc {
                conn.execute(
                    "INSERT OR IGNORE INTO _spoke_assoc_pending (tbl, id) VALUES (?1, ?2)",
                    rusqlite::params![run.table, id],
                )
                .map_err(|e| Error::store(&self.store.path().display().to_string(), e))?;
            }
        }
        Ok(())
    }

    /// Reads changed records by id; ids HubSpot no longer has live are archived (recycle bin)
    /// or removed (gone).
    async fn refresh(&self, run: &mut Run<'_>, ids: &[String], track_assoc: bool) -> Result<()> {
        let body = json!({
            "inputs": ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
            "properties": run.properties,
        });
        let req = Request::post(format!("/crm/v3/objects/{}/batch/read", run.mapping.object))
            .json(body)
            .idempotent(true);
        let live: Page<Raw> = self.call(run, req).await?.json()?;
        let mut found: BTreeSet<String> = BTreeSet::new();
        let records: Vec<Incoming> = live
            .results
            .into_iter()
            .map(|r| {
                let inc = self.incoming(run, r);
                found.insert(inc.id.clone());
                found.extend(inc.merged_ids.iter().cloned());
                inc
            })
            .collect();
        run.scan_read += records.len() as u64;
        if !records.is_empty() {
            let ctx = PageCtx {
                table: &run.table,
                columns: &run.columns,
                run_id: run.run_id,
                scan_run: run.run_id,
                rewrite: false,
                assoc_all: false,
                track_assoc,
            };
            let result =
                self.store
                    .commit_page(&ctx, &records, Checkpoint::None, &mut run.counts)?;
            self.note_merges(run, result.merges);
        }
        let missing: Vec<&String> = ids.iter().filter(|id| !found.contains(*id)).collect();
        self.settle_missing(run, missing).await
    }
}
