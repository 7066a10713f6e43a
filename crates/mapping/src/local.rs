//! The local side: the small type set, values, and discovery of existing SQLite tables.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The local type set every column is mapped onto.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, specta::Type,
)]
#[serde(rename_all = "camelCase")]
pub enum LocalType {
    Text,
    Integer,
    Real,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 text in UTC (`2025-06-15T03:00:29.864Z`).
    Datetime,
    /// JSON text.
    Json,
}

impl LocalType {
    /// The declared SQLite type Spoke uses when it creates a column.
    pub fn sql_type(self) -> &'static str {
        match self {
            LocalType::Text => "TEXT",
            LocalType::Integer => "INTEGER",
            LocalType::Real => "REAL",
            LocalType::Boolean => "BOOLEAN",
            LocalType::Date => "DATE",
            LocalType::Datetime => "DATETIME",
            LocalType::Json => "JSON",
        }
    }

    /// Maps a declared SQLite column type onto the local type set (SQLite's affinity rules, with
    /// the common date/boolean/json spellings recognised first).
    pub fn from_declared(declared: &str) -> LocalType {
        let t = declared.trim().to_ascii_uppercase();
        if t.contains("BOOL") {
            LocalType::Boolean
        } else if t.contains("DATETIME") || t.contains("TIMESTAMP") {
            LocalType::Datetime
        } else if t.starts_with("DATE") {
            LocalType::Date
        } else if t.contains("JSON") {
            LocalType::Json
        } else if t.contains("INT") {
            LocalType::Integer
        } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
            LocalType::Text
        } else if t.contains("REAL")
            || t.contains("FLOA")
            || t.contains("DOUB")
            || t.contains("NUMERIC")
            || t.contains("DECIMAL")
        {
            LocalType::Real
        } else {
            // BLOB, no type, or anything else: SQLite stores what it is given; treat as text.
            LocalType::Text
        }
    }
}

/// A value in a local row. Serialises as a plain JSON value (`null`, `true`, `42`, `1.5`, `"x"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(untagged)]
pub enum LocalValue {
    Null,
    Bool(bool),
    Integer(i64),
    Real(f64),
    Text(String),
}

impl LocalValue {
    /// Null or empty text.
    pub fn is_empty(&self) -> bool {
        match self {
            LocalValue::Null => true,
            LocalValue::Text(s) => s.is_empty(),
            _ => false,
        }
    }

    /// The value as text (`None` for null).
    pub fn as_text(&self) -> Option<String> {
        match self {
            LocalValue::Null => None,
            LocalValue::Bool(b) => Some(b.to_string()),
            LocalValue::Integer(i) => Some(i.to_string()),
            LocalValue::Real(r) => Some(format_real(*r)),
            LocalValue::Text(s) => Some(s.clone()),
        }
    }

    /// How the value reads in previews and messages.
    pub fn display(&self) -> String {
        self.as_text().unwrap_or_else(|| "(empty)".to_owned())
    }
}

impl From<&str> for LocalValue {
    fn from(s: &str) -> Self {
        LocalValue::Text(s.to_owned())
    }
}

impl From<Option<String>> for LocalValue {
    fn from(s: Option<String>) -> Self {
        s.map(LocalValue::Text).unwrap_or(LocalValue::Null)
    }
}

/// Formats a float without a trailing `.0` for integral values.
pub(crate) fn format_real(r: f64) -> String {
    if r.fract() == 0.0 && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// One local record: column name → value.
pub type LocalRow = BTreeMap<String, LocalValue>;

/// One column of a local table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct LocalColumn {
    pub name: String,
    /// As declared in the table (`VARCHAR(255)`, `INTEGER`, empty when undeclared).
    pub declared_type: String,
    pub local_type: LocalType,
    pub not_null: bool,
    pub primary_key: bool,
    /// The column default as SQL text, if any.
    pub default_value: Option<String>,
}

impl LocalColumn {
    /// A column of Spoke's own table (no declared constraints yet).
    pub fn new(name: impl Into<String>, local_type: LocalType) -> LocalColumn {
        LocalColumn {
            name: name.into(),
            declared_type: local_type.sql_type().to_owned(),
            local_type,
            not_null: false,
            primary_key: false,
            default_value: None,
        }
    }
}

/// An existing table in an SQLite file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct LocalTable {
    pub path: String,
    pub table: String,
    pub columns: Vec<LocalColumn>,
}

