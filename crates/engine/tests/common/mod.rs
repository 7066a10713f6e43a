//! Shared test helpers: a demo portal, a governed client, a contacts mapping, the portal's own
//! view of the data (read independently through the list endpoint) and the store's.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use spoke_engine::{CancelToken, Engine, Progress, RunSummary, Store, SyncOptions};
use spoke_hubspot::{
    Client, ClientConfig, GovernorRegistry, ListObjects, RateBudget, RetryPolicy, Secret,
    StaticToken, Tier,
};
use spoke_mapping::{Destination, Direction, FieldMapping, LocalType, Mapping, MatchKey};
use spoke_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

pub mod dest;

pub struct Env {
    pub sb: SandboxHandle,
    pub client: Client,
    pub store: Store,
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

pub fn retry() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
        ..RetryPolicy::default()
    }
}

pub fn client_for(sb: &SandboxHandle, budget: RateBudget) -> Client {
    let mut config = ClientConfig::new(sb.base_url());
    config.retry = retry();
    let governor = GovernorRegistry::new().for_portal(&sb.base_url(), sb.portal_id(), budget);
    Client::new(config)
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(
            sb.private_app_token(),
        ))))
        .with_governor(governor)
}

/// A portal with HubSpot's Pro limits, a client paced by a Pro governor, and a fresh store.
pub async fn env(config: SandboxConfig) -> Env {
    let budget = if config.rate_limits {
        Tier::Professional.budget()
    } else {
        RateBudget {
            search_per_second: 100,
            burst: 2000,
            ..Tier::Professional.budget()
        }
    };
    let sb = Sandbox::start(config).await.unwrap();
    let client = client_for(&sb, budget);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("spoke.db")).unwrap();
    let engine = Engine::new(store.clone(), client.clone());
    Env {
        sb,
        client,
        store,
        engine,
        dir,
        http: reqwest::Client::new(),
    }
}

fn field(p: &str, t: LocalType) -> FieldMapping {
    FieldMapping {
        property: Some(p.into()),
        column: Some(p.into()),
        direction: Direction::ToLocal,
        property_type: None,
        column_type: Some(t),
        inbound: vec![],
        outbound: vec![],
        required: false,
    }
}

/// Contacts into the `contacts` table, by record id, with text, enum, number (one of them with
/// HubSpot's messy `a;b` values), datetime and calculated properties.
/// A property mapped both ways onto a text column of the same name.
pub fn both(p: &str) -> FieldMapping {
    FieldMapping {
        property: Some(p.into()),
        column: Some(p.into()),
        direction: Direction::Both,
        property_type: None,
        column_type: Some(LocalType::Text),
        inbound: vec![],
        outbound: vec![],
        required: false,
    }
}

/// Contacts without email (nothing unique in HubSpot to stop a second create) into `leads`,
/// matched by record id: first and last name both ways.
pub fn leads_by_record_id() -> Mapping {
    let mut m = Mapping::new(
        "Leads",
        "contacts",
        Destination::Spoke {
            table: "leads".into(),
        },
        MatchKey::RecordId {
            column: "hubspot_id".into(),
        },
    );
    m.fields = vec![both("firstname"), both("lastname")];
    m
}

pub fn contacts_mapping() -> Mapping {
    let mut m = Mapping::new(
        "Contacts",
        "contacts",
        Destination::Spoke {
            table: "contacts".into(),
        },
        MatchKey::RecordId {
            column: "hubspot_id".into(),
        },
    );
    m.fields = vec![
        field("email", LocalType::Text),
        field("firstname", LocalType::Text),
        field("lastname", LocalType::Text),
        field("lifecyclestage", LocalType::Text),
        field("spoke_score", LocalType::Real),
        field("spoke_legacy_ids", LocalType::Text),
        field("spoke_last_seen_at", LocalType::Text),
        field("spoke_days_as_customer", LocalType::Text),
    ];
    m
}

impl Env {
    pub async fn sync(&self, mapping: &Mapping, options: SyncOptions) -> RunSummary {
        self.engine
            .sync(mapping, options, CancelToken::new(), |_p: Progress| {})
            .await
            .unwrap()
    }

