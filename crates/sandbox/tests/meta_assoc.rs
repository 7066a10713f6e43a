//! Properties, groups, schemas, owners, account info, associations v4, conversations.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn account_info_on_both_versions() {
    let env = unlimited().await;
    for p in ["/account-info/v3/details", "/account-info/2026-03/details"] {
        let v = json(env.get(p).await).await;
        assert_eq!(v["portalId"], env.sb.portal_id());
        assert_eq!(v["accountType"], "STANDARD");
        assert_eq!(v["dataHostingLocation"], "na1");
        assert!(v["timeZone"].is_string() && v["companyCurrency"].is_string() && v["utcOffsetMilliseconds"].is_i64());
    }
    let v = json(env.get("/account-info/v3/api-usage/daily/private-apps").await).await;
    assert_eq!(v["results"][0]["usageLimit"], 625_000);
    assert!(v["results"][0]["currentUsage"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn properties_cover_every_type_and_are_creatable() {
    let env = unlimited().await;
    let v = json(env.get("/crm/v3/properties/contacts").await).await;
    let props = v["results"].as_array().unwrap();
    let types: std::collections::BTreeSet<&str> = props.iter().map(|p| p["type"].as_str().unwrap()).collect();
    for t in ["string", "number", "date", "datetime", "enumeration", "bool"] {
        assert!(types.contains(t), "property of type {t}");
    }
    assert!(props.iter().any(|p| p["calculated"] == true && p["modificationMetadata"]["readOnlyValue"] == true));
    let tier = props.iter().find(|p| p["name"] == "spoke_tier").unwrap();
    assert_eq!(tier["options"].as_array().unwrap().len(), 4);
    assert_eq!(tier["hubspotDefined"], false);
    let email = json(env.get("/crm/v3/properties/contacts/email").await).await;
    assert_eq!(email["type"], "string");
    assert_eq!(email["hasUniqueValue"], false);
    hub_error(env.get("/crm/v3/properties/contacts/nope").await, 404, "OBJECT_NOT_FOUND").await;

    let r = env.post("/crm/v3/properties/contacts", json!({ "name": "favorite_color", "label": "Favorite color", "type": "enumeration", "fieldType": "select", "groupName": "contactinformation", "options": [{ "label": "Red", "value": "red", "hidden": false }, { "label": "Blue", "value": "blue", "hidden": false }] })).await;
    assert_eq!(r.status(), 201);
    let p = json(r).await;
    assert_eq!(p["name"], "favorite_color");
    assert_eq!(p["hubspotDefined"], false);
    // The new property is usable right away.
    let r = env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "color@acme-demo.com", "favorite_color": "blue" } })).await;
    assert_eq!(r.status(), 201);
    let r = env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "color2@acme-demo.com", "favorite_color": "green" } })).await;
    hub_error(r, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/properties/contacts", json!({ "name": "favorite_color", "label": "x", "type": "string", "fieldType": "text", "groupName": "contactinformation" })).await, 409, "OBJECT_ALREADY_EXISTS").await;
    hub_error(env.post("/crm/v3/properties/contacts", json!({ "name": "bad", "label": "x", "type": "string", "fieldType": "select", "groupName": "contactinformation" })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/properties/contacts", json!({ "name": "bad2", "label": "x", "type": "string", "fieldType": "text", "groupName": "nogroup" })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.post("/crm/v3/properties/contacts", json!({ "name": "Bad Name", "label": "x", "type": "string", "fieldType": "text", "groupName": "contactinformation" })).await, 400, "VALIDATION_ERROR").await;

    let r = env.patch("/crm/v3/properties/contacts/favorite_color", json!({ "label": "Favourite colour" })).await;
    assert_eq!(json(r).await["label"], "Favourite colour");
    hub_error(env.patch("/crm/v3/properties/contacts/email", json!({ "label": "E" })).await, 400, "VALIDATION_ERROR").await;
    assert_eq!(env.send(Method::DELETE, "/crm/v3/properties/contacts/favorite_color", json!(null)).await.status(), 204);
    let archived = json(env.get("/crm/v3/properties/contacts?archived=true").await).await;
    assert!(archived["results"].as_array().unwrap().iter().any(|p| p["name"] == "favorite_color"));

    let r = env.post("/crm/v3/properties/deals/batch/read", json!({ "inputs": [{ "name": "amount" }, { "name": "nope" }], "archived": false, "propertiesWithHistory": [] })).await;
    assert_eq!(r.status(), 207);
    let v = json(r).await;
    assert_eq!(v["results"][0]["name"], "amount");

    let g = json(env.get("/crm/v3/properties/contacts/groups").await).await;
    assert!(g["results"].as_array().unwrap().iter().any(|g| g["name"] == "contactinformation"));
    let r = env.post("/crm/v3/properties/contacts/groups", json!({ "name": "spoke_extra", "label": "Spoke extra" })).await;
    assert_eq!(r.status(), 201);
    assert_eq!(json(env.get("/crm/v3/properties/contacts/groups/spoke_extra").await).await["label"], "Spoke extra");
    hub_error(env.post("/crm/v3/properties/contacts/groups", json!({ "name": "spoke_extra", "label": "again" })).await, 409, "CONFLICT").await;
}

#[tokio::test]
async fn schemas_list_get_and_create() {
    let env = unlimited().await;
    let v = json(env.get("/crm-object-schemas/v3/schemas").await).await;
    let s = &v["results"][0];
    assert_eq!(s["name"], "projects");
    assert_eq!(s["objectTypeId"], "2-3508482");
    assert_eq!(s["fullyQualifiedName"], format!("p{}_projects", env.sb.portal_id()));
    assert_eq!(s["labels"]["plural"], "Projects");
    assert!(s["associations"].as_array().unwrap().iter().any(|a| a["toObjectTypeId"] == "0-1"));
    assert!(s["properties"].as_array().unwrap().iter().any(|p| p["name"] == "project_code" && p["hasUniqueValue"] == true));
    for key in ["projects", "2-3508482"] {
        assert_eq!(json(env.get(&format!("/crm-object-schemas/v3/schemas/{key}")).await).await["objectTypeId"], "2-3508482");
    }
    hub_error(env.get("/crm-object-schemas/v3/schemas/nope").await, 404, "OBJECT_NOT_FOUND").await;
    let r = env.post("/crm-object-schemas/v3/schemas", json!({
        "name": "vehicles", "labels": { "singular": "Vehicle", "plural": "Vehicles" }, "primaryDisplayProperty": "vin",
        "requiredProperties": ["vin"], "searchableProperties": ["vin"], "associatedObjects": ["CONTACT"],
        "properties": [{ "name": "vin", "label": "VIN", "type": "string", "fieldType": "text", "hasUniqueValue": true }, { "name": "year", "label": "Year", "type": "number", "fieldType": "number" }],
    })).await;
    assert_eq!(r.status(), 201);
    let s = json(r).await;
    let tid = s["objectTypeId"].as_str().unwrap().to_string();
    let r = env.post(&format!("/crm/v3/objects/{tid}"), json!({ "properties": { "vin": "1HGCM82633A004352", "year": 2021 } })).await;
    assert_eq!(r.status(), 201);
    let r = env.post("/crm/v3/objects/vehicles", json!({ "properties": { "vin": "1HGCM82633A004352" } })).await;
    hub_error(r, 409, "CONFLICT").await;
    hub_error(env.post("/crm-object-schemas/v3/schemas", json!({ "name": "vehicles", "labels": { "singular": "V", "plural": "Vs" }, "properties": [{ "name": "vin", "label": "VIN", "type": "string", "fieldType": "text" }] })).await, 409, "OBJECT_ALREADY_EXISTS").await;
}

#[tokio::test]
async fn owners_list_and_get() {
    let env = unlimited().await;
    let v = json(env.get("/crm/v3/owners?limit=3").await).await;
    let first = &v["results"][0];
    assert_eq!(v["results"].as_array().unwrap().len(), 3);
    assert!(v["paging"]["next"]["after"].is_string());
    assert!(first["email"].as_str().unwrap().ends_with("@northwind-demo.com"));
    assert_eq!(first["type"], "PERSON");
    let id = first["id"].as_str().unwrap();
    assert_eq!(json(env.get(&format!("/crm/v3/owners/{id}")).await).await["id"], id);
    let uid = first["userId"].as_u64().unwrap();
    assert_eq!(json(env.get(&format!("/crm/v3/owners/{uid}?idProperty=userId")).await).await["id"], id);
    let by_email = json(env.get(&format!("/crm/v3/owners?email={}", first["email"].as_str().unwrap())).await).await;
    assert_eq!(by_email["results"].as_array().unwrap().len(), 1);
    let archived = json(env.get("/crm/v3/owners?archived=true").await).await;
    assert!(archived["results"].as_array().unwrap().iter().all(|o| o["archived"] == true));
    hub_error(env.get("/crm/v3/owners/1").await, 404, "OBJECT_NOT_FOUND").await;
    // Record owners are real owners.
    let c = json(env.get("/crm/v3/objects/contacts?limit=1&properties=hubspot_owner_id").await).await;
    let oid = c["results"][0]["properties"]["hubspot_owner_id"].as_str().unwrap();
    assert_eq!(env.get(&format!("/crm/v3/owners/{oid}")).await.status(), 200);
}

#[tokio::test]
async fn associations_v4_read_create_delete_and_labels() {
    let env = unlimited().await;
    let deal = json(env.get("/crm/v3/objects/deals?limit=1").await).await["results"][0]["id"].as_str().unwrap().to_string();
    let v = json(env.get(&format!("/crm/v4/objects/deals/{deal}/associations/companies")).await).await;
    let types: Vec<&Value> = v["results"][0]["associationTypes"].as_array().unwrap().iter().collect();
    assert!(types.iter().any(|t| t["typeId"] == 341 && t["label"].is_null() && t["category"] == "HUBSPOT_DEFINED"));
    assert!(types.iter().any(|t| t["typeId"] == 5 && t["label"] == "Primary"));
    let contact = json(env.get("/crm/v3/objects/contacts?limit=1").await).await["results"][0]["id"].as_str().unwrap().to_string();

    let before = json(env.get(&format!("/crm/v3/objects/contacts/{contact}")).await).await["updatedAt"].clone();
    let r = env.send(Method::PUT, &format!("/crm/v4/objects/contacts/{contact}/associations/deals/{deal}"), json!([{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4 }, { "associationCategory": "USER_DEFINED", "associationTypeId": 1106 }])).await;
    assert_eq!(r.status(), 201);
    let v = json(r).await;
    assert_eq!(v["labels"], json!(["Decision maker"]));
    assert_eq!(v["fromObjectTypeId"], "0-1");
    let after = json(env.get(&format!("/crm/v3/objects/contacts/{contact}")).await).await["updatedAt"].clone();
    assert_eq!(before, after, "association changes do not bump lastmodifieddate");
    let back = json(env.get(&format!("/crm/v4/objects/deals/{deal}/associations/contacts")).await).await;
    assert!(back["results"].as_array().unwrap().iter().any(|r| r["toObjectId"] == contact.as_str()));
    hub_error(env.send(Method::PUT, &format!("/crm/v4/objects/contacts/{contact}/associations/deals/{deal}"), json!([{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 9999 }])).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.send(Method::PUT, &format!("/crm/v4/objects/contacts/{contact}/associations/deals/999999999"), json!([{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4 }])).await, 404, "OBJECT_NOT_FOUND").await;

    let r = env.send(Method::DELETE, &format!("/crm/v4/objects/contacts/{contact}/associations/deals/{deal}"), json!(null)).await;
    assert_eq!(r.status(), 204);
    let v = json(env.get(&format!("/crm/v4/objects/contacts/{contact}/associations/deals")).await).await;
    assert!(!v["results"].as_array().unwrap().iter().any(|r| r["toObjectId"] == deal.as_str()));

    let r = env.send(Method::PUT, &format!("/crm/v4/objects/contacts/{contact}/associations/default/deals/{deal}"), json!(null)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["results"][0]["associationSpec"]["associationTypeId"], 4);

    // Batch read with a missing id → 207.
    let r = env.post("/crm/v4/associations/contacts/companies/batch/read", json!({ "inputs": [{ "id": contact }, { "id": "999999999" }] })).await;
    assert_eq!(r.status(), 207);
    let v = json(r).await;
    assert_eq!(v["errors"][0]["category"], "OBJECT_NOT_FOUND");
    // Batch create, archive.
    let co = json(env.get("/crm/v3/objects/companies?limit=3").await).await["results"][2]["id"].as_str().unwrap().to_string();
    let r = env.post("/crm/v4/associations/contacts/companies/batch/create", json!({ "inputs": [{ "from": { "id": contact }, "to": { "id": co }, "types": [{ "associationCategory": "USER_DEFINED", "associationTypeId": 1101 }] }] })).await;
    assert_eq!(r.status(), 201);
    assert_eq!(json(r).await["results"][0]["labels"], json!(["Billing contact"]));
    let r = env.post("/crm/v4/associations/contacts/companies/batch/archive", json!({ "inputs": [{ "from": { "id": contact }, "to": [{ "id": co }] }] })).await;
    assert_eq!(r.status(), 204);
    let v = json(env.get(&format!("/crm/v4/objects/contacts/{contact}/associations/companies")).await).await;
    assert!(!v["results"].as_array().unwrap().iter().any(|r| r["toObjectId"] == co.as_str()));

    // Labels.
    let l = json(env.get("/crm/v4/associations/contacts/companies/labels").await).await;
    assert!(l["results"].as_array().unwrap().iter().any(|x| x["label"] == "Billing contact" && x["category"] == "USER_DEFINED"));
    let r = env.post("/crm/v4/associations/contacts/companies/labels", json!({ "label": "Advisor", "name": "advisor" })).await;
    assert_eq!(r.status(), 200);
    let created = json(r).await;
    let tid = created["results"].as_array().unwrap().iter().find(|x| x["label"] == "Advisor").unwrap()["typeId"].as_u64().unwrap();
    let r = env.send(Method::PUT, "/crm/v4/associations/contacts/companies/labels", json!({ "associationTypeId": tid, "label": "Board advisor" })).await;
    assert_eq!(r.status(), 204);
    let r = env.send(Method::DELETE, &format!("/crm/v4/associations/contacts/companies/labels/{tid}"), json!(null)).await;
    assert_eq!(r.status(), 204);
    hub_error(env.send(Method::DELETE, "/crm/v4/associations/contacts/companies/labels/279", json!(null)).await, 400, "VALIDATION_ERROR").await;
    // Same through the date-versioned path.
    assert_eq!(env.get(&format!("/crm/objects/2026-03/contacts/{contact}/associations/deals")).await.status(), 200);
}

#[tokio::test]
async fn conversations_threads_messages_reply() {
    let env = unlimited().await;
    let v = json(env.get("/conversations/v3/conversations/threads?limit=2").await).await;
    let t = &v["results"][0];
    assert!(t["associatedContactId"].is_string());
    let tid = t["id"].as_str().unwrap();
    let contact = t["associatedContactId"].as_str().unwrap();
    assert_eq!(env.get(&format!("/crm/v3/objects/contacts/{contact}")).await.status(), 200);
    let m = json(env.get(&format!("/conversations/v3/conversations/threads/{tid}/messages")).await).await;
    let first = &m["results"][0];
    assert_eq!(first["direction"], "INCOMING");
    let mid = first["id"].as_str().unwrap();
    assert_eq!(json(env.get(&format!("/conversations/v3/conversations/threads/{tid}/messages/{mid}")).await).await["id"], mid);
    let owners = json(env.get("/crm/v3/owners?limit=1").await).await;
    let actor = format!("A-{}", owners["results"][0]["userId"]);
    let r = env.post(&format!("/conversations/v3/conversations/threads/{tid}/messages"), json!({ "type": "MESSAGE", "text": "Thanks — fixed now.", "senderActorId": actor, "channelId": "1002", "channelAccountId": "240876001", "recipients": [], "attachments": [] })).await;
    assert_eq!(r.status(), 201);
    assert_eq!(json(r).await["direction"], "OUTGOING");
    let m = json(env.get(&format!("/conversations/v3/conversations/threads/{tid}/messages")).await).await;
    assert_eq!(m["results"].as_array().unwrap().last().unwrap()["text"], "Thanks — fixed now.");
    hub_error(env.post(&format!("/conversations/v3/conversations/threads/{tid}/messages"), json!({ "text": "", "senderActorId": actor })).await, 400, "VALIDATION_ERROR").await;
    hub_error(env.get("/conversations/v3/conversations/threads/1").await, 404, "OBJECT_NOT_FOUND").await;
}
