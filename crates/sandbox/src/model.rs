//! The in-memory portal: object types, property definitions, compact records, associations.
//!
//! Designed for a million contacts: a record is a 40-byte header plus one boxed byte slice that
//! packs its property values (`[u16 key][u16 len][utf-8 bytes]…`), so a typical contact costs
//! about 300 bytes. Timestamps and ids are integers; `hs_object_id`, `createdate`/
//! `hs_createdate` and `lastmodifieddate`/`hs_lastmodifieddate` are derived from the header.
//! Records live in a `BTreeMap` per type (id order = list order, `after` = id cursor); unique
//! values (contact `email`, `hasUniqueValue` properties) have a hash index.

use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PType {
    String,
    Number,
    Date,
    DateTime,
    Enumeration,
    Bool,
    PhoneNumber,
}

impl PType {
    pub fn as_str(self) -> &'static str {
        match self {
            PType::String => "string",
            PType::Number => "number",
            PType::Date => "date",
            PType::DateTime => "datetime",
            PType::Enumeration => "enumeration",
            PType::Bool => "bool",
            PType::PhoneNumber => "phone_number",
        }
    }
    pub fn parse(s: &str) -> Option<PType> {
        Some(match s {
            "string" => PType::String,
            "number" => PType::Number,
            "date" => PType::Date,
            "datetime" => PType::DateTime,
            "enumeration" => PType::Enumeration,
            "bool" => PType::Bool,
            "phone_number" => PType::PhoneNumber,
            _ => return None,
        })
    }
    /// Whether values compare numerically (numbers, and dates as epoch ms) in search.
    pub fn numeric(self) -> bool {
        matches!(self, PType::Number | PType::Date | PType::DateTime)
    }
}

#[derive(Debug, Clone)]
pub struct OptionDef {
    pub label: String,
    pub value: String,
    pub display_order: i32,
    pub hidden: bool,
    pub description: String,
}

/// Which header field a derived property reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    Stored,
    Id,
    Created,
    Modified,
}

#[derive(Debug, Clone)]
pub struct PropDef {
    pub name: String,
    pub label: String,
    pub ptype: PType,
    pub field_type: String,
    pub group: String,
    pub description: String,
    pub options: Vec<OptionDef>,
    pub calculated: bool,
    pub read_only: bool,
    pub hubspot_defined: bool,
    pub unique: bool,
    pub display_order: i32,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub archived: bool,
    pub derived: Derived,
    pub number_hint: Option<&'static str>,
}

impl PropDef {
    pub fn new(name: &str, label: &str, ptype: PType, group: &str) -> Self {
        let field_type = match ptype {
            PType::String => "text",
            PType::Number => "number",
            PType::Date | PType::DateTime => "date",
            PType::Enumeration => "select",
            PType::Bool => "booleancheckbox",
            PType::PhoneNumber => "phonenumber",
        };
        PropDef {
            name: name.into(),
            label: label.into(),
            ptype,
            field_type: field_type.into(),
            group: group.into(),
            description: String::new(),
            options: Vec::new(),
            calculated: false,
            read_only: false,
            hubspot_defined: true,
            unique: false,
            display_order: -1,
            created_ms: 0,
            updated_ms: 0,
            archived: false,
            derived: Derived::Stored,
            number_hint: None,
        }
    }
    pub fn desc(mut self, d: &str) -> Self {
        self.description = d.into();
        self
    }
    pub fn field(mut self, f: &str) -> Self {
        self.field_type = f.into();
        self
    }
    pub fn options(mut self, opts: &[(&str, &str)]) -> Self {
        self.options = opts
            .iter()
            .enumerate()
            .map(|(i, (value, label))| OptionDef {
                label: (*label).into(),
                value: (*value).into(),
                display_order: i as i32,
                hidden: false,
                description: String::new(),
            })
            .collect();
        self
    }
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
    pub fn calculated(mut self) -> Self {
        self.calculated = true;
        self.read_only = true;
        self.field_type = "calculation_equation".into();
        self
    }
    pub fn custom(mut self) -> Self {
        self.hubspot_defined = false;
        self
    }
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    pub fn derived(mut self, d: Derived) -> Self {
        self.derived = d;
        self.read_only = true;
        self
    }
    pub fn hint(mut self, h: &'static str) -> Self {
        self.number_hint = Some(h);
        self
    }
}

