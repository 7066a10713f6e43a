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

// ---- the destination picker: Test, the table's columns, sample rows ----

/// What the destination picker's "Test" found: the server, who Spoke logs in as, and the table
/// (its columns when it exists, else that Spoke will create it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PgCheck {
    /// `server_version`, e.g. `15.8 (Debian 15.8-0+deb12u1)`.
    pub server_version: String,
    pub user: String,
    pub database: String,
    /// The table as Spoke will use it: `schema.table`.
    pub table: String,
    /// Whether the table exists; if not, the first sync creates it.
    pub exists: bool,
    /// The table's columns (Spoke's own `_hs_*` columns left out); empty when it does not exist.
    pub columns: Vec<spoke_mapping::LocalColumn>,
    /// Whether a password was used (one is saved in the keychain for this URL).
    pub password_used: bool,
}

/// Which part of the destination a PostgreSQL problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgProblem {
    /// The URL itself (not a postgresql:// URL, a password in it, a bad parameter).
    Url,
    /// The password: refused, or the server wants one and none is saved.
    Password,
    /// The host and port cannot be reached.
    Unreachable,
    /// The database in the URL does not exist.
    NoDatabase,
    /// The user in the URL does not exist (or may not log in from here).
    NoUser,
    /// The user lacks a privilege Spoke needs.
    Permission,
    /// The table name (or its schema).
    Table,
    /// Anything else the server said.
    Server,
}

impl PgProblem {
    pub fn code(self) -> &'static str {
        match self {
            PgProblem::Url => "engine.pg_url",
            PgProblem::Password => "engine.pg_password",
            PgProblem::Unreachable => "engine.pg_unreachable",
            PgProblem::NoDatabase => "engine.pg_no_database",
            PgProblem::NoUser => "engine.pg_no_user",
            PgProblem::Permission => "engine.pg_permission",
            PgProblem::Table => "engine.pg_table",
            PgProblem::Server => "engine.pg_server",
        }
    }

    /// The picker's field the problem is in.
    pub fn field(self) -> &'static str {
        match self {
            PgProblem::Url | PgProblem::Server => "Connection URL",
            PgProblem::Password => "Password",
            PgProblem::Unreachable => "Connection URL (host and port)",
            PgProblem::NoDatabase => "Connection URL (database)",
            PgProblem::NoUser => "Connection URL (user)",
            PgProblem::Permission | PgProblem::Table => "Table",
        }
    }
}

fn pg_problem(problem: PgProblem, message: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::Postgres {
        problem,
        message: message.into(),
        fix: fix.into(),
    }
}

/// Where Spoke stood when the server answered: logging in, or looking at the table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connect,
    Table,
}

