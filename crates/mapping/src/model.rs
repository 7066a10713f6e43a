//! The mapping model and its versioned JSON file format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{PropertyDef, PropertyType};
use crate::criteria::Criterion;
use crate::error::{Error, Result};
use crate::local::{LocalColumn, LocalType};
use crate::transform::Transform;

/// The file format version this Spoke reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// Where the local table lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Destination {
    /// A table in Spoke's own SQLite file; Spoke creates it and its columns from the mapping.
    Spoke { table: String },
    /// An existing table in an SQLite file the admin picked; its columns are discovered.
    Sqlite { path: String, table: String },
    /// A table in a PostgreSQL database (`postgresql://user@host:port/db`, never with a password:
    /// the password lives in the OS keychain). Spoke creates the table, or adds the mapped
    /// columns it lacks; `table` may be schema-qualified (`crm.contacts`).
    Postgres { url: String, table: String },
}

impl Destination {
    pub fn table(&self) -> &str {
        match self {
            Destination::Spoke { table }
            | Destination::Sqlite { table, .. }
            | Destination::Postgres { table, .. } => table,
        }
    }
}

/// How a local row finds its HubSpot record (and back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum MatchKey {
    /// The HubSpot record id, stored in `column`.
    RecordId { column: String },
    /// A property with unique values (`email` for contacts, or any `hasUniqueValue` property),
    /// matched against `column`.
    Property { property: String, column: String },
}

impl MatchKey {
    pub fn column(&self) -> &str {
        match self {
            MatchKey::RecordId { column } | MatchKey::Property { column, .. } => column,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            MatchKey::RecordId { column } => format!("record id (column {column})"),
            MatchKey::Property { property, column } => format!("{property} (column {column})"),
        }
    }
}

/// Which way a field flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// HubSpot → local.
    ToLocal,
    /// Local → HubSpot.
    ToHubSpot,
    Both,
}

impl Direction {
    pub fn inbound(self) -> bool {
        matches!(self, Direction::ToLocal | Direction::Both)
    }

    pub fn outbound(self) -> bool {
        matches!(self, Direction::ToHubSpot | Direction::Both)
    }
}

/// One field pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldMapping {
    /// HubSpot property internal name. May be absent on a local-only field whose value comes
    /// from a `constant` or `concat` transform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// Local column. May be absent on a HubSpot-only field fed by `constant` or `concat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub direction: Direction,
    /// The property's HubSpot type when the mapping was edited (conversions use it; validation
    /// flags a change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_type: Option<PropertyType>,
    /// The column's local type (default: derived from the property type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_type: Option<LocalType>,
    /// Steps applied HubSpot → local, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inbound: Vec<Transform>,
    /// Steps applied local → HubSpot, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<Transform>,
    /// A record whose value ends up empty is rejected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

impl FieldMapping {
    /// A field pair from a discovered property and column.
    pub fn new(property: &PropertyDef, column: &LocalColumn, direction: Direction) -> FieldMapping {
        FieldMapping {
            property: Some(property.name.clone()),
            column: Some(column.name.clone()),
            direction,
            property_type: Some(property.property_type),
            column_type: Some(column.local_type),
            inbound: Vec::new(),
            outbound: Vec::new(),
            required: false,
        }
    }

    /// The column's local type: explicit, or the natural one for the property type.
    pub fn effective_column_type(&self) -> LocalType {
        self.column_type.unwrap_or_else(|| {
            natural_local_type(self.property_type.unwrap_or(PropertyType::String))
        })
    }

    /// `fields[i]` label for messages: `email → email_address`.
    pub fn describe(&self) -> String {
        match (&self.property, &self.column) {
            (Some(p), Some(c)) if p == c => p.clone(),
            (Some(p), Some(c)) => format!("{p} ↔ {c}"),
            (Some(p), None) => p.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => "(unnamed field)".to_owned(),
        }
    }
}

/// The local type Spoke gives a column created for a property of type `t`.
pub fn natural_local_type(t: PropertyType) -> LocalType {
    match t {
        PropertyType::Number => LocalType::Real,
        PropertyType::Bool => LocalType::Boolean,
        PropertyType::Date => LocalType::Date,
        PropertyType::Datetime => LocalType::Datetime,
        PropertyType::Json | PropertyType::ObjectCoordinates => LocalType::Json,
        _ => LocalType::Text,
    }
}

