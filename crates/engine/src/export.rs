//! Export of a mapping's table (the store table) as CSV or JSON Lines, streamed row by row:
//! the table is never buffered whole.

use std::io::Write;

use rusqlite::types::ValueRef;
use spoke_mapping::Mapping;

use crate::error::{Error, Result};
use crate::store::{quote, Store};

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// RFC 4180: a header line, fields quoted when needed, NULL as an empty field.
    Csv,
    /// One JSON object per line, NULL as `null`.
    Jsonl,
}

impl Store {
    /// Writes the live (not archived) rows of `mapping`'s table to `out`: `_hs_id`, the mapped
    /// columns, `_hs_updated_at`. Returns how many rows were written.
    pub fn export(&self, mapping: &Mapping, format: ExportFormat, out: &mut dyn Write) -> Result<u64> {
        let table = crate::dest::store_table(&mapping.destination);
        let mut columns = vec!["_hs_id".to_owned()];
        columns.extend(crate::dest::mapped_columns(mapping).into_iter().map(|(n, _)| n));
        columns.push("_hs_updated_at".to_owned());
        let path = self.path().display().to_string();
        let err = |e: &dyn std::fmt::Display| Error::store(&path, e);
        let conn = self.conn();
        let exists: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [&table],
                |r| r.get(0),
            )
            .map_err(|e| err(&e))?;
        if exists == 0 {
            return Err(Error::NoSuchTable { table });
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE _hs_archived = 0 ORDER BY rowid",
            columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
            quote(&table)
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| err(&e))?;
        let mut rows = stmt.query([]).map_err(|e| err(&e))?;
        let mut n = 0u64;
        match format {
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(&columns).map_err(|e| err(&e))?;
                while let Some(r) = rows.next().map_err(|e| err(&e))? {
                    let mut rec: Vec<String> = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        rec.push(match r.get_ref(i).map_err(|e| err(&e))? {
                            ValueRef::Null => String::new(),
                            ValueRef::Integer(v) => v.to_string(),
                            ValueRef::Real(v) => v.to_string(),
                            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                            ValueRef::Blob(b) => format!("<{} bytes>", b.len()),
                        });
                    }
                    w.write_record(&rec).map_err(|e| err(&e))?;
                    n += 1;
                }
                w.flush().map_err(|e| err(&e))?;
            }
            ExportFormat::Jsonl => {
                while let Some(r) = rows.next().map_err(|e| err(&e))? {
                    let mut obj = serde_json::Map::with_capacity(columns.len());
                    for (i, c) in columns.iter().enumerate() {
                        let v = match r.get_ref(i).map_err(|e| err(&e))? {
                            ValueRef::Null => serde_json::Value::Null,
                            ValueRef::Integer(v) => v.into(),
                            ValueRef::Real(v) => serde_json::Number::from_f64(v)
                                .map(serde_json::Value::Number)
                                .unwrap_or(serde_json::Value::Null),
                            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                            ValueRef::Blob(b) => format!("<{} bytes>", b.len()).into(),
                        };
                        obj.insert(c.clone(), v);
                    }
                    serde_json::to_writer(&mut *out, &obj).map_err(|e| err(&e))?;
                    out.write_all(b"\n").map_err(|e| err(&e))?;
                    n += 1;
                }
                out.flush().map_err(|e| err(&e))?;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoke_mapping::{Destination, Direction, FieldMapping, LocalType, MatchKey};

    fn mapping() -> Mapping {
        let mut m = Mapping::new(
            "People",
            "contacts",
            Destination::Spoke { table: "people".into() },
            MatchKey::Property { property: "email".into(), column: "email".into() },
        );
        for (p, t) in [("email", LocalType::Text), ("firstname", LocalType::Text), ("score", LocalType::Real)] {
            m.fields.push(FieldMapping {
                property: Some(p.into()),
                column: Some(p.into()),
                direction: Direction::Both,
                property_type: None,
                column_type: Some(t),
                inbound: vec![],
                outbound: vec![],
                required: false,
            });
        }
        m
    }

    #[test]
    fn csv_and_jsonl_quote_unicode_and_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        let m = mapping();
        assert!(matches!(
            store.export(&m, ExportFormat::Csv, &mut Vec::new()),
            Err(Error::NoSuchTable { .. })
        ));
        store.ensure_table(&m).unwrap();
        store
            .conn()
            .execute_batch(
                "INSERT INTO people (_hs_id, _hs_updated_at, email, firstname, score) VALUES
                   ('1', '2026-01-01T00:00:00.000Z', 'a@example.com', 'Ada, \"the\" first', 1.5),
                   ('2', NULL, 'zoë@example.com', 'Zoë
Line two', NULL),
                   (NULL, NULL, 'new@example.com', NULL, 3);
                 INSERT INTO people (_hs_id, email, _hs_archived) VALUES ('9', 'gone@example.com', 1);",
            )
            .unwrap();
        let mut csv_out = Vec::new();
        assert_eq!(store.export(&m, ExportFormat::Csv, &mut csv_out).unwrap(), 3);
        let text = String::from_utf8(csv_out).unwrap();
        assert_eq!(
            text,
            "_hs_id,email,firstname,score,_hs_updated_at\n\
             1,a@example.com,\"Ada, \"\"the\"\" first\",1.5,2026-01-01T00:00:00.000Z\n\
             2,zoë@example.com,\"Zoë\nLine two\",,\n\
             ,new@example.com,,3,\n"
        );
        let mut json_out = Vec::new();
        assert_eq!(store.export(&m, ExportFormat::Jsonl, &mut json_out).unwrap(), 3);
        let lines: Vec<serde_json::Value> = String::from_utf8(json_out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["firstname"], "Ada, \"the\" first");
        assert_eq!(lines[0]["score"], 1.5);
        assert_eq!(lines[1]["firstname"], "Zoë\nLine two");
        assert!(lines[1]["score"].is_null());
        assert!(lines[2]["_hs_id"].is_null());
        assert_eq!(lines[2]["score"], 3.0);
    }
}