/// The server's (or the client's) error as a problem naming the field to fix.
fn classify(e: &postgres::Error, config: &postgres::Config, stage: Stage) -> Error {
    let user = config.get_user().unwrap_or("(no user)").to_owned();
    let db = config.get_dbname().unwrap_or(&user).to_owned();
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    if let Some(d) = e.as_db_error() {
        let said = format!("{} ({})", d.message(), d.code().code());
        return match d.code().code() {
            "28P01" => pg_problem(
                PgProblem::Password,
                format!("PostgreSQL refused the password of user {user:?}: {said}"),
                "Type the user's current password in Password and press Save (it replaces the one in the keychain), then Test again.",
            ),
            "3D000" => pg_problem(
                PgProblem::NoDatabase,
                format!("the server has no database {db:?}: {said}"),
                format!("Fix the database name at the end of the URL (postgresql://{user}@{host}:{port}/DATABASE), or create it: CREATE DATABASE {db} OWNER {user};"),
            ),
            "28000" if d.message().contains("does not exist") => pg_problem(
                PgProblem::NoUser,
                format!("the server has no user {user:?}: {said}"),
                format!("Fix the user name in the URL (postgresql://USER@{host}:{port}/{db}), or create the role: CREATE ROLE {user} LOGIN PASSWORD '…';"),
            ),
            "28000" => pg_problem(
                PgProblem::NoUser,
                format!("the server does not let user {user:?} log in to {db:?} from here: {said}"),
                "Ask the database's administrator to allow this user from this machine (pg_hba.conf), or use another user in the URL.",
            ),
            "42501" if stage == Stage::Connect => pg_problem(
                PgProblem::NoDatabase,
                format!("user {user:?} may not connect to the database {db:?}: {said}"),
                format!("Grant it: GRANT CONNECT ON DATABASE {db} TO {user}; or use another user in the URL."),
            ),
            "42501" => pg_problem(
                PgProblem::Permission,
                format!("user {user:?} lacks a privilege on the table: {said}"),
                "Grant it (GRANT SELECT, INSERT, UPDATE, DELETE ON the table TO the user), or connect as the table's owner.",
            ),
            "3F000" | "42P01" => pg_problem(
                PgProblem::Table,
                format!("the table's schema does not exist: {said}"),
                "Name an existing schema (SCHEMA.TABLE), or create it: CREATE SCHEMA name AUTHORIZATION the user.",
            ),
            _ => pg_problem(
                PgProblem::Server,
                format!("the server refused: {said}"),
                "Check the URL and the user's rights on the database, then Test again.",
            ),
        };
    }
    let reason = pg_reason(e);
    if reason.contains("password missing") {
        pg_problem(
            PgProblem::Password,
            format!("the server asks a password of user {user:?} and none is saved in the keychain for this URL"),
            "Type the password in Password and press Save; Spoke keeps it in the OS keychain.",
        )
    } else if reason.contains("invalid configuration") || reason.contains("invalid connection string") {
        pg_problem(
            PgProblem::Url,
            format!("the URL cannot be used: {reason}"),
            "Write the URL as postgresql://USER@HOST:PORT/DATABASE.",
        )
    } else {
        pg_problem(
            PgProblem::Unreachable,
            format!("no PostgreSQL server answers at {host}:{port}: {reason}"),
            "Check the host and port in the URL, that the server is running and that it listens on the network (listen_addresses); firewalls and VPNs can block it.",
        )
    }
}

/// The keychain's password for `url`, if one is saved. Without a keychain, none (password-less
/// logins such as trust or peer still work); the problem is logged, never the password.
pub fn saved_password(url: &str) -> Option<Secret> {
    match spoke_connect::Keychain::default().database_password(url) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(code = %spoke_hubspot::Describe::code(&e), "no keychain for the PostgreSQL password: {e}");
            None
        }
    }
}

/// Splits `table` into (schema, table); `None` when it is not TABLE or SCHEMA.TABLE.
fn split_table(table: &str) -> Option<(Option<String>, String)> {
    let parts: Vec<&str> = table.trim().split('.').collect();
    if parts.iter().any(|p| p.trim().is_empty()) {
        return None;
    }
    match parts.as_slice() {
        [t] => Some((None, t.trim().to_owned())),
        [s, t] => Some((Some(s.trim().to_owned()), t.trim().to_owned())),
        _ => None,
    }
}

fn local_type_of(pg: &str) -> LocalType {
    match pg {
        "smallint" | "integer" | "bigint" => LocalType::Integer,
        "real" | "double precision" => LocalType::Real,
        t if t.starts_with("numeric") => LocalType::Real,
        "boolean" => LocalType::Boolean,
        "date" => LocalType::Date,
        t if t.starts_with("timestamp") => LocalType::Datetime,
        "json" | "jsonb" => LocalType::Json,
        _ => LocalType::Text,
    }
}

/// A connection made on the calling thread (call from a thread of its own, never from inside
/// an async runtime).
fn open(url: &str, password: Option<&Secret>) -> Result<(postgres::Client, postgres::Config)> {
    if let Some(problem) = spoke_mapping::postgres_url_problem(url) {
        return Err(pg_problem(
            PgProblem::Url,
            problem,
            "Write the URL as postgresql://USER@HOST:PORT/DATABASE, without the password: type it in Password and press Save (Spoke keeps it in the OS keychain).",
        ));
    }
    let mut config: postgres::Config = url.trim().parse().map_err(|e: postgres::Error| {
        pg_problem(
            PgProblem::Url,
            format!("the URL cannot be used: {}", pg_reason(&e)),
            "Write the URL as postgresql://USER@HOST:PORT/DATABASE.",
        )
    })?;
    if let Some(p) = password {
        config.password(p.expose());
    }
    config.connect_timeout(std::time::Duration::from_secs(10));
    config.application_name("spoke");
    match config.connect(postgres::NoTls) {
        Ok(client) => Ok((client, config)),
        Err(e) => Err(classify(&e, &config, Stage::Connect)),
    }
}

