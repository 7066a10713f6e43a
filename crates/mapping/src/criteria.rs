//! Criteria in OpsHub's JSON format (`[{"condition":"EQUALS","field":"dealstage","value":"…"}]`)
//! compiled to HubSpot search `filterGroups`, with HubSpot's limits enforced at edit time, and
//! target lookups whose values name local columns as `@column@`.

use serde::{Deserialize, Serialize};

use crate::catalog::{ObjectCatalog, PropertyDef, PropertyType};
use crate::error::{Error, Result};
use crate::local::{LocalRow, LocalValue};
use crate::transform::{parse_number, to_date, to_datetime_in, utc};

/// A value in a criterion: text, a number, a boolean, or a list (for `IN`, `BETWEEN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(untagged)]
pub enum CriterionValue {
    Bool(bool),
    Integer(i64),
    Number(f64),
    Text(String),
    List(Vec<CriterionValue>),
}

impl CriterionValue {
    fn text(&self) -> Option<String> {
        match self {
            CriterionValue::Bool(b) => Some(b.to_string()),
            CriterionValue::Integer(i) => Some(i.to_string()),
            CriterionValue::Number(n) => Some(crate::local::format_real(*n)),
            CriterionValue::Text(s) => Some(s.clone()),
            CriterionValue::List(_) => None,
        }
    }
}

/// One condition, as OpsHub writes it. `value` may be a list for `IN` and `BETWEEN`;
/// HubSpot's own `values` and `highValue` are understood too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Criterion {
    /// `EQUALS`, `NOT_EQUALS`, `GREATER_THAN`, `GREATER_THAN_OR_EQUALS`, `LESS_THAN`,
    /// `LESS_THAN_OR_EQUALS`, `BETWEEN`, `NOT_BETWEEN`, `IN`, `NOT_IN`, `CONTAINS`,
    /// `NOT_CONTAINS`, `HAS_PROPERTY`, `NOT_HAS_PROPERTY` (HubSpot's `EQ`, `GT`, … work too).
    pub condition: String,
    /// The property's internal name.
    pub field: String,
    #[serde(default)]
    pub value: Option<CriterionValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_value: Option<CriterionValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<CriterionValue>>,
}

impl Criterion {
    pub fn new(
        condition: &str,
        field: &str,
        value: impl Into<Option<CriterionValue>>,
    ) -> Criterion {
        Criterion {
            condition: condition.to_owned(),
            field: field.to_owned(),
            value: value.into(),
            high_value: None,
            values: None,
        }
    }
}

impl From<&str> for CriterionValue {
    fn from(s: &str) -> Self {
        CriterionValue::Text(s.to_owned())
    }
}

/// HubSpot search operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

/// One HubSpot search filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// Filters ANDed together; groups are ORed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct FilterGroup {
    pub filters: Vec<Filter>,
}

/// HubSpot search limits, and how many filters per group the sync engine keeps for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_groups: usize,
    pub max_filters_per_group: usize,
    pub max_filters_total: usize,
    /// Filters per group kept for the engine (its `lastmodifieddate` / `hs_object_id` cursor).
    pub reserved_per_group: usize,
}

/// HubSpot: 5 filterGroups, 6 filters per group, 18 filters in all.
pub const HUBSPOT_LIMITS: Limits = Limits {
    max_groups: 5,
    max_filters_per_group: 6,
    max_filters_total: 18,
    reserved_per_group: 0,
};

/// Sync criteria keep 2 filters per group for the engine's cursor, as OpsHub does.
pub const CRITERIA_LIMITS: Limits = Limits {
    reserved_per_group: 2,
    ..HUBSPOT_LIMITS
};

/// Compiles sync criteria (all ANDed) to filterGroups, keeping [`CRITERIA_LIMITS`] room for the
/// engine. Every field is checked against the catalog and every value against the field's type.
pub fn compile_criteria(
    criteria: &[Criterion],
    catalog: &ObjectCatalog,
) -> Result<Vec<FilterGroup>> {
    compile_with_limits(criteria, catalog, CRITERIA_LIMITS)
}

