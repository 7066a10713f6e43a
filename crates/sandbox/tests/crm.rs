//! CRM v3 objects: list, get, create, update, archive, merge, GDPR delete, batch operations.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use spoke_sandbox::{Sandbox, SandboxConfig};

#[tokio::test]
async fn list_pages_through_every_contact_once() {
    let env = unlimited().await;
    let mut seen = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/crm/v3/objects/contacts?limit=100&after={a}"),
            None => "/crm/v3/objects/contacts?limit=100".to_string(),
        };
        let v = json(env.get(&path).await).await;
        for r in v["results"].as_array().unwrap() {
            assert!(seen.insert(r["id"].as_str().unwrap().to_string()));
            assert_eq!(r["archived"], false);
            let p = &r["properties"];
            for k in ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"] {
                assert!(p.get(k).is_some(), "default property {k}");
            }
            assert_eq!(p["hs_object_id"], r["id"]);
        }
        match v["paging"]["next"]["after"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => break,
        }
    }
    let archived = json(env.get("/crm/v3/objects/contacts?limit=100&archived=true").await).await;
    let n_archived = archived["results"].as_array().unwrap().len();
    assert!(n_archived > 0, "some seeded contacts are archived");
    assert_eq!(seen.len() + n_archived, 500);
    for r in archived["results"].as_array().unwrap() {
        assert_eq!(r["archived"], true);
        assert!(r["archivedAt"].is_string());
    }
}

#[tokio::test]
async fn list_validates_limit_and_after() {
    let env = unlimited().await;
    hub_error(env.get("/crm/v3/objects/contacts?limit=101").await, 400, "VALIDATION_ERROR").await;
    hub_error(env.get("/crm/v3/objects/contacts?limit=0").await, 400, "VALIDATION_ERROR").await;
    hub_error(env.get("/crm/v3/objects/contacts?after=abc").await, 400, "VALIDATION_ERROR").await;
    hub_error(env.get("/crm/v3/objects/widgets").await, 400, "OBJECT_NOT_FOUND").await;
    let v = json(env.get("/crm/v3/objects/contacts").await).await;
    assert_eq!(v["results"].as_array().unwrap().len(), 10, "default limit");
    let v = json(env.get("/crm/v3/objects/contacts?limit=100&propertiesWithHistory=email").await).await;
    assert_eq!(v["results"].as_array().unwrap().len(), 50, "history caps pages at 50");
    assert!(v["results"][0]["propertiesWithHistory"]["email"][0]["value"].is_string());
}

#[tokio::test]
async fn every_type_is_served_by_name_and_id() {
    let env = unlimited().await;
    for (name, id) in [("contacts", "0-1"), ("companies", "0-2"), ("deals", "0-3"), ("tickets", "0-5"), ("notes", "0-46"), ("calls", "0-48"), ("projects", "2-3508482"), ("p24681357_projects", "2-3508482")] {
        let a = json(env.get(&format!("/crm/v3/objects/{name}?limit=3")).await).await;
        let b = json(env.get(&format!("/crm/objects/2026-03/{id}?limit=3")).await).await;
        assert_eq!(a["results"].as_array().unwrap().len(), 3, "{name}");
        assert_eq!(a["results"], b["results"], "{name} = {id}");
    }
}

