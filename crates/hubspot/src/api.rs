//! Typed endpoints: account details, token info, OAuth token exchange / refresh / introspect /
//! revoke, and the CRM object list/search basics later crates build on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::{Client, Request};
use crate::{Error, Secret};

/// `GET /account-info/{v}/details`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountDetails {
    pub portal_id: u64,
    /// `STANDARD`, `SANDBOX`, `DEVELOPER_TEST` or `APP_DEVELOPER`.
    pub account_type: Option<String>,
    pub time_zone: Option<String>,
    pub company_currency: Option<String>,
    #[serde(default)]
    pub additional_currencies: Vec<String>,
    pub ui_domain: Option<String>,
    /// e.g. `na1`, `eu1`.
    pub data_hosting_location: Option<String>,
    pub utc_offset: Option<String>,
}

/// `POST /oauth/v2/private-apps/get/access-token-info` (private-app tokens and service keys).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateAppTokenInfo {
    pub hub_id: u64,
    pub user_id: Option<u64>,
    pub app_id: Option<u64>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// The app credentials the OAuth endpoints authenticate with.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Secret,
}

/// `POST /oauth/{v}/token` answer. Tokens stay [`Secret`]s from the wire to the keychain.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: u64,
    pub token_type: Option<String>,
    pub hub_id: Option<u64>,
    pub user_id: Option<u64>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `POST /oauth/{v}/token/introspect` answer (access or refresh token).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenIntrospection {
    pub active: bool,
    pub token_use: Option<String>,
    pub hub_id: Option<u64>,
    pub hub_domain: Option<String>,
    pub user_id: Option<u64>,
    pub user: Option<String>,
    pub app_id: Option<u64>,
    pub client_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub expires_in: Option<u64>,
}

/// Which kind of token is being introspected or revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHint {
    AccessToken,
    RefreshToken,
}

impl TokenHint {
    fn as_str(self) -> &'static str {
        match self {
            TokenHint::AccessToken => "access_token",
            TokenHint::RefreshToken => "refresh_token",
        }
    }
}

/// A CRM record as the v3 object endpoints return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmObject {
    pub id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Option<String>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NextPage {
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Paging {
    pub next: Option<NextPage>,
}

/// One page of a list or search.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page<T> {
    pub results: Vec<T>,
    pub paging: Option<Paging>,
    /// Search only.
    pub total: Option<u64>,
}

impl<T> Page<T> {
    /// The cursor for the next page, if any.
    pub fn next_after(&self) -> Option<&str> {
        self.paging
            .as_ref()?
            .next
            .as_ref()
            .map(|n| n.after.as_str())
    }
}

/// A batch write: `POST /crm/v3/objects/{type}/batch/{create|update|upsert}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchWrite {
    /// New records (`inputs[].properties`); answers 201 in input order.
    Create,
    /// Existing records by id (`inputs[].id`).
    Update,
    /// By a unique property (`inputs[].id` = its value, `inputs[].idProperty`): updated when a
    /// record has that value, created otherwise (`results[].new`).
    Upsert,
}

impl BatchWrite {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchWrite::Create => "create",
            BatchWrite::Update => "update",
            BatchWrite::Upsert => "upsert",
        }
    }
}

/// One input of a batch write (`SimplePublicObjectBatchInput[Upsert|ForCreate]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchWriteInput {
    /// Record id (update) or the unique property's value (upsert); none for create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_property: Option<String>,
    pub properties: BTreeMap<String, String>,
    /// Echoed on this input's result, so results can be matched to inputs whatever their order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
}

/// A record in a batch write's answer (`SimplePublicObject`, `SimplePublicUpsertObject`):
/// its id, `createdAt`, `updatedAt` and the properties HubSpot echoes (those sent plus the
/// object's defaults, e.g. `createdate`, `lastmodifieddate`, `hs_object_id`), as stored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchWriteRecord {
    #[serde(flatten)]
    pub object: CrmObject,
    /// Upsert only: whether the record was created.
    pub new: Option<bool>,
    /// The input's `objectWriteTraceId`, when it had one.
    pub object_write_trace_id: Option<String>,
}

/// The answer to a batch write: 200/201, or 207 with per-input `errors`
/// (`context.ids` / `inputIndex` name the input when HubSpot says which).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchWriteResponse {
    /// `COMPLETE` (or `PENDING`, `PROCESSING`, `CANCELED`).
    pub status: Option<String>,
    #[serde(default)]
    pub results: Vec<BatchWriteRecord>,
    #[serde(default)]
    pub errors: Vec<crate::ErrorBody>,
    pub num_errors: Option<u64>,
}

/// Options for `GET /crm/v3/objects/{type}`.
#[derive(Debug, Clone, Default)]
pub struct ListObjects {
    pub limit: Option<u32>,
    pub after: Option<String>,
    pub properties: Vec<String>,
    pub archived: bool,
}

impl Client {
    /// Who the token belongs to: portal id, account type, data hosting location, domain.
    pub async fn account_details(&self) -> Result<AccountDetails, Error> {
        let path = format!(
            "/account-info/{}/details",
            self.config().account_info_version
        );
        self.send(Request::get(path)).await?.json()
    }

    /// Same, authenticating with `token` instead of the client's provider.
    pub async fn account_details_with(&self, token: &Secret) -> Result<AccountDetails, Error> {
        let path = format!(
            "/account-info/{}/details",
            self.config().account_info_version
        );
        self.send(Request::get(path).with_bearer(token.clone()))
            .await?
            .json()
    }

