//! Checks a mapping against the discovered HubSpot properties (and, for an existing table, its
//! columns), and imports mapping files with problems that name the line and field.

use serde::{Deserialize, Serialize};

use crate::catalog::{ObjectCatalog, PropertyDef, PropertyType};
use crate::criteria::{
    compile_criteria, compile_with_limits, lookup_columns, resolve_lookup, HUBSPOT_LIMITS,
};
use crate::error::{Error, Result};
use crate::local::{LocalColumn, LocalRow, LocalValue};
use crate::model::{Destination, FieldMapping, Mapping, MatchKey, FORMAT_VERSION};
use crate::transform::{Kind, Transform};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, specta::Type,
)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The mapping cannot run like this.
    Error,
    /// It runs, but something deserves a look.
    Warning,
}

/// One problem in a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub severity: Severity,
    /// Stable code, e.g. `mapping.unknown_property`.
    pub code: String,
    /// Where in the mapping: `fields[2].property`, `matchKey`, `criteria[0]`.
    pub path: String,
    /// The line in the imported file, when the mapping came from one.
    pub line: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl Issue {
    fn new(
        severity: Severity,
        code: &str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: Option<&str>,
    ) -> Issue {
        Issue {
            severity,
            code: code.to_owned(),
            path: path.into(),
            line: None,
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }
}

/// How well a value kind fits a target.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, specta::Type,
)]
#[serde(rename_all = "camelCase")]
pub enum Compatibility {
    /// Same kind of value.
    Exact,
    /// Converts safely (a number into text, a date-time into a date).
    Convertible,
    /// Needs an explicit transform (text into a number) or cannot work at all.
    Incompatible,
}

pub(crate) fn compat(from: Kind, to: Kind) -> Compatibility {
    use Compatibility::*;
    if from == to {
        return Exact;
    }
    match (from, to) {
        (Kind::Any, _) | (_, Kind::Any) => Convertible,
        (_, Kind::Text) | (_, Kind::Json) => Convertible,
        (Kind::Bool | Kind::Date | Kind::Datetime, Kind::Number) => Convertible,
        (Kind::Date, Kind::Datetime) | (Kind::Datetime, Kind::Date) => Convertible,
        (Kind::Number, Kind::Date | Kind::Datetime | Kind::Bool) => Convertible,
        _ => Incompatible,
    }
}

/// Every problem of `mapping` against `catalog`, errors first, in field order.
pub fn validate(mapping: &Mapping, catalog: &ObjectCatalog) -> Vec<Issue> {
    use Severity::{Error as E, Warning as W};
    let mut out: Vec<Issue> = Vec::new();
    if mapping.version != FORMAT_VERSION {
        out.push(Issue::new(
            E,
            "mapping.unsupported_version",
            "version",
            format!("format version {} is not {FORMAT_VERSION}", mapping.version),
            None,
        ));
    }
    if mapping.name.trim().is_empty() {
        out.push(Issue::new(
            W,
            "mapping.no_name",
            "name",
            "the mapping has no name",
            Some("Name it after what it syncs, for example 'Contacts to customers'."),
        ));
    }
    if !catalog.names(&mapping.object) {
        out.push(Issue::new(
            E,
            "mapping.object_mismatch",
            "object",
            format!(
                "the mapping is for {} but the properties are of {}",
                mapping.object, catalog.object_type
            ),
            Some("Discover the properties of the mapping's object, or change the object."),
        ));
    }
    match &mapping.destination {
        Destination::Spoke { table }
        | Destination::Sqlite { table, .. }
        | Destination::Postgres { table, .. }
            if table.trim().is_empty() =>
        {
            out.push(Issue::new(
                E,
                "mapping.no_table",
                "destination.table",
                "the destination has no table name",
                Some("Name the local table."),
            ));
        }
        Destination::Sqlite { path, .. } if path.trim().is_empty() => {
            out.push(Issue::new(
                E,
                "mapping.no_table",
                "destination.path",
                "the destination has no SQLite file",
                Some("Pick the SQLite file that holds the table."),
            ));
        }
        Destination::Postgres { url, .. } => {
            if let Some(problem) = postgres_url_problem(url) {
                out.push(Issue::new(
                    E,
                    "mapping.postgres_url",
                    "destination.url",
                    problem,
                    Some("Write the URL as postgresql://USER@HOST:PORT/DATABASE (no password: Spoke keeps it in the OS keychain)."),
                ));
            }
        }
        _ => {}
    }
    check_match_key(mapping, catalog, &mut out);
    for (i, field) in mapping.fields.iter().enumerate() {
        check_field(i, field, catalog, &mut out);
    }
    check_duplicates(mapping, &mut out);

    // Creating records in HubSpot needs the object's required properties.
    if mapping.fields.iter().any(|f| f.direction.outbound()) {
        for required in &catalog.required_properties {
            let covered = mapping.fields.iter().any(|f| {
                f.direction.outbound() && f.property.as_deref() == Some(required.as_str())
            }) || matches!(&mapping.match_key, MatchKey::Property { property, .. } if property == required);
            if !covered {
                out.push(Issue::new(
                    W,
                    "mapping.required_property_unmapped",
                    "fields",
                    format!("HubSpot requires {required} to create a {}, and no field writes it", catalog.object_type),
                    Some("Map a column (or a constant) to it with direction local → HubSpot, or only update existing records."),
                ));
            }
        }
    }

    for (i, c) in mapping.criteria.iter().enumerate() {
        if let Err(e) = compile_criteria(std::slice::from_ref(c), catalog) {
            // Compiled alone, the condition is number 0: give it its place in the list.
            let e = match e {
                Error::Criterion { field, reason, .. } => Error::Criterion {
                    index: i,
                    field,
                    reason,
                },
                other => other,
            };
            out.push(Issue::new(
                E,
                e.code_str(),
                format!("criteria[{i}]"),
                e.to_string(),
                e.hint_str().as_deref(),
            ));
        }
    }
    if let Err(e) = compile_criteria(&mapping.criteria, catalog) {
        if matches!(e, Error::FilterLimit { .. }) {
            out.push(Issue::new(
                E,
                e.code_str(),
                "criteria",
                e.to_string(),
                e.hint_str().as_deref(),
            ));
        }
    }
    check_lookup(mapping, catalog, &mut out);
    for property in mapping.two_way.field_policies.keys() {
        let two_way = mapping.fields.iter().any(|f| {
            f.property.as_deref() == Some(property.as_str())
                && f.column.is_some()
                && f.direction == crate::model::Direction::Both
        });
        if !two_way {
            out.push(Issue::new(
                W,
                "mapping.conflict_policy_unused",
                format!("twoWay.fieldPolicies.{property}"),
                format!(
                    "{property} has a conflict policy but is not a two-way field of this mapping"
                ),
                Some("Set the field's direction to both ways, or remove its conflict policy."),
            ));
        }
    }
    out.sort_by_key(|i| i.severity);
    out
}