fn open_read_only(path: &Path) -> Result<Connection> {
    let sqlite_err = |e: rusqlite::Error| Error::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if !path.exists() {
        return Err(Error::Sqlite {
            path: path.display().to_string(),
            reason: "the file does not exist".to_owned(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err)?;
    // Fails here (not later) when the file is not a database.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(sqlite_err)?;
    Ok(conn)
}

/// The tables (not views, not SQLite's own) of an SQLite file, sorted by name.
pub fn list_sqlite_tables(path: &Path) -> Result<Vec<String>> {
    let conn = open_read_only(path)?;
    let sqlite_err = |e: rusqlite::Error| Error::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .map_err(sqlite_err)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sqlite_err)?;
    names
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sqlite_err)
}

/// The columns of `table` in the SQLite file at `path` (`PRAGMA table_info`), with their declared
/// types mapped onto [`LocalType`]. Opens the file read-only.
pub fn discover_sqlite_table(path: &Path, table: &str) -> Result<LocalTable> {
    let conn = open_read_only(path)?;
    let sqlite_err = |e: rusqlite::Error| Error::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut stmt = conn
        .prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")
        .map_err(sqlite_err)?;
    let columns = stmt
        .query_map([table], |r| {
            let declared: String = r.get::<_, Option<String>>(1)?.unwrap_or_default();
            Ok(LocalColumn {
                name: r.get(0)?,
                local_type: LocalType::from_declared(&declared),
                declared_type: declared,
                not_null: r.get::<_, i64>(2)? != 0,
                default_value: r.get(3)?,
                primary_key: r.get::<_, i64>(4)? != 0,
            })
        })
        .map_err(sqlite_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sqlite_err)?;
    if columns.is_empty() {
        return Err(Error::NoSuchTable {
            path: path.display().to_string(),
            table: table.to_owned(),
        });
    }
    Ok(LocalTable {
        path: path.display().to_string(),
        table: table.to_owned(),
        columns,
    })
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The `CREATE TABLE` statement for a mapping's table in Spoke's own database: the match key
/// column (unique) first, then every mapped column with its local type.
pub fn create_table_sql(mapping: &crate::model::Mapping) -> String {
    let columns: Vec<String> = mapping
        .local_columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let unique = if i == 0 { " UNIQUE" } else { "" };
            format!(
                "  {} {}{unique}",
                quote_ident(&c.name),
                c.local_type.sql_type()
            )
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{}\n)",
        quote_ident(mapping.destination.table()),
        columns.join(",\n")
    )
}