    /// Portal, user and granted scopes of a private-app token or service key.
    pub async fn private_app_token_info(
        &self,
        token: &Secret,
    ) -> Result<PrivateAppTokenInfo, Error> {
        let body = serde_json::json!({ "tokenKey": token.expose() });
        let req = Request::post("/oauth/v2/private-apps/get/access-token-info")
            .json(body)
            .with_bearer(token.clone())
            .idempotent(true);
        self.send(req).await?.json()
    }

    fn oauth_path(&self, tail: &str) -> String {
        format!("/oauth/{}/{tail}", self.config().oauth_version)
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        app: &OAuthClient,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: &Secret,
    ) -> Result<TokenResponse, Error> {
        let form = vec![
            ("grant_type", Secret::from("authorization_code")),
            ("client_id", Secret::from(app.client_id.as_str())),
            ("client_secret", app.client_secret.clone()),
            ("redirect_uri", Secret::from(redirect_uri)),
            ("code", code.clone()),
            ("code_verifier", code_verifier.clone()),
        ];
        // Never retried after a timeout: a code is single-use.
        let req = Request::post(self.oauth_path("token"))
            .form(form)
            .without_auth()
            .idempotent(false);
        self.send(req).await?.json()
    }

    /// Gets a new access token (and possibly a rotated refresh token).
    pub async fn refresh_access_token(
        &self,
        app: &OAuthClient,
        refresh_token: &Secret,
    ) -> Result<TokenResponse, Error> {
        let form = vec![
            ("grant_type", Secret::from("refresh_token")),
            ("client_id", Secret::from(app.client_id.as_str())),
            ("client_secret", app.client_secret.clone()),
            ("refresh_token", refresh_token.clone()),
        ];
        let req = Request::post(self.oauth_path("token"))
            .form(form)
            .without_auth()
            .idempotent(true);
        self.send(req).await?.json()
    }

    pub async fn introspect(
        &self,
        app: &OAuthClient,
        token: &Secret,
        hint: TokenHint,
    ) -> Result<TokenIntrospection, Error> {
        let form = vec![
            ("client_id", Secret::from(app.client_id.as_str())),
            ("client_secret", app.client_secret.clone()),
            ("token", token.clone()),
            ("token_type_hint", Secret::from(hint.as_str())),
        ];
        let req = Request::post(self.oauth_path("token/introspect"))
            .form(form)
            .without_auth()
            .idempotent(true);
        self.send(req).await?.json()
    }

    /// Revokes a token (a refresh token revokes the whole grant).
    pub async fn revoke(
        &self,
        app: &OAuthClient,
        token: &Secret,
        hint: TokenHint,
    ) -> Result<(), Error> {
        let form = vec![
            ("client_id", Secret::from(app.client_id.as_str())),
            ("client_secret", app.client_secret.clone()),
            ("token", token.clone()),
            ("token_type_hint", Secret::from(hint.as_str())),
        ];
        let req = Request::post(self.oauth_path("token/revoke"))
            .form(form)
            .without_auth()
            .idempotent(true);
        self.send(req).await.map(|_| ())
    }

    /// `GET /crm/v3/objects/{object_type}`: one page of records.
    pub async fn list_objects(
        &self,
        object_type: &str,
        options: &ListObjects,
    ) -> Result<Page<CrmObject>, Error> {
        let mut req = Request::get(format!("/crm/v3/objects/{}", path_segment(object_type)?));
        if let Some(limit) = options.limit {
            req = req.query("limit", limit.to_string());
        }
        if let Some(after) = &options.after {
            req = req.query("after", after.clone());
        }
        if !options.properties.is_empty() {
            req = req.query("properties", options.properties.join(","));
        }
        if options.archived {
            req = req.query("archived", "true");
        }
        self.send(req).await?.json()
    }

    /// `POST /crm/v3/objects/{object_type}/batch/{op}` (at most 100 inputs). A batch-wide
    /// refusal (400/409) is an [`Error::Api`]; per-input refusals come back in `errors` (207).
    /// Not retried after a timeout or 5xx (a create sent twice makes two records).
    pub async fn batch_write(
        &self,
        object_type: &str,
        op: BatchWrite,
        inputs: &[BatchWriteInput],
    ) -> Result<BatchWriteResponse, Error> {
        let req = Request::post(format!(
            "/crm/v3/objects/{}/batch/{}",
            path_segment(object_type)?,
            op.as_str()
        ))
        .json(serde_json::json!({ "inputs": inputs }));
        self.send(req).await?.json()
    }

    /// `POST /crm/v3/objects/{object_type}/search` with a raw search body
    /// (`filterGroups`, `sorts`, `query`, `properties`, `limit`, `after`).
    pub async fn search_objects(
        &self,
        object_type: &str,
        body: serde_json::Value,
    ) -> Result<Page<CrmObject>, Error> {
        let req = Request::post(format!(
            "/crm/v3/objects/{}/search",
            path_segment(object_type)?
        ))
        .json(body)
        .search()
        .idempotent(true);
        self.send(req).await?.json()
    }
}

/// Object types end up in a path; allow only what HubSpot uses (`contacts`, `0-3`, `2-1234567`,
/// `p123_cars`).
fn path_segment(object_type: &str) -> Result<&str, Error> {
    let ok = !object_type.is_empty()
        && object_type.len() <= 100
        && object_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok {
        Ok(object_type)
    } else {
        Err(Error::Api {
            status: 400,
            category: Some("VALIDATION_ERROR".to_owned()),
            message: Some(format!("{object_type:?} is not a valid object type")),
            correlation_id: None,
        })
    }
}