#[tokio::test]
async fn get_by_id_id_property_and_associations() {
    let env = unlimited().await;
    let first = json(env.get("/crm/v3/objects/contacts?limit=1&associations=companies").await).await["results"][0].clone();
    let id = first["id"].as_str().unwrap();
    let email = first["properties"]["email"].as_str().unwrap();
    let v = json(env.get(&format!("/crm/v3/objects/contacts/{id}?properties=email,spoke_score,nope")).await).await;
    assert_eq!(v["properties"]["email"], email);
    assert!(v["properties"].get("nope").is_none(), "unknown properties are ignored");
    let v = json(env.get(&format!("/crm/v3/objects/contacts/{}?idProperty=email", email.to_uppercase())).await).await;
    assert_eq!(v["id"], id);
    hub_error(env.get("/crm/v3/objects/contacts/nobody@example.com?idProperty=email").await, 404, "OBJECT_NOT_FOUND").await;
    hub_error(env.get("/crm/v3/objects/contacts/x?idProperty=firstname").await, 400, "VALIDATION_ERROR").await;
    hub_error(env.get("/crm/v3/objects/contacts/999999999").await, 404, "OBJECT_NOT_FOUND").await;
    hub_error(env.get("/crm/v3/objects/contacts/abc").await, 404, "OBJECT_NOT_FOUND").await;
    let co = json(env.get("/crm/v3/objects/companies?limit=1").await).await["results"][0]["id"].as_str().unwrap().to_string();
    let v = json(env.get(&format!("/crm/v3/objects/companies/{co}?associations=contacts,deals")).await).await;
    let contacts = v["associations"]["contacts"]["results"].as_array().unwrap();
    assert!(!contacts.is_empty());
    assert!(contacts.iter().all(|a| a["type"] == "company_to_contact" || a["type"] == "company_to_contact_unlabeled"), "{contacts:?}");
    assert!(contacts.iter().any(|a| a["type"] == "company_to_contact_unlabeled"));
}

#[tokio::test]
async fn create_validates_like_hubspot() {
    let env = unlimited().await;
    let r = env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "new.person@acme-demo.com", "firstname": "New", "lifecyclestage": "lead", "spoke_score": 7, "spoke_opt_in": true, "spoke_renewal_date": "2027-01-15", "spoke_last_seen_at": 1_700_000_000_123i64 } })).await;
    assert_eq!(r.status(), 201);
    let v = json(r).await;
    assert_eq!(v["properties"]["spoke_score"], "7");
    assert_eq!(v["properties"]["spoke_opt_in"], "true");
    assert_eq!(v["properties"]["spoke_renewal_date"], "2027-01-15");
    assert_eq!(v["properties"]["spoke_last_seen_at"], "2023-11-14T22:13:20.123Z");
    assert_eq!(v["createdAt"], v["updatedAt"]);
    let id = v["id"].as_str().unwrap().to_string();

    // Duplicate email (case-insensitive) → 409 naming the existing id.
    let e = hub_error(env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "NEW.PERSON@acme-demo.com" } })).await, 409, "CONFLICT").await;
    assert_eq!(e["message"], format!("Contact already exists. Existing ID: {id}"));

    for (props, code) in [
        (json!({ "nope": "x" }), "PROPERTY_DOESNT_EXIST"),
        (json!({ "lifecyclestage": "astronaut" }), "INVALID_OPTION"),
        (json!({ "spoke_score": "12abc" }), "INVALID_DECIMAL"),
        (json!({ "hs_object_id": "5" }), "READ_ONLY_VALUE"),
        (json!({ "num_associated_deals": "5" }), "READ_ONLY_VALUE"),
        (json!({ "spoke_renewal_date": "2027-01-15T10:00:00Z" }), "INVALID_DATE"),
        (json!({ "email": "not-an-email" }), "INVALID_EMAIL"),
        (json!({ "spoke_opt_in": "maybe" }), "INVALID_OPTION"),
    ] {
        let e = hub_error(env.post("/crm/v3/objects/contacts", json!({ "properties": props })).await, 400, "VALIDATION_ERROR").await;
        assert!(e["message"].as_str().unwrap().contains(code), "{code}: {e}");
        assert!(e["message"].as_str().unwrap().starts_with("Property values were not valid"));
    }
    hub_error(env.http.post(env.url("/crm/v3/objects/contacts")).bearer_auth(&env.token).header("content-type", "application/json").body("{not json").send().await.unwrap(), 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn create_with_associations() {
    let env = unlimited().await;
    let co = json(env.get("/crm/v3/objects/companies?limit=1").await).await["results"][0]["id"].as_str().unwrap().to_string();
    let r = env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "linked@acme-demo.com" }, "associations": [{ "to": { "id": co }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1 }] }] })).await;
    assert_eq!(r.status(), 201);
    let id = json(r).await["id"].as_str().unwrap().to_string();
    let v = json(env.get(&format!("/crm/v4/objects/contacts/{id}/associations/companies")).await).await;
    assert_eq!(v["results"][0]["toObjectId"], co.as_str());
    assert_eq!(v["results"][0]["associationTypes"][0]["label"], "Primary");
    let r = env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "linked2@acme-demo.com" }, "associations": [{ "to": { "id": "1" }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1 }] }] })).await;
    hub_error(r, 400, "VALIDATION_ERROR").await;
    let r = env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "linked3@acme-demo.com" }, "associations": [{ "to": { "id": co }, "types": [{ "associationCategory": "USER_DEFINED", "associationTypeId": 1 }] }] })).await;
    hub_error(r, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn update_bumps_modified_and_keeps_history() {
    let env = unlimited().await;
    let c = json(env.get("/crm/v3/objects/contacts?limit=1&properties=firstname,lastmodifieddate").await).await["results"][0].clone();
    let id = c["id"].as_str().unwrap();
    let r = env.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({ "properties": { "firstname": "Renamed" } })).await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["properties"]["firstname"], "Renamed");
    assert_ne!(v["updatedAt"], c["updatedAt"]);
    assert_eq!(v["properties"]["lastmodifieddate"], v["updatedAt"]);
    let h = json(env.get(&format!("/crm/v3/objects/contacts/{id}?propertiesWithHistory=firstname")).await).await;
    let hist = h["propertiesWithHistory"]["firstname"].as_array().unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0]["value"], "Renamed");
    assert_eq!(hist[1]["value"], c["properties"]["firstname"]);
    // Clearing a value with "".
    let v = json(env.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({ "properties": { "firstname": "" } })).await).await;
    assert_eq!(v["properties"]["firstname"], Value::Null);
    // Update by email, 404 for unknown, 409 for taking another contact's email.
    let email = c["properties"]["email"].as_str().unwrap_or("").to_string();
    let email = if email.is_empty() { json(env.get(&format!("/crm/v3/objects/contacts/{id}")).await).await["properties"]["email"].as_str().unwrap().to_string() } else { email };
    assert_eq!(env.patch(&format!("/crm/v3/objects/contacts/{email}?idProperty=email"), json!({ "properties": { "jobtitle": "CFO" } })).await.status(), 200);
    hub_error(env.patch("/crm/v3/objects/contacts/999999999", json!({ "properties": { "jobtitle": "CFO" } })).await, 404, "OBJECT_NOT_FOUND").await;
    let other = json(env.get("/crm/v3/objects/contacts?limit=2").await).await["results"][1]["properties"]["email"].as_str().unwrap().to_string();
    hub_error(env.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({ "properties": { "email": other } })).await, 409, "CONFLICT").await;
}