/// Like [`compile_criteria`] with explicit limits.
pub fn compile_with_limits(
    criteria: &[Criterion],
    catalog: &ObjectCatalog,
    limits: Limits,
) -> Result<Vec<FilterGroup>> {
    // Each criterion is one filter, or (NOT_BETWEEN) a choice of two; groups are the product.
    let mut groups: Vec<Vec<Filter>> = vec![Vec::new()];
    for (index, criterion) in criteria.iter().enumerate() {
        let alternatives = compile_one(index, criterion, catalog)?;
        if alternatives.len() > 1 && groups.len() * alternatives.len() > limits.max_groups {
            return Err(Error::FilterLimit {
                what: "filter groups",
                needed: groups.len() * alternatives.len(),
                allowed: limits.max_groups,
                reserved: 0,
            });
        }
        groups = groups
            .into_iter()
            .flat_map(|g| {
                alternatives.iter().map(move |alt| {
                    let mut next = g.clone();
                    next.push(alt.clone());
                    next
                })
            })
            .collect();
    }
    if criteria.is_empty() {
        return Ok(Vec::new());
    }
    let allowed_per_group = limits
        .max_filters_per_group
        .saturating_sub(limits.reserved_per_group);
    let per_group = groups.iter().map(Vec::len).max().unwrap_or(0);
    if per_group > allowed_per_group {
        return Err(Error::FilterLimit {
            what: "filters in one group",
            needed: per_group,
            allowed: allowed_per_group,
            reserved: limits.reserved_per_group,
        });
    }
    let reserved_total = limits.reserved_per_group * groups.len();
    let total: usize = groups.iter().map(Vec::len).sum();
    let allowed_total = limits.max_filters_total.saturating_sub(reserved_total);
    if total > allowed_total {
        return Err(Error::FilterLimit {
            what: "filters in all",
            needed: total,
            allowed: allowed_total,
            reserved: reserved_total,
        });
    }
    Ok(groups
        .into_iter()
        .map(|filters| FilterGroup { filters })
        .collect())
}

/// Adds the sync engine's own filters (its cursor) to every group of compiled criteria; with no
/// criteria, they form the only group. Refuses more filters than [`CRITERIA_LIMITS`] keeps free.
pub fn with_engine_filters(groups: &[FilterGroup], engine: &[Filter]) -> Result<Vec<FilterGroup>> {
    if engine.len() > CRITERIA_LIMITS.reserved_per_group {
        return Err(Error::FilterLimit {
            what: "engine filters in one group",
            needed: engine.len(),
            allowed: CRITERIA_LIMITS.reserved_per_group,
            reserved: CRITERIA_LIMITS.reserved_per_group,
        });
    }
    if groups.is_empty() {
        return Ok(if engine.is_empty() {
            Vec::new()
        } else {
            vec![FilterGroup {
                filters: engine.to_vec(),
            }]
        });
    }
    Ok(groups
        .iter()
        .map(|g| FilterGroup {
            filters: g.filters.iter().chain(engine).cloned().collect(),
        })
        .collect())
}

/// Operator (or NOT_BETWEEN) from OpsHub's or HubSpot's spelling.
fn parse_condition(raw: &str) -> Option<Result<Operator, ()>> {
    let c = raw.trim().to_ascii_uppercase().replace([' ', '-'], "_");
    Some(Ok(match c.as_str() {
        "EQUALS" | "EQUAL" | "EQ" => Operator::Eq,
        "NOT_EQUALS" | "NOT_EQUAL" | "NEQ" => Operator::Neq,
        "GREATER_THAN" | "GT" => Operator::Gt,
        "GREATER_THAN_OR_EQUALS" | "GREATER_THAN_OR_EQUAL" | "GREATER_THAN_EQUALS" | "GTE" => {
            Operator::Gte
        }
        "LESS_THAN" | "LT" => Operator::Lt,
        "LESS_THAN_OR_EQUALS" | "LESS_THAN_OR_EQUAL" | "LESS_THAN_EQUALS" | "LTE" => Operator::Lte,
        "BETWEEN" => Operator::Between,
        "NOT_BETWEEN" => return Some(Err(())),
        "IN" => Operator::In,
        "NOT_IN" => Operator::NotIn,
        "CONTAINS" | "CONTAINS_TOKEN" => Operator::ContainsToken,
        "NOT_CONTAINS" | "NOT_CONTAINS_TOKEN" => Operator::NotContainsToken,
        "HAS_PROPERTY" | "IS_NOT_EMPTY" | "IS_NOT_NULL" => Operator::HasProperty,
        "NOT_HAS_PROPERTY" | "IS_EMPTY" | "IS_NULL" => Operator::NotHasProperty,
        _ => return None,
    }))
}

