//! Auto-mapping suggestions: local columns matched to HubSpot properties by internal name and
//! label similarity, type-compatible candidates first, never an incompatible type.

use serde::{Deserialize, Serialize};

use crate::catalog::{ObjectCatalog, PropertyDef, PropertyType};
use crate::local::{LocalColumn, LocalType};
use crate::model::{Direction, FieldMapping};
use crate::transform::Kind;
use crate::validate::{compat, Compatibility};

/// One property a column could map to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub property: String,
    pub label: String,
    pub property_type: PropertyType,
    pub compatibility: Compatibility,
    /// 0–100.
    pub confidence: u8,
    /// Why it matched: `name`, `label` or `synonym`.
    pub matched_on: String,
    /// Both ways, or HubSpot → local only for read-only properties.
    pub direction: Direction,
    /// Why write-back is not offered, for read-only properties.
    pub read_only_reason: Option<String>,
}

/// The suggestions for one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub column: String,
    pub column_type: LocalType,
    /// The property to map automatically (confident, compatible, and not taken by a better
    /// match), if any.
    pub pick: Option<Candidate>,
    /// Best first: exact types before convertible ones, then by confidence.
    pub candidates: Vec<Candidate>,
}

impl Suggestion {
    /// The field pair for the automatic pick.
    pub fn field(&self, catalog: &ObjectCatalog) -> Option<FieldMapping> {
        let pick = self.pick.as_ref()?;
        let property = catalog.property(&pick.property)?;
        let column = LocalColumn::new(self.column.clone(), self.column_type);
        Some(FieldMapping::new(property, &column, pick.direction))
    }
}

/// Confidence at or above which a candidate is picked automatically.
pub const AUTO_PICK: u8 = 80;
const MIN_SHOWN: f64 = 0.6;
const MAX_CANDIDATES: usize = 5;

/// Common local column names and the HubSpot property they mean (after normalisation).
const SYNONYMS: &[(&str, &str)] = &[
    ("mail", "email"),
    ("emailaddress", "email"),
    ("givenname", "firstname"),
    ("forename", "firstname"),
    ("surname", "lastname"),
    ("familyname", "lastname"),
    ("telephone", "phone"),
    ("phonenumber", "phone"),
    ("tel", "phone"),
    ("mobile", "mobilephone"),
    ("cell", "mobilephone"),
    ("postalcode", "zip"),
    ("postcode", "zip"),
    ("zipcode", "zip"),
    ("companyname", "company"),
    ("organization", "company"),
    ("organisation", "company"),
    ("title", "jobtitle"),
    ("position", "jobtitle"),
    ("createdat", "createdate"),
    ("created", "createdate"),
    ("updatedat", "lastmodifieddate"),
    ("modifiedat", "lastmodifieddate"),
    ("updated", "lastmodifieddate"),
    ("url", "website"),
    ("homepage", "website"),
    ("hubspotid", "hs_object_id"),
    ("recordid", "hs_object_id"),
    ("region", "state"),
    ("province", "state"),
];

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The similarity of a column name to a property, and what matched.
fn score(column: &str, p: &PropertyDef) -> (f64, &'static str) {
    let col = normalize(column);
    let name = normalize(&p.name);
    let bare = normalize(p.name.strip_prefix("hs_").unwrap_or(&p.name));
    let label = normalize(&p.label);
    if SYNONYMS
        .iter()
        .any(|(local, hs)| *local == col && *hs == p.name)
    {
        return (0.95, "synonym");
    }
    let by_name = strsim::jaro_winkler(&col, &name).max(strsim::jaro_winkler(&col, &bare));
    let by_label = strsim::jaro_winkler(&col, &label);
    // Exact normalised equality is certain; near misses are discounted a little.
    let exact = |s: &str| col == s;
    // One name inside the other (`score` in `spoke_score`): likely, more so the closer in length.
    let contained = |s: &str| -> f64 {
        let (short, long) = if col.len() <= s.len() {
            (col.as_str(), s)
        } else {
            (s, col.as_str())
        };
        if short.len() >= 4 && long.contains(short) {
            0.75 + 0.2 * short.len() as f64 / long.len() as f64
        } else {
            0.0
        }
    };
    if exact(&name) || exact(&bare) {
        (1.0, "name")
    } else if exact(&label) {
        (0.98, "label")
    } else if contained(&name).max(contained(&label)) > by_name.max(by_label) * 0.95 {
        if contained(&name) >= contained(&label) {
            (contained(&name), "name")
        } else {
            (contained(&label), "label")
        }
    } else if by_label > by_name {
        (by_label * 0.95, "label")
    } else {
        (by_name * 0.95, "name")
    }
}