/// Runs blocking client work on a thread of its own (the client brings its own runtime).
fn on_own_thread<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    std::thread::Builder::new()
        .name("spoke-postgres-check".into())
        .spawn(f)
        .map_err(|e| pg_problem(PgProblem::Server, e.to_string(), "Try again."))?
        .join()
        .unwrap_or_else(|_| Err(pg_problem(PgProblem::Server, "the PostgreSQL client stopped", "Try again.")))
}

/// The schema the table lives in (the first schema of the search path when unqualified),
/// and the table's columns when it exists.
struct Found {
    schema: String,
    table: String,
    oid: Option<u32>,
    columns: Vec<spoke_mapping::LocalColumn>,
}

fn find_table(c: &mut postgres::Client, config: &postgres::Config, table: &str) -> Result<Found> {
    let Some((schema, name)) = split_table(table) else {
        return Err(pg_problem(
            PgProblem::Table,
            format!("{table:?} is not a table name"),
            "Name the table like contacts or crm.contacts.",
        ));
    };
    let err = |e: postgres::Error| classify(&e, config, Stage::Table);
    let schema = match schema {
        Some(s) => s,
        None => c
            .query_one("SELECT current_schema()", &[])
            .map_err(err)?
            .get::<_, Option<String>>(0)
            .ok_or_else(|| {
                pg_problem(
                    PgProblem::Table,
                    "the user's search path names no existing schema",
                    "Name the table with its schema, like public.contacts.",
                )
            })?,
    };
    let exists: bool = c
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", &[&schema])
        .map_err(err)?
        .get(0);
    if !exists {
        let user = config.get_user().unwrap_or("the user");
        return Err(pg_problem(
            PgProblem::Table,
            format!("the database has no schema {schema:?}"),
            format!("Name an existing schema (or just the table, for public), or create it: CREATE SCHEMA {} AUTHORIZATION {};", quote(&schema), quote(user)),
        ));
    }
    let oid: Option<u32> = c
        .query_opt(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&schema, &name],
        )
        .map_err(err)?
        .map(|r| r.get(0));
    let mut columns = Vec::new();
    if let Some(oid) = oid {
        let rows = c
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                        pg_get_expr(d.adbin, d.adrelid), \
                        EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey)) \
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&oid],
            )
            .map_err(err)?;
        for r in rows {
            let name: String = r.get(0);
            if name.starts_with("_hs_") {
                continue;
            }
            let declared: String = r.get(1);
            columns.push(spoke_mapping::LocalColumn {
                local_type: local_type_of(&declared),
                declared_type: declared,
                name,
                not_null: r.get(2),
                default_value: r.get(3),
                primary_key: r.get(4),
            });
        }
    }
    Ok(Found { schema, table: name, oid, columns })
}