fn compile_one(index: usize, c: &Criterion, catalog: &ObjectCatalog) -> Result<Vec<Filter>> {
    let fail = |reason: String| Error::Criterion {
        index,
        field: c.field.clone(),
        reason,
    };
    let op = parse_condition(&c.condition).ok_or_else(|| {
        fail(format!("{:?} is not a condition this Spoke knows (use EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN, BETWEEN, IN, NOT_IN, CONTAINS, HAS_PROPERTY, NOT_HAS_PROPERTY, …)", c.condition))
    })?;
    let prop = match catalog.property(&c.field) {
        Some(p) if p.is_live() => p,
        Some(p) => {
            return Err(fail(format!(
                "{} {} in HubSpot",
                p.name,
                if p.removed {
                    "was deleted"
                } else {
                    "is archived"
                }
            )))
        }
        None => {
            return Err(fail(format!(
                "{} has no property {:?}",
                catalog.object_type, c.field
            )))
        }
    };
    let base = |operator: Operator| Filter {
        property_name: prop.name.clone(),
        operator,
        value: None,
        high_value: None,
        values: None,
    };
    let Ok(op) = op else {
        // NOT_BETWEEN: below the low value, or above the high one (two groups).
        let (low, high) = range(c).map_err(&fail)?;
        let (low, high) = (
            normalize(prop, &low, false).map_err(&fail)?,
            normalize(prop, &high, false).map_err(&fail)?,
        );
        ordered_check(prop, &low, &high).map_err(&fail)?;
        return Ok(vec![
            Filter {
                value: Some(low),
                ..base(Operator::Lt)
            },
            Filter {
                value: Some(high),
                ..base(Operator::Gt)
            },
        ]);
    };
    let ordered = matches!(
        op,
        Operator::Lt | Operator::Lte | Operator::Gt | Operator::Gte | Operator::Between
    );
    if ordered
        && !matches!(
            prop.property_type,
            PropertyType::Number | PropertyType::Date | PropertyType::Datetime
        )
    {
        return Err(fail(format!(
            "{} compares numbers and dates, but {} is {}",
            c.condition,
            prop.name,
            type_words(prop)
        )));
    }
    if matches!(op, Operator::ContainsToken | Operator::NotContainsToken)
        && !prop.property_type.is_text()
    {
        return Err(fail(format!(
            "{} searches words in text, but {} is {}",
            c.condition,
            prop.name,
            type_words(prop)
        )));
    }
    let filter = match op {
        Operator::HasProperty | Operator::NotHasProperty => base(op),
        Operator::Between => {
            let (low, high) = range(c).map_err(&fail)?;
            let (low, high) = (
                normalize(prop, &low, false).map_err(&fail)?,
                normalize(prop, &high, false).map_err(&fail)?,
            );
            ordered_check(prop, &low, &high).map_err(&fail)?;
            Filter {
                value: Some(low),
                high_value: Some(high),
                ..base(op)
            }
        }
        Operator::In | Operator::NotIn => {
            let items = match (&c.values, &c.value) {
                (Some(v), _) => v.clone(),
                (None, Some(CriterionValue::List(v))) => v.clone(),
                (None, Some(single)) => vec![single.clone()],
                (None, None) => Vec::new(),
            };
            if items.is_empty() {
                return Err(fail(format!("{} needs a list of values", c.condition)));
            }
            let mut values = Vec::with_capacity(items.len());
            for item in &items {
                let text = item
                    .text()
                    .ok_or_else(|| fail("a list inside a list is not a value".to_owned()))?;
                let value = normalize(prop, &text, true).map_err(&fail)?;
                // HubSpot matches IN / NOT_IN on text properties only against lowercase values.
                values.push(if prop.property_type.is_text() {
                    value.to_lowercase()
                } else {
                    value
                });
            }
            Filter {
                values: Some(values),
                ..base(op)
            }
        }
        _ => {
            let text = match &c.value {
                None => return Err(fail(null_reason(prop, &c.condition))),
                Some(CriterionValue::List(_)) => {
                    return Err(fail(format!(
                        "{} takes one value, not a list (use IN for several)",
                        c.condition
                    )))
                }
                Some(v) => v.text().unwrap_or_default(),
            };
            if text.is_empty() {
                return Err(fail(null_reason(prop, &c.condition)));
            }
            let tokenish = matches!(op, Operator::ContainsToken | Operator::NotContainsToken);
            let value = if tokenish {
                text
            } else {
                normalize(prop, &text, matches!(op, Operator::Eq | Operator::Neq)).map_err(&fail)?
            };
            Filter {
                value: Some(value),
                ..base(op)
            }
        }
    };
    Ok(vec![filter])
}

fn null_reason(prop: &PropertyDef, condition: &str) -> String {
    if prop.property_type.is_text() {
        format!(
            "{condition} on the text field {} needs a value: HubSpot search does not run a text filter whose value is null. To find records where {} is empty, use NOT_HAS_PROPERTY",
            prop.name, prop.name
        )
    } else {
        format!("{condition} on {} needs a value; to find records where it is empty, use NOT_HAS_PROPERTY", prop.name)
    }
}