#[derive(Debug, Clone)]
pub struct GroupDef {
    pub name: String,
    pub label: String,
    pub display_order: i32,
    pub archived: bool,
}

/// One CRM record. Property values are packed into `data`.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub created: i64,
    pub updated: i64,
    pub archived_at: i64,
    data: Box<[u8]>,
}

impl Record {
    pub fn new(id: u64, created: i64, updated: i64, pairs: &[(u16, &str)]) -> Self {
        let mut r = Record { id, created, updated, archived_at: 0, data: Box::new([]) };
        r.data = encode(pairs.iter().map(|(k, v)| (*k, *v)));
        r
    }

    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter { data: &self.data, pos: 0 }
    }

    pub fn get(&self, key: u16) -> Option<&str> {
        // Skip over entries by their headers; only the matching value is decoded.
        let d = &self.data;
        let mut pos = 0;
        while pos + 4 <= d.len() {
            let k = u16::from_le_bytes([d[pos], d[pos + 1]]);
            let len = u16::from_le_bytes([d[pos + 2], d[pos + 3]]) as usize;
            let end = (pos + 4 + len).min(d.len());
            if k == key {
                return Some(std::str::from_utf8(&d[pos + 4..end]).unwrap_or(""));
            }
            pos = end;
        }
        None
    }

    /// Applies `changes` (empty string = clear the value, as HubSpot does) and returns the
    /// previous values of the keys that actually changed.
    pub fn apply(&mut self, changes: &[(u16, String)]) -> Vec<(u16, Option<String>)> {
        let mut map: BTreeMap<u16, String> =
            self.iter().map(|(k, v)| (k, v.to_string())).collect();
        let mut changed = Vec::new();
        for (k, v) in changes {
            let old = map.get(k).cloned();
            if old.as_deref() == Some(v.as_str()) || (old.is_none() && v.is_empty()) {
                continue;
            }
            if v.is_empty() {
                map.remove(k);
            } else {
                map.insert(*k, v.clone());
            }
            changed.push((*k, old));
        }
        if !changed.is_empty() {
            self.data = encode(map.iter().map(|(k, v)| (*k, v.as_str())));
        }
        changed
    }
}

fn encode<'a>(pairs: impl Iterator<Item = (u16, &'a str)>) -> Box<[u8]> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        let bytes = v.as_bytes();
        let len = bytes.len().min(u16::MAX as usize);
        out.extend_from_slice(&k.to_le_bytes());
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&bytes[..len]);
    }
    out.into_boxed_slice()
}

pub struct RecordIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = (u16, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        let d = self.data;
        if self.pos + 4 > d.len() {
            return None;
        }
        let k = u16::from_le_bytes([d[self.pos], d[self.pos + 1]]);
        let len = u16::from_le_bytes([d[self.pos + 2], d[self.pos + 3]]) as usize;
        let start = self.pos + 4;
        let end = (start + len).min(d.len());
        self.pos = end;
        // Values are only ever written from `&str` and cut at char boundaries by validation
        // (max length 65,535 bytes), so this cannot fail; an empty value is the safe fallback.
        Some((k, std::str::from_utf8(&d[start..end]).unwrap_or("")))
    }
}

/// One value a property had, as `propertiesWithHistory` shows it.
#[derive(Debug, Clone)]
pub struct HistEntry {
    pub value: String,
    pub ts: i64,
    pub source: &'static str,
}

/// Where a change came from (`sourceType` in property history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Import,
    Api,
    Integration,
    CrmUi,
    BatchUpdate,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Import => "IMPORT",
            Source::Api => "API",
            Source::Integration => "INTEGRATION",
            Source::CrmUi => "CRM_UI",
            Source::BatchUpdate => "BATCH_UPDATE",
        }
    }
}

/// One history entry as stored: 32 bytes, the value shared (a bulk update of a million records
/// stores its value once).
#[derive(Debug, Clone)]
pub struct HistRow {
    pub value: std::sync::Arc<str>,
    pub ts: i64,
    pub key: u16,
    pub source: Source,
}

