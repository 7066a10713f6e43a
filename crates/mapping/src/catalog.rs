//! HubSpot-side discovery: objects (standard + custom via the schemas API) and their properties
//! (properties API), cached per connection as JSON files in a folder the caller passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spoke_hubspot::{Client, Request};

use crate::error::{Error, Result};

/// HubSpot's property data types (`type` in the properties API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    String,
    Number,
    Date,
    Datetime,
    Enumeration,
    Bool,
    PhoneNumber,
    ObjectCoordinates,
    Json,
    /// A type this Spoke does not know; treated as text.
    #[serde(other)]
    Other,
}

impl PropertyType {
    pub fn parse(raw: &str) -> PropertyType {
        serde_json::from_value(serde_json::Value::String(raw.to_owned()))
            .unwrap_or(PropertyType::Other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Number => "number",
            PropertyType::Date => "date",
            PropertyType::Datetime => "datetime",
            PropertyType::Enumeration => "enumeration",
            PropertyType::Bool => "bool",
            PropertyType::PhoneNumber => "phone_number",
            PropertyType::ObjectCoordinates => "object_coordinates",
            PropertyType::Json => "json",
            PropertyType::Other => "other",
        }
    }

    /// Text-like types (search filters on these refuse null values).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            PropertyType::String | PropertyType::PhoneNumber | PropertyType::Other
        )
    }
}

/// One option of an enumeration property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct EnumOption {
    pub value: String,
    pub label: String,
    #[serde(default)]
    pub hidden: bool,
}

/// One HubSpot property, as discovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDef {
    /// Internal name (`dealstage`).
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub group_name: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    /// How HubSpot shows it (`text`, `select`, `checkbox`, `booleancheckbox`, `date`, …).
    #[serde(default)]
    pub field_type: String,
    #[serde(default)]
    pub options: Vec<EnumOption>,
    /// `modificationMetadata.readOnlyValue`: the value cannot be written through the API.
    #[serde(default)]
    pub read_only: bool,
    /// Computed by HubSpot (also never writable).
    #[serde(default)]
    pub calculated: bool,
    /// `hasUniqueValue`: may serve as a match key.
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub hubspot_defined: bool,
    /// Archived in HubSpot (still listed with `archived=true`).
    #[serde(default)]
    pub archived: bool,
    /// Known from an earlier discovery but no longer listed by HubSpot at all.
    #[serde(default)]
    pub removed: bool,
}

impl PropertyDef {
    /// A multiple-checkbox enumeration: values are `a;b;c`.
    pub fn is_multi(&self) -> bool {
        self.property_type == PropertyType::Enumeration && self.field_type == "checkbox"
    }

    /// Whether the value can be written back, and if not, why.
    pub fn write_refusal(&self) -> Option<String> {
        if self.calculated {
            Some(format!(
                "{} is calculated by HubSpot, so its value cannot be written",
                self.name
            ))
        } else if self.read_only {
            Some(format!(
                "{} is read-only in HubSpot (HubSpot sets its value)",
                self.name
            ))
        } else if self.property_type == PropertyType::ObjectCoordinates {
            Some(format!(
                "{} holds object coordinates, which HubSpot does not accept in writes",
                self.name
            ))
        } else {
            None
        }
    }

    /// Whether it exists and is usable now (not archived, not removed).
    pub fn is_live(&self) -> bool {
        !self.archived && !self.removed
    }

    pub fn has_option(&self, value: &str) -> bool {
        self.options.iter().any(|o| o.value == value)
    }
}

/// A property group (`contactinformation`: "Contact information").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroup {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub display_order: i32,
}