/// What wins when a two-way field changed on both sides since they last agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum ConflictPolicy {
    /// The later change wins: HubSpot's property history timestamp against the time Spoke saw
    /// the local edit (ties go to HubSpot).
    #[default]
    NewestWins,
    /// HubSpot's value replaces the local edit.
    HubSpotWins,
    /// The local edit is written to HubSpot.
    LocalWins,
    /// Neither side is changed: the conflict is listed for the user, who keeps one side.
    Ask,
}

impl ConflictPolicy {
    pub fn label(self) -> &'static str {
        match self {
            ConflictPolicy::NewestWins => "newest wins",
            ConflictPolicy::HubSpotWins => "HubSpot wins",
            ConflictPolicy::LocalWins => "local wins",
            ConflictPolicy::Ask => "ask",
        }
    }
}

/// What a row deleted from the local table does in HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum LocalDeletes {
    /// Nothing: the HubSpot record stays (and a later full read brings the row back).
    #[default]
    Ignore,
    /// The record is archived in HubSpot (`batch/archive`; restorable from HubSpot's recycle
    /// bin for 90 days).
    Archive,
}

/// Two-way sync settings of a mapping (all optional; a file without them gets the defaults).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TwoWay {
    /// The policy of every two-way field without an override.
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// Per-field overrides, by HubSpot property name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_policies: BTreeMap<String, ConflictPolicy>,
    #[serde(default)]
    pub local_deletes: LocalDeletes,
}

impl TwoWay {
    /// The policy of the field mapped to `property`.
    pub fn policy_for(&self, property: &str) -> ConflictPolicy {
        self.field_policies
            .get(property)
            .copied()
            .unwrap_or(self.conflict_policy)
    }

    pub fn is_default(&self) -> bool {
        *self == TwoWay::default()
    }
}

/// A mapping between one HubSpot object and one local table. Serialised as JSON with
/// `"version": 1`; keys keep a fixed order so diffs stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mapping {
    pub version: u64,
    pub name: String,
    /// HubSpot object type (`contacts`, `2-3508482`).
    pub object: String,
    pub destination: Destination,
    pub match_key: MatchKey,
    pub fields: Vec<FieldMapping>,
    /// Which HubSpot records to sync (ANDed), compiled to search filters.
    #[serde(default)]
    pub criteria: Vec<Criterion>,
    /// How to find the HubSpot record for a local row when the match key is not enough; values
    /// may name local columns as `@column@`.
    #[serde(default)]
    pub target_lookup: Vec<Criterion>,
    /// Conflict policies and local deletes of two-way sync (left out of the file when default).
    #[serde(default, skip_serializing_if = "TwoWay::is_default")]
    pub two_way: TwoWay,
}

impl Mapping {
    pub fn new(
        name: impl Into<String>,
        object: impl Into<String>,
        destination: Destination,
        match_key: MatchKey,
    ) -> Mapping {
        Mapping {
            version: FORMAT_VERSION,
            name: name.into(),
            object: object.into(),
            destination,
            match_key,
            fields: Vec::new(),
            criteria: Vec::new(),
            target_lookup: Vec::new(),
            two_way: TwoWay::default(),
        }
    }

