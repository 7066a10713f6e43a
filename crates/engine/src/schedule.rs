//! Schedules per mapping (manual, real-time, hourly, daily), stored in the local store, and a
//! Tauri-free scheduler driven by tokio that starts the due ones while the app runs.
//!
//! ```ignore
//! store.set_schedule("conn-1", "contacts.json", &mapping, &Schedule::Hourly { minute: 15 })?;
//! let scheduler = Scheduler::new(store.clone());
//! scheduler.spawn(live_webhooks, |job: Job| async move { /* run the sync */ JobOutcome::ok("…") });
//! ```
//!
//! - **Real-time**: webhook events are applied as they arrive ([`JobKind::Events`]), with an
//!   incremental read every [`REALTIME_SAFETY_MS`] as a safety net; without webhooks (no public
//!   URL, a private-app token) an incremental read every [`REALTIME_POLL_MS`].
//! - **Hourly** at a minute past the hour, **daily** at a local time (the UTC offset is recorded
//!   when the schedule is saved). A slot missed while the app was closed runs once at start.
//! - A mapping never runs twice at once: the scheduler skips jobs still in flight, and the engine
//!   refuses a second sync of one table (`engine.busy`), which counts as skipped.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use spoke_mapping::Mapping;

use crate::error::{Error, Result};
use crate::store::{iso_ms, now_ms, Store};

/// Polling interval of a real-time schedule without webhooks.
pub const REALTIME_POLL_MS: i64 = 60_000;
/// Safety-net incremental read of a real-time schedule whose webhooks are receiving.
pub const REALTIME_SAFETY_MS: i64 = 15 * 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// When a mapping syncs on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Schedule {
    /// Only when started by hand (or by `spoke sync` from cron).
    Manual,
    /// Webhook events as they arrive; otherwise an incremental read every minute.
    Realtime,
    /// Every hour at `minute` past.
    Hourly { minute: u8 },
    /// Every day at `hour:minute` local time; `utcOffsetMinutes` is the local offset from UTC
    /// (e.g. 60 for CET, -300 for EST) recorded when the schedule was saved.
    #[serde(rename_all = "camelCase")]
    Daily {
        hour: u8,
        minute: u8,
        utc_offset_minutes: i32,
    },
}

impl Schedule {
    /// Checks the fields; the error names the field and its range.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: &str| {
            Err(Error::InvalidSchedule {
                field: field.to_owned(),
                reason: reason.to_owned(),
            })
        };
        match self {
            Schedule::Hourly { minute } | Schedule::Daily { minute, .. } if *minute > 59 => {
                bad("minute", "must be 0 to 59")
            }
            Schedule::Daily { hour, .. } if *hour > 23 => bad("hour", "must be 0 to 23"),
            Schedule::Daily {
                utc_offset_minutes, ..
            } if utc_offset_minutes.abs() > 14 * 60 => bad(
                "utcOffsetMinutes",
                "must be within ±840 (UTC−14:00 to UTC+14:00)",
            ),
            _ => Ok(()),
        }
    }

    /// The first time after `since_ms` (the last run, or when the schedule was saved) the
    /// mapping is due; `None` for manual. `webhooks_live`: real-time schedules whose webhooks
    /// are receiving only need the safety-net read.
    pub fn next_due(&self, since_ms: i64, webhooks_live: bool) -> Option<i64> {
        match *self {
            Schedule::Manual => None,
            Schedule::Realtime => Some(
                since_ms
                    + if webhooks_live {
                        REALTIME_SAFETY_MS
                    } else {
                        REALTIME_POLL_MS
                    },
            ),
            Schedule::Hourly { minute } => {
                let slot = since_ms - since_ms.rem_euclid(HOUR_MS) + minute as i64 * 60_000;
                Some(if slot <= since_ms {
                    slot + HOUR_MS
                } else {
                    slot
                })
            }
            Schedule::Daily {
                hour,
                minute,
                utc_offset_minutes,
            } => {
                let offset = utc_offset_minutes as i64 * 60_000;
                let local = since_ms + offset;
                let slot = local - local.rem_euclid(DAY_MS)
                    + hour as i64 * HOUR_MS
                    + minute as i64 * 60_000;
                let slot = if slot <= local { slot + DAY_MS } else { slot };
                Some(slot - offset)
            }
        }
    }

    /// Words for the UI and the CLI.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Manual => "manual".to_owned(),
            Schedule::Realtime => "real-time".to_owned(),
            Schedule::Hourly { minute } => format!("hourly at :{minute:02}"),
            Schedule::Daily {
                hour,
                minute,
                utc_offset_minutes,
            } => {
                let o = utc_offset_minutes.abs();
                let sign = if *utc_offset_minutes < 0 { '-' } else { '+' };
                format!(
                    "daily at {hour:02}:{minute:02} (UTC{sign}{:02}:{:02})",
                    o / 60,
                    o % 60
                )
            }
        }
    }
}