trait Described {
    fn code_str(&self) -> &'static str;
    fn hint_str(&self) -> Option<String>;
}

impl Described for Error {
    fn code_str(&self) -> &'static str {
        spoke_hubspot::Describe::code(self)
    }
    fn hint_str(&self) -> Option<String> {
        spoke_hubspot::Describe::hint(self)
    }
}

fn closest<'a>(name: &str, catalog: &'a ObjectCatalog) -> Option<&'a str> {
    catalog
        .live()
        .map(|p| {
            (
                strsim::jaro_winkler(&name.to_lowercase(), &p.name),
                p.name.as_str(),
            )
        })
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// The live property, or an issue saying why not.
fn lookup_property<'a>(
    name: &str,
    path: &str,
    catalog: &'a ObjectCatalog,
    out: &mut Vec<Issue>,
) -> Option<&'a PropertyDef> {
    match catalog.property(name) {
        Some(p) if p.removed => {
            out.push(Issue::new(
                Severity::Error,
                "mapping.property_removed",
                path,
                format!("{name} was deleted in HubSpot; the field is kept so you can remap it"),
                Some("Map the column to another property, or remove the field."),
            ));
            None
        }
        Some(p) if p.archived => {
            out.push(Issue::new(
                Severity::Error,
                "mapping.property_archived",
                path,
                format!("{name} is archived in HubSpot"),
                Some("Restore the property in HubSpot (Settings → Properties → Archived), or remap the field."),
            ));
            None
        }
        Some(p) => Some(p),
        None => {
            let hint = match closest(name, catalog) {
                Some(c) => format!("Did you mean {c}? Use the property's internal name."),
                None => "Use the property's internal name (HubSpot: Settings → Properties → the property → Internal name), or refresh the properties.".to_owned(),
            };
            out.push(Issue {
                hint: Some(hint),
                ..Issue::new(
                    Severity::Error,
                    "mapping.unknown_property",
                    path,
                    format!("{} has no property {name:?}", catalog.object_type),
                    None,
                )
            });
            None
        }
    }
}

/// What is wrong with a PostgreSQL destination URL, if anything: not a `postgres(ql)://` URL, or
/// one carrying a password (passwords never go into mapping files).
pub fn postgres_url_problem(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"));
    let Some(rest) = rest else {
        return Some("the PostgreSQL URL must start with postgresql://".to_owned());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        if userinfo.contains(':') {
            return Some(
                "the PostgreSQL URL contains a password; mapping files never hold one".to_owned(),
            );
        }
    }
    if rest.contains("password=") {
        return Some(
            "the PostgreSQL URL contains a password; mapping files never hold one".to_owned(),
        );
    }
    None
}

