//! CRM search: `POST /crm/v3/objects/{type}/search` with HubSpot's operators and limits
//! (5 filter groups, 6 filters per group, 18 filters in all, 1 sort, `limit` ≤ 200, and a 400
//! once `after` reaches 10,000), eventual consistency (`search_lag_ms`) and optional disorder.

use crate::auth::Caller;
use crate::crm::{resolve, Page, View};
use crate::error::{ApiError, ApiResult, Json};
use crate::model::{Derived, ObjectType, PType, Record};
use crate::state::AppState;
use crate::util::parse_time_ms;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::json;
use std::cmp::Ordering;
use std::sync::Arc;

pub const MAX_RESULTS: usize = 10_000;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Op {
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

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: Op,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub high_value: Option<serde_json::Value>,
    #[serde(default)]
    pub values: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize, Debug)]
pub struct FilterGroup {
    #[serde(default)]
    pub filters: Vec<Filter>,
}

#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub enum Sort {
    Full {
        #[serde(rename = "propertyName")]
        property_name: String,
        #[serde(default)]
        direction: Option<String>,
    },
    Name(String),
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchRequest {
    pub filter_groups: Vec<FilterGroup>,
    pub sorts: Vec<Sort>,
    pub query: Option<String>,
    pub properties: Vec<String>,
    pub limit: Option<i64>,
    pub after: Option<serde_json::Value>,
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A filter compiled against a type: the property key, its type and parsed operands.
struct Compiled {
    key: u16,
    ptype: PType,
    op: Op,
    value: String,
    num: Option<f64>,
    high: Option<f64>,
    high_s: String,
    values: Vec<String>,
}

fn num_of(ptype: PType, s: &str) -> Option<f64> {
    match ptype {
        PType::Date | PType::DateTime => parse_time_ms(s).map(|v| v as f64),
        _ => s.trim().parse::<f64>().ok(),
    }
}

fn compile(t: &ObjectType, f: &Filter) -> ApiResult<Compiled> {
    let (key, def) = t.prop(&f.property_name).ok_or_else(|| {
        ApiError::validation(format!("There was a problem with the request. Property '{}' does not exist on {}.", f.property_name, t.name))
    })?;
    let value = f.value.as_ref().map(text).unwrap_or_default();
    let needs_value = !matches!(f.operator, Op::HasProperty | Op::NotHasProperty | Op::In | Op::NotIn);
    if needs_value && f.value.is_none() {
        return Err(ApiError::validation(format!("Filter on {} with operator {:?} requires a value.", f.property_name, f.operator)));
    }
    if matches!(f.operator, Op::In | Op::NotIn) && f.values.as_ref().is_none_or(|v| v.is_empty()) {
        return Err(ApiError::validation(format!("Filter on {} with operator IN/NOT_IN requires values.", f.property_name)));
    }
    if f.operator == Op::Between && f.high_value.is_none() {
        return Err(ApiError::validation(format!("Filter on {} with operator BETWEEN requires highValue.", f.property_name)));
    }
    let high_s = f.high_value.as_ref().map(text).unwrap_or_default();
    Ok(Compiled {
        key,
        ptype: def.ptype,
        op: f.operator,
        num: num_of(def.ptype, &value),
        high: num_of(def.ptype, &high_s),
        high_s,
        value,
        values: f.values.as_ref().map(|v| v.iter().map(|x| text(x).to_lowercase()).collect()).unwrap_or_default(),
    })
}

fn tokens(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.' && c != '-' && c != '_')
        .filter(|x| !x.is_empty())
        .map(str::to_lowercase)
}

fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(pos) => rest = &rest[pos + p.len()..],
                None => return false,
            }
        }
    }
    true
}

fn contains_token(v: &str, needle: &str) -> bool {
    let n = needle.to_lowercase();
    if n.contains('*') {
        return glob(&n, &v.to_lowercase()) || tokens(v).any(|t| glob(&n, &t));
    }
    v.eq_ignore_ascii_case(&n) || tokens(v).any(|t| t == n) || v.to_lowercase().split(['@', '.', '-', '_', ' ']).any(|t| t == n)
}