/// A mapping's schedule as stored, with its last and next run.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleEntry {
    pub connection_id: String,
    /// The mapping file (as in the mapping library).
    pub file: String,
    pub table: String,
    pub object: String,
    pub schedule: Schedule,
    #[specta(type = f64)]
    pub set_at_ms: i64,
    #[specta(type = Option<f64>)]
    pub last_run_ms: Option<i64>,
    /// `succeeded`, `failed: …`, `skipped: …` of the last scheduled run.
    pub last_outcome: Option<String>,
    /// When it runs next (Unix ms); `None` for manual.
    #[specta(type = Option<f64>)]
    pub next_due_ms: Option<i64>,
    /// The same, RFC 3339 UTC.
    pub next_due_at: Option<String>,
}

impl ScheduleEntry {
    fn with_next(mut self, webhooks_live: bool) -> ScheduleEntry {
        let since = self
            .last_run_ms
            .unwrap_or(self.set_at_ms)
            .max(self.set_at_ms);
        self.next_due_ms = self.schedule.next_due(since, webhooks_live);
        self.next_due_at = self.next_due_ms.map(iso_ms);
        self
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _spoke_schedules (
    connection TEXT NOT NULL,
    file TEXT NOT NULL,
    tbl TEXT NOT NULL,
    object TEXT NOT NULL,
    schedule TEXT NOT NULL,
    set_at_ms INTEGER NOT NULL,
    last_run_ms INTEGER,
    last_outcome TEXT,
    PRIMARY KEY (connection, file)
);";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ScheduleEntry, String)> {
    let text: String = r.get(4)?;
    Ok((
        ScheduleEntry {
            connection_id: r.get(0)?,
            file: r.get(1)?,
            table: r.get(2)?,
            object: r.get(3)?,
            schedule: Schedule::Manual,
            set_at_ms: r.get(5)?,
            last_run_ms: r.get(6)?,
            last_outcome: r.get(7)?,
            next_due_ms: None,
            next_due_at: None,
        },
        text,
    ))
}

const COLUMNS: &str =
    "connection, file, tbl, object, schedule, set_at_ms, last_run_ms, last_outcome";

impl Store {
    fn schedules_table(&self) -> Result<()> {
        self.conn()
            .execute_batch(SCHEMA)
            .map_err(|e| Error::store(&self.path().display().to_string(), e))
    }

    fn schedule_err(&self, e: impl std::fmt::Display) -> Error {
        Error::store(&self.path().display().to_string(), e)
    }

    /// Saves a mapping's schedule (manual removes it). The next run is counted from now.
    pub fn set_schedule(
        &self,
        connection_id: &str,
        file: &str,
        mapping: &Mapping,
        schedule: &Schedule,
    ) -> Result<ScheduleEntry> {
        schedule.validate()?;
        self.schedules_table()?;
        let text = serde_json::to_string(schedule).map_err(|e| self.schedule_err(e))?;
        self.conn()
            .execute(
                "INSERT INTO _spoke_schedules (connection, file, tbl, object, schedule, set_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(connection, file) DO UPDATE SET tbl = excluded.tbl, object = excluded.object, schedule = excluded.schedule, set_at_ms = excluded.set_at_ms",
                params![connection_id, file, crate::dest::store_table(&mapping.destination), mapping.object, text, now_ms()],
            )
            .map_err(|e| self.schedule_err(e))?;
        Ok(self
            .schedule(connection_id, file, false)?
            .expect("the schedule was just saved"))
    }