pub struct ObjectType {
    pub type_id: String,
    pub name: String,
    /// Upper-case singular used in HubSpot messages ("CONTACT").
    pub upper: String,
    pub singular: String,
    pub plural: String,
    pub custom: bool,
    pub fqn: String,
    pub primary_display: String,
    pub secondary_display: Vec<String>,
    pub searchable: Vec<String>,
    pub required: Vec<String>,
    pub description: String,
    pub props: Vec<PropDef>,
    pub prop_idx: HashMap<String, u16>,
    pub groups: Vec<GroupDef>,
    /// Live records by id. Insert, remove and re-time them through [`ObjectType::insert_live`],
    /// [`ObjectType::remove_live`] and [`ObjectType::set_updated`] so the time indexes stay right.
    pub records: BTreeMap<u64, Record>,
    pub archived: BTreeMap<u64, Record>,
    /// `(lastmodifieddate, id)` of live records: search's range filters on the modification
    /// date (the sync cursor) read only the matching slice instead of scanning every record.
    pub modified_idx: BTreeSet<(i64, u64)>,
    /// `(createdate, id)` of live records.
    pub created_idx: BTreeSet<(i64, u64)>,
    /// Unique-value index: property key → lower-cased value → record id.
    pub unique: HashMap<u16, HashMap<String, u64>>,
    /// Merged-away id → surviving id.
    pub merged_into: HashMap<u64, u64>,
    /// Property history per record, oldest first (a property without entries has had one
    /// value since the record was created: [`ObjectType::history_for`]).
    pub history: HashMap<u64, Vec<HistRow>>,
    /// The last value written to history per property, shared by the next identical one.
    pub last_history_value: HashMap<u16, std::sync::Arc<str>>,
    pub default_props: Vec<String>,
    pub read_scopes: Vec<&'static str>,
    pub write_scopes: Vec<&'static str>,
    pub schema_read_scopes: Vec<&'static str>,
    pub schema_write_scopes: Vec<&'static str>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl ObjectType {
    pub fn prop(&self, name: &str) -> Option<(u16, &PropDef)> {
        self.prop_idx.get(name).map(|&i| (i, &self.props[i as usize]))
    }

    pub fn add_prop(&mut self, mut p: PropDef) -> u16 {
        if let Some(&i) = self.prop_idx.get(&p.name) {
            return i;
        }
        if p.display_order < 0 {
            p.display_order = self.props.len() as i32;
        }
        let i = self.props.len() as u16;
        if p.unique || (self.name == "contacts" && p.name == "email") {
            self.unique.insert(i, HashMap::new());
        }
        self.prop_idx.insert(p.name.clone(), i);
        self.props.push(p);
        i
    }