fn type_words(prop: &PropertyDef) -> &'static str {
    match prop.property_type {
        PropertyType::String | PropertyType::PhoneNumber | PropertyType::Other => "text",
        PropertyType::Number => "a number",
        PropertyType::Date => "a date",
        PropertyType::Datetime => "a date-time",
        PropertyType::Enumeration => "a choice list",
        PropertyType::Bool => "a yes/no field",
        PropertyType::Json | PropertyType::ObjectCoordinates => "structured data",
    }
}

fn range(c: &Criterion) -> Result<(String, String), String> {
    let pair = match (&c.value, &c.high_value, &c.values) {
        (Some(CriterionValue::List(v)), None, _) if v.len() == 2 => (v[0].text(), v[1].text()),
        (Some(low), Some(high), _) => (low.text(), high.text()),
        (None, None, Some(v)) if v.len() == 2 => (v[0].text(), v[1].text()),
        _ => {
            return Err(format!(
                "{} needs a low and a high value: \"value\": [low, high]",
                c.condition
            ))
        }
    };
    match pair {
        (Some(low), Some(high)) if !low.is_empty() && !high.is_empty() => Ok((low, high)),
        _ => Err(format!("{} needs a low and a high value", c.condition)),
    }
}

fn ordered_check(prop: &PropertyDef, low: &str, high: &str) -> Result<(), String> {
    let (a, b) = (low.parse::<f64>(), high.parse::<f64>());
    match (a, b) {
        (Ok(a), Ok(b)) if a > b => Err(format!(
            "the low value of the range on {} is above the high value",
            prop.name
        )),
        _ => Ok(()),
    }
}

/// Checks `text` against the property's type and returns HubSpot's form: numbers as decimal
/// text, dates and date-times as epoch milliseconds, booleans as `true`/`false`, enumeration
/// labels as their internal values.
fn normalize(prop: &PropertyDef, text: &str, enum_exact: bool) -> Result<String, String> {
    let t = text.trim();
    match prop.property_type {
        PropertyType::Number => match parse_number(t) {
            Some(v) => Ok(v.as_text().unwrap_or_default()),
            None => Err(format!(
                "'{t}' is not a number, but {} is a number property",
                prop.name
            )),
        },
        PropertyType::Date => to_date(&LocalValue::Text(t.to_owned()))
            .map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                    .timestamp_millis()
                    .to_string()
            })
            .map_err(|_| format!("'{t}' is not a date (use YYYY-MM-DD) for {}", prop.name)),
        PropertyType::Datetime => to_datetime_in(&LocalValue::Text(t.to_owned()), &utc())
            .map(|dt| dt.timestamp_millis().to_string())
            .map_err(|_| {
                format!(
                    "'{t}' is not a date-time (use 2025-06-15T03:00:29.864Z) for {}",
                    prop.name
                )
            }),
        PropertyType::Bool => crate::transform::to_bool(&LocalValue::Text(t.to_owned()))
            .map(|b| b.to_string())
            .map_err(|_| {
                format!(
                    "'{t}' is not true or false, but {} is a yes/no field",
                    prop.name
                )
            }),
        PropertyType::Enumeration if enum_exact && !prop.options.is_empty() => {
            if prop.has_option(t) {
                return Ok(t.to_owned());
            }
            if let Some(o) = prop
                .options
                .iter()
                .find(|o| o.value.eq_ignore_ascii_case(t) || o.label.eq_ignore_ascii_case(t))
            {
                return Ok(o.value.clone());
            }
            let known: Vec<&str> = prop
                .options
                .iter()
                .take(8)
                .map(|o| o.value.as_str())
                .collect();
            Err(format!(
                "'{t}' is not an option of {} (options: {}{})",
                prop.name,
                known.join(", "),
                if prop.options.len() > 8 { ", …" } else { "" }
            ))
        }
        _ => Ok(t.to_owned()),
    }
}