    /// A mapping's schedule (`None`: manual, never set).
    pub fn schedule(
        &self,
        connection_id: &str,
        file: &str,
        webhooks_live: bool,
    ) -> Result<Option<ScheduleEntry>> {
        self.schedules_table()?;
        let row = self
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM _spoke_schedules WHERE connection = ?1 AND file = ?2"
                ),
                params![connection_id, file],
                entry,
            )
            .optional()
            .map_err(|e| self.schedule_err(e))?;
        row.map(|(e, text)| self.finish_entry(e, &text, webhooks_live))
            .transpose()
    }

    fn finish_entry(&self, mut e: ScheduleEntry, text: &str, live: bool) -> Result<ScheduleEntry> {
        e.schedule = serde_json::from_str(text).map_err(|err| self.schedule_err(err))?;
        Ok(e.with_next(live))
    }

    /// Every stored schedule; `webhooks_live(connection_id)` says whose webhooks are receiving.
    pub fn schedules(&self, webhooks_live: &dyn Fn(&str) -> bool) -> Result<Vec<ScheduleEntry>> {
        self.schedules_table()?;
        let rows = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM _spoke_schedules ORDER BY connection, file"
                ))
                .map_err(|e| self.schedule_err(e))?;
            let rows = stmt
                .query_map([], entry)
                .map_err(|e| self.schedule_err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.schedule_err(e))?;
            rows
        };
        rows.into_iter()
            .map(|(e, text)| {
                let live = webhooks_live(&e.connection_id);
                self.finish_entry(e, &text, live)
            })
            .collect()
    }

    /// Forgets a mapping's schedule (the mapping was deleted or set to manual).
    pub fn delete_schedule(&self, connection_id: &str, file: &str) -> Result<()> {
        self.schedules_table()?;
        self.conn()
            .execute(
                "DELETE FROM _spoke_schedules WHERE connection = ?1 AND file = ?2",
                params![connection_id, file],
            )
            .map_err(|e| self.schedule_err(e))?;
        Ok(())
    }

    /// Records a scheduled run's end; the next one is counted from `at_ms`.
    pub fn note_scheduled_run(
        &self,
        connection_id: &str,
        file: &str,
        at_ms: i64,
        outcome: &str,
    ) -> Result<()> {
        self.schedules_table()?;
        self.conn()
            .execute(
                "UPDATE _spoke_schedules SET last_run_ms = ?3, last_outcome = ?4 WHERE connection = ?1 AND file = ?2",
                params![connection_id, file, at_ms, outcome],
            )
            .map_err(|e| self.schedule_err(e))?;
        Ok(())
    }
}

/// What a due job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum JobKind {
    /// An incremental read (a full one when due by the engine's own rules).
    Sync,
    /// Apply the webhook events received for the mapping's object.
    Events,
}

/// One due run of one mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub connection_id: String,
    pub file: String,
    pub kind: JobKind,
    pub entry: ScheduleEntry,
}

/// How a job ended, recorded as the schedule's `lastOutcome`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome(pub String);

impl JobOutcome {
    pub fn ok(detail: impl AsRef<str>) -> JobOutcome {
        JobOutcome(format!("succeeded: {}", detail.as_ref()))
    }
    pub fn failed(detail: impl AsRef<str>) -> JobOutcome {
        JobOutcome(format!("failed: {}", detail.as_ref()))
    }
    pub fn skipped(detail: impl AsRef<str>) -> JobOutcome {
        JobOutcome(format!("skipped: {}", detail.as_ref()))
    }
}

/// Starts due jobs while the app runs. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    wake: Arc<tokio::sync::Notify>,
    inflight: Arc<Mutex<HashSet<(String, String)>>>,
    tick: Duration,
}

impl Scheduler {
    pub fn new(store: Store) -> Scheduler {
        Scheduler {
            store,
            wake: Arc::new(tokio::sync::Notify::new()),
            inflight: Arc::new(Mutex::new(HashSet::new())),
            tick: Duration::from_secs(15),
        }
    }

    /// Checks every `tick` (default 15 s) besides wake-ups.
    pub fn with_tick(mut self, tick: Duration) -> Scheduler {
        self.tick = tick;
        self
    }

    /// Wakes the scheduler now (a schedule changed, webhook events arrived).
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The jobs due at `now_ms` that are not already running: real-time mappings with webhook
    /// events waiting get an [`JobKind::Events`] job at once.
    pub fn due(&self, now_ms: i64, webhooks_live: &dyn Fn(&str) -> bool) -> Result<Vec<Job>> {
        let entries = self.store.schedules(webhooks_live)?;
        let running = self.running().clone();
        let mut jobs = Vec::new();
        for e in entries {
            if running.contains(&(e.connection_id.clone(), e.file.clone())) {
                continue;
            }
            let live = webhooks_live(&e.connection_id);
            // A failed or skipped run waits a minute before events are tried again.
            let resting = e
                .last_outcome
                .as_deref()
                .is_some_and(|o| !o.starts_with("succeeded"))
                && e.last_run_ms.is_some_and(|t| now_ms - t < REALTIME_POLL_MS);
            let kind = if e.next_due_ms.is_some_and(|due| due <= now_ms) {
                JobKind::Sync
            } else if e.schedule == Schedule::Realtime
                && live
                && !resting
                && self
                    .store
                    .pending_events(&e.connection_id, &e.table, &e.object)?
                    > 0
            {
                JobKind::Events
            } else {
                continue;
            };
            jobs.push(Job {
                connection_id: e.connection_id.clone(),
                file: e.file.clone(),
                kind,
                entry: e,
            });
        }
        Ok(jobs)
    }

