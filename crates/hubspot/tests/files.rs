//! Files API v3 through the typed client against the demo portal: upload, get, signed URL,
//! streamed download (byte-identical, size limit, expiry), archive, bad ids, scopes.

use std::sync::Arc;

use spoke_hubspot::{
    Client, ClientConfig, Describe, Error, FileAccess, FileUpload, Secret, StaticToken,
};
use spoke_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

fn client(sb: &SandboxHandle, token: &str) -> Client {
    Client::new(ClientConfig::new(sb.base_url()))
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(token))))
}

async fn download(c: &Client, url: &str, max: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    c.download_signed(url, max, |chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })
    .await?;
    Ok(out)
}

#[tokio::test]
async fn upload_get_sign_download_archive() {
    let sb = Sandbox::start(SandboxConfig { contacts: 20, ..SandboxConfig::default() }).await.unwrap();
    let c = client(&sb, &sb.private_app_token());
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let up = FileUpload {
        file_name: "Quote Q-17.pdf".into(),
        folder_path: "/spoke/attachments".into(),
        access: FileAccess::Private,
        content_type: "application/pdf".into(),
        bytes: Arc::new(bytes.clone()),
        return_existing: false,
    };
    let file = c.upload_file(&up).await.unwrap();
    assert_eq!(file.name.as_deref(), Some("Quote Q-17"));
    assert_eq!(file.extension.as_deref(), Some("pdf"));
    assert_eq!(file.size, Some(300_000));
    assert_eq!(file.access.as_deref(), Some("PRIVATE"));
    assert_eq!(c.get_file(&file.id).await.unwrap(), file);
    // The same file again: RETURN_EXISTING in the folder gives the stored one back; other bytes,
    // another folder or no duplicate check store a new file.
    let again = FileUpload { return_existing: true, ..up.clone() };
    assert_eq!(c.upload_file(&again).await.unwrap().id, file.id);
    let other_bytes = FileUpload { bytes: Arc::new(vec![1, 2, 3]), ..again.clone() };
    assert_ne!(c.upload_file(&other_bytes).await.unwrap().id, file.id);
    let other_folder = FileUpload { folder_path: "/spoke/elsewhere".into(), ..again.clone() };
    assert_ne!(c.upload_file(&other_folder).await.unwrap().id, file.id);
    assert_ne!(c.upload_file(&up).await.unwrap().id, file.id);

    let signed = c.file_signed_url(&file.id, Some(120)).await.unwrap();
    assert_eq!(signed.size, Some(300_000));
    assert_eq!(download(&c, &signed.url, 1_000_000).await.unwrap(), bytes);
    let err = download(&c, &signed.url, 1000).await.unwrap_err();
    assert_eq!(err.code(), "hubspot.file_too_large");

    // Expired on the portal's clock.
    reqwest::Client::new()
        .post(format!("{}/_sandbox/clock/advance", sb.base_url()))
        .json(&serde_json::json!({ "ms": 121_000 }))
        .send()
        .await
        .unwrap();
    let err = download(&c, &signed.url, 1_000_000).await.unwrap_err();
    assert_eq!(err.code(), "hubspot.download_refused", "{err}");
    assert!(err.hint().unwrap().contains("expire"));

    c.archive_file(&file.id).await.unwrap();
    assert_eq!(c.get_file(&file.id).await.unwrap_err().code(), "hubspot.not_found");
    assert_eq!(c.get_file("../crm").await.unwrap_err().code(), "hubspot.api_error");
}

#[tokio::test]
async fn files_need_the_files_scope() {
    let sb = Sandbox::start(SandboxConfig { contacts: 20, ..SandboxConfig::default() }).await.unwrap();
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/_sandbox/tokens", sb.base_url()))
        .json(&serde_json::json!({ "scopes": ["crm.objects.contacts.read"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = client(&sb, r["token"].as_str().unwrap());
    match c.file_signed_url("181000000001", None).await.unwrap_err() {
        Error::MissingScopes { scopes, .. } => assert!(scopes.contains(&"files".to_owned()), "{scopes:?}"),
        other => panic!("unexpected {other:?}"),
    }
}