/// A numeric view of a property without formatting derived timestamps to strings and back.
fn num_value(t: &ObjectType, r: &Record, key: u16, ptype: PType) -> Option<f64> {
    match t.props.get(key as usize).map(|p| p.derived) {
        Some(Derived::Id) => Some(r.id as f64),
        Some(Derived::Created) => Some(r.created as f64),
        Some(Derived::Modified) => Some(r.updated as f64),
        Some(Derived::Stored) => r.get(key).filter(|v| !v.is_empty()).and_then(|v| num_of(ptype, v)),
        None => None,
    }
}

fn matches(t: &ObjectType, r: &Record, c: &Compiled) -> bool {
    if c.ptype.numeric() && c.num.is_some() && matches!(c.op, Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte | Op::Between) {
        let x = num_value(t, r, c.key, c.ptype);
        let b = c.num.unwrap_or_default();
        return match c.op {
            Op::Eq => x == Some(b),
            Op::Neq => x != Some(b),
            Op::Lt => x.is_some_and(|a| a < b),
            Op::Lte => x.is_some_and(|a| a <= b),
            Op::Gt => x.is_some_and(|a| a > b),
            Op::Gte => x.is_some_and(|a| a >= b),
            _ => x.is_some_and(|a| a >= b && c.high.is_some_and(|h| a <= h)),
        };
    }
    let v = t.value(r, c.key);
    let v = v.as_deref().filter(|s| !s.is_empty());
    let cmp_num = |x: &str| num_of(c.ptype, x);
    let eq = |x: &str| -> bool {
        if c.ptype.numeric() {
            match (cmp_num(x), c.num) {
                (Some(a), Some(b)) => a == b,
                _ => x.eq_ignore_ascii_case(&c.value),
            }
        } else if c.ptype == PType::Enumeration {
            x.split(';').any(|p| p.eq_ignore_ascii_case(&c.value))
        } else {
            x.eq_ignore_ascii_case(&c.value)
        }
    };
    let ord = |x: &str, other_n: Option<f64>, other_s: &str| -> Option<Ordering> {
        if c.ptype.numeric() {
            match (cmp_num(x), other_n) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => None,
            }
        } else {
            Some(x.to_lowercase().cmp(&other_s.to_lowercase()))
        }
    };
    match c.op {
        Op::HasProperty => v.is_some(),
        Op::NotHasProperty => v.is_none(),
        Op::Eq => v.is_some_and(eq),
        Op::Neq => !v.is_some_and(eq),
        Op::Lt => v.and_then(|x| ord(x, c.num, &c.value)).is_some_and(|o| o == Ordering::Less),
        Op::Lte => v.and_then(|x| ord(x, c.num, &c.value)).is_some_and(|o| o != Ordering::Greater),
        Op::Gt => v.and_then(|x| ord(x, c.num, &c.value)).is_some_and(|o| o == Ordering::Greater),
        Op::Gte => v.and_then(|x| ord(x, c.num, &c.value)).is_some_and(|o| o != Ordering::Less),
        Op::Between => v.is_some_and(|x| {
            ord(x, c.num, &c.value).is_some_and(|o| o != Ordering::Less) && ord(x, c.high, &c.high_s).is_some_and(|o| o != Ordering::Greater)
        }),
        Op::In => v.is_some_and(|x| {
            let parts: Vec<String> = if c.ptype == PType::Enumeration { x.split(';').map(str::to_lowercase).collect() } else { vec![x.to_lowercase()] };
            c.values.iter().any(|w| parts.contains(w) || (c.ptype.numeric() && cmp_num(w).is_some() && cmp_num(w) == cmp_num(x)))
        }),
        Op::NotIn => !v.is_some_and(|x| {
            let parts: Vec<String> = if c.ptype == PType::Enumeration { x.split(';').map(str::to_lowercase).collect() } else { vec![x.to_lowercase()] };
            c.values.iter().any(|w| parts.contains(w))
        }),
        Op::ContainsToken => v.is_some_and(|x| contains_token(x, &c.value)),
        Op::NotContainsToken => !v.is_some_and(|x| contains_token(x, &c.value)),
    }
}