    /// A mapping into a new table in Spoke's own database: one column per property, named like
    /// it and of its natural type (a multiple-checkbox list as JSON), both ways unless HubSpot
    /// does not accept writes to it. Matched by email for contacts, else by record id.
    pub fn for_spoke_table(
        catalog: &crate::catalog::ObjectCatalog,
        table: &str,
        properties: &[&str],
    ) -> Mapping {
        let match_key = if catalog.is_contacts() {
            MatchKey::Property {
                property: "email".to_owned(),
                column: "email".to_owned(),
            }
        } else {
            MatchKey::RecordId {
                column: "hs_object_id".to_owned(),
            }
        };
        let mut m = Mapping::new(
            table,
            catalog.object_type.clone(),
            Destination::Spoke {
                table: table.to_owned(),
            },
            match_key,
        );
        for name in properties {
            let field = match catalog.property(name) {
                Some(p) => {
                    let local = if p.is_multi() {
                        LocalType::Json
                    } else {
                        natural_local_type(p.property_type)
                    };
                    let direction = if p.write_refusal().is_some() {
                        Direction::ToLocal
                    } else {
                        Direction::Both
                    };
                    FieldMapping::new(p, &LocalColumn::new(p.name.clone(), local), direction)
                }
                // Kept so that validation names it, instead of silently dropping it.
                None => FieldMapping {
                    property: Some((*name).to_owned()),
                    column: Some((*name).to_owned()),
                    direction: Direction::ToLocal,
                    property_type: None,
                    column_type: None,
                    inbound: Vec::new(),
                    outbound: Vec::new(),
                    required: false,
                },
            };
            m.fields.push(field);
        }
        m
    }

    /// Records the current HubSpot type of every mapped property (conversions use the recorded
    /// type). Returns the fields whose recorded type changed.
    pub fn record_property_types(
        &mut self,
        catalog: &crate::catalog::ObjectCatalog,
    ) -> Vec<String> {
        let mut changed = Vec::new();
        for f in &mut self.fields {
            let Some(p) = f
                .property
                .as_deref()
                .and_then(|name| catalog.property(name))
            else {
                continue;
            };
            if f.property_type != Some(p.property_type) {
                f.property_type = Some(p.property_type);
                changed.push(f.describe());
            }
        }
        changed
    }

    /// Records the current local type of every mapped column of an existing table. Returns the
    /// fields whose recorded type changed.
    pub fn record_column_types(&mut self, columns: &[LocalColumn]) -> Vec<String> {
        let mut changed = Vec::new();
        for f in &mut self.fields {
            let Some(c) = f
                .column
                .as_deref()
                .and_then(|name| columns.iter().find(|c| c.name == name))
            else {
                continue;
            };
            if f.column_type != Some(c.local_type) {
                f.column_type = Some(c.local_type);
                changed.push(f.describe());
            }
        }
        changed
    }

    /// Parses a mapping file. Syntax and shape errors name the line and column; the version is
    /// checked. Semantic checks against HubSpot are [`crate::import_mapping`]'s.
    pub fn from_json_str(text: &str) -> Result<Mapping> {
        // Editors on Windows may save a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // The version first, so a newer file says so instead of failing on an unknown key.
        if let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(text)
        {
            match obj.get("version").and_then(serde_json::Value::as_u64) {
                Some(FORMAT_VERSION) => {}
                Some(found) => {
                    return Err(Error::UnsupportedVersion {
                        found,
                        supported: FORMAT_VERSION,
                    })
                }
                None => {
                    let line = crate::locate::line_of(text, "version").unwrap_or(1);
                    return Err(Error::InvalidFile {
                        line,
                        column: 1,
                        reason: "the file has no \"version\": 1".to_owned(),
                    });
                }
            }
        }
        serde_json::from_str(text).map_err(|e| Error::InvalidFile {
            line: e.line(),
            column: e.column(),
            reason: clean_serde_message(&e),
        })
    }

