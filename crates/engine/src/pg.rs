//! PostgreSQL as a destination: a table Spoke creates (or completes with the mapped columns it
//! lacks) in the admin's database. Rows are keyed by the match key column (a unique index), so
//! every write is an idempotent `INSERT … ON CONFLICT (key) DO UPDATE`.
//!
//! The blocking `postgres` client runs on a thread of its own (it brings its own small runtime,
//! which must not run inside the engine's); the engine talks to it over channels. Plain TCP or a
//! unix socket, no TLS (`sslmode=require` fails with its reason): for the admin's own machine or
//! a trusted network. The password never comes from the mapping file: the caller passes it (the
//! app and the CLI read it from the OS keychain), and it is never logged.

use std::sync::mpsc;
use std::sync::Mutex;

use spoke_hubspot::Secret;
use spoke_mapping::{LocalRow, LocalType, LocalValue};

use crate::dest::{DestRow, RowDestination};
use crate::error::{Error, Result};

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

pub struct PgTable {
    label: String,
    /// Quoted, possibly schema-qualified.
    table: String,
    /// Unquoted last part, for index names.
    bare: String,
    key: String,
    key_type: LocalType,
    columns: Vec<(String, LocalType)>,
    jobs: Mutex<mpsc::Sender<Job>>,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn pg_type(t: LocalType) -> &'static str {
    match t {
        LocalType::Text => "text",
        LocalType::Integer => "bigint",
        LocalType::Real => "double precision",
        LocalType::Boolean => "boolean",
        LocalType::Date => "date",
        LocalType::Datetime => "timestamptz",
        LocalType::Json => "json",
    }
}

/// The value as text for a `$n::text::type` parameter.
fn as_text(v: &LocalValue) -> Option<String> {
    match v {
        LocalValue::Null => None,
        LocalValue::Bool(b) => Some(b.to_string()),
        LocalValue::Integer(i) => Some(i.to_string()),
        LocalValue::Real(r) => Some(r.to_string()),
        LocalValue::Text(s) => Some(s.clone()),
    }
}

/// `column` read back as the text Spoke's store would hold.
fn select_expr(column: &str, t: LocalType) -> String {
    let c = quote(column);
    match t {
        LocalType::Datetime => {
            format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
        }
        LocalType::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
        _ => format!("{c}::text"),
    }
}

fn from_text(v: Option<String>, t: LocalType) -> LocalValue {
    let Some(s) = v else {
        return LocalValue::Null;
    };
    match t {
        LocalType::Boolean => match s.as_str() {
            "t" | "true" => LocalValue::Bool(true),
            "f" | "false" => LocalValue::Bool(false),
            _ => LocalValue::Text(s),
        },
        LocalType::Integer => s.parse().map(LocalValue::Integer).unwrap_or(LocalValue::Text(s)),
        LocalType::Real => s.parse().map(LocalValue::Real).unwrap_or(LocalValue::Text(s)),
        _ => LocalValue::Text(s),
    }
}

fn pg_reason(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

impl PgTable {
    /// Connects (on the client's own thread). `password` comes from the keychain, never from
    /// the URL (a URL with a password is refused).
    pub fn connect(
        url: &str,
        password: Option<Secret>,
        table: &str,
        key: String,
        columns: Vec<(String, LocalType)>,
    ) -> Result<PgTable> {
        let parts: Vec<&str> = table.split('.').collect();
        let label = format!("PostgreSQL table {table:?} at {url}");
        if let Some(problem) = spoke_mapping::postgres_url_problem(url) {
            return Err(Error::Destination {
                destination: format!("PostgreSQL table {table:?}"),
                reason: problem,
            });
        }
        if parts.is_empty() || parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
            return Err(Error::DestinationSchema {
                destination: label,
                problem: "the table name is not TABLE or SCHEMA.TABLE".into(),
                fix: "Name the table like contacts or crm.contacts.".into(),
            });
        }
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            Error::Destination {
                destination: label.clone(),
                reason: pg_reason(&e),
            }
        })?;
        if let Some(p) = &password {
            config.password(p.expose());
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        config.application_name("spoke");
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();
        std::thread::Builder::new()
            .name("spoke-postgres".into())
            .spawn(move || {
                let mut client = match config.connect(postgres::NoTls) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(pg_reason(&e)));
                        return;
                    }
                };
                while let Ok(job) = rx.recv() {
                    job(&mut client);
                }
            })
            .map_err(|e| Error::Destination {
                destination: label.clone(),
                reason: e.to_string(),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                return Err(Error::Destination {
                    destination: label,
                    reason,
                })
            }
            Err(_) => {
                return Err(Error::Destination {
                    destination: label,
                    reason: "the PostgreSQL client stopped".into(),
                })
            }
        }
        let key_type = columns
            .iter()
            .find(|(n, _)| n == &key)
            .map(|(_, t)| *t)
            .unwrap_or(LocalType::Text);
        Ok(PgTable {
            table: parts.iter().map(|p| quote(p)).collect::<Vec<_>>().join("."),
            bare: parts[parts.len() - 1].to_owned(),
            label,
            key,
            key_type,
            columns,
            jobs: Mutex::new(jobs),
        })
    }

    /// Runs `f` on the client's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> std::result::Result<T, postgres::Error>
            + Send
            + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |c| {
            let _ = tx.send(f(c).map_err(|e| pg_reason(&e)));
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job);
        let answer = match sent {
            Ok(()) => rx.recv().unwrap_or(Err("the PostgreSQL client stopped".into())),
            Err(_) => Err("the PostgreSQL client stopped".into()),
        };
        answer.map_err(|reason| Error::Destination {
            destination: self.label.clone(),
            reason,
        })
    }

    fn key_param(&self) -> String {
        format!("{} = $1::text::{}", quote(&self.key), pg_type(self.key_type))
    }

    fn by_keys(&self, sql: String, keys: &[LocalValue]) -> Result<()> {
        let keys: Vec<String> = keys.iter().filter_map(as_text).collect();
        if keys.is_empty() {
            return Ok(());
        }
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let stmt = tx.prepare(&sql)?;
            for k in &keys {
                tx.execute(&stmt, &[k])?;
            }
            tx.commit()
        })
    }
}