/// Suggests a property for each column: candidates ranked compatible-types-first, and an
/// automatic pick when confident. Each property is picked for at most one column (the best).
pub fn suggest(catalog: &ObjectCatalog, columns: &[LocalColumn]) -> Vec<Suggestion> {
    let mut out: Vec<Suggestion> = columns
        .iter()
        .map(|col| {
            let mut candidates: Vec<Candidate> = catalog
                .live()
                .filter_map(|p| {
                    let compatibility = compat(
                        Kind::of_property(p.property_type),
                        Kind::of_local(col.local_type),
                    );
                    if compatibility == Compatibility::Incompatible {
                        return None;
                    }
                    let (s, matched_on) = score(&col.name, p);
                    if s < MIN_SHOWN {
                        return None;
                    }
                    let factor = if compatibility == Compatibility::Exact {
                        1.0
                    } else {
                        0.85
                    };
                    let read_only_reason = p.write_refusal();
                    Some(Candidate {
                        property: p.name.clone(),
                        label: p.label.clone(),
                        property_type: p.property_type,
                        compatibility,
                        confidence: (s * factor * 100.0).round().clamp(0.0, 100.0) as u8,
                        matched_on: matched_on.to_owned(),
                        direction: if read_only_reason.is_some() {
                            Direction::ToLocal
                        } else {
                            Direction::Both
                        },
                        read_only_reason,
                    })
                })
                .collect();
            candidates.sort_by(|a, b| {
                a.compatibility
                    .cmp(&b.compatibility)
                    .then(b.confidence.cmp(&a.confidence))
                    .then(a.property.cmp(&b.property))
            });
            candidates.truncate(MAX_CANDIDATES);
            Suggestion {
                column: col.name.clone(),
                column_type: col.local_type,
                pick: None,
                candidates,
            }
        })
        .collect();

    // Greedy assignment: the most confident (column, property) pairs first.
    // A column whose two best candidates are about as likely is ambiguous: no automatic pick.
    let mut pairs: Vec<(u8, usize, Candidate)> = out
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let mut best: Vec<u8> = s.candidates.iter().map(|c| c.confidence).collect();
            best.sort_unstable_by(|a, b| b.cmp(a));
            best.len() < 2 || best[0] >= 100 || best[0] > best[1] + 2
        })
        .flat_map(|(i, s)| {
            s.candidates
                .iter()
                .filter(|c| c.confidence >= AUTO_PICK)
                .map(move |c| (c.confidence, i, c.clone()))
        })
        .collect();
    pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut taken: Vec<String> = Vec::new();
    for (_, i, candidate) in pairs {
        if out[i].pick.is_none() && !taken.contains(&candidate.property) {
            taken.push(candidate.property.clone());
            out[i].pick = Some(candidate);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::tests::contacts;

    fn col(name: &str, t: LocalType) -> LocalColumn {
        LocalColumn::new(name, t)
    }

    #[test]
    fn maps_a_customers_table_onto_contacts() {
        let columns = vec![
            col("id", LocalType::Integer),
            col("Email_Address", LocalType::Text),
            col("first_name", LocalType::Text),
            col("surname", LocalType::Text),
            col("telephone", LocalType::Text),
            col("score", LocalType::Integer),
            col("renewal_date", LocalType::Date),
            col("last_seen", LocalType::Datetime),
            col("deal_count", LocalType::Integer),
            col("favourite_colour", LocalType::Text),
        ];
        let s = suggest(&contacts(), &columns);
        let picks: Vec<(&str, Option<&str>)> = s
            .iter()
            .map(|s| {
                (
                    s.column.as_str(),
                    s.pick.as_ref().map(|c| c.property.as_str()),
                )
            })
            .collect();
        assert_eq!(
            picks,
            [
                ("id", None),
                ("Email_Address", Some("email")),
                ("first_name", Some("firstname")),
                ("surname", Some("lastname")),
                ("telephone", Some("phone")),
                ("score", Some("spoke_score")),
                ("renewal_date", Some("spoke_renewal_date")),
                ("last_seen", Some("spoke_last_seen_at")),
                ("deal_count", None),
                ("favourite_colour", None),
            ]
        );
        let first = s[2].pick.as_ref().unwrap();
        assert_eq!(
            (
                first.confidence,
                first.compatibility,
                first.matched_on.as_str()
            ),
            (100, Compatibility::Exact, "name")
        );
        assert!(s[9].candidates.iter().all(|c| c.confidence < AUTO_PICK));
    }

    #[test]
    fn never_suggests_incompatible_types_and_ranks_exact_first() {
        // A boolean column named like a text property: no text property is offered.
        let s = suggest(&contacts(), &[col("city", LocalType::Boolean)]);
        assert!(
            s[0].candidates.iter().all(|c| c.property != "city"),
            "{:?}",
            s[0].candidates
        );
        assert!(s[0].pick.is_none());
        // A text column can hold a date (convertible), but exact text matches come first.
        let s = suggest(&contacts(), &[col("spoke_renewal_date", LocalType::Text)]);
        let pick = s[0].pick.as_ref().unwrap();
        assert_eq!(
            (pick.property.as_str(), pick.compatibility),
            ("spoke_renewal_date", Compatibility::Convertible)
        );
        assert!(pick.confidence < 100);
        let order: Vec<Compatibility> = s[0].candidates.iter().map(|c| c.compatibility).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
    }

    #[test]
    fn read_only_properties_are_offered_inbound_only_and_each_property_once() {
        // "name" is in firstname and lastname alike: shown, not picked.
        let s = suggest(&contacts(), &[col("name", LocalType::Text)]);
        assert!(s[0].pick.is_none());
        assert!(s[0].candidates.iter().any(|c| c.property == "firstname"));
        let s = suggest(
            &contacts(),
            &[
                col("num_associated_deals", LocalType::Integer),
                col("email", LocalType::Text),
                col("e_mail", LocalType::Text),
            ],
        );
        let deals = s[0].pick.as_ref().unwrap();
        assert_eq!(deals.direction, Direction::ToLocal);
        assert!(deals
            .read_only_reason
            .as_deref()
            .unwrap()
            .contains("calculated"));
        assert_eq!(s[1].pick.as_ref().unwrap().property, "email");
        assert!(s[2].pick.as_ref().is_none_or(|c| c.property != "email"));
        let f = s[1].field(&contacts()).unwrap();
        assert_eq!(
            (f.property.as_deref(), f.column.as_deref(), f.direction),
            (Some("email"), Some("email"), Direction::Both)
        );
    }
}