/// All properties of one object type, plus what the schema says about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCatalog {
    /// As requested (`contacts`, `2-3508482`, `p123_projects`).
    pub object_type: String,
    /// `0-1`, `2-3508482`, … when known.
    pub object_type_id: Option<String>,
    pub custom: bool,
    /// Properties HubSpot requires when creating a record (custom objects' schema).
    #[serde(default)]
    pub required_properties: Vec<String>,
    /// Sorted by name; includes archived and removed ones (flagged).
    pub properties: Vec<PropertyDef>,
    /// Property groups, in HubSpot's display order (properties name theirs in `groupName`).
    #[serde(default)]
    pub groups: Vec<PropertyGroup>,
    /// RFC 3339 time of the discovery.
    pub fetched_at: String,
}

impl ObjectCatalog {
    pub fn property(&self, name: &str) -> Option<&PropertyDef> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// Properties that exist now.
    pub fn live(&self) -> impl Iterator<Item = &PropertyDef> {
        self.properties.iter().filter(|p| p.is_live())
    }

    /// Whether this is the contacts object (its `email` is a match key without `hasUniqueValue`).
    pub fn is_contacts(&self) -> bool {
        self.object_type == "contacts"
            || self.object_type == "0-1"
            || self.object_type_id.as_deref() == Some("0-1")
    }

    /// Whether `name` may serve as a match key: `email` on contacts, or a unique-value property.
    pub fn is_key_candidate(&self, name: &str) -> bool {
        match self.property(name) {
            Some(p) if p.is_live() => {
                p.unique || (self.is_contacts() && p.name == "email") || p.name == "hs_object_id"
            }
            _ => false,
        }
    }

    /// Whether two catalogs name the same object (`contacts` and `0-1` do).
    pub fn names(&self, object: &str) -> bool {
        self.object_type == object
            || self.object_type_id.as_deref() == Some(object)
            || standard_id(object).is_some_and(|id| self.object_type_id.as_deref() == Some(id))
    }
}

/// An object type a mapping can target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSummary {
    /// The name to pass to [`discover_properties`] (`contacts`, or a custom object's `objectTypeId`).
    pub object_type: String,
    pub object_type_id: String,
    pub singular: String,
    pub plural: String,
    pub custom: bool,
    #[serde(default)]
    pub required_properties: Vec<String>,
    pub primary_display_property: Option<String>,
}

/// Every object type of a portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDirectory {
    pub objects: Vec<ObjectSummary>,
    /// Set when custom objects could not be listed (for example a missing schemas scope); the
    /// standard objects are still listed.
    pub custom_objects_unavailable: Option<String>,
    pub fetched_at: String,
}

/// HubSpot's standard CRM objects: (name, objectTypeId, singular, plural).
pub const STANDARD_OBJECTS: &[(&str, &str, &str, &str)] = &[
    ("contacts", "0-1", "Contact", "Contacts"),
    ("companies", "0-2", "Company", "Companies"),
    ("deals", "0-3", "Deal", "Deals"),
    ("tickets", "0-5", "Ticket", "Tickets"),
    ("products", "0-7", "Product", "Products"),
    ("line_items", "0-8", "Line item", "Line items"),
    ("quotes", "0-14", "Quote", "Quotes"),
    ("tasks", "0-27", "Task", "Tasks"),
    ("notes", "0-46", "Note", "Notes"),
    ("meetings", "0-47", "Meeting", "Meetings"),
    ("calls", "0-48", "Call", "Calls"),
    ("emails", "0-49", "Email", "Emails"),
];

fn standard_id(object: &str) -> Option<&'static str> {
    STANDARD_OBJECTS
        .iter()
        .find(|(name, id, ..)| *name == object || *id == object)
        .map(|(_, id, ..)| *id)
}

/// Object types end up in a path: allow only what HubSpot uses.
pub(crate) fn check_object_type(object_type: &str) -> Result<()> {
    let ok = !object_type.is_empty()
        && object_type.len() <= 100
        && object_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidObjectType {
            object_type: object_type.to_owned(),
        })
    }
}