    /// A property value as the API shows it, derived fields included.
    pub fn value<'a>(&self, r: &'a Record, key: u16) -> Option<std::borrow::Cow<'a, str>> {
        use std::borrow::Cow;
        match self.props.get(key as usize).map(|p| p.derived) {
            Some(Derived::Id) => Some(Cow::Owned(r.id.to_string())),
            Some(Derived::Created) => Some(Cow::Owned(crate::util::iso_ms(r.created))),
            Some(Derived::Modified) => Some(Cow::Owned(crate::util::iso_ms(r.updated))),
            Some(Derived::Stored) => r.get(key).map(Cow::Borrowed),
            None => None,
        }
    }

    pub fn insert_live(&mut self, r: Record) {
        self.modified_idx.insert((r.updated, r.id));
        self.created_idx.insert((r.created, r.id));
        self.records.insert(r.id, r);
    }

    pub fn remove_live(&mut self, id: u64) -> Option<Record> {
        let r = self.records.remove(&id)?;
        self.modified_idx.remove(&(r.updated, id));
        self.created_idx.remove(&(r.created, id));
        Some(r)
    }

    pub fn set_updated(&mut self, id: u64, ts: i64) {
        if let Some(r) = self.records.get_mut(&id) {
            if r.updated != ts {
                self.modified_idx.remove(&(r.updated, id));
                r.updated = ts;
                self.modified_idx.insert((ts, id));
            }
        }
    }

    /// Rebuilds both time indexes from the live records (after seeding).
    pub fn rebuild_time_index(&mut self) {
        self.modified_idx = self.records.values().map(|r| (r.updated, r.id)).collect();
        self.created_idx = self.records.values().map(|r| (r.created, r.id)).collect();
    }

    pub fn live_or_archived(&self, id: u64, archived: bool) -> Option<&Record> {
        if archived {
            self.archived.get(&id)
        } else {
            self.records.get(&id)
        }
    }

    /// Follows merge redirects: a merged-away id reads as its survivor, like HubSpot.
    pub fn resolve_id(&self, id: u64) -> u64 {
        let mut cur = id;
        for _ in 0..32 {
            match self.merged_into.get(&cur) {
                Some(&next) => cur = next,
                None => break,
            }
        }
        cur
    }

    pub fn find_unique(&self, key: u16, value: &str) -> Option<u64> {
        self.unique.get(&key).and_then(|m| m.get(&value.to_lowercase())).copied()
    }

    pub fn index_record(&mut self, id: u64) {
        let Some(r) = self.records.get(&id) else { return };
        let entries: Vec<(u16, String)> = r
            .iter()
            .filter(|(k, v)| !v.is_empty() && self.unique.contains_key(k))
            .map(|(k, v)| (k, v.to_lowercase()))
            .collect();
        for (k, v) in entries {
            if let Some(m) = self.unique.get_mut(&k) {
                m.insert(v, id);
            }
        }
    }

    pub fn unindex_record(&mut self, id: u64) {
        let Some(r) = self.records.get(&id) else { return };
        let entries: Vec<(u16, String)> = r
            .iter()
            .filter(|(k, _)| self.unique.contains_key(k))
            .map(|(k, v)| (k, v.to_lowercase()))
            .collect();
        for (k, v) in entries {
            if let Some(m) = self.unique.get_mut(&k) {
                if m.get(&v) == Some(&id) {
                    m.remove(&v);
                }
            }
        }
    }

    pub fn created_prop(&self) -> &'static str {
        if self.name == "contacts" {
            "createdate"
        } else {
            "hs_createdate"
        }
    }
    pub fn modified_prop(&self) -> &'static str {
        if self.name == "contacts" {
            "lastmodifieddate"
        } else {
            "hs_lastmodifieddate"
        }
    }

    /// A history value, shared with the previous identical one of the same property.
    fn history_value(&mut self, key: u16, value: &str) -> std::sync::Arc<str> {
        match self.last_history_value.get(&key) {
            Some(v) if &**v == value => v.clone(),
            _ => {
                let v: std::sync::Arc<str> = value.into();
                self.last_history_value.insert(key, v.clone());
                v
            }
        }
    }

    /// Records the values of a new record (its first history entries).
    pub fn record_created(&mut self, id: u64, values: &[(u16, &str)], ts: i64, source: Source) {
        let rows: Vec<HistRow> = values
            .iter()
            .map(|(k, v)| HistRow { value: self.history_value(*k, v), ts, key: *k, source })
            .collect();
        if !rows.is_empty() {
            self.history.insert(id, rows);
        }
    }

    /// Records property history for changed keys (seeding the first entry lazily from the
    /// original value so that history is complete).
    pub fn record_history(
        &mut self,
        id: u64,
        created: i64,
        changes: &[(u16, Option<String>)],
        new: &Record,
        ts: i64,
        source: Source,
    ) {
        if changes.is_empty() {
            return;
        }
        let mut rows = self.history.remove(&id).unwrap_or_default();
        let mut added = Vec::with_capacity(changes.len() * 2);
        for (k, old) in changes {
            if let Some(old) = old {
                if !rows.iter().any(|r| r.key == *k) {
                    added.push(HistRow { value: self.history_value(*k, old), ts: created, key: *k, source: Source::Import });
                }
            }
            let value = self.history_value(*k, new.get(*k).unwrap_or(""));
            added.push(HistRow { value, ts, key: *k, source });
        }
        rows.reserve_exact(added.len());
        rows.extend(added);
        self.history.insert(id, rows);
    }

    /// A property's history, newest first.
    pub fn history_for(&self, r: &Record, key: u16) -> Vec<HistEntry> {
        let rows: Vec<HistEntry> = self
            .history
            .get(&r.id)
            .into_iter()
            .flatten()
            .rev()
            .filter(|h| h.key == key)
            .map(|h| HistEntry { value: h.value.to_string(), ts: h.ts, source: h.source.as_str() })
            .collect();
        if !rows.is_empty() {
            return rows;
        }
        match self.value(r, key) {
            Some(v) => vec![HistEntry { value: v.into_owned(), ts: r.created, source: "IMPORT" }],
            None => Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AssocLabel {
    pub type_id: u32,
    pub from: usize,
    pub to: usize,
    pub label: Option<String>,
    pub category: &'static str,
    pub inverse: u32,
    pub name: String,
}

/// `contact_to_company_unlabeled` → `company_to_contact_unlabeled`; other names are kept.
fn inverse_name(name: &str) -> String {
    match name.split_once("_to_") {
        Some((a, rest)) => {
            let (b, suffix) = match rest.split_once('_') {
                Some((b, s)) => (b, format!("_{s}")),
                None => (rest, String::new()),
            };
            format!("{b}_to_{a}{suffix}")
        }
        None => name.to_string(),
    }
}

/// Edges of one (from type, to type) pair: from id → `(to id, type id)`.
pub type Edges = HashMap<u64, Vec<(u64, u32)>>;

/// Associations, stored in both directions: `(from type, to type)` → [`Edges`].
#[derive(Default)]
pub struct AssocStore {
    pub labels: Vec<AssocLabel>,
    pub edges: HashMap<(u8, u8), Edges>,
    pub next_label_id: u32,
}

impl AssocStore {
    pub fn label(&self, from: usize, to: usize, type_id: u32) -> Option<&AssocLabel> {
        self.labels.iter().find(|l| l.from == from && l.to == to && l.type_id == type_id)
    }

    pub fn labels_between(&self, from: usize, to: usize) -> impl Iterator<Item = &AssocLabel> {
        self.labels.iter().filter(move |l| l.from == from && l.to == to)
    }

    /// The unlabeled default type for a pair.
    pub fn default_type(&self, from: usize, to: usize) -> Option<u32> {
        self.labels
            .iter()
            .find(|l| l.from == from && l.to == to && l.label.is_none())
            .map(|l| l.type_id)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn define(&mut self, from: usize, to: usize, fwd: u32, inv: u32, label: Option<&str>, category: &'static str, name: &str) {
        self.labels.push(AssocLabel {
            type_id: fwd,
            from,
            to,
            label: label.map(str::to_string),
            category,
            inverse: inv,
            name: name.to_string(),
        });
        if from != to || fwd != inv {
            self.labels.push(AssocLabel {
                type_id: inv,
                from: to,
                to: from,
                label: label.map(str::to_string),
                category,
                inverse: fwd,
                name: inverse_name(name),
            });
        }
    }

    pub fn link(&mut self, from: usize, from_id: u64, to: usize, to_id: u64, type_id: u32) {
        let inverse = self.label(from, to, type_id).map(|l| l.inverse).unwrap_or(type_id);
        let fwd = self.edges.entry((from as u8, to as u8)).or_default().entry(from_id).or_default();
        if !fwd.contains(&(to_id, type_id)) {
            fwd.push((to_id, type_id));
        }
        let back = self.edges.entry((to as u8, from as u8)).or_default().entry(to_id).or_default();
        if !back.contains(&(from_id, inverse)) {
            back.push((from_id, inverse));
        }
    }

    /// Removes the association types in `types` (all when `None`) between two records.
    pub fn unlink(&mut self, from: usize, from_id: u64, to: usize, to_id: u64, types: Option<&[u32]>) -> usize {
        let inverses: Option<Vec<u32>> = types.map(|ts| {
            ts.iter().map(|t| self.label(from, to, *t).map(|l| l.inverse).unwrap_or(*t)).collect()
        });
        let mut removed = 0;
        if let Some(m) = self.edges.get_mut(&(from as u8, to as u8)) {
            if let Some(v) = m.get_mut(&from_id) {
                let before = v.len();
                v.retain(|(id, t)| !(*id == to_id && types.is_none_or(|ts| ts.contains(t))));
                removed = before - v.len();
                if v.is_empty() {
                    m.remove(&from_id);
                }
            }
        }
        if let Some(m) = self.edges.get_mut(&(to as u8, from as u8)) {
            if let Some(v) = m.get_mut(&to_id) {
                v.retain(|(id, t)| {
                    !(*id == from_id && inverses.as_ref().is_none_or(|ts| ts.contains(t)))
                });
                if v.is_empty() {
                    m.remove(&to_id);
                }
            }
        }
        removed
    }

    /// Associated records of one record, grouped by target id (sorted), with their type ids.
    pub fn of(&self, from: usize, from_id: u64, to: usize) -> Vec<(u64, Vec<u32>)> {
        let Some(list) = self.edges.get(&(from as u8, to as u8)).and_then(|m| m.get(&from_id)) else {
            return Vec::new();
        };
        let mut grouped: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for (id, t) in list {
            grouped.entry(*id).or_default().push(*t);
        }
        grouped.into_iter().collect()
    }

    /// Drops every association of a record (archive, merge loser, GDPR delete). Returns the
    /// removed edges as `(to type, to id, type id)` so a merge can re-point them.
    pub fn remove_record(&mut self, ty: usize, id: u64) -> Vec<(usize, u64, u32)> {
        let mut out = Vec::new();
        let keys: Vec<(u8, u8)> = self.edges.keys().filter(|(f, _)| *f as usize == ty).copied().collect();
        for (f, t) in keys {
            let list = self.edges.get_mut(&(f, t)).and_then(|m| m.remove(&id)).unwrap_or_default();
            for (to_id, type_id) in list {
                out.push((t as usize, to_id, type_id));
                if let Some(m) = self.edges.get_mut(&(t, f)) {
                    if let Some(v) = m.get_mut(&to_id) {
                        v.retain(|(x, _)| *x != id);
                        if v.is_empty() {
                            m.remove(&to_id);
                        }
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Owner {
    pub id: u64,
    pub user_id: u64,
    pub email: String,
    pub first: String,
    pub last: String,
    pub created: i64,
    pub updated: i64,
    pub archived: bool,
    pub team: Option<(u64, String)>,
}

#[derive(Debug, Clone)]
pub struct Thread {
    pub id: u64,
    pub contact_id: u64,
    pub inbox_id: u64,
    pub channel_id: u64,
    pub channel_account_id: u64,
    pub status: &'static str,
    pub created: i64,
    pub closed: Option<i64>,
    pub assigned_to: Option<u64>,
    pub archived: bool,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub created: i64,
    pub text: String,
    pub direction: &'static str,
    pub sender_actor: String,
    pub sender_name: String,
    pub sender_email: String,
    pub recipient_email: String,
    pub subject: Option<String>,
}

pub struct Store {
    pub portal_id: u64,
    pub portal_name: String,
    pub types: Vec<ObjectType>,
    pub assoc: AssocStore,
    pub owners: Vec<Owner>,
    pub threads: BTreeMap<u64, Thread>,
    pub next_id: u64,
}

impl Store {
    /// Resolves `contacts`, `contact`, `0-1`, `p123_projects`, `2-456`, `projects`.
    pub fn resolve(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.types.iter().position(|t| {
            t.name == lower || t.type_id == lower || t.fqn == lower || t.singular.to_lowercase() == lower
        })
    }

    pub fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_packs_and_updates() {
        let mut r = Record::new(7, 1, 2, &[(0, "ada@example.com"), (3, "Ada"), (5, "")]);
        assert_eq!(r.get(0), Some("ada@example.com"));
        assert_eq!(r.get(5), Some(""));
        assert_eq!(r.get(9), None);
        let changed = r.apply(&[(3, "Grace".into()), (0, "ada@example.com".into()), (9, "x".into())]);
        assert_eq!(changed, vec![(3, Some("Ada".into())), (9, None)]);
        assert_eq!(r.get(3), Some("Grace"));
        r.apply(&[(3, String::new())]);
        assert_eq!(r.get(3), None);
    }

    #[test]
    fn assoc_links_both_ways() {
        let mut a = AssocStore::default();
        a.define(0, 1, 279, 280, None, "HUBSPOT_DEFINED", "contact_to_company");
        a.define(0, 1, 1, 2, Some("Primary"), "HUBSPOT_DEFINED", "contact_to_company");
        a.link(0, 10, 1, 20, 279);
        a.link(0, 10, 1, 20, 1);
        assert_eq!(a.of(0, 10, 1), vec![(20, vec![279, 1])]);
        assert_eq!(a.of(1, 20, 0), vec![(10, vec![280, 2])]);
        assert_eq!(a.unlink(0, 10, 1, 20, Some(&[1])), 1);
        assert_eq!(a.of(1, 20, 0), vec![(10, vec![280])]);
        a.remove_record(1, 20);
        assert!(a.of(0, 10, 1).is_empty());
    }
}
