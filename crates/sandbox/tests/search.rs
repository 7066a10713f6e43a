//! CRM search: operators, limits, paging to the 10,000 cap, sorting, query, lag, disorder.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use spoke_sandbox::SandboxConfig;

async fn search(env: &Env, ty: &str, body: Value) -> Value {
    let r = env.post(&format!("/crm/v3/objects/{ty}/search"), body).await;
    assert_eq!(r.status(), 200);
    json(r).await
}

fn ids(v: &Value) -> Vec<String> {
    v["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

fn f(prop: &str, op: &str, value: Value) -> Value {
    json!({ "filterGroups": [{ "filters": [{ "propertyName": prop, "operator": op, "value": value }] }], "limit": 200, "properties": [prop] })
}

#[tokio::test]
async fn operators_filter_correctly() {
    let env = unlimited().await;
    let total = search(&env, "deals", json!({ "limit": 1 })).await["total"].as_u64().unwrap();
    let won = search(&env, "deals", f("dealstage", "EQ", json!("closedwon"))).await;
    assert!(won["results"].as_array().unwrap().iter().all(|d| d["properties"]["dealstage"] == "closedwon"));
    let not_won = search(&env, "deals", f("dealstage", "NEQ", json!("closedwon"))).await;
    assert_eq!(won["total"].as_u64().unwrap() + not_won["total"].as_u64().unwrap(), total);

    let big = search(&env, "deals", f("amount", "GTE", json!("50000"))).await;
    assert!(big["results"].as_array().unwrap().iter().all(|d| d["properties"]["amount"].as_str().unwrap().parse::<f64>().unwrap() >= 50000.0));
    let small = search(&env, "deals", f("amount", "LT", json!(50000))).await;
    let no_amount = search(&env, "deals", f("amount", "NOT_HAS_PROPERTY", Value::Null)).await;
    assert_eq!(big["total"].as_u64().unwrap() + small["total"].as_u64().unwrap() + no_amount["total"].as_u64().unwrap(), total, "numeric comparison, not string");
    let lte = search(&env, "deals", f("amount", "LTE", json!("50000"))).await["total"].as_u64().unwrap();
    let gt = search(&env, "deals", f("amount", "GT", json!("50000"))).await["total"].as_u64().unwrap();
    assert_eq!(lte + gt + no_amount["total"].as_u64().unwrap(), total);

    let between = search(&env, "deals", json!({ "filterGroups": [{ "filters": [{ "propertyName": "amount", "operator": "BETWEEN", "value": "10000", "highValue": "20000" }] }], "limit": 200, "properties": ["amount"] })).await;
    assert!(between["results"].as_array().unwrap().iter().all(|d| { let a: f64 = d["properties"]["amount"].as_str().unwrap().parse().unwrap(); (10000.0..=20000.0).contains(&a) }));

    let inn = search(&env, "deals", json!({ "filterGroups": [{ "filters": [{ "propertyName": "dealstage", "operator": "IN", "values": ["closedwon", "closedlost"] }] }], "limit": 200, "properties": ["dealstage"] })).await;
    let lost = search(&env, "deals", f("dealstage", "EQ", json!("closedlost"))).await["total"].as_u64().unwrap();
    assert_eq!(inn["total"].as_u64().unwrap(), won["total"].as_u64().unwrap() + lost);
    let not_in = search(&env, "deals", json!({ "filterGroups": [{ "filters": [{ "propertyName": "dealstage", "operator": "NOT_IN", "values": ["closedwon", "closedlost"] }] }], "limit": 1 })).await;
    assert_eq!(not_in["total"].as_u64().unwrap() + inn["total"].as_u64().unwrap(), total);

    let has = search(&env, "contacts", f("phone", "HAS_PROPERTY", Value::Null)).await["total"].as_u64().unwrap();
    let hasnt = search(&env, "contacts", f("phone", "NOT_HAS_PROPERTY", Value::Null)).await["total"].as_u64().unwrap();
    let contacts = search(&env, "contacts", json!({ "limit": 1 })).await["total"].as_u64().unwrap();
    assert_eq!(has + hasnt, contacts);
    assert!(hasnt > 0);

    let gmail = search(&env, "contacts", f("email", "CONTAINS_TOKEN", json!("*@gmail.com"))).await;
    assert!(gmail["total"].as_u64().unwrap() > 0);
    assert!(gmail["results"].as_array().unwrap().iter().all(|c| c["properties"]["email"].as_str().unwrap().ends_with("@gmail.com")));
    let not_gmail = search(&env, "contacts", f("email", "NOT_CONTAINS_TOKEN", json!("*@gmail.com"))).await["total"].as_u64().unwrap();
    assert_eq!(gmail["total"].as_u64().unwrap() + not_gmail, contacts);

    // Dates compare as time, with ms or ISO values.
    let cut = "2026-01-01T00:00:00.000Z";
    let after = search(&env, "contacts", f("createdate", "GTE", json!(cut))).await["total"].as_u64().unwrap();
    let after_ms = search(&env, "contacts", f("createdate", "GTE", json!("1767225600000"))).await["total"].as_u64().unwrap();
    assert_eq!(after, after_ms);
    let before = search(&env, "contacts", f("createdate", "LT", json!(cut))).await["total"].as_u64().unwrap();
    assert_eq!(after + before, contacts);

    // OR across groups, AND within a group.
    let or = search(&env, "deals", json!({ "filterGroups": [{ "filters": [{ "propertyName": "dealstage", "operator": "EQ", "value": "closedwon" }] }, { "filters": [{ "propertyName": "dealstage", "operator": "EQ", "value": "closedlost" }] }], "limit": 1 })).await;
    assert_eq!(or["total"], inn["total"]);
    let and = search(&env, "deals", json!({ "filterGroups": [{ "filters": [{ "propertyName": "dealstage", "operator": "EQ", "value": "closedwon" }, { "propertyName": "dealstage", "operator": "EQ", "value": "closedlost" }] }], "limit": 1 })).await;
    assert_eq!(and["total"], 0);
}

#[tokio::test]
async fn limits_are_enforced() {
    let env = unlimited().await;
    let filt = |n: usize| (0..n).map(|_| json!({ "propertyName": "email", "operator": "HAS_PROPERTY" })).collect::<Vec<_>>();
    let groups = |g: usize, per: usize| (0..g).map(|_| json!({ "filters": filt(per) })).collect::<Vec<_>>();
    assert_eq!(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": groups(5, 3) })).await.status(), 200);
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": groups(6, 1) })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": groups(1, 7) })).await, 400, "VALIDATION_ERROR").await;
    assert_eq!(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": groups(3, 6) })).await.status(), 200);
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": groups(4, 5) })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "sorts": [{ "propertyName": "email" }, { "propertyName": "firstname" }] })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "limit": 201 })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "limit": 0 })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", f("nope", "EQ", json!("x"))).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "LIKE", "value": "x" }] }] })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "EQ" }] }] })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "IN" }] }] })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/search", json!({ "sorts": [{ "propertyName": "nope" }] })).await, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn paging_stops_with_400_at_ten_thousand() {
    let env = start(SandboxConfig { contacts: 10_400, rate_limits: false, ..Default::default() }).await;
    let mut after: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    let mut last_next = None;
    loop {
        let mut body = json!({ "limit": 200, "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }], "properties": ["email"] });
        if let Some(a) = &after {
            body["after"] = json!(a);
        }
        let r = env.post("/crm/v3/objects/contacts/search", body).await;
        if r.status() == 400 {
            let e = hub_error(r, 400, "VALIDATION_ERROR").await;
            assert!(e["message"].as_str().unwrap().contains("10000"));
            break;
        }
        let v = json(r).await;
        assert!(v["total"].as_u64().unwrap() > 10_000);
        for id in ids(&v) {
            assert!(seen.insert(id));
        }
        last_next = v["paging"]["next"]["after"].as_str().map(str::to_string);
        after = last_next.clone();
        assert!(after.is_some(), "more results remain past 10k, so paging.next is present");
    }
    assert_eq!(seen.len(), 10_000);
    assert_eq!(last_next.as_deref(), Some("10000"));
}

#[tokio::test]
async fn sorting_query_and_properties() {
    let env = unlimited().await;
    let v = search(&env, "deals", json!({ "sorts": [{ "propertyName": "amount", "direction": "DESCENDING" }], "limit": 50, "properties": ["amount"], "filterGroups": [{ "filters": [{ "propertyName": "amount", "operator": "HAS_PROPERTY" }] }] })).await;
    let amounts: Vec<f64> = v["results"].as_array().unwrap().iter().map(|d| d["properties"]["amount"].as_str().unwrap().parse().unwrap()).collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "numeric descending sort");
    let v = search(&env, "contacts", json!({ "sorts": ["lastname"], "limit": 100, "properties": ["lastname"] })).await;
    let names: Vec<String> = v["results"].as_array().unwrap().iter().filter_map(|c| c["properties"]["lastname"].as_str().map(str::to_lowercase)).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]));

    let someone = search(&env, "contacts", json!({ "limit": 1, "properties": ["email", "lastname"] })).await["results"][0].clone();
    let last = someone["properties"]["lastname"].as_str().unwrap();
    let v = search(&env, "contacts", json!({ "query": last, "limit": 200, "properties": ["lastname", "firstname", "email"] })).await;
    assert!(ids(&v).contains(&someone["id"].as_str().unwrap().to_string()));
    let v = search(&env, "contacts", json!({ "limit": 3 })).await;
    let p = v["results"][0]["properties"].as_object().unwrap();
    for k in ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"] {
        assert!(p.contains_key(k), "default property {k}");
    }
    assert!(v["paging"]["next"]["after"] == "3");
}

