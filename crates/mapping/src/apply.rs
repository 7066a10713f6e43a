//! Running records through a mapping: HubSpot → local rows, local rows → HubSpot properties, and
//! the dry-run preview that shows both without writing anything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{ObjectCatalog, PropertyType};
use crate::criteria::{compile_criteria, matches};
use crate::error::{Error, Result};
use crate::local::{LocalRow, LocalValue};
use crate::model::{FieldMapping, Mapping, MatchKey};
use crate::transform::{to_datetime_in, to_f64, to_hubspot, to_local, utc, Transform};

/// A HubSpot record as the CRM object endpoints return it (`{id, properties: {..}}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct HubSpotRecord {
    pub id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
}

impl From<spoke_hubspot::CrmObject> for HubSpotRecord {
    fn from(o: spoke_hubspot::CrmObject) -> Self {
        HubSpotRecord {
            id: o.id,
            properties: o.properties,
        }
    }
}

impl HubSpotRecord {
    /// A property's value; empty text is no value. `hs_object_id` falls back to the id.
    pub fn value(&self, name: &str) -> LocalValue {
        match self
            .properties
            .get(name)
            .cloned()
            .flatten()
            .filter(|v| !v.is_empty())
        {
            Some(v) => LocalValue::Text(v),
            None if name == "hs_object_id" && !self.id.is_empty() => {
                LocalValue::Text(self.id.clone())
            }
            None => LocalValue::Null,
        }
    }
}

/// What to send to HubSpot for one local row, in the shape of a batch upsert input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct HubSpotProperties {
    /// The record id (match key = record id, and the row has one), or the match key's value.
    pub id: Option<String>,
    /// Set when `id` is a property value (`email`, a unique property), as in `batch/upsert`.
    pub id_property: Option<String>,
    /// Property → value. Empty local values are left out (HubSpot keeps what it has).
    pub properties: BTreeMap<String, String>,
}

/// One field's run: where it started and where it ended.
struct FieldRun {
    before: LocalValue,
    after: std::result::Result<LocalValue, String>,
}

fn run_chain(
    chain: &[Transform],
    start: LocalValue,
    lookup: &dyn Fn(&str) -> LocalValue,
) -> std::result::Result<LocalValue, String> {
    chain.iter().try_fold(start, |v, t| t.apply(v, lookup))
}

fn inbound_field(f: &FieldMapping, record: &HubSpotRecord) -> FieldRun {
    let before = f
        .property
        .as_deref()
        .map(|p| record.value(p))
        .unwrap_or(LocalValue::Null);
    let after = run_chain(&f.inbound, before.clone(), &|name| record.value(name))
        .and_then(|v| to_local(v, f.effective_column_type(), f.property_type))
        .and_then(|v| {
            if f.required && v.is_empty() {
                Err(format!("required field {} is empty", f.describe()))
            } else {
                Ok(v)
            }
        });
    FieldRun { before, after }
}

fn row_value(row: &LocalRow, column: &str) -> LocalValue {
    row.get(column).cloned().unwrap_or(LocalValue::Null)
}

fn outbound_field(f: &FieldMapping, row: &LocalRow) -> FieldRun {
    let before = f
        .column
        .as_deref()
        .map(|c| row_value(row, c))
        .unwrap_or(LocalValue::Null);
    let after = run_chain(&f.outbound, before.clone(), &|name| row_value(row, name))
        .and_then(|v| to_hubspot(&v, f.property_type.unwrap_or(PropertyType::String)))
        .map(LocalValue::from)
        .and_then(|v| {
            if f.required && v.is_empty() {
                Err(format!("required field {} is empty", f.describe()))
            } else {
                Ok(v)
            }
        });
    FieldRun { before, after }
}

fn field_error(f: &FieldMapping, reason: String) -> Error {
    let prefix = format!("required field {} is empty", f.describe());
    if reason == prefix {
        Error::RequiredEmpty {
            field: f.describe(),
        }
    } else {
        Error::Transform {
            field: f.describe(),
            reason,
        }
    }
}