impl RowDestination for PgTable {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn ensure_schema(&self) -> Result<()> {
        let mut cols: Vec<(String, &'static str)> = self
            .columns
            .iter()
            .map(|(n, t)| (n.clone(), pg_type(*t)))
            .collect();
        cols.push(("_hs_id".into(), "text"));
        cols.push(("_hs_updated_at".into(), "timestamptz"));
        cols.push(("_hs_archived".into(), "boolean NOT NULL DEFAULT false"));
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            self.table,
            cols.iter()
                .map(|(n, t)| format!("{} {t}", quote(n)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let adds: Vec<String> = cols
            .iter()
            .map(|(n, t)| {
                format!(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {t}",
                    self.table,
                    quote(n)
                )
            })
            .collect();
        let index = format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})",
            quote(&format!("{}__spoke_key", self.bare)),
            self.table,
            quote(&self.key)
        );
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.batch_execute(&create)?;
            for a in &adds {
                tx.batch_execute(a)?;
            }
            tx.batch_execute(&index)?;
            tx.commit()
        })
    }

    fn upsert(&self, rows: &[DestRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> = self.columns.iter().map(|(n, _)| n.clone()).collect();
        let mut types: Vec<&str> = self.columns.iter().map(|(_, t)| pg_type(*t)).collect();
        names.extend(["_hs_id".into(), "_hs_updated_at".into(), "_hs_archived".into()]);
        types.extend(["text", "timestamptz", "boolean"]);
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            self.table,
            names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", "),
            types
                .iter()
                .enumerate()
                .map(|(i, t)| format!("${}::text::{t}", i + 1))
                .collect::<Vec<_>>()
                .join(", "),
            quote(&self.key),
            names
                .iter()
                .filter(|n| **n != self.key)
                .map(|n| format!("{0} = excluded.{0}", quote(n)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values: Vec<Vec<Option<String>>> = rows
            .iter()
            .filter(|r| r.row.get(&self.key).is_some_and(|k| !k.is_empty()))
            .map(|r| {
                let mut v: Vec<Option<String>> = self
                    .columns
                    .iter()
                    .map(|(n, _)| r.row.get(n).and_then(as_text))
                    .collect();
                v.push(r.hs_id.clone());
                v.push(r.updated_at.clone());
                v.push(Some(r.archived.to_string()));
                v
            })
            .collect();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let stmt = tx.prepare(&sql)?;
            for v in &values {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = v
                    .iter()
                    .map(|x| x as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                tx.execute(&stmt, &params)?;
            }
            tx.commit()
        })
    }

    fn mark_archived(&self, keys: &[LocalValue]) -> Result<()> {
        self.by_keys(
            format!(
                "UPDATE {} SET \"_hs_archived\" = true WHERE {}",
                self.table,
                self.key_param()
            ),
            keys,
        )
    }

    fn delete(&self, keys: &[LocalValue]) -> Result<()> {
        self.by_keys(
            format!("DELETE FROM {} WHERE {}", self.table, self.key_param()),
            keys,
        )
    }

    fn scan(&self, f: &mut dyn FnMut(LocalRow) -> Result<()>) -> Result<()> {
        let sql = format!(
            "SELECT {} FROM {}",
            self.columns
                .iter()
                .map(|(n, t)| select_expr(n, *t))
                .collect::<Vec<_>>()
                .join(", "),
            self.table
        );
        let n = self.columns.len();
        // Rows stream over a bounded channel: the table is never buffered whole.
        let (tx, rx) = mpsc::sync_channel::<std::result::Result<Vec<Option<String>>, String>>(512);
        let job: Job = Box::new(move |c| {
            let mut run = || -> std::result::Result<(), postgres::Error> {
                let params: [&(dyn postgres::types::ToSql + Sync); 0] = [];
                let mut it = c.query_raw(&sql, params)?;
                use postgres::fallible_iterator::FallibleIterator;
                while let Some(row) = it.next()? {
                    let v: Vec<Option<String>> = (0..n).map(|i| row.get(i)).collect();
                    if tx.send(Ok(v)).is_err() {
                        break;
                    }
                }
                Ok(())
            };
            if let Err(e) = run() {
                let _ = tx.send(Err(pg_reason(&e)));
            }
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| Error::Destination {
                destination: self.label.clone(),
                reason: "the PostgreSQL client stopped".into(),
            })?;
        let mut failed = None;
        for item in rx {
            if failed.is_some() {
                continue; // drain so the client's thread finishes
            }
            match item {
                Ok(values) => {
                    let mut row = LocalRow::new();
                    for ((name, t), v) in self.columns.iter().zip(values) {
                        row.insert(name.clone(), from_text(v, *t));
                    }
                    if let Err(e) = f(row) {
                        failed = Some(e);
                    }
                }
                Err(reason) => {
                    failed = Some(Error::Destination {
                        destination: self.label.clone(),
                        reason,
                    })
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