// ---- HubSpot wire shapes (only what Spoke reads) ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawModification {
    #[serde(default)]
    read_only_value: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOption {
    value: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    hidden: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProperty {
    name: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(rename = "type", default)]
    property_type: String,
    #[serde(default)]
    field_type: String,
    #[serde(default)]
    options: Vec<RawOption>,
    #[serde(default)]
    calculated: bool,
    #[serde(default)]
    has_unique_value: bool,
    #[serde(default)]
    hubspot_defined: Option<bool>,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    modification_metadata: Option<RawModification>,
}

impl RawProperty {
    fn into_def(self) -> PropertyDef {
        PropertyDef {
            name: self.name,
            label: self.label,
            description: self.description.unwrap_or_default(),
            group_name: self.group_name.unwrap_or_default(),
            property_type: PropertyType::parse(&self.property_type),
            field_type: self.field_type,
            options: self
                .options
                .into_iter()
                .map(|o| EnumOption {
                    value: o.value,
                    label: o.label,
                    hidden: o.hidden,
                })
                .collect(),
            read_only: self
                .modification_metadata
                .is_some_and(|m| m.read_only_value),
            calculated: self.calculated,
            unique: self.has_unique_value,
            hubspot_defined: self.hubspot_defined.unwrap_or(false),
            archived: self.archived,
            removed: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGroup {
    name: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    display_order: Option<i32>,
    #[serde(default)]
    archived: bool,
}

#[derive(Debug, Deserialize)]
struct RawResults<T> {
    results: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct RawLabels {
    #[serde(default)]
    singular: Option<String>,
    #[serde(default)]
    plural: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSchema {
    name: String,
    object_type_id: String,
    labels: Option<RawLabels>,
    #[serde(default)]
    required_properties: Vec<String>,
    primary_display_property: Option<String>,
}

impl RawSchema {
    fn summary(self) -> ObjectSummary {
        let labels = self.labels.unwrap_or(RawLabels {
            singular: None,
            plural: None,
        });
        ObjectSummary {
            object_type: self.object_type_id.clone(),
            object_type_id: self.object_type_id,
            singular: labels.singular.unwrap_or_else(|| self.name.clone()),
            plural: labels.plural.unwrap_or_else(|| self.name.clone()),
            custom: true,
            required_properties: self.required_properties,
            primary_display_property: self.primary_display_property,
        }
    }
}

/// The schemas API path (HubSpot also answers `/crm/v3/schemas`; this is the documented one).
const SCHEMAS_PATH: &str = "/crm-object-schemas/v3/schemas";

// ---- cache ----

const CACHE_VERSION: u64 = 1;

#[derive(Serialize, Deserialize)]
struct CacheFile<T> {
    version: u64,
    data: T,
}

fn cache_path(dir: &Path, file: &str) -> PathBuf {
    dir.join(file)
}

fn read_cache<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Cache {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    match serde_json::from_str::<CacheFile<T>>(&text) {
        Ok(file) if file.version == CACHE_VERSION => Ok(Some(file.data)),
        // An unreadable or older cache is rebuilt, not an error.
        Ok(_) | Err(_) => {
            tracing::warn!(path = %path.display(), "ignoring an unreadable property cache; it will be rebuilt");
            Ok(None)
        }
    }
}

fn write_cache<T: Serialize>(path: &Path, data: &T) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| Error::Cache {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| err(&e))?;
    }
    let text = serde_json::to_string_pretty(&CacheFile {
        version: CACHE_VERSION,
        data,
    })
    .map_err(|e| err(&e))?;
    // Write then rename, so a crash never leaves half a cache.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("json.{}-{n}.tmp", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| err(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| err(&e))?;
    Ok(())
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// All properties of `object_type` (active and archived), with the object's required
/// properties for custom objects.
///
/// Served from `cache_dir/properties-{object_type}.json` unless `refresh` is set or there is no
/// cache yet. A refresh keeps properties that HubSpot no longer lists, flagged `removed`, so
/// mappings that use them are flagged instead of silently losing fields.
pub async fn discover_properties(
    client: &Client,
    object_type: &str,
    cache_dir: &Path,
    refresh: bool,
) -> Result<ObjectCatalog> {
    check_object_type(object_type)?;
    let path = cache_path(cache_dir, &format!("properties-{object_type}.json"));
    let previous: Option<ObjectCatalog> = read_cache(&path)?;
    if !refresh {
        if let Some(catalog) = previous {
            return Ok(catalog);
        }
    }
    let fresh = fetch_catalog(client, object_type)
        .await
        .map_err(|e| match e {
            // HubSpot answers 400 "Unable to infer object type from: …" (or 404) for unknown objects.
            Error::HubSpot(spoke_hubspot::Error::NotFound { .. }) => Error::UnknownObject {
                object_type: object_type.to_owned(),
            },
            Error::HubSpot(spoke_hubspot::Error::Api {
                status: 400,
                message: Some(m),
                ..
            }) if m.contains("object type") => Error::UnknownObject {
                object_type: object_type.to_owned(),
            },
            other => other,
        })?;
    let catalog = merge_removed(fresh, previous.as_ref());
    write_cache(&path, &catalog)?;
    Ok(catalog)
}

async fn fetch_catalog(client: &Client, object_type: &str) -> Result<ObjectCatalog> {
    let path = format!("/crm/v3/properties/{object_type}");
    let active: RawResults<RawProperty> = client.get(&path, &[("archived", "false")]).await?;
    let archived: RawResults<RawProperty> = client.get(&path, &[("archived", "true")]).await?;
    let mut properties: BTreeMap<String, PropertyDef> = BTreeMap::new();
    for raw in archived.results {
        let mut def = raw.into_def();
        def.archived = true;
        properties.insert(def.name.clone(), def);
    }
    for raw in active.results {
        let def = raw.into_def();
        properties.insert(def.name.clone(), def);
    }
    let groups: RawResults<RawGroup> = client.get(&format!("{path}/groups"), &[]).await?;
    let mut groups: Vec<PropertyGroup> = groups
        .results
        .into_iter()
        .filter(|g| !g.archived)
        .map(|g| PropertyGroup {
            name: g.name,
            label: g.label,
            display_order: g.display_order.unwrap_or(-1),
        })
        .collect();
    // HubSpot: lowest positive first, then -1.
    groups.sort_by_key(|g| (g.display_order < 0, g.display_order, g.name.clone()));
    let standard = standard_id(object_type);
    let (object_type_id, required_properties) = match standard {
        Some(id) => (Some(id.to_owned()), Vec::new()),
        None => {
            let schema: RawSchema = client
                .send(Request::get(format!("{SCHEMAS_PATH}/{object_type}")))
                .await?
                .json()?;
            (Some(schema.object_type_id), schema.required_properties)
        }
    };
    Ok(ObjectCatalog {
        object_type: object_type.to_owned(),
        object_type_id,
        custom: standard.is_none(),
        required_properties,
        properties: properties.into_values().collect(),
        groups,
        fetched_at: now_rfc3339(),
    })
}

/// Keeps what `previous` knew and HubSpot no longer lists, flagged `removed`.
fn merge_removed(mut fresh: ObjectCatalog, previous: Option<&ObjectCatalog>) -> ObjectCatalog {
    if let Some(previous) = previous {
        for old in &previous.properties {
            if fresh.property(&old.name).is_none() {
                let mut gone = old.clone();
                gone.removed = true;
                fresh.properties.push(gone);
            }
        }
        fresh.properties.sort_by(|a, b| a.name.cmp(&b.name));
    }
    fresh
}

/// The standard objects plus the portal's custom objects (schemas API), cached in
/// `cache_dir/objects.json`. A portal whose token may not read schemas still gets the standard
/// objects, with the reason in `custom_objects_unavailable` (and that partial list is not cached).
pub async fn discover_objects(
    client: &Client,
    cache_dir: &Path,
    refresh: bool,
) -> Result<ObjectDirectory> {
    let path = cache_path(cache_dir, "objects.json");
    if !refresh {
        if let Some(dir) = read_cache::<ObjectDirectory>(&path)? {
            return Ok(dir);
        }
    }
    let mut objects: Vec<ObjectSummary> = STANDARD_OBJECTS
        .iter()
        .map(|(name, id, singular, plural)| ObjectSummary {
            object_type: (*name).to_owned(),
            object_type_id: (*id).to_owned(),
            singular: (*singular).to_owned(),
            plural: (*plural).to_owned(),
            custom: false,
            required_properties: Vec::new(),
            primary_display_property: None,
        })
        .collect();
    let mut custom_objects_unavailable = None;
    match client.get::<RawResults<RawSchema>>(SCHEMAS_PATH, &[]).await {
        Ok(schemas) => {
            let mut custom: Vec<ObjectSummary> = schemas
                .results
                .into_iter()
                .map(RawSchema::summary)
                .collect();
            custom.sort_by(|a, b| a.object_type_id.cmp(&b.object_type_id));
            objects.extend(custom);
        }
        Err(
            e @ (spoke_hubspot::Error::MissingScopes { .. }
            | spoke_hubspot::Error::Forbidden { .. }),
        ) => {
            custom_objects_unavailable = Some(e.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    let dir = ObjectDirectory {
        objects,
        custom_objects_unavailable,
        fetched_at: now_rfc3339(),
    };
    // A partial list is not cached: once the scope is granted, the next call sees everything.
    if dir.custom_objects_unavailable.is_none() {
        write_cache(&path, &dir)?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: serde_json::Value) -> PropertyDef {
        serde_json::from_value::<RawProperty>(json)
            .unwrap()
            .into_def()
    }

    #[test]
    fn raw_property_maps_flags_from_hubspot_shape() {
        let p = raw(serde_json::json!({
            "name": "num_associated_deals", "label": "Number of Associated Deals", "type": "number",
            "fieldType": "number", "groupName": "sales_properties", "options": [], "calculated": true,
            "hasUniqueValue": false, "hubspotDefined": true,
            "modificationMetadata": {"archivable": false, "readOnlyDefinition": true, "readOnlyValue": true}
        }));
        assert_eq!(p.property_type, PropertyType::Number);
        assert!(p.read_only && p.calculated && p.hubspot_defined);
        assert!(p.write_refusal().unwrap().contains("calculated"));

        let q = raw(
            serde_json::json!({"name": "x", "label": "X", "type": "weird_new_type", "fieldType": "text", "options": []}),
        );
        assert_eq!(q.property_type, PropertyType::Other);
        assert!(q.write_refusal().is_none());
    }

    #[test]
    fn object_type_is_checked_before_it_reaches_a_path() {
        assert!(check_object_type("contacts").is_ok());
        assert!(check_object_type("2-3508482").is_ok());
        assert!(check_object_type("p123_cars").is_ok());
        assert!(matches!(
            check_object_type("../oauth"),
            Err(Error::InvalidObjectType { .. })
        ));
        assert!(check_object_type("").is_err());
    }

    #[test]
    fn refresh_keeps_vanished_properties_flagged_removed() {
        let prop = |name: &str| {
            raw(
                serde_json::json!({"name": name, "label": name, "type": "string", "fieldType": "text", "options": []}),
            )
        };
        let old = ObjectCatalog {
            object_type: "contacts".into(),
            object_type_id: Some("0-1".into()),
            custom: false,
            required_properties: vec![],
            properties: vec![prop("a"), prop("gone")],
            groups: vec![],
            fetched_at: String::new(),
        };
        let fresh = ObjectCatalog {
            properties: vec![prop("a"), prop("b")],
            ..old.clone()
        };
        let merged = merge_removed(fresh, Some(&old));
        let names: Vec<_> = merged
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.removed))
            .collect();
        assert_eq!(names, [("a", false), ("b", false), ("gone", true)]);
    }
}