/// Builds the local row for a HubSpot record: every HubSpot → local field, plus the match key.
pub fn apply_inbound(mapping: &Mapping, record: &HubSpotRecord) -> Result<LocalRow> {
    let mut row = LocalRow::new();
    for f in mapping.fields.iter().filter(|f| f.direction.inbound()) {
        let run = inbound_field(f, record);
        let value = run.after.map_err(|reason| field_error(f, reason))?;
        if let Some(column) = &f.column {
            row.insert(column.clone(), value);
        }
    }
    let key = inbound_key(mapping, record, &row).ok_or_else(|| Error::MissingMatchKey {
        key: mapping.match_key.describe(),
    })?;
    row.insert(mapping.match_key.column().to_owned(), key);
    Ok(row)
}

fn inbound_key(mapping: &Mapping, record: &HubSpotRecord, row: &LocalRow) -> Option<LocalValue> {
    let v = match &mapping.match_key {
        MatchKey::RecordId { .. } => LocalValue::Text(record.id.clone()),
        MatchKey::Property { property, column } => match row.get(column) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => record.value(property),
        },
    };
    (!v.is_empty()).then_some(v)
}

/// Builds what to write to HubSpot for a local row: every local → HubSpot field, plus the match
/// key as `id` / `idProperty`.
pub fn apply_outbound(mapping: &Mapping, row: &LocalRow) -> Result<HubSpotProperties> {
    let mut out = HubSpotProperties::default();
    for f in mapping.fields.iter().filter(|f| f.direction.outbound()) {
        let run = outbound_field(f, row);
        let value = run.after.map_err(|reason| field_error(f, reason))?;
        if let (Some(property), Some(text)) = (&f.property, value.as_text()) {
            out.properties.insert(property.clone(), text);
        }
    }
    match &mapping.match_key {
        MatchKey::RecordId { column } => {
            out.id = row_value(row, column)
                .as_text()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
        }
        MatchKey::Property { property, column } => {
            // Keys are matched exactly by HubSpot: surrounding white space never helps.
            let value = out
                .properties
                .get(property)
                .cloned()
                .or_else(|| row_value(row, column).as_text())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            let value = value.ok_or_else(|| Error::MissingMatchKey {
                key: mapping.match_key.describe(),
            })?;
            out.properties.insert(property.clone(), value.clone());
            out.id = Some(value);
            out.id_property = Some(property.clone());
        }
    }
    Ok(out)
}

/// Why HubSpot would refuse `value` for the property `name`, if it would.
fn write_check(
    catalog: &ObjectCatalog,
    name: &str,
    value: &str,
) -> std::result::Result<String, String> {
    match catalog.property(name) {
        None => Err(format!("HubSpot has no property {name}")),
        Some(p) if !p.is_live() => Err(format!(
            "{name} {} in HubSpot",
            if p.removed {
                "was deleted"
            } else {
                "is archived"
            }
        )),
        Some(p) => {
            if let Some(refusal) = p.write_refusal() {
                return Err(refusal);
            }
            if p.property_type != PropertyType::Enumeration || p.options.is_empty() {
                return Ok(value.to_owned());
            }
            // Option values, or their labels in any case, become the internal values.
            let mut parts = Vec::new();
            for part in value.split(';').filter(|part| !part.is_empty()) {
                let option = p.options.iter().find(|o| o.value == part).or_else(|| {
                    p.options.iter().find(|o| {
                        o.value.eq_ignore_ascii_case(part) || o.label.eq_ignore_ascii_case(part)
                    })
                });
                match option {
                    Some(o) => parts.push(o.value.clone()),
                    None => return Err(format!("'{part}' is not an option of {name}")),
                }
            }
            Ok(parts.join(";"))
        }
    }
}

/// [`apply_outbound`], then refuses what HubSpot would refuse: unknown, archived or read-only
/// properties, and values that are not options of an enumeration. The sync engine's write-back.
pub fn apply_outbound_checked(
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    row: &LocalRow,
) -> Result<HubSpotProperties> {
    let mut out = apply_outbound(mapping, row)?;
    for (name, value) in out.properties.iter_mut() {
        *value = write_check(catalog, name, value).map_err(|reason| Error::WriteRefused {
            property: name.clone(),
            reason,
        })?;
    }
    if let (Some(p), Some(id)) = (&out.id_property, &out.id) {
        if let Some(normalized) = out.properties.get(p) {
            if normalized != id {
                out.id = Some(normalized.clone());
            }
        }
    }
    Ok(out)
}