#[tokio::test]
async fn archive_moves_to_recycle_bin() {
    let env = unlimited().await;
    let id = json(env.get("/crm/v3/objects/deals?limit=1").await).await["results"][0]["id"].as_str().unwrap().to_string();
    let r = env.send(Method::DELETE, &format!("/crm/v3/objects/deals/{id}"), json!(null)).await;
    assert_eq!(r.status(), 204);
    hub_error(env.get(&format!("/crm/v3/objects/deals/{id}")).await, 404, "OBJECT_NOT_FOUND").await;
    let v = json(env.get(&format!("/crm/v3/objects/deals/{id}?archived=true")).await).await;
    assert_eq!(v["archived"], true);
    // Idempotent.
    assert_eq!(env.send(Method::DELETE, &format!("/crm/v3/objects/deals/{id}"), json!(null)).await.status(), 204);
}

#[tokio::test]
async fn merge_redirects_the_loser_and_records_merged_ids() {
    let env = unlimited().await;
    let v = json(env.get("/crm/v3/objects/contacts?limit=2&associations=companies").await).await;
    let (a, b) = (v["results"][0]["id"].as_str().unwrap().to_string(), v["results"][1]["id"].as_str().unwrap().to_string());
    let r = env.post("/crm/v3/objects/contacts/merge", json!({ "primaryObjectId": a, "objectIdToMerge": b })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["id"], a.as_str());
    let w = json(env.get(&format!("/crm/v3/objects/contacts/{a}?properties=hs_merged_object_ids")).await).await;
    assert!(w["properties"]["hs_merged_object_ids"].as_str().unwrap().split(';').any(|x| x == b));
    let l = json(env.get(&format!("/crm/v3/objects/contacts/{b}")).await).await;
    assert_eq!(l["id"], a.as_str(), "merged-away id reads as the survivor");
    hub_error(env.post("/crm/v3/objects/contacts/merge", json!({ "primaryObjectId": a, "objectIdToMerge": a })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/merge", json!({ "primaryObjectId": a, "objectIdToMerge": "999999999" })).await, 400, "VALIDATION_ERROR").await;
    let n = json(env.get("/crm/v3/objects/notes?limit=2").await).await;
    hub_error(env.post("/crm/v3/objects/notes/merge", json!({ "primaryObjectId": n["results"][0]["id"], "objectIdToMerge": n["results"][1]["id"] })).await, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn seeded_merges_and_messy_values_exist() {
    let env = unlimited().await;
    let v = json(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": [{ "filters": [{ "propertyName": "hs_merged_object_ids", "operator": "HAS_PROPERTY" }] }], "properties": ["hs_merged_object_ids"], "limit": 1 })).await).await;
    let merged = v["results"][0]["properties"]["hs_merged_object_ids"].as_str().unwrap().split(';').next().unwrap().to_string();
    let r = json(env.get(&format!("/crm/v3/objects/contacts/{merged}")).await).await;
    assert_eq!(r["id"], v["results"][0]["id"]);
    let v = json(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": [{ "filters": [{ "propertyName": "spoke_legacy_ids", "operator": "CONTAINS_TOKEN", "value": "*;*" }] }], "properties": ["spoke_legacy_ids"], "limit": 5 })).await).await;
    assert!(v["total"].as_u64().unwrap() > 0, "number field with ';'-joined ids");
    let all = json(env.post("/crm/v3/objects/contacts/search", json!({ "properties": ["spoke_last_seen_at", "spoke_score", "phone"], "limit": 200 })).await).await;
    let rs = all["results"].as_array().unwrap();
    assert!(rs.iter().any(|r| r["properties"]["spoke_last_seen_at"].as_str().is_some_and(|s| s.ends_with(".0"))), "float-ms timestamps");
    assert!(rs.iter().any(|r| r["properties"]["spoke_score"] == ""), "empty strings in typed fields");
}

#[tokio::test]
async fn gdpr_delete_removes_everywhere() {
    let env = unlimited().await;
    let c = json(env.get("/crm/v3/objects/contacts?limit=1").await).await["results"][0].clone();
    let email = c["properties"]["email"].as_str().unwrap();
    let r = env.post("/crm/v3/objects/contacts/gdpr-delete", json!({ "objectId": email, "idProperty": "email" })).await;
    assert_eq!(r.status(), 204);
    let id = c["id"].as_str().unwrap();
    hub_error(env.get(&format!("/crm/v3/objects/contacts/{id}")).await, 404, "OBJECT_NOT_FOUND").await;
    hub_error(env.get(&format!("/crm/v3/objects/contacts/{id}?archived=true")).await, 404, "OBJECT_NOT_FOUND").await;
    // The email is free again.
    assert_eq!(env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": email } })).await.status(), 201);
    hub_error(env.post("/crm/v3/objects/contacts/gdpr-delete", json!({ "objectId": "999999999" })).await, 404, "OBJECT_NOT_FOUND").await;
}

#[tokio::test]
async fn batch_read_partial_failure_is_207() {
    let env = unlimited().await;
    let v = json(env.get("/crm/v3/objects/contacts?limit=3").await).await;
    let ids: Vec<&str> = v["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    let r = env.post("/crm/v3/objects/contacts/batch/read", json!({ "inputs": [{ "id": ids[0] }, { "id": ids[1] }], "properties": ["email"], "propertiesWithHistory": [] })).await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["status"], "COMPLETE");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    let r = env.post("/crm/v3/objects/contacts/batch/read", json!({ "inputs": [{ "id": ids[2] }, { "id": "999999998" }, { "id": "999999999" }], "properties": ["email"], "propertiesWithHistory": [] })).await;
    assert_eq!(r.status(), 207);
    let v = json(r).await;
    assert_eq!(v["numErrors"], 1);
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(v["errors"][0]["context"]["ids"], json!(["999999998", "999999999"]));
    let too_many: Vec<Value> = (0..101).map(|i| json!({ "id": i.to_string() })).collect();
    hub_error(env.post("/crm/v3/objects/contacts/batch/read", json!({ "inputs": too_many, "properties": [], "propertiesWithHistory": [] })).await, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn batch_create_conflicts_and_partial_validation() {
    let env = unlimited().await;
    let r = env.post("/crm/v3/objects/contacts/batch/create", json!({ "inputs": [
        { "properties": { "email": "b1@acme-demo.com" }, "associations": [] },
        { "properties": { "email": "b2@acme-demo.com" }, "associations": [] },
    ] })).await;
    assert_eq!(r.status(), 201);
    assert_eq!(json(r).await["results"].as_array().unwrap().len(), 2);
    // Duplicate inside one batch: 409 and nothing created.
    let r = env.post("/crm/v3/objects/contacts/batch/create", json!({ "inputs": [
        { "properties": { "email": "b3@acme-demo.com" }, "associations": [] },
        { "properties": { "email": "B3@acme-demo.com" }, "associations": [] },
    ] })).await;
    hub_error(r, 409, "CONFLICT").await;
    hub_error(env.get("/crm/v3/objects/contacts/b3@acme-demo.com?idProperty=email").await, 404, "OBJECT_NOT_FOUND").await;
    // Existing email: 409 with the existing id.
    let e = hub_error(env.post("/crm/v3/objects/contacts/batch/create", json!({ "inputs": [{ "properties": { "email": "b1@acme-demo.com" }, "associations": [] }] })).await, 409, "CONFLICT").await;
    assert!(e["message"].as_str().unwrap().starts_with("Contact already exists. Existing ID: "));
    // Invalid values on one input: 207, the rest created.
    let r = env.post("/crm/v3/objects/contacts/batch/create", json!({ "inputs": [
        { "properties": { "email": "b4@acme-demo.com" }, "associations": [] },
        { "properties": { "email": "b5@acme-demo.com", "lifecyclestage": "wizard" }, "associations": [] },
    ] })).await;
    assert_eq!(r.status(), 207);
    let v = json(r).await;
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["errors"][0]["category"], "VALIDATION_ERROR");
    assert_eq!(v["errors"][0]["context"]["inputIndex"], json!(["1"]));
}

#[tokio::test]
async fn batch_results_echo_object_write_trace_ids_in_any_order() {
    let env = unlimited().await;
    env.admin(reqwest::Method::PUT, "/faults", json!({ "batchShuffle": true })).await;
    let inputs: Vec<Value> = (0..40)
        .map(|i| json!({ "properties": { "email": format!("trace{i}@acme-demo.com") }, "associations": [], "objectWriteTraceId": format!("t{i}") }))
        .collect();
    let r = env.post("/crm/v3/objects/contacts/batch/create", json!({ "inputs": inputs })).await;
    assert_eq!(r.status(), 201);
    let v = json(r).await;
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 40);
    for r in results {
        let n: usize = r["objectWriteTraceId"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(r["properties"]["email"], format!("trace{n}@acme-demo.com"));
    }
    let order: Vec<&str> = results.iter().map(|r| r["objectWriteTraceId"].as_str().unwrap()).collect();
    let sorted: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    assert_ne!(order, sorted, "batchShuffle answers out of input order (40! orders; one is input order)");
    // Upsert and update echo it too.
    let r = env.post("/crm/v3/objects/contacts/batch/upsert", json!({ "inputs": [
        { "id": "trace1@acme-demo.com", "idProperty": "email", "properties": { "firstname": "T" }, "objectWriteTraceId": "u1" },
        { "id": "trace-new@acme-demo.com", "idProperty": "email", "properties": { "firstname": "N" }, "objectWriteTraceId": "u2" },
    ] })).await;
    let v = json(r).await;
    let mut traces: Vec<(String, bool)> = v["results"].as_array().unwrap().iter()
        .map(|r| (r["objectWriteTraceId"].as_str().unwrap().to_string(), r["new"].as_bool().unwrap())).collect();
    traces.sort();
    assert_eq!(traces, vec![("u1".to_string(), false), ("u2".to_string(), true)]);
}

#[tokio::test]
async fn batch_update_upsert_archive() {
    let env = unlimited().await;
    let v = json(env.get("/crm/v3/objects/companies?limit=2").await).await;
    let (a, b) = (v["results"][0]["id"].as_str().unwrap(), v["results"][1]["id"].as_str().unwrap());
    let r = env.post("/crm/v3/objects/companies/batch/update", json!({ "inputs": [
        { "id": a, "properties": { "city": "Reykjavík" } },
        { "id": "999999999", "properties": { "city": "Nowhere" } },
        { "id": b, "properties": { "numberofemployees": "lots" } },
    ] })).await;
    assert_eq!(r.status(), 207);
    let v = json(r).await;
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["results"][0]["properties"]["city"], "Reykjavík");
    let cats: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["category"].as_str().unwrap()).collect();
    assert!(cats.contains(&"OBJECT_NOT_FOUND") && cats.contains(&"VALIDATION_ERROR"));
    hub_error(env.post("/crm/v3/objects/companies/batch/update", json!({ "inputs": [{ "id": a, "properties": {} }, { "id": a, "properties": {} }] })).await, 400, "VALIDATION_ERROR").await;

    let r = env.post("/crm/v3/objects/contacts/batch/upsert", json!({ "inputs": [
        { "id": "upsert.new@acme-demo.com", "idProperty": "email", "properties": { "firstname": "Una" } },
    ] })).await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["results"][0]["new"], true);
    let r = env.post("/crm/v3/objects/contacts/batch/upsert", json!({ "inputs": [
        { "id": "UPSERT.NEW@acme-demo.com", "idProperty": "email", "properties": { "firstname": "Uma" } },
    ] })).await;
    let v2 = json(r).await;
    assert_eq!(v2["results"][0]["new"], false);
    assert_eq!(v2["results"][0]["id"], v["results"][0]["id"]);
    assert_eq!(v2["results"][0]["properties"]["firstname"], "Uma");
    hub_error(env.post("/crm/v3/objects/contacts/batch/upsert", json!({ "inputs": [{ "id": "x", "properties": {} }] })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/objects/contacts/batch/upsert", json!({ "inputs": [{ "id": "x", "idProperty": "firstname", "properties": {} }] })).await, 400, "VALIDATION_ERROR").await;
    // Custom object upsert on its unique property.
    let r = env.post("/crm/v3/objects/projects/batch/upsert", json!({ "inputs": [{ "id": "PRJ-90001", "idProperty": "project_code", "properties": { "project_name": "Sandbox rollout" } }] })).await;
    assert_eq!(json(r).await["results"][0]["new"], true);

    let r = env.post("/crm/v3/objects/companies/batch/archive", json!({ "inputs": [{ "id": a }, { "id": "999999999" }] })).await;
    assert_eq!(r.status(), 204);
    hub_error(env.get(&format!("/crm/v3/objects/companies/{a}")).await, 404, "OBJECT_NOT_FOUND").await;
    hub_error(env.post("/crm/v3/objects/companies/batch/explode", json!({ "inputs": [] })).await, 404, "OBJECT_NOT_FOUND").await;
}

#[tokio::test]
async fn same_seed_same_portal() {
    let a = Sandbox::start(SandboxConfig { rate_limits: false, ..Default::default() }).await.unwrap();
    let b = Sandbox::start(SandboxConfig { rate_limits: false, ..Default::default() }).await.unwrap();
    let c = Sandbox::start(SandboxConfig { seed: 7, rate_limits: false, ..Default::default() }).await.unwrap();
    let http = client();
    let fetch = |sb: &spoke_sandbox::SandboxHandle| {
        let url = format!("{}/crm/v3/objects/deals?limit=20&properties=dealname,amount,dealstage", sb.base_url());
        let token = sb.private_app_token();
        let http = http.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap()["results"].clone() }
    };
    assert_eq!(fetch(&a).await, fetch(&b).await);
    assert_ne!(fetch(&a).await, fetch(&c).await);
    assert_eq!(a.private_app_token(), b.private_app_token());
    assert_eq!(a.demo_app(), b.demo_app());
    assert_ne!(a.base_url(), b.base_url());
    let stages = fetch(&a).await;
    let known = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"];
    assert!(stages.as_array().unwrap().iter().all(|d| known.contains(&d["properties"]["dealstage"].as_str().unwrap())));
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}