fn check_match_key(mapping: &Mapping, catalog: &ObjectCatalog, out: &mut Vec<Issue>) {
    if mapping.match_key.column().trim().is_empty() {
        out.push(Issue::new(
            Severity::Error,
            "mapping.no_match_column",
            "matchKey.column",
            "the match key has no local column",
            Some("Pick the column that holds the key."),
        ));
    }
    if let MatchKey::Property { property, .. } = &mapping.match_key {
        if let Some(p) = lookup_property(property, "matchKey.property", catalog, out) {
            if !catalog.is_key_candidate(&p.name) {
                out.push(Issue::new(
                    Severity::Error,
                    "mapping.match_key_not_unique",
                    "matchKey.property",
                    format!("{} does not have unique values in HubSpot, so it cannot match records", p.name),
                    Some(if catalog.is_contacts() {
                        "Use email, a property with unique values, or the record id."
                    } else {
                        "Use a property with unique values (HubSpot: 'Require unique values'), or the record id."
                    }),
                ));
            }
        }
    }
}

fn source_provided(transforms: &[Transform]) -> bool {
    transforms.iter().any(|t| {
        matches!(
            t,
            Transform::Constant { .. } | Transform::Concat { .. } | Transform::Default { .. }
        )
    })
}

fn check_field(i: usize, f: &FieldMapping, catalog: &ObjectCatalog, out: &mut Vec<Issue>) {
    use Severity::{Error as E, Warning as W};
    let at = |part: &str| format!("fields[{i}].{part}");
    let name = f.describe();
    if f.property.is_none() && f.column.is_none() {
        out.push(Issue::new(
            E,
            "mapping.empty_field",
            format!("fields[{i}]"),
            "the field has neither a property nor a column",
            Some("Pick a property and a column, or remove the field."),
        ));
        return;
    }
    if f.direction.inbound() && f.column.is_none() {
        out.push(Issue::new(
            E,
            "mapping.no_column",
            at("column"),
            format!("{name} flows to the local table but names no column"),
            Some("Pick the column, or set the direction to local → HubSpot."),
        ));
    }
    if f.direction.outbound() && f.property.is_none() {
        out.push(Issue::new(
            E,
            "mapping.no_property",
            at("property"),
            format!("{name} flows to HubSpot but names no property"),
            Some("Pick the property, or set the direction to HubSpot → local."),
        ));
    }
    if f.direction.inbound() && f.property.is_none() && !source_provided(&f.inbound) {
        out.push(Issue::new(
            E,
            "mapping.no_source",
            at("inbound"),
            format!("{name} has no property to read and no constant or concat"),
            Some("Pick a property, or add a constant or concat transform."),
        ));
    }
    if f.direction.outbound() && f.column.is_none() && !source_provided(&f.outbound) {
        out.push(Issue::new(
            E,
            "mapping.no_source",
            at("outbound"),
            format!("{name} has no column to read and no constant or concat"),
            Some("Pick a column, or add a constant or concat transform."),
        ));
    }
    let prop = f
        .property
        .as_deref()
        .and_then(|p| lookup_property(p, &at("property"), catalog, out));
    if let Some(p) = prop {
        if let Some(snap) = f.property_type {
            if snap != p.property_type {
                out.push(Issue::new(
                    W,
                    "mapping.property_type_changed",
                    at("propertyType"),
                    format!("{} was {} when mapped and is {} in HubSpot now", p.name, snap.as_str(), p.property_type.as_str()),
                    Some("Check the field's transforms, then save the mapping to record the new type."),
                ));
            }
        }
        if f.direction.outbound() {
            if let Some(reason) = p.write_refusal() {
                out.push(Issue::new(E, "mapping.read_only_property", at("direction"), reason, Some("Set the direction to HubSpot → local; HubSpot will not accept writes to it.")));
            }
        }
    }
    let ptype = prop.map(|p| p.property_type).or(f.property_type);
    let column_kind = Kind::of_local(f.effective_column_type());
    if f.direction.inbound() {
        let start = if f.property.is_some() {
            ptype.map(Kind::of_property).unwrap_or(Kind::Any)
        } else {
            Kind::Any
        };
        check_chain(&f.inbound, start, column_kind, "inbound", i, &name, out);
        for (k, t) in f.inbound.iter().enumerate() {
            if let Transform::Concat { fields, .. } = t {
                for (j, field) in fields.iter().enumerate() {
                    lookup_property(
                        field,
                        &format!("fields[{i}].inbound[{k}].fields[{j}]"),
                        catalog,
                        out,
                    );
                }
            }
        }
    }
    if f.direction.outbound() {
        if let Some(pt) = ptype {
            let start = if f.column.is_some() {
                column_kind
            } else {
                Kind::Any
            };
            check_chain(
                &f.outbound,
                start,
                Kind::of_property(pt),
                "outbound",
                i,
                &name,
                out,
            );
        }
        if let Some(p) =
            prop.filter(|p| p.property_type == PropertyType::Enumeration && !p.options.is_empty())
        {
            check_enum_outputs(i, f, p, out);
        }
    }
}