/// One sample for [`dry_run`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "direction", rename_all = "camelCase")]
pub enum DryRunSample {
    /// A HubSpot record to bring in, and the local row it matches today, if any.
    ToLocal {
        record: HubSpotRecord,
        current: Option<LocalRow>,
    },
    /// A local row to write back, and the HubSpot record it matches today, if any.
    ToHubSpot {
        row: LocalRow,
        current: Option<HubSpotRecord>,
    },
}

/// What the sync would do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Create,
    Update,
    Skip,
    Reject,
}

/// One field of one previewed record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FieldPreview {
    /// `email`, or `firstname ↔ first_name`.
    pub field: String,
    pub property: Option<String>,
    pub column: Option<String>,
    /// The source value, before transforms.
    pub before: LocalValue,
    /// The value that would be written (empty when the field failed).
    pub after: LocalValue,
    /// What the target holds now, when the sample says.
    pub current: Option<LocalValue>,
    pub changed: bool,
    pub error: Option<String>,
}

/// The preview of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DryRunRow {
    pub index: usize,
    /// `toLocal` or `toHubSpot`.
    pub direction: crate::model::Direction,
    /// The match key's value, when it has one.
    pub key: Option<String>,
    pub action: Action,
    /// Why (rejections and skips), or what changes (updates).
    pub reasons: Vec<String>,
    pub fields: Vec<FieldPreview>,
}

/// Runs samples through the mapping without writing anything, and says per record what would
/// happen and why.
pub fn dry_run(
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    samples: &[DryRunSample],
) -> Vec<DryRunRow> {
    // Compiled once for all samples (`None`: no criteria).
    let criteria = (!mapping.criteria.is_empty())
        .then(|| compile_criteria(&mapping.criteria, catalog).map_err(|e| e.to_string()));
    samples
        .iter()
        .enumerate()
        .map(|(index, sample)| match sample {
            DryRunSample::ToLocal { record, current } => preview_inbound(
                index,
                mapping,
                catalog,
                criteria.as_ref(),
                record,
                current.as_ref(),
            ),
            DryRunSample::ToHubSpot { row, current } => {
                preview_outbound(index, mapping, catalog, row, current.as_ref())
            }
        })
        .collect()
}

/// Runs one field's HubSpot → local steps over sample records, for the transform editor's live
/// preview: per record the source value, the value the column would get, or why it fails.
pub fn preview_field(field: &FieldMapping, records: &[HubSpotRecord]) -> Vec<FieldPreview> {
    records
        .iter()
        .map(|r| preview(field, inbound_field(field, r), None))
        .collect()
}

/// Runs one field's local → HubSpot steps over sample local rows, for the transform editor's live
/// preview of write-back: per row the column's value, the value HubSpot would get (as sent), or
/// why it fails.
pub fn preview_field_outbound(field: &FieldMapping, rows: &[LocalRow]) -> Vec<FieldPreview> {
    rows.iter()
        .map(|r| preview(field, outbound_field(field, r), None))
        .collect()
}

/// Loose equality for "did it change": numbers by value, date-times by instant, text exactly.
fn same(a: &LocalValue, b: &LocalValue) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    if a.as_text() == b.as_text() {
        return true;
    }
    if let (Ok(x), Ok(y)) = (to_f64(a), to_f64(b)) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (to_datetime_in(a, &utc()), to_datetime_in(b, &utc())) {
        return x == y;
    }
    false
}

fn preview(f: &FieldMapping, run: FieldRun, current: Option<LocalValue>) -> FieldPreview {
    let (after, error) = match run.after {
        Ok(v) => (v, None),
        Err(e) => (LocalValue::Null, Some(e)),
    };
    let changed = error.is_none()
        && match &current {
            Some(c) => !same(c, &after),
            None => !after.is_empty(),
        };
    FieldPreview {
        field: f.describe(),
        property: f.property.clone(),
        column: f.column.clone(),
        before: run.before,
        after,
        current,
        changed,
        error,
    }
}

fn decide(
    index: usize,
    direction: crate::model::Direction,
    key: Option<String>,
    fields: Vec<FieldPreview>,
    mut reasons: Vec<String>,
    exists: bool,
) -> DryRunRow {
    for f in &fields {
        if let Some(e) = &f.error {
            reasons.push(format!("{}: {e}", f.field));
        }
    }
    let action = if !reasons.is_empty() {
        Action::Reject
    } else if !exists {
        Action::Create
    } else {
        let changed: Vec<&str> = fields
            .iter()
            .filter(|f| f.changed)
            .map(|f| f.field.as_str())
            .collect();
        if changed.is_empty() {
            reasons.push("no mapped field changed".to_owned());
            Action::Skip
        } else {
            reasons.push(format!("changes {}", changed.join(", ")));
            Action::Update
        }
    };
    DryRunRow {
        index,
        direction,
        key,
        action,
        reasons,
        fields,
    }
}