    /// Runs the loop on the current tokio runtime: every tick or wake-up, each due job goes to
    /// `run` on its own task (one at a time per mapping) and its outcome is stored.
    pub fn spawn<F, Fut>(
        &self,
        webhooks_live: impl Fn(&str) -> bool + Send + Sync + 'static,
        run: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobOutcome> + Send + 'static,
    {
        let me = self.clone();
        let run = Arc::new(run);
        tokio::spawn(async move {
            loop {
                let jobs = match me.due(now_ms(), &webhooks_live) {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        tracing::warn!(error = %e, "scheduler could not read the schedules");
                        Vec::new()
                    }
                };
                for job in jobs {
                    let key = (job.connection_id.clone(), job.file.clone());
                    if !me.running().insert(key.clone()) {
                        continue;
                    }
                    let me2 = me.clone();
                    let run = run.clone();
                    tokio::spawn(async move {
                        tracing::info!(connection = %key.0, file = %key.1, kind = ?job.kind, "scheduled run");
                        let kind = job.kind;
                        let outcome = run(job).await;
                        tracing::info!(connection = %key.0, file = %key.1, outcome = %outcome.0, "scheduled run finished");
                        // Event jobs do not move the polling clock.
                        if kind == JobKind::Sync || !outcome.0.starts_with("succeeded") {
                            if let Err(e) =
                                me2.store
                                    .note_scheduled_run(&key.0, &key.1, now_ms(), &outcome.0)
                            {
                                tracing::warn!(error = %e, "could not record a scheduled run");
                            }
                        }
                        me2.running().remove(&key);
                        me2.wake.notify_one();
                    });
                }
                tokio::select! {
                    _ = tokio::time::sleep(me.tick) => {}
                    _ = me.wake.notified() => {
                        // Gather a burst of events before looking again.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-24T10:20:30Z
    const T: i64 = 1_795_515_630_000;

    fn at(h: i64, m: i64) -> i64 {
        // 2026-11-24 h:m UTC
        T - T.rem_euclid(DAY_MS) + h * HOUR_MS + m * 60_000
    }

    #[test]
    fn manual_is_never_due() {
        assert_eq!(Schedule::Manual.next_due(T, false), None);
    }

    #[test]
    fn realtime_polls_every_minute_or_keeps_a_safety_net_with_webhooks() {
        assert_eq!(Schedule::Realtime.next_due(T, false), Some(T + 60_000));
        assert_eq!(Schedule::Realtime.next_due(T, true), Some(T + 15 * 60_000));
    }

    #[test]
    fn hourly_is_the_next_slot_strictly_after() {
        let h = Schedule::Hourly { minute: 45 };
        assert_eq!(h.next_due(T, false), Some(at(10, 45)));
        let h = Schedule::Hourly { minute: 5 };
        assert_eq!(h.next_due(T, false), Some(at(11, 5)));
        // Exactly on the slot: the next hour's.
        assert_eq!(h.next_due(at(11, 5), false), Some(at(12, 5)));
        // A slot missed long ago is due at once (and once).
        assert!(h.next_due(T - 5 * DAY_MS, false).unwrap() < T);
    }

    #[test]
    fn daily_uses_the_local_offset_and_crosses_midnight() {
        let d = |hour, minute, utc_offset_minutes| Schedule::Daily {
            hour,
            minute,
            utc_offset_minutes,
        };
        // UTC: 02:00 tomorrow.
        assert_eq!(d(2, 0, 0).next_due(T, false), Some(at(2, 0) + DAY_MS));
        // UTC: 18:30 today.
        assert_eq!(d(18, 30, 0).next_due(T, false), Some(at(18, 30)));
        // CET (UTC+1): 12:00 local = 11:00 UTC today.
        assert_eq!(d(12, 0, 60).next_due(T, false), Some(at(11, 0)));
        // EST (UTC−5): 06:00 local = 11:00 UTC today (local time now is 05:20).
        assert_eq!(d(6, 0, -300).next_due(T, false), Some(at(11, 0)));
        // EST: 05:00 local has passed (05:20 local now): tomorrow 10:00 UTC.
        assert_eq!(d(5, 0, -300).next_due(T, false), Some(at(10, 0) + DAY_MS));
        // UTC+14: 10:20 UTC = 00:20 local on the 25th; 00:10 local is tomorrow's.
        assert_eq!(
            d(0, 10, 14 * 60).next_due(T, false),
            Some(at(10, 10) + DAY_MS)
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let e = Schedule::Hourly { minute: 60 }.validate().unwrap_err();
        assert!(e.to_string().contains("minute"), "{e}");
        let e = Schedule::Daily {
            hour: 24,
            minute: 0,
            utc_offset_minutes: 0,
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("hour"), "{e}");
        let e = Schedule::Daily {
            hour: 1,
            minute: 0,
            utc_offset_minutes: 900,
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("utcOffsetMinutes"), "{e}");
    }

    #[test]
    fn the_schedule_serializes_with_a_kind_tag() {
        let s = Schedule::Daily {
            hour: 7,
            minute: 30,
            utc_offset_minutes: 60,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"daily","hour":7,"minute":30,"utcOffsetMinutes":60}"#
        );
        assert_eq!(serde_json::from_str::<Schedule>(&text).unwrap(), s);
        assert_eq!(s.describe(), "daily at 07:30 (UTC+01:00)");
    }

    #[test]
    fn schedules_persist_with_their_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let m = Mapping::new(
            "Contacts",
            "contacts",
            spoke_mapping::Destination::Spoke {
                table: "contacts".into(),
            },
            spoke_mapping::MatchKey::RecordId {
                column: "id".into(),
            },
        );
        let e = store
            .set_schedule("c1", "contacts.json", &m, &Schedule::Realtime)
            .unwrap();
        assert_eq!(e.next_due_ms, Some(e.set_at_ms + REALTIME_POLL_MS));
        store
            .note_scheduled_run("c1", "contacts.json", e.set_at_ms + 5_000, "succeeded: x")
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let e = store
            .schedule("c1", "contacts.json", true)
            .unwrap()
            .unwrap();
        assert_eq!(e.schedule, Schedule::Realtime);
        assert_eq!(e.last_outcome.as_deref(), Some("succeeded: x"));
        assert_eq!(
            e.next_due_ms,
            Some(e.set_at_ms + 5_000 + REALTIME_SAFETY_MS)
        );
        // Due only once the time has come, and never while running.
        let s = Scheduler::new(store.clone());
        assert!(s.due(e.set_at_ms + 6_000, &|_| false).unwrap().is_empty());
        let due = s
            .due(e.set_at_ms + 5_000 + REALTIME_POLL_MS, &|_| false)
            .unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, JobKind::Sync);
        s.running().insert(("c1".into(), "contacts.json".into()));
        assert!(s.due(i64::MAX / 2, &|_| false).unwrap().is_empty());
        store.delete_schedule("c1", "contacts.json").unwrap();
        assert!(store
            .schedule("c1", "contacts.json", false)
            .unwrap()
            .is_none());
    }
    #[test]
    fn received_events_make_a_realtime_mapping_due_at_once_unless_it_just_failed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        let m = Mapping::new(
            "Contacts",
            "contacts",
            spoke_mapping::Destination::Spoke {
                table: "contacts".into(),
            },
            spoke_mapping::MatchKey::RecordId {
                column: "id".into(),
            },
        );
        let e = store
            .set_schedule("c1", "contacts.json", &m, &Schedule::Realtime)
            .unwrap();
        let s = Scheduler::new(store.clone());
        let soon = e.set_at_ms + 1_000;
        assert!(s.due(soon, &|_| true).unwrap().is_empty());
        store
            .store_events(
                "c1",
                7,
                br#"[{"eventId":1,"subscriptionType":"contact.propertyChange","portalId":7,"objectId":11}]"#,
            )
            .unwrap();
        let due = s.due(soon, &|_| true).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, JobKind::Events);
        // Without a live receiver the events wait for the minute's poll.
        assert!(s.due(soon, &|_| false).unwrap().is_empty());
        // A failed run rests for a minute.
        store
            .note_scheduled_run("c1", "contacts.json", soon, "failed: HubSpot is down")
            .unwrap();
        assert!(s.due(soon + 1_000, &|_| true).unwrap().is_empty());
        assert_eq!(
            s.due(soon + REALTIME_POLL_MS, &|_| true).unwrap()[0].kind,
            JobKind::Events
        );
    }
}