#[tokio::test]
async fn search_lag_hides_fresh_writes_until_it_elapses() {
    let env = start(SandboxConfig { search_lag_ms: 5_000, rate_limits: false, ..Default::default() }).await;
    let r = env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "fresh@lag-demo.com", "firstname": "Fresh" } })).await;
    let id = json(r).await["id"].as_str().unwrap().to_string();
    // GET sees it right away; search does not yet.
    assert_eq!(env.get(&format!("/crm/v3/objects/contacts/{id}")).await.status(), 200);
    let q = f("email", "EQ", json!("fresh@lag-demo.com"));
    assert_eq!(search(&env, "contacts", q.clone()).await["total"], 0);
    env.admin(Method::POST, "/clock/advance", json!({ "ms": 5_001 })).await;
    assert_eq!(search(&env, "contacts", q.clone()).await["total"], 1);
    // Updates: search keeps returning the old version during the lag.
    let upd = json(env.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({ "properties": { "firstname": "Updated" } })).await).await;
    let since = f("lastmodifieddate", "GTE", upd["updatedAt"].clone());
    assert!(!ids(&search(&env, "contacts", since.clone()).await).contains(&id), "the new modification time is not indexed yet");
    let v = search(&env, "contacts", json!({ "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "EQ", "value": "fresh@lag-demo.com" }] }], "properties": ["firstname"] })).await;
    assert_eq!(v["results"][0]["properties"]["firstname"], "Fresh");
    env.admin(Method::POST, "/clock/advance", json!({ "ms": 5_001 })).await;
    let v = search(&env, "contacts", json!({ "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "EQ", "value": "fresh@lag-demo.com" }] }], "properties": ["firstname"] })).await;
    assert_eq!(v["results"][0]["properties"]["firstname"], "Updated");
    assert!(ids(&search(&env, "contacts", since).await).contains(&id));
}

#[tokio::test]
async fn shuffle_fault_disorders_pages() {
    let env = unlimited().await;
    let body = json!({ "limit": 100, "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }] });
    let ordered = ids(&search(&env, "contacts", body.clone()).await);
    env.admin(Method::PUT, "/faults", json!({ "searchShuffle": true })).await;
    let mut differs = false;
    for _ in 0..5 {
        let shuffled = ids(&search(&env, "contacts", body.clone()).await);
        let mut a = shuffled.clone();
        a.sort();
        let mut b = ordered.clone();
        b.sort();
        assert_eq!(a, b, "same page, different order");
        differs |= shuffled != ordered;
    }
    assert!(differs);
}

#[tokio::test]
async fn date_range_searches_read_the_index_and_match_a_full_scan() {
    let env = unlimited().await;
    // Touch a few records so modification times move after seeding.
    let some = json(env.get("/crm/v3/objects/contacts?limit=5").await).await;
    for r in some["results"].as_array().unwrap() {
        env.patch(&format!("/crm/v3/objects/contacts/{}", r["id"].as_str().unwrap()), json!({ "properties": { "jobtitle": "Touched" } })).await;
    }
    let created = json(env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "range@acme-demo.com" } })).await).await;
    let archived_id = some["results"][4]["id"].as_str().unwrap().to_string();
    env.send(Method::DELETE, &format!("/crm/v3/objects/contacts/{archived_id}"), json!(null)).await;
    for (prop, op, value, high) in [
        ("lastmodifieddate", "GTE", "2026-06-01T00:00:00.000Z", None),
        ("lastmodifieddate", "LT", "2026-06-01T00:00:00.000Z", None),
        ("lastmodifieddate", "BETWEEN", "2026-01-01", Some("2026-03-01")),
        ("createdate", "GT", "1767225600000", None),
        ("createdate", "LTE", "2025-06-01T12:00:00Z", None),
        ("lastmodifieddate", "EQ", created["updatedAt"].as_str().unwrap(), None),
    ] {
        let mut filter = json!({ "propertyName": prop, "operator": op, "value": value });
        if let Some(h) = high {
            filter["highValue"] = json!(h);
        }
        let indexed = json!({ "filterGroups": [{ "filters": [filter.clone()] }], "limit": 200, "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }] });
        // A second group that matches nothing but is not a date range forces a full scan.
        let scanned = json!({ "filterGroups": [{ "filters": [filter] }, { "filters": [{ "propertyName": "email", "operator": "EQ", "value": "nobody@nowhere.invalid" }] }], "limit": 200, "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }] });
        let a = search(&env, "contacts", indexed).await;
        let b = search(&env, "contacts", scanned).await;
        assert_eq!(a["total"], b["total"], "{prop} {op}");
        assert_eq!(ids(&a), ids(&b), "{prop} {op}");
        assert!(!ids(&a).contains(&archived_id));
    }
    let eq = search(&env, "contacts", f("lastmodifieddate", "EQ", json!(created["updatedAt"]))).await;
    assert!(ids(&eq).contains(&created["id"].as_str().unwrap().to_string()));
}

#[tokio::test]
async fn record_id_ranges_read_the_id_order_and_match_a_full_scan() {
    let env = unlimited().await;
    let first = json(env.get("/crm/v3/objects/contacts?limit=1").await).await;
    let lo: u64 = first["results"][0]["id"].as_str().unwrap().parse().unwrap();
    let archived_id = (lo + 40).to_string();
    env.send(Method::DELETE, &format!("/crm/v3/objects/contacts/{archived_id}"), json!(null)).await;
    let id = |op: &str, v: Value| json!({ "propertyName": "hs_object_id", "operator": op, "value": v });
    let between = |a: u64, b: u64| json!({ "propertyName": "hs_object_id", "operator": "BETWEEN", "value": a.to_string(), "highValue": b.to_string() });
    let nobody = json!({ "filters": [{ "propertyName": "email", "operator": "EQ", "value": "nobody@nowhere.invalid" }] });
    let cases: Vec<(&str, Vec<Value>)> = vec![
        ("between", vec![json!({ "filters": [between(lo + 10, lo + 150)] })]),
        ("gt and lt", vec![json!({ "filters": [id("GT", json!((lo + 100).to_string())), id("LT", json!(lo + 200))] })]),
        ("fractional gte and lte", vec![json!({ "filters": [id("GTE", json!(format!("{}.5", lo + 20))), id("LTE", json!(format!("{}.7", lo + 90)))] })]),
        ("eq", vec![json!({ "filters": [id("EQ", json!((lo + 42).to_string()))] })]),
        ("lt", vec![json!({ "filters": [id("LT", json!((lo + 30).to_string()))] })]),
        ("two groups", vec![json!({ "filters": [between(lo, lo + 20)] }), json!({ "filters": [between(lo + 50, lo + 60)] })]),
        ("empty", vec![json!({ "filters": [between(lo + 60, lo + 50)] })]),
        ("with another filter", vec![json!({ "filters": [between(lo, lo + 150), { "propertyName": "lifecyclestage", "operator": "EQ", "value": "lead" }] })]),
        ("archived id", vec![json!({ "filters": [id("EQ", json!(archived_id))] })]),
    ];
    for (name, groups) in cases {
        // A second group that matches nothing and does not bound the id forces a full scan
        // (in id order, as no sort is asked for).
        let mut scan_groups = groups.clone();
        scan_groups.push(nobody.clone());
        let scanned = search(&env, "contacts", json!({ "filterGroups": scan_groups, "limit": 200 })).await;
        let expected = ids(&scanned);
        assert!(expected.len() < 200, "{name}: keep the case within one page");
        for (direction, order) in [("ASCENDING", expected.clone()), ("DESCENDING", expected.iter().rev().cloned().collect())] {
            let sorts = json!([{ "propertyName": "hs_object_id", "direction": direction }]);
            let indexed = search(&env, "contacts", json!({ "filterGroups": groups, "limit": 200, "sorts": sorts })).await;
            assert_eq!(indexed["total"], scanned["total"], "{name} {direction}");
            assert_eq!(ids(&indexed), order, "{name} {direction}");
            // Paged: the same records, page by page.
            let page = search(&env, "contacts", json!({ "filterGroups": groups, "limit": 7, "after": "7", "sorts": sorts })).await;
            assert_eq!(ids(&page), order.iter().skip(7).take(7).cloned().collect::<Vec<_>>(), "{name} {direction} page 2");
        }
        assert!(!expected.contains(&archived_id), "{name}");
    }
    let eq = search(&env, "contacts", json!({ "filterGroups": [{ "filters": [id("EQ", json!((lo + 42).to_string()))] }] })).await;
    assert_eq!(ids(&eq), vec![(lo + 42).to_string()]);
}