fn preview_inbound(
    index: usize,
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    criteria: Option<&std::result::Result<Vec<crate::criteria::FilterGroup>, String>>,
    record: &HubSpotRecord,
    current: Option<&LocalRow>,
) -> DryRunRow {
    let direction = crate::model::Direction::ToLocal;
    let mut fields = Vec::new();
    let mut row = LocalRow::new();
    for f in mapping.fields.iter().filter(|f| f.direction.inbound()) {
        let run = inbound_field(f, record);
        if let (Ok(v), Some(c)) = (&run.after, &f.column) {
            row.insert(c.clone(), v.clone());
        }
        let now = current.and_then(|cur| f.column.as_ref().map(|c| row_value(cur, c)));
        fields.push(preview(f, run, now));
    }
    let key = inbound_key(mapping, record, &row).and_then(|v| v.as_text());
    if let Some(compiled) = criteria {
        match compiled {
            Ok(groups) if !matches(groups, catalog, &record.properties) => {
                let reason = "does not match the sync criteria".to_owned();
                return DryRunRow {
                    index,
                    direction,
                    key,
                    action: Action::Skip,
                    reasons: vec![reason],
                    fields,
                };
            }
            Ok(_) => {}
            Err(e) => {
                return DryRunRow {
                    index,
                    direction,
                    key,
                    action: Action::Reject,
                    reasons: vec![format!("the criteria are invalid: {e}")],
                    fields,
                }
            }
        }
    }
    let mut reasons = Vec::new();
    if key.is_none() {
        reasons.push(format!(
            "missing match key: {} is empty",
            mapping.match_key.describe()
        ));
    }
    decide(index, direction, key, fields, reasons, current.is_some())
}