    /// Reads a mapping file (see [`Mapping::from_json_str`]).
    pub fn read_file(path: &std::path::Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::File {
            action: "read",
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Mapping::from_json_str(&text)
    }

    /// Writes the file form (see [`Mapping::to_json_pretty`]), replacing the file whole.
    pub fn write_file(&self, path: &std::path::Path) -> Result<()> {
        let err = |e: std::io::Error| Error::File {
            action: "write",
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, self.to_json_pretty()).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// The file form: pretty JSON, keys in a fixed order, ending with a newline.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a mapping always serialises");
        text.push('\n');
        text
    }

    /// Every HubSpot property the mapping reads or writes (fields, concat sources, the match
    /// key, criteria), sorted: what to request from HubSpot for it.
    pub fn hubspot_properties(&self) -> Vec<String> {
        let mut out: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        if let MatchKey::Property { property, .. } = &self.match_key {
            out.insert(property.clone());
        }
        for f in &self.fields {
            out.extend(f.property.iter().cloned());
            for t in &f.inbound {
                if let Transform::Concat { fields, .. } = t {
                    out.extend(fields.iter().cloned());
                }
            }
        }
        out.extend(
            self.criteria
                .iter()
                .chain(&self.target_lookup)
                .map(|c| c.field.clone()),
        );
        out.into_iter().collect()
    }

    /// The columns of the local table this mapping writes or reads (match key first).
    pub fn local_columns(&self) -> Vec<LocalColumn> {
        let mut out: Vec<LocalColumn> = Vec::new();
        let key_type = match &self.match_key {
            MatchKey::RecordId { .. } => LocalType::Text,
            MatchKey::Property { property, .. } => self
                .fields
                .iter()
                .find(|f| f.property.as_deref() == Some(property))
                .map(FieldMapping::effective_column_type)
                .unwrap_or(LocalType::Text),
        };
        out.push(LocalColumn::new(self.match_key.column(), key_type));
        for f in &self.fields {
            if let Some(column) = &f.column {
                if !out.iter().any(|c| &c.name == column) {
                    out.push(LocalColumn::new(column.clone(), f.effective_column_type()));
                }
            }
        }
        out
    }
}

/// serde's messages end with " at line L column C"; the line is reported separately.
fn clean_serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(pos) => text[..pos].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalValue;
    use crate::transform::Case;

    pub(crate) fn sample() -> Mapping {
        let mut m = Mapping::new(
            "Contacts to customers",
            "contacts",
            Destination::Sqlite {
                path: "/data/app.db".into(),
                table: "customers".into(),
            },
            MatchKey::Property {
                property: "email".into(),
                column: "email".into(),
            },
        );
        m.fields.push(FieldMapping {
            property: Some("email".into()),
            column: Some("email".into()),
            direction: Direction::Both,
            property_type: Some(PropertyType::String),
            column_type: Some(LocalType::Text),
            inbound: vec![Transform::Trim, Transform::Case { to: Case::Lower }],
            outbound: vec![Transform::Trim],
            required: true,
        });
        m.fields.push(FieldMapping {
            property: Some("spoke_score".into()),
            column: Some("score".into()),
            direction: Direction::ToLocal,
            property_type: Some(PropertyType::Number),
            column_type: Some(LocalType::Integer),
            inbound: vec![Transform::Default {
                value: LocalValue::Integer(0),
            }],
            outbound: vec![],
            required: false,
        });
        m.criteria.push(Criterion::new(
            "EQUALS",
            "lifecyclestage",
            Some("customer".into()),
        ));
        m
    }

    #[test]
    fn round_trips_through_the_file_format() {
        let m = sample();
        let text = m.to_json_pretty();
        assert!(text.starts_with("{\n  \"version\": 1,\n  \"name\": \"Contacts to customers\",\n  \"object\": \"contacts\",\n  \"destination\": {\n    \"kind\": \"sqlite\""), "{text}");
        assert!(text.contains("\"op\": \"trim\""));
        assert!(text.contains("\"direction\": \"both\""));
        assert!(text.contains("\"direction\": \"toLocal\""));
        assert!(text.ends_with("}\n"));
        let back = Mapping::from_json_str(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_json_pretty(), text, "stable output");
    }