/// Creates the mapping's table in the SQLite file at `path` (Spoke's own database), or adds the
/// columns it lacks. Returns the names of the columns added. Never drops or changes a column.
pub fn ensure_table(path: &Path, mapping: &crate::model::Mapping) -> Result<Vec<String>> {
    if let crate::model::Destination::Sqlite { table, .. } = &mapping.destination {
        return Err(Error::Sqlite {
            path: path.display().to_string(),
            reason: format!("{table} belongs to the admin's database; Spoke only creates or changes tables in its own"),
        });
    }
    let sqlite_err = |e: rusqlite::Error| Error::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut conn = Connection::open(path).map_err(sqlite_err)?;
    let tx = conn.transaction().map_err(sqlite_err)?;
    let table = mapping.destination.table();
    let existing: Vec<String> = {
        let mut stmt = tx
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(sqlite_err)?;
        let names = stmt
            .query_map([table], |r| r.get::<_, String>(0))
            .map_err(sqlite_err)?;
        names
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sqlite_err)?
    };
    let mut added = Vec::new();
    if existing.is_empty() {
        tx.execute_batch(&create_table_sql(mapping))
            .map_err(sqlite_err)?;
        added = mapping
            .local_columns()
            .into_iter()
            .map(|c| c.name)
            .collect();
    } else {
        for c in mapping.local_columns() {
            if !existing.iter().any(|e| e.eq_ignore_ascii_case(&c.name)) {
                let sql = format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    quote_ident(table),
                    quote_ident(&c.name),
                    c.local_type.sql_type()
                );
                tx.execute_batch(&sql).map_err(sqlite_err)?;
                added.push(c.name);
            }
        }
    }
    tx.commit().map_err(sqlite_err)?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_onto_the_local_set() {
        let cases = [
            ("INTEGER", LocalType::Integer),
            ("bigint", LocalType::Integer),
            ("VARCHAR(255)", LocalType::Text),
            ("NVARCHAR", LocalType::Text),
            ("REAL", LocalType::Real),
            ("DOUBLE PRECISION", LocalType::Real),
            ("DECIMAL(10,2)", LocalType::Real),
            ("BOOLEAN", LocalType::Boolean),
            ("DATE", LocalType::Date),
            ("DATETIME", LocalType::Datetime),
            ("TIMESTAMP", LocalType::Datetime),
            ("JSON", LocalType::Json),
            ("", LocalType::Text),
            ("BLOB", LocalType::Text),
        ];
        for (declared, want) in cases {
            assert_eq!(LocalType::from_declared(declared), want, "{declared}");
        }
    }

    #[test]
    fn discovers_an_existing_customers_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, full_name TEXT,
               signed_up DATE, last_login TIMESTAMP, vip BOOLEAN DEFAULT 0, balance NUMERIC, tags JSON, avatar BLOB);
             CREATE TABLE orders (id INTEGER PRIMARY KEY);
             CREATE VIEW v AS SELECT id FROM customers;",
        )
        .unwrap();
        drop(conn);
        let table = discover_sqlite_table(&path, "customers").unwrap();
        let got: Vec<(&str, LocalType)> = table
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.local_type))
            .collect();
        assert_eq!(
            got,
            [
                ("id", LocalType::Integer),
                ("email", LocalType::Text),
                ("full_name", LocalType::Text),
                ("signed_up", LocalType::Date),
                ("last_login", LocalType::Datetime),
                ("vip", LocalType::Boolean),
                ("balance", LocalType::Real),
                ("tags", LocalType::Json),
                ("avatar", LocalType::Text),
            ]
        );
        assert!(table.columns[0].primary_key);
        assert!(table.columns[1].not_null);
        assert_eq!(table.columns[1].declared_type, "VARCHAR(255)");
        assert_eq!(table.columns[5].default_value.as_deref(), Some("0"));
        assert_eq!(list_sqlite_tables(&path).unwrap(), ["customers", "orders"]);
        assert!(matches!(
            discover_sqlite_table(&path, "nope"),
            Err(Error::NoSuchTable { .. })
        ));
    }

    #[test]
    fn refuses_missing_files_and_non_databases() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            discover_sqlite_table(&dir.path().join("none.db"), "t"),
            Err(Error::Sqlite { .. })
        ));
        let junk = dir.path().join("junk.db");
        std::fs::write(
            &junk,
            "this is not a database, just some text that is long enough to have a header",
        )
        .unwrap();
        assert!(matches!(
            discover_sqlite_table(&junk, "t"),
            Err(Error::Sqlite { .. })
        ));
    }

    #[test]
    fn spoke_tables_are_created_then_extended_and_round_trip_through_discovery() {
        use crate::model::{Destination, Direction, FieldMapping, Mapping, MatchKey};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spoke.db");
        let mut m = Mapping::new(
            "m",
            "contacts",
            Destination::Spoke {
                table: "hs contacts".into(),
            },
            MatchKey::RecordId {
                column: "hubspot_id".into(),
            },
        );
        let f = |p: &str, c: &str, t: LocalType| FieldMapping {
            property: Some(p.into()),
            column: Some(c.into()),
            direction: Direction::ToLocal,
            property_type: None,
            column_type: Some(t),
            inbound: vec![],
            outbound: vec![],
            required: false,
        };
        m.fields = vec![
            f("email", "email", LocalType::Text),
            f("createdate", "created", LocalType::Datetime),
            f("spoke_opt_in", "opt_in", LocalType::Boolean),
        ];
        assert_eq!(
            ensure_table(&path, &m).unwrap(),
            ["hubspot_id", "email", "created", "opt_in"]
        );
        let t = discover_sqlite_table(&path, "hs contacts").unwrap();
        let got: Vec<(&str, LocalType)> = t
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.local_type))
            .collect();
        assert_eq!(
            got,
            [
                ("hubspot_id", LocalType::Text),
                ("email", LocalType::Text),
                ("created", LocalType::Datetime),
                ("opt_in", LocalType::Boolean)
            ]
        );
        m.fields.push(f("spoke_score", "score", LocalType::Real));
        assert_eq!(ensure_table(&path, &m).unwrap(), ["score"]);
        assert_eq!(ensure_table(&path, &m).unwrap(), Vec::<String>::new());
        // Never the admin's own tables.
        let mut theirs = m.clone();
        theirs.destination = Destination::Sqlite {
            path: path.display().to_string(),
            table: "hs contacts".into(),
        };
        assert!(
            matches!(ensure_table(&path, &theirs), Err(Error::Sqlite { reason, .. }) if reason.contains("its own"))
        );
        // The key column is unique.
        let conn = Connection::open(&path).unwrap();
        conn.execute("INSERT INTO \"hs contacts\" (hubspot_id) VALUES ('1')", [])
            .unwrap();
        assert!(conn
            .execute("INSERT INTO \"hs contacts\" (hubspot_id) VALUES ('1')", [])
            .is_err());
    }

    #[test]
    fn local_values_serialise_as_plain_json() {
        let row: LocalRow = [
            ("a".to_owned(), LocalValue::Null),
            ("b".to_owned(), LocalValue::Bool(true)),
            ("c".to_owned(), LocalValue::Integer(42)),
            ("d".to_owned(), LocalValue::Real(1.5)),
            ("e".to_owned(), LocalValue::Text("x".into())),
        ]
        .into();
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"a":null,"b":true,"c":42,"d":1.5,"e":"x"}"#);
        assert_eq!(serde_json::from_str::<LocalRow>(&json).unwrap(), row);
    }
}
