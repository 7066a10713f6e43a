//! Files API v3: upload (multipart), get, signed URL (served bytes, expiry, tampering), archive,
//! GDPR delete, scopes, validation errors, and the seeded note attachments.

mod common;

use common::{json, unlimited};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

fn form(bytes: &[u8], name: &str, folder: &str, options: &str) -> Form {
    Form::new()
        .part("file", Part::bytes(bytes.to_vec()).file_name(name.to_string()))
        .text("folderPath", folder.to_string())
        .text("options", options.to_string())
}

#[tokio::test]
async fn upload_get_sign_download_archive() {
    let env = unlimited().await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = env
        .http
        .post(env.url("/files/v3/files"))
        .bearer_auth(&env.token)
        .multipart(form(&bytes, "Signed contract.pdf", "/spoke/attachments", r#"{"access":"PRIVATE"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let file = json(r).await;
    assert_eq!(file["name"], "Signed contract");
    assert_eq!(file["extension"], "pdf");
    assert_eq!(file["type"], "DOCUMENT");
    assert_eq!(file["size"], 200_000);
    assert_eq!(file["access"], "PRIVATE");
    assert_eq!(file["archived"], false);
    assert_eq!(file["path"], "/spoke/attachments/Signed contract.pdf");
    assert!(file["url"].is_null(), "private files have no public URL");
    let id = file["id"].as_str().unwrap().to_string();

    let r = env.get(&format!("/files/v3/files/{id}")).await;
    // Rate-limited like every API call: the budget headers come back.
    assert!(r.headers().contains_key("x-hubspot-ratelimit-remaining"), "{:?}", r.headers());
    let got = json(r).await;
    assert_eq!(got, file);

    let signed = json(env.get(&format!("/files/v3/files/{id}/signed-url?expirationSeconds=60")).await).await;
    assert_eq!(signed["name"], "Signed contract");
    assert_eq!(signed["size"], 200_000);
    let url = signed["url"].as_str().unwrap().to_string();
    // The signed URL needs no token, and is not an API call (no rate-limit headers).
    let dl = env.http.get(&url).send().await.unwrap();
    assert_eq!(dl.status(), 200);
    assert!(!dl.headers().contains_key("x-hubspot-ratelimit-remaining"));
    assert_eq!(dl.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // Tampered: 403.
    let bad = env.http.get(url.replace("Signature=", "Signature=0")).send().await.unwrap();
    assert_eq!(bad.status(), 403);
    // Expired after 60 s on the portal's clock: 403.
    env.admin(Method::POST, "/clock/advance", json!({ "ms": 61_000 })).await;
    assert_eq!(env.http.get(&url).send().await.unwrap().status(), 403);

    // Archive: 204, then 404 everywhere.
    let fresh = json(env.get(&format!("/files/v3/files/{id}/signed-url")).await).await;
    let r = env.http.delete(env.url(&format!("/files/v3/files/{id}"))).bearer_auth(&env.token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.get(&format!("/files/v3/files/{id}")).await.status(), 404);
    assert_eq!(env.get(&format!("/files/v3/files/{id}/signed-url")).await.status(), 404);
    assert_eq!(env.http.get(fresh["url"].as_str().unwrap()).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn bad_uploads_and_ids_answer_hubspot_errors() {
    let env = unlimited().await;
    let send = |f: Form| env.http.post(env.url("/files/v3/files")).bearer_auth(&env.token).multipart(f).send();
    // No folder.
    let f = Form::new().part("file", Part::bytes(b"x".to_vec()).file_name("a.txt")).text("options", r#"{"access":"PRIVATE"}"#);
    let r = send(f).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert!(body["message"].as_str().unwrap().contains("folderPath"), "{body}");
    // No access.
    let r = send(form(b"x", "a.txt", "/x", "{}")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("access"));
    // Unknown access.
    assert_eq!(send(form(b"x", "a.txt", "/x", r#"{"access":"OPEN"}"#)).await.unwrap().status(), 400);
    // No file part.
    let f = Form::new().text("folderPath", "/x").text("options", r#"{"access":"PRIVATE"}"#);
    assert_eq!(send(f).await.unwrap().status(), 400);
    // Ids.
    assert_eq!(env.get("/files/v3/files/abc").await.status(), 400);
    let r = env.get("/files/v3/files/99999").await;
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["category"], "OBJECT_NOT_FOUND");
    assert_eq!(env.get("/files/v3/files/99999/signed-url").await.status(), 404);
    // Expiration bounds.
    let seeded = env.get("/files/v3/files/181000000001/signed-url?expirationSeconds=0").await;
    assert_eq!(seeded.status(), 400);
}

#[tokio::test]
async fn files_need_a_files_scope_and_a_token() {
    let env = unlimited().await;
    let crm_only = env.token_with(&["crm.objects.contacts.read"]).await;
    let r = env.get_with("/files/v3/files/181000000001", &crm_only).await;
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    assert_eq!(body["category"], "MISSING_SCOPES");
    assert!(body["errors"][0]["context"]["requiredGranularScopes"].as_array().unwrap().contains(&json!("files")));
    let reader = env.token_with(&["files.ui_hidden.read"]).await;
    assert_eq!(env.get_with("/files/v3/files/181000000001", &reader).await.status(), 200);
    // Reading is not writing.
    let r = env.http.post(env.url("/files/v3/files")).bearer_auth(&reader).multipart(form(b"x", "a.txt", "/x", r#"{"access":"PRIVATE"}"#)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(env.http.get(env.url("/files/v3/files/181000000001")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn seeded_notes_carry_attachments_that_download() {
    let env = unlimited().await;
    let notes = json(env.get("/crm/v3/objects/notes?limit=100&properties=hs_attachment_ids").await).await;
    let ids: Vec<String> = notes["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["properties"]["hs_attachment_ids"].as_str())
        .flat_map(|s| s.split(';').map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert!(ids.len() >= 8, "seeded attachments: {ids:?}");
    for id in ids {
        let signed = json(env.get(&format!("/files/v3/files/{id}/signed-url")).await).await;
        let bytes = env.http.get(signed["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, signed["size"].as_u64().unwrap());
    }
    // GDPR delete removes the file for good.
    let r = env.http.delete(env.url("/files/v3/files/181000000001/gdpr-delete")).bearer_auth(&env.token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.get("/files/v3/files/181000000001").await.status(), 404);
}