    pub async fn sync_with_progress(
        &self,
        mapping: &Mapping,
        options: SyncOptions,
    ) -> (RunSummary, Vec<Progress>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let summary = self
            .engine
            .sync(mapping, options, CancelToken::new(), move |p| {
                s.lock().unwrap().push(p)
            })
            .await
            .unwrap();
        let v = seen.lock().unwrap().clone();
        (summary, v)
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let r = self
            .http
            .request(method, format!("{}/_sandbox/{path}", self.sb.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    pub async fn update(&self, object: &str, id: &str, props: serde_json::Value) {
        self.admin(
            reqwest::Method::POST,
            &format!("objects/{object}/{id}/update"),
            serde_json::json!({ "properties": props }),
        )
        .await;
    }

    /// Requests the portal has answered (HubSpot's surface only).
    pub async fn requests(&self) -> serde_json::Value {
        self.admin(reqwest::Method::GET, "requests", serde_json::Value::Null)
            .await
    }

    pub async fn reset_requests(&self) {
        self.admin(reqwest::Method::DELETE, "requests", serde_json::Value::Null)
            .await;
    }

    /// The portal's live records as the list endpoint shows them:
    /// id → (updatedAt ms, JSON of the mapped properties).
    pub async fn portal(&self, mapping: &Mapping) -> BTreeMap<String, (i64, String)> {
        let props = mapping.hubspot_properties();
        let mut out = BTreeMap::new();
        let mut after = None;
        loop {
            let page = self
                .client
                .list_objects(
                    &mapping.object,
                    &ListObjects {
                        limit: Some(100),
                        after: after.clone(),
                        properties: props.clone(),
                        archived: false,
                    },
                )
                .await
                .unwrap();
            for o in &page.results {
                let raw: BTreeMap<&String, &Option<String>> = o
                    .properties
                    .iter()
                    .filter(|(k, _)| props.contains(k))
                    .collect();
                let ms = parse_iso(o.updated_at.as_deref().unwrap());
                out.insert(o.id.clone(), (ms, serde_json::to_string(&raw).unwrap()));
            }
            match page.next_after() {
                Some(a) => after = Some(a.to_owned()),
                None => break,
            }
        }
        out
    }

    /// The store's live (not archived) records: id → (updated ms, raw JSON).
    pub fn local(&self, table: &str) -> BTreeMap<String, (i64, String)> {
        let conn = rusqlite_open(&self.dir.path().join("spoke.db"));
        local_of(&conn, table)
    }

    /// The portal's associations from `object` records to `to`, read independently with v4
    /// batch reads: (from id, to id) pairs.
    pub async fn portal_associations(
        &self,
        object: &str,
        ids: &[String],
        to: &str,
    ) -> std::collections::BTreeSet<(String, String)> {
        let mut out = std::collections::BTreeSet::new();
        for chunk in ids.chunks(1000) {
            let body = serde_json::json!({
                "inputs": chunk.iter().map(|id| serde_json::json!({ "id": id })).collect::<Vec<_>>()
            });
            let v: serde_json::Value = self
                .client
                .send(spoke_hubspot::Request::post(format!("/crm/v4/associations/{object}/{to}/batch/read")).json(body))
                .await
                .unwrap()
                .json()
                .unwrap();
            for r in v["results"].as_array().unwrap() {
                let from = r["from"]["id"].as_str().unwrap().to_owned();
                for t in r["to"].as_array().unwrap() {
                    let to_id = t["toObjectId"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| t["toObjectId"].to_string());
                    out.insert((from.clone(), to_id));
                }
            }
        }
        out
    }

    /// The local association pairs of `table` with `to`.
    pub fn local_associations(&self, table: &str, to: &str) -> std::collections::BTreeSet<(String, String)> {
        let conn = rusqlite_open(&self.dir.path().join("spoke.db"));
        let name = spoke_engine::association_table(table, to);
        let mut stmt = conn
            .prepare(&format!("SELECT from_id, to_id FROM \"{name}\""))
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    pub fn count(&self, sql: &str) -> i64 {
        let conn = rusqlite_open(&self.dir.path().join("spoke.db"));
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

pub fn rusqlite_open(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

pub fn local_of(conn: &rusqlite::Connection, table: &str) -> BTreeMap<String, (i64, String)> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT _hs_id, _hs_updated_ms, _hs_raw FROM \"{table}\" WHERE _hs_archived = 0"
        ))
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// A checksum over rows (id, updated ms, raw properties), in id order.
pub fn checksum(rows: &BTreeMap<String, (i64, String)>) -> String {
    let mut h = Sha256::new();
    for (id, (ms, raw)) in rows {
        h.update(format!("{id}\t{ms}\t{raw}\n").as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_iso(s: &str) -> i64 {
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    let y: i64 = s[0..4].parse().unwrap();
    let mo: i64 = s[5..7].parse().unwrap();
    let d: i64 = s[8..10].parse().unwrap();
    let h: i64 = s[11..13].parse().unwrap();
    let mi: i64 = s[14..16].parse().unwrap();
    let sec: i64 = s[17..19].parse().unwrap();
    let ms: i64 = if s.len() > 20 && &s[19..20] == "." {
        s[20..23].parse().unwrap()
    } else {
        0
    };
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy.rem_euclid(400);
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + ms
}

pub fn assert_same(
    portal: &BTreeMap<String, (i64, String)>,
    local: &BTreeMap<String, (i64, String)>,
) {
    if portal != local {
        let missing: Vec<_> = portal
            .keys()
            .filter(|k| !local.contains_key(*k))
            .take(5)
            .collect();
        let extra: Vec<_> = local
            .keys()
            .filter(|k| !portal.contains_key(*k))
            .take(5)
            .collect();
        let differ: Vec<_> = portal
            .iter()
            .filter(|(k, v)| local.get(*k).is_some_and(|l| l != *v))
            .take(3)
            .map(|(k, v)| (k, v, local.get(k)))
            .collect();
        panic!(
            "store differs from portal: {} vs {} rows; missing {missing:?}, extra {extra:?}, differ {differ:?}",
            portal.len(),
            local.len()
        );
    }
    assert_eq!(checksum(portal), checksum(local));
}