/// Connects as the destination picker's "Test" does: logs in (with `password`, from the
/// keychain), reads the server version, finds the table and its columns, and checks that the
/// user may do what a sync does there (create the table in its schema, or own the existing
/// one, whose columns and unique index Spoke keeps up to date, and read and write its rows).
/// Blocking (runs the client on a thread of its own). Errors name the field to fix.
pub fn check_postgres(url: &str, password: Option<Secret>, table: &str) -> Result<PgCheck> {
    let (url, table) = (url.to_owned(), table.to_owned());
    on_own_thread(move || {
        let (mut c, config) = open(&url, password.as_ref())?;
        let err = |e: postgres::Error| classify(&e, &config, Stage::Table);
        let row = c
            .query_one("SELECT current_setting('server_version'), current_user::text, current_database()::text", &[])
            .map_err(err)?;
        let (server_version, user, database): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let found = find_table(&mut c, &config, &table)?;
        let full = format!("{}.{}", found.schema, found.table);
        match found.oid {
            Some(oid) => {
                let r = c
                    .query_one(
                        "SELECT pg_has_role(c.relowner, 'USAGE'), has_table_privilege(c.oid, 'SELECT') \
                           AND has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE') \
                           AND has_table_privilege(c.oid, 'DELETE'), pg_get_userbyid(c.relowner)::text \
                         FROM pg_class c WHERE c.oid = $1",
                        &[&oid],
                    )
                    .map_err(err)?;
                let (owner, rw, owned_by): (bool, bool, String) = (r.get(0), r.get(1), r.get(2));
                if !rw {
                    return Err(pg_problem(
                        PgProblem::Permission,
                        format!("user {user:?} may not read and write the table {full} (owned by {owned_by:?})"),
                        format!("Grant it: GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {};", quote_full(&full), quote(&user)),
                    ));
                }
                if !owner {
                    return Err(pg_problem(
                        PgProblem::Permission,
                        format!("user {user:?} does not own the table {full} (owned by {owned_by:?}); Spoke adds the mapped columns it lacks and a unique index on the match key, which only the owner may"),
                        format!("Connect as {owned_by:?} (change the user in the URL), or give the table to this user: ALTER TABLE {} OWNER TO {};", quote_full(&full), quote(&user)),
                    ));
                }
            }
            None => {
                let may_create: bool = c
                    .query_one("SELECT has_schema_privilege($1, 'CREATE')", &[&found.schema])
                    .map_err(err)?
                    .get(0);
                if !may_create {
                    return Err(pg_problem(
                        PgProblem::Permission,
                        format!("the table {full} does not exist and user {user:?} may not create tables in the schema {:?}", found.schema),
                        format!("Grant it: GRANT CREATE ON SCHEMA {} TO {}; or create the table as its owner.", quote(&found.schema), quote(&user)),
                    ));
                }
            }
        }
        Ok(PgCheck {
            server_version,
            user,
            database,
            table: full,
            exists: found.oid.is_some(),
            columns: found.columns,
            password_used: password.is_some(),
        })
    })
}

fn quote_full(table: &str) -> String {
    table.split('.').map(quote).collect::<Vec<_>>().join(".")
}

/// Up to `limit` rows of the table (every column but Spoke's `_hs_*` ones, valued as a sync
/// would read them); none while the table does not exist. Blocking, like [`check_postgres`].
pub fn postgres_rows(url: &str, password: Option<Secret>, table: &str, limit: usize) -> Result<Vec<LocalRow>> {
    let (url, table) = (url.to_owned(), table.to_owned());
    on_own_thread(move || {
        let (mut c, config) = open(&url, password.as_ref())?;
        let found = find_table(&mut c, &config, &table)?;
        if found.oid.is_none() || found.columns.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM {}.{} LIMIT {}",
            found.columns.iter().map(|col| select_expr(&col.name, col.local_type)).collect::<Vec<_>>().join(", "),
            quote(&found.schema),
            quote(&found.table),
            limit
        );
        let rows = c.query(&sql, &[]).map_err(|e| classify(&e, &config, Stage::Table))?;
        Ok(rows
            .iter()
            .map(|r| {
                found
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, col)| (col.name.clone(), from_text(r.get(i), col.local_type)))
                    .collect()
            })
            .collect())
    })
}

/// Checks what the picker's Save sends before it reaches the keychain: a PostgreSQL URL without
/// a password (the keychain entry is named after it) and a password that is not empty.
pub fn check_password_entry(url: &str, password: &Secret) -> Result<()> {
    if let Some(problem) = spoke_mapping::postgres_url_problem(url) {
        return Err(pg_problem(
            PgProblem::Url,
            problem,
            "Write the URL as postgresql://USER@HOST:PORT/DATABASE, without the password: type it in Password and press Save (Spoke keeps it in the OS keychain).",
        ));
    }
    if password.expose().is_empty() {
        return Err(pg_problem(
            PgProblem::Password,
            "the password is empty",
            "Type the database user's password, then press Save; for a server that needs none (trust, peer), leave Password alone.",
        ));
    }
    Ok(())
}