fn query_match(t: &ObjectType, r: &Record, q: &[String]) -> bool {
    q.iter().all(|term| {
        t.searchable.iter().any(|p| {
            t.prop(p).and_then(|(k, _)| t.value(r, k)).is_some_and(|v| {
                let lv = v.to_lowercase();
                lv.starts_with(term.as_str()) || tokens(&v).any(|tok| tok.starts_with(term.as_str())) || lv.split(['@', '.', ' ', '-']).any(|x| x.starts_with(term.as_str()))
            })
        })
    })
}

/// Ids to examine when every filter group has a range filter on `createdate`/`hs_createdate` or
/// `lastmodifieddate`/`hs_lastmodifieddate` (the sync cursor); `None` means scan everything.
fn indexed_candidates(t: &ObjectType, groups: &[Vec<Compiled>]) -> Option<std::collections::BTreeSet<u64>> {
    if groups.is_empty() {
        return None;
    }
    let mut ids = std::collections::BTreeSet::new();
    for g in groups {
        let (lo, hi, idx) = g.iter().find_map(|c| {
            let derived = t.props.get(c.key as usize).map(|p| p.derived)?;
            let idx = match derived {
                Derived::Modified => &t.modified_idx,
                Derived::Created => &t.created_idx,
                _ => return None,
            };
            let v = c.num?;
            let (lo, hi) = match c.op {
                Op::Eq => (v.ceil() as i64, v.floor() as i64),
                Op::Gt => (v.floor() as i64 + 1, i64::MAX),
                Op::Gte => (v.ceil() as i64, i64::MAX),
                Op::Lt => (i64::MIN, v.ceil() as i64 - 1),
                Op::Lte => (i64::MIN, v.floor() as i64),
                Op::Between => (v.ceil() as i64, c.high?.floor() as i64),
                _ => return None,
            };
            Some((lo, hi, idx))
        })?;
        if lo <= hi {
            ids.extend(idx.range((lo, 0)..=(hi, u64::MAX)).map(|(_, id)| *id));
        }
    }
    Some(ids)
}