/// Replaces `@column@` placeholders in a target lookup with the row's values (a placeholder may
/// stand alone or inside text). An empty value is refused: HubSpot would not run the search.
pub fn resolve_lookup(criteria: &[Criterion], row: &LocalRow) -> Result<Vec<Criterion>> {
    let resolve_text = |s: &str| -> Result<String> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find('@') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('@') else { break };
            let column = &after[..end];
            let plausible = !column.is_empty()
                && column
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '));
            if !plausible {
                out.push_str(&rest[..start + 1]);
                rest = after;
                continue;
            }
            let value = row
                .get(column)
                .and_then(LocalValue::as_text)
                .filter(|v| !v.trim().is_empty());
            let value = value.ok_or_else(|| Error::LookupValueMissing {
                column: column.to_owned(),
            })?;
            out.push_str(&rest[..start]);
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    };
    let resolve_value = |v: &CriterionValue| -> Result<CriterionValue> {
        Ok(match v {
            CriterionValue::Text(s) => CriterionValue::Text(resolve_text(s)?),
            CriterionValue::List(items) => CriterionValue::List(
                items
                    .iter()
                    .map(|i| match i {
                        CriterionValue::Text(s) => resolve_text(s).map(CriterionValue::Text),
                        other => Ok(other.clone()),
                    })
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    };
    criteria
        .iter()
        .map(|c| {
            Ok(Criterion {
                condition: c.condition.clone(),
                field: c.field.clone(),
                value: c.value.as_ref().map(resolve_value).transpose()?,
                high_value: c.high_value.as_ref().map(resolve_value).transpose()?,
                values: c
                    .values
                    .as_ref()
                    .map(|vs| vs.iter().map(resolve_value).collect::<Result<Vec<_>>>())
                    .transpose()?,
            })
        })
        .collect()
}

/// The columns a target lookup reads (`@column@` placeholders).
pub fn lookup_columns(criteria: &[Criterion]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut scan = |s: &str| {
        let parts: Vec<&str> = s.split('@').collect();
        for (i, part) in parts.iter().enumerate() {
            if i % 2 == 1
                && i + 1 < parts.len()
                && !part.is_empty()
                && !out.iter().any(|o| o == part)
            {
                out.push((*part).to_owned());
            }
        }
    };
    for c in criteria {
        for v in c
            .value
            .iter()
            .chain(c.high_value.iter())
            .chain(c.values.iter().flatten())
        {
            match v {
                CriterionValue::Text(s) => scan(s),
                CriterionValue::List(items) => items
                    .iter()
                    .filter_map(|i| {
                        if let CriterionValue::Text(s) = i {
                            Some(s)
                        } else {
                            None
                        }
                    })
                    .for_each(|s| scan(s)),
                _ => {}
            }
        }
    }
    out
}

/// Resolves a target lookup against a local row and compiles it (all of HubSpot's filters are
/// available: a lookup is a one-off search, not the engine's cursor).
pub fn compile_lookup(
    criteria: &[Criterion],
    catalog: &ObjectCatalog,
    row: &LocalRow,
) -> Result<Vec<FilterGroup>> {
    let resolved = resolve_lookup(criteria, row)?;
    compile_with_limits(&resolved, catalog, HUBSPOT_LIMITS)
}

/// Whether a record's properties pass compiled filter groups (an approximation of HubSpot's
/// search, for previews; no groups = everything passes).
pub fn matches(
    groups: &[FilterGroup],
    catalog: &ObjectCatalog,
    properties: &std::collections::BTreeMap<String, Option<String>>,
) -> bool {
    if groups.is_empty() {
        return true;
    }
    groups.iter().any(|g| {
        g.filters
            .iter()
            .all(|f| filter_matches(f, catalog, properties))
    })
}

fn filter_matches(
    f: &Filter,
    catalog: &ObjectCatalog,
    properties: &std::collections::BTreeMap<String, Option<String>>,
) -> bool {
    let raw = properties
        .get(&f.property_name)
        .cloned()
        .flatten()
        .filter(|v| !v.is_empty());
    let ptype = catalog
        .property(&f.property_name)
        .map(|p| p.property_type)
        .unwrap_or(PropertyType::String);
    let numeric = |s: &str| -> Option<f64> {
        match ptype {
            PropertyType::Date | PropertyType::Datetime => {
                to_datetime_in(&LocalValue::Text(s.to_owned()), &utc())
                    .ok()
                    .map(|d| d.timestamp_millis() as f64)
            }
            _ => s.trim().parse::<f64>().ok(),
        }
    };
    let eq = |v: &str, want: &str| -> bool {
        match ptype {
            PropertyType::Number | PropertyType::Date | PropertyType::Datetime => {
                numeric(v).zip(numeric(want)).is_some_and(|(a, b)| a == b)
            }
            PropertyType::Enumeration => v.split(';').any(|p| p.eq_ignore_ascii_case(want)),
            _ => v.eq_ignore_ascii_case(want),
        }
    };
    let cmp = |v: &str, want: &Option<String>| numeric(v).zip(want.as_deref().and_then(numeric));
    match (f.operator, raw.as_deref()) {
        (Operator::HasProperty, v) => v.is_some(),
        (Operator::NotHasProperty, v) => v.is_none(),
        (Operator::Neq, None) | (Operator::NotIn, None) | (Operator::NotContainsToken, None) => {
            true
        }
        (_, None) => false,
        (Operator::Eq, Some(v)) => f.value.as_deref().is_some_and(|w| eq(v, w)),
        (Operator::Neq, Some(v)) => !f.value.as_deref().is_some_and(|w| eq(v, w)),
        (Operator::In, Some(v)) => f.values.iter().flatten().any(|w| eq(v, w)),
        (Operator::NotIn, Some(v)) => !f.values.iter().flatten().any(|w| eq(v, w)),
        (Operator::Lt, Some(v)) => cmp(v, &f.value).is_some_and(|(a, b)| a < b),
        (Operator::Lte, Some(v)) => cmp(v, &f.value).is_some_and(|(a, b)| a <= b),
        (Operator::Gt, Some(v)) => cmp(v, &f.value).is_some_and(|(a, b)| a > b),
        (Operator::Gte, Some(v)) => cmp(v, &f.value).is_some_and(|(a, b)| a >= b),
        (Operator::Between, Some(v)) => cmp(v, &f.value)
            .zip(cmp(v, &f.high_value))
            .is_some_and(|((a, lo), (_, hi))| a >= lo && a <= hi),
        (Operator::ContainsToken, Some(v)) => {
            f.value.as_deref().is_some_and(|w| contains_token(v, w))
        }
        (Operator::NotContainsToken, Some(v)) => {
            !f.value.as_deref().is_some_and(|w| contains_token(v, w))
        }
    }
}

fn contains_token(v: &str, needle: &str) -> bool {
    let n = needle.trim_matches('*').to_lowercase();
    let v = v.to_lowercase();
    if needle.contains('*') {
        return v.contains(&n);
    }
    v == n || v.split(|c: char| !c.is_alphanumeric()).any(|t| t == n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{EnumOption, PropertyDef};

    fn prop(name: &str, t: PropertyType) -> PropertyDef {
        PropertyDef {
            name: name.into(),
            label: name.into(),
            description: String::new(),
            group_name: String::new(),
            property_type: t,
            field_type: String::new(),
            options: vec![],
            read_only: false,
            calculated: false,
            unique: false,
            hubspot_defined: true,
            archived: false,
            removed: false,
        }
    }

    pub(crate) fn deals() -> ObjectCatalog {
        let mut stage = prop("dealstage", PropertyType::Enumeration);
        stage.options = vec![
            EnumOption {
                value: "appointmentscheduled".into(),
                label: "Appointment Scheduled".into(),
                hidden: false,
            },
            EnumOption {
                value: "closedwon".into(),
                label: "Closed Won".into(),
                hidden: false,
            },
        ];
        let mut old = prop("legacy_code", PropertyType::String);
        old.archived = true;
        ObjectCatalog {
            object_type: "deals".into(),
            object_type_id: Some("0-3".into()),
            custom: false,
            required_properties: vec![],
            properties: vec![
                prop("amount", PropertyType::Number),
                prop("createdate", PropertyType::Datetime),
                prop("closedate", PropertyType::Date),
                prop("dealname", PropertyType::String),
                stage,
                prop("description", PropertyType::String),
                old,
            ],
            groups: vec![],
            fetched_at: String::new(),
        }
    }

    fn parse(json: &str) -> Vec<Criterion> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn opshub_samples_compile_to_hubspot_filter_groups() {
        let groups = compile_criteria(
            &parse(
                r#"[{"condition":"EQUALS","field":"dealstage","value":"appointmentscheduled"}]"#,
            ),
            &deals(),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&groups).unwrap(),
            serde_json::json!([{"filters":[{"propertyName":"dealstage","operator":"EQ","value":"appointmentscheduled"}]}])
        );
        let groups = compile_criteria(&parse(r#"[{"condition":"GREATER_THAN","field":"createdate","value":"2025-06-15T03:00:29.864Z"}]"#), &deals()).unwrap();
        assert_eq!(groups[0].filters[0].operator, Operator::Gt);
        assert_eq!(groups[0].filters[0].value.as_deref(), Some("1749956429864"));
        let groups = compile_criteria(
            &parse(r#"[{"condition":"EQUALS","field":"dealname","value":"new"}]"#),
            &deals(),
        )
        .unwrap();
        assert_eq!(groups[0].filters[0].value.as_deref(), Some("new"));
    }

    #[test]
    fn every_condition_maps_to_its_operator() {
        let c = parse(
            r#"[{"condition":"NOT_EQUALS","field":"dealname","value":"x"},
                {"condition":"BETWEEN","field":"amount","value":[10, 20]},
                {"condition":"IN","field":"dealstage","value":["Closed Won","appointmentscheduled"]}]"#,
        );
        let g = compile_criteria(&c, &deals()).unwrap();
        assert_eq!(g.len(), 1);
        let f = &g[0].filters;
        assert_eq!(f[0].operator, Operator::Neq);
        assert_eq!(
            (
                f[1].operator,
                f[1].value.as_deref(),
                f[1].high_value.as_deref()
            ),
            (Operator::Between, Some("10"), Some("20"))
        );
        // Labels become internal values.
        assert_eq!(
            f[2].values.as_deref().unwrap(),
            ["closedwon", "appointmentscheduled"]
        );

        let c = parse(
            r#"[{"condition":"CONTAINS","field":"dealname","value":"acme"},
                {"condition":"NOT_HAS_PROPERTY","field":"description"},
                {"condition":"LESS_THAN_OR_EQUALS","field":"closedate","value":"2025-01-31"}]"#,
        );
        let f = &compile_criteria(&c, &deals()).unwrap()[0].filters;
        assert_eq!(f[0].operator, Operator::ContainsToken);
        assert_eq!(f[1].operator, Operator::NotHasProperty);
        assert_eq!(f[1].value, None);
        assert_eq!(
            (f[2].operator, f[2].value.as_deref()),
            (Operator::Lte, Some("1738281600000"))
        );
    }

    #[test]
    fn in_on_text_is_lowercased_and_engine_filters_join_every_group() {
        let c = parse(
            r#"[{"condition":"IN","field":"dealname","values":["Acme Renewal","BIG deal"]},{"condition":"NOT_BETWEEN","field":"amount","value":[1,2]}]"#,
        );
        let g = compile_criteria(&c, &deals()).unwrap();
        assert_eq!(
            g[0].filters[0].values.as_deref().unwrap(),
            ["acme renewal", "big deal"]
        );
        let cursor = Filter {
            property_name: "hs_lastmodifieddate".into(),
            operator: Operator::Gte,
            value: Some("0".into()),
            high_value: None,
            values: None,
        };
        let merged = with_engine_filters(&g, &[cursor.clone(), cursor.clone()]).unwrap();
        assert!(merged
            .iter()
            .all(|m| m.filters.len() == 4 && m.filters[2] == cursor));
        assert!(matches!(
            with_engine_filters(&g, &[cursor.clone(), cursor.clone(), cursor.clone()]),
            Err(Error::FilterLimit { .. })
        ));
        assert_eq!(
            with_engine_filters(&[], std::slice::from_ref(&cursor)).unwrap(),
            vec![FilterGroup {
                filters: vec![cursor]
            }]
        );
        assert_eq!(with_engine_filters(&[], &[]).unwrap(), vec![]);
    }

    #[test]
    fn not_between_becomes_two_groups() {
        let c = parse(
            r#"[{"condition":"EQUALS","field":"dealname","value":"x"},{"condition":"NOT_BETWEEN","field":"amount","value":[10,20]}]"#,
        );
        let g = compile_criteria(&c, &deals()).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].filters[1].operator, Operator::Lt);
        assert_eq!(g[1].filters[1].operator, Operator::Gt);
        assert_eq!(g[1].filters[0].property_name, "dealname");
    }

    #[test]
    fn limits_leave_room_for_the_engine() {
        let one = r#"{"condition":"HAS_PROPERTY","field":"dealname"}"#;
        let four = parse(&format!("[{}]", [one; 4].join(",")));
        assert_eq!(
            compile_criteria(&four, &deals()).unwrap()[0].filters.len(),
            4
        );
        let five = parse(&format!("[{}]", [one; 5].join(",")));
        let err = compile_criteria(&five, &deals()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::FilterLimit {
                    needed: 5,
                    allowed: 4,
                    reserved: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("kept for the sync engine"));
        // A lookup has HubSpot's full 6.
        assert!(compile_with_limits(&five, &deals(), HUBSPOT_LIMITS).is_ok());

        // 3 NOT_BETWEENs = 8 groups > 5.
        let nb = r#"{"condition":"NOT_BETWEEN","field":"amount","value":[1,2]}"#;
        let three = parse(&format!("[{}]", [nb; 3].join(",")));
        assert!(matches!(
            compile_criteria(&three, &deals()).unwrap_err(),
            Error::FilterLimit {
                what: "filter groups",
                needed: 8,
                ..
            }
        ));
        // 2 NOT_BETWEENs = 4 groups x 2 filters = 8 + 4 x 2 reserved = 16 ≤ 18; with 2 more filters, 16 + 8 = 24 > 18.
        let two = parse(&format!("[{nb},{nb}]"));
        assert_eq!(compile_criteria(&two, &deals()).unwrap().len(), 4);
        let two_more = parse(&format!("[{nb},{nb},{one}]"));
        assert!(matches!(
            compile_criteria(&two_more, &deals()).unwrap_err(),
            Error::FilterLimit {
                what: "filters in all",
                needed: 12,
                allowed: 10,
                ..
            }
        ));
    }

    #[test]
    fn bad_criteria_are_refused_with_the_reason() {
        let err = |json: &str| {
            compile_criteria(&parse(json), &deals())
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(r#"[{"condition":"EQUALS","field":"dealname","value":null}]"#)
                .contains("NOT_HAS_PROPERTY")
        );
        assert!(
            err(r#"[{"condition":"EQUALS","field":"dealname","value":null}]"#)
                .contains("text filter whose value is null")
        );
        assert!(
            err(r#"[{"condition":"EQUALS","field":"nope","value":"x"}]"#)
                .contains("has no property")
        );
        assert!(
            err(r#"[{"condition":"EQUALS","field":"legacy_code","value":"x"}]"#)
                .contains("archived")
        );
        assert!(
            err(r#"[{"condition":"LIKE","field":"dealname","value":"x"}]"#)
                .contains("not a condition")
        );
        assert!(
            err(r#"[{"condition":"GREATER_THAN","field":"amount","value":"12;3"}]"#)
                .contains("'12;3' is not a number")
        );
        assert!(
            err(r#"[{"condition":"GREATER_THAN","field":"dealname","value":"a"}]"#)
                .contains("compares numbers and dates")
        );
        assert!(
            err(r#"[{"condition":"EQUALS","field":"dealstage","value":"lost"}]"#)
                .contains("not an option of dealstage")
        );
        assert!(
            err(r#"[{"condition":"BETWEEN","field":"amount","value":[20,10]}]"#)
                .contains("above the high value")
        );
        assert!(
            err(r#"[{"condition":"BETWEEN","field":"amount","value":5}]"#)
                .contains("low and a high")
        );
        assert!(
            err(r#"[{"condition":"IN","field":"dealname","value":[]}]"#).contains("list of values")
        );
        assert!(
            err(r#"[{"condition":"CONTAINS","field":"amount","value":"1"}]"#)
                .contains("words in text")
        );
    }

    #[test]
    fn target_lookup_placeholders_resolve_from_the_row() {
        let lookup = parse(
            r#"[{"condition":"EQUALS","field":"description","value":"@oh_internal_id@"},{"condition":"EQUALS","field":"dealname","value":"Deal @name@ (@region@)"}]"#,
        );
        assert_eq!(
            lookup_columns(&lookup),
            ["oh_internal_id", "name", "region"]
        );
        let row: LocalRow = [
            ("oh_internal_id".to_owned(), LocalValue::Integer(42)),
            ("name".to_owned(), LocalValue::Text("Acme".into())),
            ("region".to_owned(), LocalValue::Text("EU".into())),
        ]
        .into();
        let g = compile_lookup(&lookup, &deals(), &row).unwrap();
        assert_eq!(g[0].filters[0].value.as_deref(), Some("42"));
        assert_eq!(g[0].filters[1].value.as_deref(), Some("Deal Acme (EU)"));
        let mut empty = row.clone();
        empty.insert("region".into(), LocalValue::Null);
        assert!(
            matches!(compile_lookup(&lookup, &deals(), &empty), Err(Error::LookupValueMissing { column }) if column == "region")
        );
        // An email address is not a placeholder.
        let email = parse(r#"[{"condition":"EQUALS","field":"dealname","value":"a@b.com"}]"#);
        assert_eq!(resolve_lookup(&email, &row).unwrap(), email);
    }

    #[test]
    fn compiled_filters_evaluate_locally_for_previews() {
        let c = parse(
            r#"[{"condition":"EQUALS","field":"dealstage","value":"closedwon"},{"condition":"GREATER_THAN","field":"amount","value":100}]"#,
        );
        let g = compile_criteria(&c, &deals()).unwrap();
        let props =
            |stage: &str, amount: &str| -> std::collections::BTreeMap<String, Option<String>> {
                [
                    ("dealstage".to_owned(), Some(stage.to_owned())),
                    ("amount".to_owned(), Some(amount.to_owned())),
                ]
                .into()
            };
        assert!(matches(&g, &deals(), &props("closedwon", "150")));
        assert!(!matches(&g, &deals(), &props("closedwon", "50")));
        assert!(!matches(
            &g,
            &deals(),
            &props("appointmentscheduled", "150")
        ));
        assert!(matches(&[], &deals(), &props("x", "1")));
    }
}