fn preview_outbound(
    index: usize,
    mapping: &Mapping,
    catalog: &ObjectCatalog,
    row: &LocalRow,
    current: Option<&HubSpotRecord>,
) -> DryRunRow {
    let direction = crate::model::Direction::ToHubSpot;
    let mut reasons = Vec::new();
    let mut fields = Vec::new();
    for f in mapping.fields.iter().filter(|f| f.direction.outbound()) {
        let mut run = outbound_field(f, row);
        if let (Some(name), Ok(value)) = (&f.property, &run.after) {
            run.after = match write_check(catalog, name, &value.as_text().unwrap_or_default()) {
                Ok(_) if value.is_empty() => Ok(LocalValue::Null),
                Ok(checked) => Ok(LocalValue::Text(checked)),
                Err(reason) => Err(reason),
            };
        }
        let now = current.and_then(|cur| f.property.as_ref().map(|p| cur.value(p)));
        fields.push(preview(f, run, now));
    }
    let (key, exists) = match &mapping.match_key {
        MatchKey::RecordId { column } => {
            let id = row_value(row, column)
                .as_text()
                .filter(|s| !s.trim().is_empty());
            let exists = id.is_some() || current.is_some();
            (id.or_else(|| current.map(|c| c.id.clone())), exists)
        }
        MatchKey::Property { property, column } => {
            let from_fields = fields
                .iter()
                .find(|f| f.property.as_deref() == Some(property))
                .and_then(|f| f.after.as_text());
            let key = from_fields
                .or_else(|| row_value(row, column).as_text())
                .filter(|s| !s.trim().is_empty());
            if key.is_none() {
                reasons.push(format!(
                    "missing match key: {} is empty",
                    mapping.match_key.describe()
                ));
            }
            (key, current.is_some())
        }
    };
    decide(index, direction, key, fields, reasons, exists)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalType;
    use crate::model::Direction;
    use crate::transform::{Case, Transform};
    use crate::validate::tests::{contacts, field, mapping};

    fn record(id: &str, props: &[(&str, &str)]) -> HubSpotRecord {
        HubSpotRecord {
            id: id.into(),
            properties: props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
                .collect(),
        }
    }

    fn row(values: &[(&str, LocalValue)]) -> LocalRow {
        values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn t(s: &str) -> LocalValue {
        LocalValue::Text(s.into())
    }

    #[test]
    fn preview_field_shows_each_sample_before_and_after_or_why_it_fails() {
        let mut f = field(
            "spoke_score",
            "score",
            Direction::ToLocal,
            PropertyType::String,
            LocalType::Integer,
        );
        f.inbound = vec![
            Transform::Trim,
            Transform::ParseNumber {
                decimal: Some(",".into()),
                thousands: Some(".".into()),
            },
        ];
        let got = preview_field(
            &f,
            &[
                record("1", &[("spoke_score", " 1.234 ")]),
                record("2", &[("spoke_score", "abc")]),
                record("3", &[]),
            ],
        );
        assert_eq!(got.len(), 3);
        assert_eq!(
            (got[0].before.clone(), got[0].after.clone()),
            (t(" 1.234 "), LocalValue::Integer(1234))
        );
        assert!(got[0].error.is_none() && got[0].changed);
        assert!(
            got[1].error.as_deref().is_some_and(|e| e.contains("abc")),
            "{:?}",
            got[1]
        );
        assert_eq!(
            (
                got[2].before.clone(),
                got[2].after.clone(),
                got[2].error.clone()
            ),
            (LocalValue::Null, LocalValue::Null, None)
        );
    }

    #[test]
    fn preview_field_outbound_runs_the_write_back_steps_on_local_rows() {
        let mut f = field(
            "closedate",
            "closed_on",
            Direction::Both,
            PropertyType::Date,
            LocalType::Text,
        );
        f.inbound = vec![Transform::FormatDate {
            format: "%d/%m/%Y".into(),
        }];
        f.outbound = vec![
            Transform::Trim,
            Transform::ParseDate {
                format: "%d/%m/%Y".into(),
            },
        ];
        let got = preview_field_outbound(
            &f,
            &[
                row(&[("closed_on", t(" 24/11/2026 "))]),
                row(&[("closed_on", t("yesterday"))]),
                row(&[("other", t("x"))]),
            ],
        );
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].before, t(" 24/11/2026 "));
        assert_eq!(got[0].after, t("2026-11-24"), "{:?}", got[0]);
        assert!(got[0].error.is_none() && got[0].changed);
        assert!(
            got[1].error.as_deref().is_some_and(|e| e.contains("yesterday")),
            "{:?}",
            got[1]
        );
        assert_eq!(got[1].after, LocalValue::Null);
        assert_eq!(
            (got[2].before.clone(), got[2].after.clone(), got[2].error.clone()),
            (LocalValue::Null, LocalValue::Null, None)
        );
        // the inbound chain is not what runs: the same row through preview_field would differ
        assert_ne!(
            preview_field(&f, &[record("1", &[("closedate", "2026-11-24")])])[0].after,
            got[0].after
        );
    }

    #[test]
    fn inbound_builds_typed_rows_with_the_key() {
        let m = mapping();
        let r = record(
            "101",
            &[
                ("email", " Ada@Example.COM "),
                ("firstname", "Ada"),
                ("spoke_score", "87"),
            ],
        );
        let got = apply_inbound(&m, &r).unwrap();
        assert_eq!(
            got,
            row(&[
                ("email", t("ada@example.com")),
                ("first_name", t("Ada")),
                ("score", LocalValue::Integer(87))
            ])
        );

        let mut by_id = m.clone();
        by_id.match_key = MatchKey::RecordId {
            column: "hubspot_id".into(),
        };
        assert_eq!(apply_inbound(&by_id, &r).unwrap()["hubspot_id"], t("101"));
    }

    #[test]
    fn inbound_failures_name_the_field_and_reason() {
        let mut m = mapping();
        m.fields.push(field(
            "spoke_legacy_ids",
            "legacy_id",
            Direction::ToLocal,
            PropertyType::Number,
            LocalType::Integer,
        ));
        let r = record("7", &[("email", "a@b.c"), ("spoke_legacy_ids", "123;456")]);
        let err = apply_inbound(&m, &r).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spoke_legacy_ids ↔ legacy_id: '123;456' is not a number"
        );
        // Taking the first id fixes it.
        m.fields[3].inbound = vec![Transform::Split {
            separator: ";".into(),
            index: 0,
            rest: false,
        }];
        assert_eq!(
            apply_inbound(&m, &r).unwrap()["legacy_id"],
            LocalValue::Integer(123)
        );

        let no_email = record("8", &[("firstname", "Bo")]);
        assert!(
            matches!(apply_inbound(&m, &no_email).unwrap_err(), Error::RequiredEmpty { field } if field == "email")
        );
        m.fields[0].required = false;
        assert!(matches!(
            apply_inbound(&m, &no_email).unwrap_err(),
            Error::MissingMatchKey { .. }
        ));
    }

    #[test]
    fn outbound_builds_upsert_inputs() {
        let m = mapping();
        let r = row(&[
            ("email", t(" ada@example.com ")),
            ("first_name", t("Ada")),
            ("score", LocalValue::Integer(87)),
            ("unmapped", t("x")),
        ]);
        let got = apply_outbound(&m, &r).unwrap();
        assert_eq!(got.id.as_deref(), Some("ada@example.com"));
        assert_eq!(got.id_property.as_deref(), Some("email"));
        assert_eq!(
            got.properties,
            [
                ("email", "ada@example.com"),
                ("firstname", "Ada"),
                ("spoke_score", "87")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
        );

        // Empty values are left out; a missing key is refused.
        let partial = row(&[
            ("email", t("b@example.com")),
            ("first_name", LocalValue::Null),
        ]);
        assert!(!apply_outbound(&m, &partial)
            .unwrap()
            .properties
            .contains_key("firstname"));
        let mut lax = m.clone();
        lax.fields[0].required = false;
        assert!(matches!(
            apply_outbound(&lax, &row(&[("first_name", t("x"))])).unwrap_err(),
            Error::MissingMatchKey { .. }
        ));

        // Record id key: an id means update, none means create.
        let mut by_id = lax.clone();
        by_id.match_key = MatchKey::RecordId {
            column: "hubspot_id".into(),
        };
        assert_eq!(
            apply_outbound(
                &by_id,
                &row(&[
                    ("hubspot_id", LocalValue::Integer(55)),
                    ("email", t("x@y.z"))
                ])
            )
            .unwrap()
            .id
            .as_deref(),
            Some("55")
        );
        assert_eq!(
            apply_outbound(&by_id, &row(&[("email", t("x@y.z"))]))
                .unwrap()
                .id,
            None
        );
    }

    #[test]
    fn concat_split_constant_and_time_zones_in_both_directions() {
        let mut m = mapping();
        m.fields.push(FieldMapping {
            property: None,
            inbound: vec![Transform::Concat {
                fields: vec!["firstname".into(), "lastname".into()],
                separator: " ".into(),
            }],
            ..field(
                "x",
                "full_name",
                Direction::ToLocal,
                PropertyType::String,
                LocalType::Text,
            )
        });
        m.fields.push(FieldMapping {
            outbound: vec![Transform::Split {
                separator: " ".into(),
                index: 1,
                rest: true,
            }],
            ..field(
                "lastname",
                "full_name",
                Direction::ToHubSpot,
                PropertyType::String,
                LocalType::Text,
            )
        });
        m.fields.push(FieldMapping {
            column: None,
            outbound: vec![Transform::Constant { value: t("silver") }],
            ..field(
                "spoke_tier",
                "x",
                Direction::ToHubSpot,
                PropertyType::Enumeration,
                LocalType::Text,
            )
        });
        m.fields.push(FieldMapping {
            inbound: vec![Transform::FormatDatetime {
                format: Some("%Y-%m-%d %H:%M:%S".into()),
                zone: Some("Europe/Berlin".into()),
            }],
            outbound: vec![Transform::ParseDatetime {
                format: Some("%Y-%m-%d %H:%M:%S".into()),
                zone: Some("Europe/Berlin".into()),
            }],
            ..field(
                "spoke_last_seen_at",
                "last_seen_local",
                Direction::Both,
                PropertyType::Datetime,
                LocalType::Text,
            )
        });
        let r = record(
            "1",
            &[
                ("email", "a@b.c"),
                ("firstname", "Ada"),
                ("lastname", "King Lovelace"),
                ("spoke_last_seen_at", "2025-01-10T08:30:00.000Z"),
            ],
        );
        let local = apply_inbound(&m, &r).unwrap();
        assert_eq!(local["full_name"], t("Ada King Lovelace"));
        assert_eq!(local["last_seen_local"], t("2025-01-10 09:30:00"));
        let back = apply_outbound(&m, &local).unwrap();
        assert_eq!(back.properties["lastname"], "King Lovelace");
        assert_eq!(back.properties["spoke_tier"], "silver");
        assert_eq!(
            back.properties["spoke_last_seen_at"],
            "2025-01-10T08:30:00.000Z"
        );
    }

    #[test]
    fn dry_run_says_create_update_skip_or_reject_and_why() {
        let mut m = mapping();
        m.fields.push(field(
            "spoke_legacy_ids",
            "legacy_id",
            Direction::ToLocal,
            PropertyType::Number,
            LocalType::Integer,
        ));
        m.criteria = vec![crate::criteria::Criterion::new(
            "GREATER_THAN",
            "spoke_score",
            Some(crate::criteria::CriterionValue::Integer(10)),
        )];
        let current = row(&[
            ("email", t("ada@x.com")),
            ("first_name", t("Ada")),
            ("score", LocalValue::Integer(87)),
            ("legacy_id", LocalValue::Integer(1)),
        ]);
        let samples = vec![
            DryRunSample::ToLocal {
                record: record(
                    "1",
                    &[
                        ("email", "new@x.com"),
                        ("firstname", "New"),
                        ("spoke_score", "50"),
                    ],
                ),
                current: None,
            },
            DryRunSample::ToLocal {
                record: record(
                    "2",
                    &[
                        ("email", "ada@x.com"),
                        ("firstname", "Ada L."),
                        ("spoke_score", "87"),
                        ("spoke_legacy_ids", "1"),
                    ],
                ),
                current: Some(current.clone()),
            },
            DryRunSample::ToLocal {
                record: record(
                    "2",
                    &[
                        ("email", "ADA@x.com"),
                        ("firstname", "Ada"),
                        ("spoke_score", "87.0"),
                        ("spoke_legacy_ids", "1"),
                    ],
                ),
                current: Some(current),
            },
            DryRunSample::ToLocal {
                record: record(
                    "3",
                    &[
                        ("email", "c@x.com"),
                        ("spoke_score", "50"),
                        ("spoke_legacy_ids", "123;456"),
                    ],
                ),
                current: None,
            },
            DryRunSample::ToLocal {
                record: record("4", &[("spoke_score", "50")]),
                current: None,
            },
            DryRunSample::ToLocal {
                record: record("5", &[("email", "low@x.com"), ("spoke_score", "3")]),
                current: None,
            },
        ];
        let rows = dry_run(&m, &contacts(), &samples);
        let actions: Vec<Action> = rows.iter().map(|r| r.action).collect();
        assert_eq!(
            actions,
            [
                Action::Create,
                Action::Update,
                Action::Skip,
                Action::Reject,
                Action::Reject,
                Action::Skip
            ]
        );
        assert_eq!(rows[1].reasons, ["changes firstname ↔ first_name"]);
        let changed = rows[1]
            .fields
            .iter()
            .find(|f| f.field == "firstname ↔ first_name")
            .unwrap();
        assert_eq!(
            (
                changed.before.clone(),
                changed.after.clone(),
                changed.current.clone()
            ),
            (t("Ada L."), t("Ada L."), Some(t("Ada")))
        );
        assert_eq!(rows[2].reasons, ["no mapped field changed"]);
        assert_eq!(
            rows[3].reasons,
            ["spoke_legacy_ids ↔ legacy_id: '123;456' is not a number"]
        );
        assert!(
            rows[4]
                .reasons
                .iter()
                .any(|r| r == "email: required field email is empty"),
            "{:?}",
            rows[4].reasons
        );
        assert!(
            rows[4]
                .reasons
                .iter()
                .any(|r| r.starts_with("missing match key")),
            "{:?}",
            rows[4].reasons
        );
        assert_eq!(rows[5].reasons, ["does not match the sync criteria"]);
        assert_eq!(rows[0].key.as_deref(), Some("new@x.com"));
    }

    #[test]
    fn dry_run_write_back_refuses_read_only_and_bad_options() {
        let mut m = mapping();
        m.fields.push(field(
            "num_associated_deals",
            "deals",
            Direction::ToHubSpot,
            PropertyType::Number,
            LocalType::Integer,
        ));
        m.fields.push(FieldMapping {
            outbound: vec![Transform::Case { to: Case::Lower }],
            ..field(
                "spoke_tier",
                "tier",
                Direction::ToHubSpot,
                PropertyType::Enumeration,
                LocalType::Text,
            )
        });
        let r = row(&[
            ("email", t("a@x.com")),
            ("first_name", t("Ada")),
            ("score", LocalValue::Integer(5)),
            ("deals", LocalValue::Integer(3)),
            ("tier", t("Platinum")),
        ]);
        let out = dry_run(
            &m,
            &contacts(),
            &[DryRunSample::ToHubSpot {
                row: r.clone(),
                current: None,
            }],
        );
        assert_eq!(out[0].action, Action::Reject);
        assert_eq!(
            out[0].reasons,
            ["num_associated_deals ↔ deals: num_associated_deals is calculated by HubSpot, so its value cannot be written", "spoke_tier ↔ tier: 'platinum' is not an option of spoke_tier"]
        );
        m.fields.truncate(3);
        let existing = record(
            "9",
            &[
                ("email", "a@x.com"),
                ("firstname", "Ada"),
                ("spoke_score", "5"),
            ],
        );
        let out = dry_run(
            &m,
            &contacts(),
            &[
                DryRunSample::ToHubSpot {
                    row: r.clone(),
                    current: Some(existing),
                },
                DryRunSample::ToHubSpot {
                    row: r,
                    current: None,
                },
            ],
        );
        assert_eq!(
            (out[0].action, out[1].action),
            (Action::Skip, Action::Create)
        );
        assert_eq!(out[0].direction, Direction::ToHubSpot);
    }

    #[test]
    fn checked_write_back_refuses_what_hubspot_would() {
        let mut m = mapping();
        let r = row(&[
            ("email", t("a@x.com")),
            ("first_name", t("Ada")),
            ("score", LocalValue::Integer(5)),
            ("deals", LocalValue::Integer(3)),
            ("tier", t("Platinum")),
        ]);
        assert_eq!(
            apply_outbound_checked(&m, &contacts(), &r).unwrap(),
            apply_outbound(&m, &r).unwrap()
        );
        m.fields.push(field(
            "spoke_tier",
            "tier",
            Direction::ToHubSpot,
            PropertyType::Enumeration,
            LocalType::Text,
        ));
        let mut gold = r.clone();
        gold.insert("tier".into(), t("GOLD"));
        let out = apply_outbound_checked(&m, &contacts(), &gold).unwrap();
        assert_eq!(
            out.properties["spoke_tier"], "gold",
            "labels and other cases become option values"
        );
        let err = apply_outbound_checked(&m, &contacts(), &r).unwrap_err();
        assert_eq!(
            err.to_string(),
            "HubSpot would refuse spoke_tier: 'Platinum' is not an option of spoke_tier"
        );
        m.fields.pop();
        m.fields.push(field(
            "num_associated_deals",
            "deals",
            Direction::ToHubSpot,
            PropertyType::Number,
            LocalType::Integer,
        ));
        let err = apply_outbound_checked(&m, &contacts(), &r).unwrap_err();
        assert!(
            matches!(&err, Error::WriteRefused { property, .. } if property == "num_associated_deals")
        );
        assert_eq!(spoke_hubspot::Describe::code(&err), "mapping.write_refused");
    }

    #[test]
    fn invalid_criteria_reject_every_inbound_sample() {
        let mut m = mapping();
        m.criteria = vec![crate::criteria::Criterion::new(
            "EQUALS",
            "no_such_field",
            Some("x".into()),
        )];
        let samples = vec![
            DryRunSample::ToLocal {
                record: record("1", &[("email", "a@b.c")]),
                current: None
            };
            3
        ];
        let rows = dry_run(&m, &contacts(), &samples);
        assert!(rows
            .iter()
            .all(|r| r.action == Action::Reject
                && r.reasons[0].starts_with("the criteria are invalid")));
        assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn samples_serialise_with_a_direction_tag() {
        let s: DryRunSample = serde_json::from_str(r#"{"direction":"toLocal","record":{"id":"1","properties":{"email":"a@b.c","phone":null}},"current":null}"#).unwrap();
        assert!(
            matches!(&s, DryRunSample::ToLocal { record, current: None } if record.properties["phone"].is_none())
        );
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["direction"], "toLocal");
    }
}