fn check_chain(
    chain: &[Transform],
    start: Kind,
    target: Kind,
    side: &str,
    i: usize,
    name: &str,
    out: &mut Vec<Issue>,
) {
    let mut kind = start;
    for (k, t) in chain.iter().enumerate() {
        match t.check(kind) {
            Ok(next) => kind = next,
            Err(reason) => {
                out.push(Issue::new(
                    Severity::Error,
                    "mapping.incompatible_transform",
                    format!("fields[{i}].{side}[{k}]"),
                    format!("{name}: {reason}"),
                    Some("Reorder or change the transforms: for example parse text into a number before formatting it."),
                ));
                return;
            }
        }
    }
    if compat(kind, target) == Compatibility::Incompatible {
        let to = if side == "inbound" {
            "the column"
        } else {
            "the property"
        };
        out.push(Issue::new(
            Severity::Error,
            "mapping.incompatible_types",
            format!("fields[{i}].{side}"),
            format!(
                "{name}: {} cannot go into {to}, which holds {}",
                kind.name(),
                target.name()
            ),
            Some(match (kind, target) {
                (Kind::Text, Kind::Number) => {
                    "Add a parseNumber transform, or pick a column of a matching type."
                }
                (Kind::Text, Kind::Date) => "Add a parseDate transform with the text's format.",
                (Kind::Text, Kind::Datetime) => {
                    "Add a parseDatetime transform with the text's format and time zone."
                }
                _ => "Pick a column or property of a matching type, or add a converting transform.",
            }),
        ));
    }
}

/// Values a field could send to an enumeration must be its options.
fn check_enum_outputs(i: usize, f: &FieldMapping, p: &PropertyDef, out: &mut Vec<Issue>) {
    let options: Vec<&str> = p.options.iter().map(|o| o.value.as_str()).collect();
    let mut bad = |k: usize, value: &str| {
        for part in value.split(';').filter(|s| !s.is_empty()) {
            if !p.has_option(part) {
                out.push(Issue::new(
                    Severity::Error,
                    "mapping.not_an_option",
                    format!("fields[{i}].outbound[{k}]"),
                    format!(
                        "'{part}' is not an option of {} (options: {})",
                        p.name,
                        options.join(", ")
                    ),
                    Some("Map the value to one of the property's internal option values."),
                ));
            }
        }
    };
    for (k, t) in f.outbound.iter().enumerate() {
        match t {
            Transform::ValueMap {
                values, otherwise, ..
            } => {
                for v in values.values().chain(otherwise.iter()) {
                    bad(k, v);
                }
            }
            Transform::Constant {
                value: LocalValue::Text(v),
            }
            | Transform::Default {
                value: LocalValue::Text(v),
            } => bad(k, v),
            _ => {}
        }
    }
}

fn check_duplicates(mapping: &Mapping, out: &mut Vec<Issue>) {
    for (i, f) in mapping.fields.iter().enumerate() {
        let earlier = &mapping.fields[..i];
        if f.direction.inbound() {
            if let Some(col) = &f.column {
                if earlier
                    .iter()
                    .any(|e| e.direction.inbound() && e.column.as_ref() == Some(col))
                {
                    out.push(Issue::new(
                        Severity::Error,
                        "mapping.duplicate_column",
                        format!("fields[{i}].column"),
                        format!("two fields write the column {col}"),
                        Some("Keep one of them, or merge them with a concat transform."),
                    ));
                }
            }
        }
        if f.direction.outbound() {
            if let Some(prop) = &f.property {
                if earlier
                    .iter()
                    .any(|e| e.direction.outbound() && e.property.as_ref() == Some(prop))
                {
                    out.push(Issue::new(
                        Severity::Error,
                        "mapping.duplicate_property",
                        format!("fields[{i}].property"),
                        format!("two fields write the property {prop}"),
                        Some("Keep one of them, or merge them with a concat transform."),
                    ));
                }
            }
        }
    }
}