    #[test]
    fn two_way_settings_are_optional_and_round_trip() {
        // A file from before two-way settings reads with the defaults and writes unchanged.
        let old = sample().to_json_pretty();
        assert!(!old.contains("twoWay"));
        let m = Mapping::from_json_str(&old).unwrap();
        assert_eq!(m.two_way, TwoWay::default());
        assert_eq!(m.two_way.policy_for("email"), ConflictPolicy::NewestWins);
        assert_eq!(m.two_way.local_deletes, LocalDeletes::Ignore);

        let mut m = sample();
        m.two_way.conflict_policy = ConflictPolicy::HubSpotWins;
        m.two_way
            .field_policies
            .insert("email".into(), ConflictPolicy::Ask);
        m.two_way.local_deletes = LocalDeletes::Archive;
        let text = m.to_json_pretty();
        assert!(text.contains("\"twoWay\": {\n    \"conflictPolicy\": \"hubSpotWins\",\n    \"fieldPolicies\": {\n      \"email\": \"ask\"\n    },\n    \"localDeletes\": \"archive\""), "{text}");
        let back = Mapping::from_json_str(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.two_way.policy_for("email"), ConflictPolicy::Ask);
        assert_eq!(
            back.two_way.policy_for("firstname"),
            ConflictPolicy::HubSpotWins
        );
        for (from, to) in [
            ("\"ask\"", "\"sometimes\""),
            ("\"localDeletes\"", "\"localDelete\""),
        ] {
            let bad = text.replacen(from, to, 1);
            assert!(
                matches!(Mapping::from_json_str(&bad).unwrap_err(), Error::InvalidFile { ref reason, .. } if reason.contains(to.trim_matches('"'))),
                "{to}"
            );
        }
        // A policy for a field that is not two-way is named.
        let issues = crate::validate::validate(&m, &crate::validate::tests::contacts());
        assert!(
            !issues
                .iter()
                .any(|i| i.code == "mapping.conflict_policy_unused"),
            "{issues:?}"
        );
        m.two_way
            .field_policies
            .insert("spoke_score".into(), ConflictPolicy::LocalWins);
        let issues = crate::validate::validate(&m, &crate::validate::tests::contacts());
        let unused: Vec<&str> = issues
            .iter()
            .filter(|i| i.code == "mapping.conflict_policy_unused")
            .map(|i| i.path.as_str())
            .collect();
        assert_eq!(unused, ["twoWay.fieldPolicies.spoke_score"]);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let text = format!("\u{feff}{}", sample().to_json_pretty());
        assert_eq!(Mapping::from_json_str(&text).unwrap(), sample());
        let imported =
            crate::validate::import_mapping(&text, &crate::validate::tests::contacts()).unwrap();
        // Lines still count from the top of the file.
        assert_eq!(
            imported
                .issues
                .iter()
                .find(|i| i.path == "criteria[0]")
                .and_then(|i| i.line),
            Some(
                text.lines()
                    .position(|l| l.contains("\"criteria\""))
                    .unwrap()
                    + 2
            )
        );
    }