/// The `hs_object_id` range every filter group lies in, when each group bounds the id (the
/// sync's keyset filters): search then walks only that stretch of the id-ordered records, as
/// HubSpot's index does, instead of examining every record. `None` = scan everything.
fn id_range(t: &ObjectType, groups: &[Vec<Compiled>]) -> Option<(u64, u64)> {
    // Rounded inwards to whole ids; `as` saturates (negative → 0, too large → u64::MAX).
    let up = |v: f64| v.ceil() as u64;
    let down = |v: f64| if v < 0.0 { None } else { Some(v.floor() as u64) };
    if groups.is_empty() {
        return None;
    }
    let mut range: Option<(u64, u64)> = None;
    for g in groups {
        let (mut lo, mut hi, mut bounded) = (0u64, u64::MAX, false);
        for c in g {
            if t.props.get(c.key as usize).map(|p| p.derived) != Some(Derived::Id) || !c.ptype.numeric() {
                continue;
            }
            let Some(v) = c.num else { continue };
            let (l, h) = match c.op {
                Op::Eq => (up(v), down(v)?),
                Op::Gt => (down(v).map_or(0, |d| d.saturating_add(1)), u64::MAX),
                Op::Gte => (up(v), u64::MAX),
                Op::Lt => (0, down(up(v) as f64 - 1.0)?),
                Op::Lte => (0, down(v)?),
                Op::Between => (up(v), down(c.high?)?),
                _ => continue,
            };
            lo = lo.max(l);
            hi = hi.min(h);
            bounded = true;
        }
        if !bounded {
            return None;
        }
        if lo <= hi {
            range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
    }
    // Every group bounded but none can match: an empty stretch.
    Some(range.unwrap_or((1, 0)))
}

pub async fn search(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, Json(req): Json<SearchRequest>) -> ApiResult<Response> {
    let limit = req.limit.unwrap_or(10);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation(format!("limit must be between 1 and 200, got {limit}")));
    }
    let limit = limit as usize;
    let after: usize = match &req.after {
        None | Some(serde_json::Value::Null) => 0,
        Some(v) => {
            let s = text(v);
            if s.is_empty() { 0 } else { s.parse().map_err(|_| ApiError::validation(format!("after must be a number, got {s}")))? }
        }
    };
    if req.filter_groups.len() > 5 {
        return Err(ApiError::validation(format!("Too many filter groups: {} (maximum 5).", req.filter_groups.len())));
    }
    if let Some(g) = req.filter_groups.iter().find(|g| g.filters.len() > 6) {
        return Err(ApiError::validation(format!("Too many filters in a filter group: {} (maximum 6).", g.filters.len())));
    }
    let total_filters: usize = req.filter_groups.iter().map(|g| g.filters.len()).sum();
    if total_filters > 18 {
        return Err(ApiError::validation(format!("Too many filters: {total_filters} (maximum 18 across all filter groups).")));
    }
    if req.sorts.len() > 1 {
        return Err(ApiError::validation("Only one sort is supported."));
    }
    if req.query.as_ref().is_some_and(|q| q.len() > 3000) {
        return Err(ApiError::validation("query is too long (maximum 3000 characters)."));
    }
    if after >= MAX_RESULTS {
        return Err(ApiError::validation(format!(
            "The search API returns at most {MAX_RESULTS} results for a query; after={after} is past that limit. Narrow the query instead of paging further."
        ))
        .with("context", json!({ "after": [after.to_string()] })));
    }
    let store = st.read()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&store.types[ti].read_scopes)?;
    let t = &store.types[ti];
    let groups: Vec<Vec<Compiled>> = req.filter_groups.iter().map(|g| g.filters.iter().map(|f| compile(t, f)).collect::<ApiResult<Vec<_>>>()).collect::<ApiResult<_>>()?;
    let sort = match req.sorts.first() {
        None => None,
        Some(Sort::Full { property_name, direction }) => Some((property_name.clone(), direction.as_deref().is_some_and(|d| d.eq_ignore_ascii_case("DESCENDING")))),
        Some(Sort::Name(n)) => Some(match n.strip_prefix('-') { Some(x) => (x.to_string(), true), None => (n.clone(), false) }),
    };
    let sort = match sort {
        Some((name, desc)) => Some((t.prop(&name).ok_or_else(|| ApiError::validation(format!("Property '{name}' does not exist on {}; cannot sort by it.", t.name)))?, desc)),
        None => None,
    };
    let terms: Vec<String> = req.query.as_deref().map(|q| q.split_whitespace().map(str::to_lowercase).collect()).unwrap_or_default();
    let lagged_by_type = st.lagged(ti);
    let pass = |r: &Record| -> bool {
        (groups.is_empty() || groups.iter().any(|g| g.iter().all(|c| matches(t, r, c)))) && (terms.is_empty() || query_match(t, r, &terms))
    };
    let mut hits: Vec<&Record> = Vec::new();
    match indexed_candidates(t, &groups) {
        // Every filter group bounds the creation or modification date: read only that slice.
        Some(ids) => {
            for id in ids {
                let Some(r) = t.records.get(&id) else { continue };
                let r = match lagged_by_type.get(&id) {
                    Some(Some(old)) => old,
                    Some(None) => continue,
                    None => r,
                };
                if pass(r) {
                    hits.push(r);
                }
            }
            // Lagged versions whose live record moved out of the slice are still candidates.
            for (id, old) in &lagged_by_type {
                if let (Some(old), true) = (old, t.records.contains_key(id)) {
                    if !hits.iter().any(|h| h.id == *id) && pass(old) {
                        hits.push(old);
                    }
                }
            }
            hits.sort_by_key(|r| r.id);
        }
        None => {
            let stretch: Box<dyn Iterator<Item = (&u64, &Record)>> = match id_range(t, &groups) {
                Some((lo, hi)) if lo <= hi => Box::new(t.records.range(lo..=hi)),
                Some(_) => Box::new(std::iter::empty()),
                None => Box::new(t.records.iter()),
            };
            for (id, r) in stretch {
                let r = match lagged_by_type.get(id) {
                    Some(Some(old)) => old,
                    Some(None) => continue,
                    None => r,
                };
                if pass(r) {
                    hits.push(r);
                }
            }
        }
    }
    // Records deleted within the lag window are still visible to search.
    for (id, old) in &lagged_by_type {
        if let Some(old) = old {
            if !t.records.contains_key(id) && pass(old) {
                hits.push(old);
            }
        }
    }
    let total = hits.len();
    // Only the first `after + limit` hits are ever shown: select them, then sort that prefix.
    let want = (after + limit).min(total);
    if let Some((_, desc)) = sort.filter(|((_, def), _)| def.derived == Derived::Id) {
        // By id: the hits are (nearly) in id order already.
        hits.sort_unstable_by_key(|r| r.id);
        if desc {
            hits.reverse();
        }
    } else if let Some(((key, def), desc)) = sort {
        let numeric = def.ptype.numeric();
        let mut keyed: Vec<(Option<f64>, Option<String>, &Record)> = hits
            .iter()
            .map(|r| {
                if numeric {
                    (num_value(t, r, key, def.ptype), None, *r)
                } else {
                    (None, t.value(r, key).filter(|v| !v.is_empty()).map(|v| v.to_lowercase()), *r)
                }
            })
            .collect();
        let cmp = |a: &(Option<f64>, Option<String>, &Record), b: &(Option<f64>, Option<String>, &Record)| -> Ordering {
            // Missing values sort last in both directions, like HubSpot.
            let o = match (numeric, &a.0, &b.0, &a.1, &b.1) {
                (true, Some(x), Some(y), _, _) => { let o = x.partial_cmp(y).unwrap_or(Ordering::Equal); if desc { o.reverse() } else { o } }
                (true, Some(_), None, _, _) => Ordering::Less,
                (true, None, Some(_), _, _) => Ordering::Greater,
                (false, _, _, Some(x), Some(y)) => { let o = x.cmp(y); if desc { o.reverse() } else { o } }
                (false, _, _, Some(_), None) => Ordering::Less,
                (false, _, _, None, Some(_)) => Ordering::Greater,
                _ => Ordering::Equal,
            };
            o.then(a.2.id.cmp(&b.2.id))
        };
        if want > 0 && want < keyed.len() {
            keyed.select_nth_unstable_by(want - 1, cmp);
            keyed.truncate(want);
        }
        keyed.sort_by(cmp);
        hits = keyed.into_iter().map(|(_, _, r)| r).collect();
    } else if !lagged_by_type.is_empty() {
        hits.sort_by_key(|r| r.id);
    }
    let props = if req.properties.is_empty() { None } else { Some(req.properties.as_slice()) };
    let mut page: Vec<View> = hits.iter().skip(after).take(limit).map(|r| View::new(&store, ti, r, props, None)).collect();
    if st.faults_snapshot().search_shuffle {
        page.shuffle(&mut rand::rng());
    }
    let paging = (after + limit < total).then(|| json!({ "next": { "after": (after + limit).to_string() } }));
    Ok(axum::Json(Page { total: Some(total), results: page, paging }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_and_tokens() {
        assert!(glob("*@gmail.com", "ada@gmail.com"));
        assert!(!glob("*@gmail.com", "ada@yahoo.com"));
        assert!(contains_token("Ada Lovelace", "lovelace"));
        assert!(contains_token("ada.lovelace1@bluelabs.com", "bluelabs"));
        assert!(!contains_token("Ada Lovelace", "love"));
    }
}