fn check_lookup(mapping: &Mapping, catalog: &ObjectCatalog, out: &mut Vec<Issue>) {
    if mapping.target_lookup.is_empty() {
        return;
    }
    let known: Vec<String> = mapping
        .local_columns()
        .into_iter()
        .map(|c| c.name)
        .collect();
    // A stand-in row gives each placeholder a value of its filter's type, so that conditions and
    // fields are checked now and the real values at run time.
    let mut row = LocalRow::new();
    for c in &mapping.target_lookup {
        let sample = match catalog
            .property(&c.field)
            .map(|p| (p.property_type, p.options.first()))
        {
            Some((PropertyType::Number, _)) => "1".to_owned(),
            Some((PropertyType::Date | PropertyType::Datetime, _)) => "2000-01-01".to_owned(),
            Some((PropertyType::Bool, _)) => "true".to_owned(),
            Some((PropertyType::Enumeration, Some(o))) => o.value.clone(),
            _ => "x".to_owned(),
        };
        for col in lookup_columns(std::slice::from_ref(c)) {
            row.entry(col).or_insert(LocalValue::Text(sample.clone()));
        }
    }
    for col in row.keys() {
        if !known.contains(col) {
            out.push(Issue::new(
                Severity::Warning,
                "mapping.lookup_unknown_column",
                "targetLookup",
                format!("the lookup reads @{col}@, which is not a column of this mapping"),
                Some("Check the column name between the @ signs."),
            ));
        }
    }
    match resolve_lookup(&mapping.target_lookup, &row)
        .and_then(|r| compile_with_limits(&r, catalog, HUBSPOT_LIMITS))
    {
        Ok(_) => {}
        Err(e) => {
            let path = match &e {
                Error::Criterion { index, .. } => format!("targetLookup[{index}]"),
                _ => "targetLookup".to_owned(),
            };
            out.push(Issue::new(
                Severity::Error,
                e.code_str(),
                path,
                e.to_string(),
                e.hint_str().as_deref(),
            ));
        }
    }
}

/// Problems between a mapping and the existing table it targets (columns that do not exist,
/// column types that disagree with the mapping, NOT NULL columns no field fills).
pub fn validate_columns(mapping: &Mapping, columns: &[LocalColumn]) -> Vec<Issue> {
    use Severity::{Error as E, Warning as W};
    let mut out = Vec::new();
    let find = |name: &str| columns.iter().find(|c| c.name == name);
    if find(mapping.match_key.column()).is_none() {
        out.push(Issue::new(
            E,
            "mapping.unknown_column",
            "matchKey.column",
            format!("the table has no column {}", mapping.match_key.column()),
            Some("Pick one of the table's columns."),
        ));
    }
    for (i, f) in mapping.fields.iter().enumerate() {
        let Some(name) = &f.column else { continue };
        match find(name) {
            None => out.push(Issue::new(
                E,
                "mapping.unknown_column",
                format!("fields[{i}].column"),
                format!("the table has no column {name}"),
                Some("Pick one of the table's columns."),
            )),
            Some(c) if f.column_type.is_some_and(|t| t != c.local_type) => out.push(Issue::new(
                W,
                "mapping.column_type_changed",
                format!("fields[{i}].columnType"),
                format!(
                    "{name} is {:?} in the table ({}), not {:?} as mapped",
                    c.local_type,
                    c.declared_type,
                    f.effective_column_type()
                ),
                Some("Re-pick the column so the mapping records its current type."),
            )),
            _ => {}
        }
        for (k, t) in f.outbound.iter().enumerate() {
            if let Transform::Concat { fields, .. } = t {
                for col in fields.iter().filter(|c| find(c).is_none()) {
                    out.push(Issue::new(
                        E,
                        "mapping.unknown_column",
                        format!("fields[{i}].outbound[{k}]"),
                        format!("concat reads {col}, which the table does not have"),
                        None,
                    ));
                }
            }
        }
    }
    for c in columns
        .iter()
        .filter(|c| c.not_null && !c.primary_key && c.default_value.is_none())
    {
        let filled = c.name == mapping.match_key.column()
            || mapping
                .fields
                .iter()
                .any(|f| f.direction.inbound() && f.column.as_deref() == Some(&c.name));
        if !filled {
            out.push(Issue::new(
                W,
                "mapping.not_null_unfilled",
                "fields",
                format!(
                    "the column {} is NOT NULL and no field fills it, so new rows would fail",
                    c.name
                ),
                Some("Map a property (or a constant) to it."),
            ));
        }
    }
    out.sort_by_key(|i| i.severity);
    out
}

/// An imported mapping and its problems (each with the line of the file it is on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub mapping: Mapping,
    pub issues: Vec<Issue>,
}

impl Imported {
    /// The mapping if no issue is an error; otherwise an error listing them with their lines.
    pub fn into_result(self) -> Result<Mapping> {
        let errors: Vec<String> = self
            .issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .map(|i| format!("line {}, {}: {}", i.line.unwrap_or(0), i.path, i.message))
            .collect();
        if errors.is_empty() {
            Ok(self.mapping)
        } else {
            Err(Error::InvalidMapping {
                count: errors.len(),
                issues: errors,
            })
        }
    }
}

/// Reads a mapping file and validates it (see [`import_mapping`]).
pub fn import_mapping_file(path: &std::path::Path, catalog: &ObjectCatalog) -> Result<Imported> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File {
        action: "read",
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    import_mapping(&text, catalog)
}