    #[test]
    fn files_are_written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contacts.mapping.json");
        sample().write_file(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            sample().to_json_pretty()
        );
        assert_eq!(Mapping::read_file(&path).unwrap(), sample());
        let missing = Mapping::read_file(&dir.path().join("nope.json")).unwrap_err();
        assert_eq!(spoke_hubspot::Describe::code(&missing), "mapping.file");
        assert!(sample()
            .write_file(&dir.path().join("no/such/dir/x.json"))
            .is_err());
    }

    #[test]
    fn syntax_and_shape_errors_name_the_line() {
        let text = sample().to_json_pretty();
        // Break line 5 ("destination") by dropping a quote.
        let broken = text.replacen("\"kind\": \"sqlite\"", "\"kind\": sqlite\"", 1);
        match Mapping::from_json_str(&broken).unwrap_err() {
            Error::InvalidFile { line, .. } => assert_eq!(line, 6),
            other => panic!("{other:?}"),
        }
        let wrong_direction = text.replacen("\"toLocal\"", "\"sideways\"", 1);
        let err = Mapping::from_json_str(&wrong_direction).unwrap_err();
        let want_line = text
            .lines()
            .position(|l| l.contains("\"toLocal\""))
            .unwrap()
            + 1;
        assert!(
            matches!(&err, Error::InvalidFile { line, reason, .. } if *line == want_line && reason.contains("sideways")),
            "{err:?}"
        );
        // Typos anywhere are named, not ignored.
        for (from, to) in [
            ("\"required\"", "\"requried\""),
            ("\"to\": \"lower\"", "\"to\": \"lower\", \"x\": 1"),
            ("\"table\"", "\"tabel\""),
        ] {
            let typo = text.replacen(from, to, 1);
            assert!(
                matches!(
                    Mapping::from_json_str(&typo).unwrap_err(),
                    Error::InvalidFile { .. }
                ),
                "{to}"
            );
        }
        let unknown_key = text.replacen("\"criteria\"", "\"criterias\"", 1);
        assert!(
            matches!(Mapping::from_json_str(&unknown_key).unwrap_err(), Error::InvalidFile { reason, .. } if reason.contains("criterias"))
        );
        let future = text.replacen("\"version\": 1", "\"version\": 2", 1);
        assert!(matches!(
            Mapping::from_json_str(&future).unwrap_err(),
            Error::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        ));
        let none = text.replacen("\"version\": 1,", "", 1);
        assert!(matches!(
            Mapping::from_json_str(&none).unwrap_err(),
            Error::InvalidFile { .. }
        ));
    }

    #[test]
    fn local_columns_put_the_key_first_and_derive_types() {
        let cols = sample().local_columns();
        let got: Vec<(&str, LocalType)> = cols
            .iter()
            .map(|c| (c.name.as_str(), c.local_type))
            .collect();
        assert_eq!(
            got,
            [("email", LocalType::Text), ("score", LocalType::Integer)]
        );
        assert_eq!(
            natural_local_type(PropertyType::Datetime),
            LocalType::Datetime
        );
    }

    #[test]
    fn spoke_tables_get_one_column_per_property() {
        let catalog = crate::validate::tests::contacts();
        let m = Mapping::for_spoke_table(
            &catalog,
            "contacts",
            &[
                "email",
                "spoke_score",
                "num_associated_deals",
                "createdate",
                "nope",
            ],
        );
        assert_eq!(
            m.match_key,
            MatchKey::Property {
                property: "email".into(),
                column: "email".into()
            }
        );
        let got: Vec<(&str, LocalType, Direction)> = m
            .fields
            .iter()
            .map(|f| {
                (
                    f.column.as_deref().unwrap(),
                    f.effective_column_type(),
                    f.direction,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("email", LocalType::Text, Direction::Both),
                ("spoke_score", LocalType::Real, Direction::Both),
                ("num_associated_deals", LocalType::Real, Direction::ToLocal),
                ("createdate", LocalType::Datetime, Direction::Both),
                ("nope", LocalType::Text, Direction::ToLocal),
            ]
        );
        let issues = crate::validate::validate(&m, &catalog);
        assert_eq!(
            issues.iter().map(|i| i.path.as_str()).collect::<Vec<_>>(),
            ["fields[4].property"]
        );
    }

    #[test]
    fn recorded_types_follow_discovery() {
        let mut catalog = crate::validate::tests::contacts();
        let mut m = sample();
        m.criteria.clear();
        m.fields[1].property_type = None;
        assert_eq!(m.record_property_types(&catalog), ["spoke_score ↔ score"]);
        assert_eq!(m.fields[1].property_type, Some(PropertyType::Number));
        assert!(m.record_property_types(&catalog).is_empty());
        catalog
            .properties
            .iter_mut()
            .find(|p| p.name == "spoke_score")
            .unwrap()
            .property_type = PropertyType::String;
        let codes = |m: &Mapping| {
            crate::validate::validate(m, &catalog)
                .into_iter()
                .map(|i| i.code)
                .collect::<Vec<_>>()
        };
        // A number that became text no longer fits the integer column, and the change is named.
        assert_eq!(
            codes(&m),
            [
                "mapping.incompatible_types",
                "mapping.property_type_changed"
            ]
        );
        m.record_property_types(&catalog);
        assert_eq!(codes(&m), ["mapping.incompatible_types"]);

        let columns = vec![
            LocalColumn::new("email", LocalType::Text),
            LocalColumn::new("score", LocalType::Real),
        ];
        assert_eq!(m.record_column_types(&columns), ["spoke_score ↔ score"]);
        assert_eq!(m.fields[1].column_type, Some(LocalType::Real));
    }

    #[test]
    fn hubspot_properties_cover_fields_concat_key_and_criteria() {
        let mut m = sample();
        m.fields.push(FieldMapping {
            property: None,
            column: Some("full_name".into()),
            direction: Direction::ToLocal,
            property_type: None,
            column_type: None,
            inbound: vec![Transform::Concat {
                fields: vec!["firstname".into(), "lastname".into()],
                separator: " ".into(),
            }],
            outbound: vec![],
            required: false,
        });
        assert_eq!(
            m.hubspot_properties(),
            [
                "email",
                "firstname",
                "lastname",
                "lifecyclestage",
                "spoke_score"
            ]
        );
    }
}