/// Parses a mapping file and validates it against the discovered properties. Syntax and shape
/// errors are an `Err` naming line and column; semantic problems come back as issues whose
/// `line` points into `text`.
pub fn import_mapping(text: &str, catalog: &ObjectCatalog) -> Result<Imported> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mapping = Mapping::from_json_str(text)?;
    let mut issues = validate(&mapping, catalog);
    if let Some(lines) = crate::locate::Lines::new(text) {
        for issue in &mut issues {
            issue.line = lines.line_of(&issue.path);
        }
    }
    Ok(Imported { mapping, issues })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::{EnumOption, PropertyDef};
    use crate::criteria::Criterion;
    use crate::local::LocalType;
    use crate::model::Direction;
    use crate::transform::Case;

    pub(crate) fn p(name: &str, label: &str, t: PropertyType) -> PropertyDef {
        PropertyDef {
            name: name.into(),
            label: label.into(),
            description: String::new(),
            group_name: "contactinformation".into(),
            property_type: t,
            field_type: "text".into(),
            options: vec![],
            read_only: false,
            calculated: false,
            unique: false,
            hubspot_defined: true,
            archived: false,
            removed: false,
        }
    }

    /// A contacts catalog shaped like the demo portal's.
    pub(crate) fn contacts() -> ObjectCatalog {
        let mut tier = p("spoke_tier", "Spoke tier", PropertyType::Enumeration);
        tier.field_type = "select".into();
        tier.options = ["bronze", "silver", "gold"]
            .iter()
            .map(|v| EnumOption {
                value: (*v).into(),
                label: v.to_uppercase(),
                hidden: false,
            })
            .collect();
        let mut deals = p(
            "num_associated_deals",
            "Number of Associated Deals",
            PropertyType::Number,
        );
        deals.calculated = true;
        deals.read_only = true;
        let mut id = p("hs_object_id", "Record ID", PropertyType::Number);
        id.read_only = true;
        let mut gone = p("fax", "Fax Number", PropertyType::String);
        gone.removed = true;
        let mut code = p("customer_code", "Customer code", PropertyType::String);
        code.unique = true;
        let mut props = vec![
            p("email", "Email", PropertyType::String),
            p("firstname", "First Name", PropertyType::String),
            p("lastname", "Last Name", PropertyType::String),
            p("phone", "Phone Number", PropertyType::String),
            p("city", "City", PropertyType::String),
            p("spoke_score", "Spoke score", PropertyType::Number),
            p("spoke_legacy_ids", "Spoke legacy IDs", PropertyType::Number),
            p(
                "spoke_renewal_date",
                "Spoke renewal date",
                PropertyType::Date,
            ),
            p(
                "spoke_last_seen_at",
                "Spoke last seen at",
                PropertyType::Datetime,
            ),
            p("spoke_opt_in", "Spoke opt-in", PropertyType::Bool),
            p("createdate", "Create Date", PropertyType::Datetime),
            tier,
            deals,
            id,
            gone,
            code,
        ];
        props.sort_by(|a, b| a.name.cmp(&b.name));
        ObjectCatalog {
            object_type: "contacts".into(),
            object_type_id: Some("0-1".into()),
            custom: false,
            required_properties: vec![],
            properties: props,
            groups: vec![],
            fetched_at: String::new(),
        }
    }

    pub(crate) fn field(
        property: &str,
        column: &str,
        direction: Direction,
        pt: PropertyType,
        ct: LocalType,
    ) -> FieldMapping {
        FieldMapping {
            property: Some(property.into()),
            column: Some(column.into()),
            direction,
            property_type: Some(pt),
            column_type: Some(ct),
            inbound: vec![],
            outbound: vec![],
            required: false,
        }
    }

    pub(crate) fn mapping() -> Mapping {
        let mut m = Mapping::new(
            "c",
            "contacts",
            Destination::Spoke {
                table: "contacts".into(),
            },
            MatchKey::Property {
                property: "email".into(),
                column: "email".into(),
            },
        );
        m.fields = vec![
            FieldMapping {
                inbound: vec![Transform::Trim, Transform::Case { to: Case::Lower }],
                required: true,
                ..field(
                    "email",
                    "email",
                    Direction::Both,
                    PropertyType::String,
                    LocalType::Text,
                )
            },
            field(
                "firstname",
                "first_name",
                Direction::Both,
                PropertyType::String,
                LocalType::Text,
            ),
            field(
                "spoke_score",
                "score",
                Direction::Both,
                PropertyType::Number,
                LocalType::Integer,
            ),
        ];
        m
    }

    fn codes(issues: &[Issue]) -> Vec<(&str, &str)> {
        issues
            .iter()
            .map(|i| (i.code.as_str(), i.path.as_str()))
            .collect()
    }

    #[test]
    fn a_good_mapping_has_no_issues() {
        assert_eq!(validate(&mapping(), &contacts()), vec![]);
    }

    #[test]
    fn unknown_removed_and_read_only_properties_are_flagged() {
        let mut m = mapping();
        m.fields.push(field(
            "firstnme",
            "x",
            Direction::ToLocal,
            PropertyType::String,
            LocalType::Text,
        ));
        m.fields.push(field(
            "fax",
            "fax",
            Direction::ToLocal,
            PropertyType::String,
            LocalType::Text,
        ));
        m.fields.push(field(
            "num_associated_deals",
            "deals",
            Direction::Both,
            PropertyType::Number,
            LocalType::Integer,
        ));
        let issues = validate(&m, &contacts());
        assert_eq!(
            codes(&issues),
            [
                ("mapping.unknown_property", "fields[3].property"),
                ("mapping.property_removed", "fields[4].property"),
                ("mapping.read_only_property", "fields[5].direction"),
            ]
        );
        assert!(issues[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("Did you mean firstname?"));
        assert!(issues[2].message.contains("calculated by HubSpot"));
        // Reading it is fine.
        m.fields[5].direction = Direction::ToLocal;
        assert_eq!(validate(&m, &contacts()).len(), 2);
    }

    #[test]
    fn match_keys_must_be_unique_properties() {
        let mut m = mapping();
        m.match_key = MatchKey::Property {
            property: "city".into(),
            column: "city".into(),
        };
        assert_eq!(
            codes(&validate(&m, &contacts())),
            [("mapping.match_key_not_unique", "matchKey.property")]
        );
        m.match_key = MatchKey::Property {
            property: "customer_code".into(),
            column: "code".into(),
        };
        assert_eq!(validate(&m, &contacts()), vec![]);
        m.match_key = MatchKey::RecordId {
            column: "hubspot_id".into(),
        };
        assert_eq!(validate(&m, &contacts()), vec![]);
    }

    #[test]
    fn incompatible_types_and_transforms_are_refused() {
        let mut m = mapping();
        // Text into an integer column without parseNumber.
        m.fields.push(field(
            "city",
            "city_code",
            Direction::ToLocal,
            PropertyType::String,
            LocalType::Integer,
        ));
        // Upper-casing a number.
        m.fields.push(FieldMapping {
            inbound: vec![Transform::Case { to: Case::Upper }],
            ..field(
                "spoke_legacy_ids",
                "legacy",
                Direction::ToLocal,
                PropertyType::Number,
                LocalType::Text,
            )
        });
        // A date-time into a boolean.
        m.fields.push(field(
            "createdate",
            "created_flag",
            Direction::ToLocal,
            PropertyType::Datetime,
            LocalType::Boolean,
        ));
        let issues = validate(&m, &contacts());
        assert_eq!(
            codes(&issues),
            [
                ("mapping.incompatible_types", "fields[3].inbound"),
                ("mapping.incompatible_transform", "fields[4].inbound[0]"),
                ("mapping.incompatible_types", "fields[5].inbound"),
            ]
        );
        assert!(issues[0].hint.as_deref().unwrap().contains("parseNumber"));
        // parseNumber fixes the first.
        m.fields[3].inbound = vec![Transform::ParseNumber {
            decimal: None,
            thousands: None,
        }];
        assert_eq!(validate(&m, &contacts()).len(), 2);
    }

    #[test]
    fn enum_writes_must_use_options() {
        let mut m = mapping();
        m.fields.push(FieldMapping {
            outbound: vec![Transform::ValueMap {
                values: [
                    ("Gold".to_owned(), "gold".to_owned()),
                    ("Platinum".to_owned(), "platinum".to_owned()),
                ]
                .into(),
                otherwise: None,
                strict: true,
            }],
            ..field(
                "spoke_tier",
                "tier",
                Direction::ToHubSpot,
                PropertyType::Enumeration,
                LocalType::Text,
            )
        });
        let issues = validate(&m, &contacts());
        assert_eq!(
            codes(&issues),
            [("mapping.not_an_option", "fields[3].outbound[0]")]
        );
        assert!(issues[0]
            .message
            .contains("'platinum' is not an option of spoke_tier"));
    }

    #[test]
    fn duplicates_criteria_and_lookups_are_checked() {
        let mut m = mapping();
        m.fields.push(field(
            "lastname",
            "first_name",
            Direction::ToLocal,
            PropertyType::String,
            LocalType::Text,
        ));
        m.criteria = vec![Criterion::new("EQUALS", "city", None)];
        m.target_lookup = vec![Criterion::new(
            "EQUALS",
            "phone",
            Some("@phone_number@".into()),
        )];
        let issues = validate(&m, &contacts());
        assert_eq!(
            codes(&issues),
            [
                ("mapping.duplicate_column", "fields[3].column"),
                ("mapping.invalid_criterion", "criteria[0]"),
                ("mapping.lookup_unknown_column", "targetLookup")
            ]
        );
        assert!(issues[1].message.contains("NOT_HAS_PROPERTY"));
    }

    #[test]
    fn criteria_issues_name_their_place_and_types_read_plainly() {
        let mut m = mapping();
        m.criteria = vec![
            Criterion::new("HAS_PROPERTY", "city", None),
            Criterion::new("GREATER_THAN", "spoke_score", Some("abc".into())),
        ];
        m.fields.push(field(
            "city",
            "city_code",
            Direction::ToLocal,
            PropertyType::String,
            LocalType::Integer,
        ));
        let issues = validate(&m, &contacts());
        let texts: Vec<(&str, &str)> = issues
            .iter()
            .map(|i| (i.path.as_str(), i.message.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("fields[3].inbound", "city ↔ city_code: text cannot go into the column, which holds a number"),
                ("criteria[1]", "condition 2 on spoke_score: 'abc' is not a number, but spoke_score is a number property"),
            ]
        );
    }

    #[test]
    fn required_properties_of_custom_objects_are_warned_about() {
        let mut cat = contacts();
        cat.required_properties = vec!["city".into()];
        let issues = validate(&mapping(), &cat);
        assert_eq!(
            codes(&issues),
            [("mapping.required_property_unmapped", "fields")]
        );
        assert_eq!(issues[0].severity, Severity::Warning);
    }

    #[test]
    fn columns_of_an_existing_table_are_checked() {
        let cols = vec![
            LocalColumn {
                not_null: true,
                ..LocalColumn::new("email", LocalType::Text)
            },
            LocalColumn::new("first_name", LocalType::Text),
            LocalColumn::new("score", LocalType::Real),
            LocalColumn {
                not_null: true,
                ..LocalColumn::new("tenant", LocalType::Text)
            },
        ];
        let issues = validate_columns(&mapping(), &cols);
        assert_eq!(
            codes(&issues),
            [
                ("mapping.column_type_changed", "fields[2].columnType"),
                ("mapping.not_null_unfilled", "fields")
            ]
        );
        let issues = validate_columns(&mapping(), &cols[1..]);
        assert_eq!(issues[0].code, "mapping.unknown_column");
    }

    #[test]
    fn the_documented_example_imports_cleanly_and_runs() {
        let text = include_str!("../docs/example-mapping.json");
        let imported = import_mapping(text, &contacts()).unwrap();
        assert_eq!(imported.issues, vec![]);
        let m = imported.mapping;
        let record = crate::apply::HubSpotRecord {
            id: "1".into(),
            properties: [
                ("email", " Ada@Example.com"),
                ("firstname", "Ada"),
                ("lastname", "King Lovelace"),
                ("spoke_legacy_ids", "3000000001;3000000002"),
                ("spoke_tier", "gold"),
                ("spoke_last_seen_at", "2025-06-15T07:00:00.000Z"),
                ("num_associated_deals", "2"),
            ]
            .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
            .into(),
        };
        let row = crate::apply::apply_inbound(&m, &record).unwrap();
        assert_eq!(
            row["full_name"],
            LocalValue::Text("Ada King Lovelace".into())
        );
        assert_eq!(row["legacy_id"], LocalValue::Integer(3_000_000_001));
        assert_eq!(row["tier"], LocalValue::Text("Gold".into()));
        assert_eq!(
            row["last_login"],
            LocalValue::Text("2025-06-15 09:00:00.000".into())
        );
        assert_eq!(row["score"], LocalValue::Integer(0));
        let out = crate::apply::apply_outbound_checked(&m, &contacts(), &row).unwrap();
        assert_eq!(out.properties["lastname"], "King Lovelace");
        assert_eq!(out.properties["spoke_tier"], "gold");
        assert_eq!(
            out.properties["spoke_last_seen_at"],
            "2025-06-15T07:00:00.000Z"
        );
        assert_eq!(out.properties["city"], "Berlin");
        assert_eq!(out.id.as_deref(), Some("ada@example.com"));
        // The file is in the canonical form the editor writes.
        assert_eq!(Mapping::from_json_str(&m.to_json_pretty()).unwrap(), m);
    }

    #[test]
    fn import_names_the_line_of_each_problem() {
        let mut m = mapping();
        m.fields[1].property = Some("first_name".into());
        m.fields[2].direction = Direction::Both;
        m.fields.push(field(
            "num_associated_deals",
            "deals",
            Direction::ToHubSpot,
            PropertyType::Number,
            LocalType::Integer,
        ));
        let text = m.to_json_pretty();
        let imported = import_mapping(&text, &contacts()).unwrap();
        let line_with = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let got: Vec<(&str, Option<usize>)> = imported
            .issues
            .iter()
            .map(|i| (i.code.as_str(), i.line))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "mapping.unknown_property",
                    Some(line_with("\"property\": \"first_name\""))
                ),
                (
                    "mapping.read_only_property",
                    Some(line_with("\"direction\": \"toHubSpot\""))
                ),
            ]
        );
        let err = imported.into_result().unwrap_err();
        assert!(matches!(&err, Error::InvalidMapping { count: 2, .. }));
        assert!(
            err.to_string().contains(&format!(
                "line {}, fields[1].property",
                line_with("\"first_name\",")
            )),
            "{err}"
        );
    }
}
