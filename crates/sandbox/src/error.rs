//! HubSpot's error bodies.
//!
//! Every API error the sandbox returns has HubSpot's shape:
//! `{"status":"error","message":…,"correlationId":…,"category":…,"errors":[…],"context":{…}}`.
//! OAuth errors additionally carry RFC 6749 `error`/`error_description` next to the legacy
//! `status`/`message` (`BAD_REFRESH_TOKEN` + `invalid_grant`), as HubSpot's token endpoints do.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// An error answered to an API caller, in HubSpot's shape.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Map<String, Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, category: &str, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("status".into(), json!("error"));
        body.insert("message".into(), json!(message.into()));
        body.insert("correlationId".into(), json!(crate::util::correlation_id()));
        body.insert("category".into(), json!(category));
        ApiError { status, body, headers: Vec::new() }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.body.insert(key.into(), value);
        self
    }

    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// A 400 for malformed input, with per-field details in `errors` like HubSpot's
    /// `Invalid input JSON` responses.
    pub fn bad_json(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::validation(format!("Invalid input JSON on line 1: {detail}"))
            .with("errors", json!([{ "message": detail, "code": "INVALID_JSON" }]))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn unauthorized(category: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, category, message)
    }

    pub fn missing_scopes(required: &[&str]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
        )
        .with(
            "errors",
            json!([{
                "message": "One or more of the following scopes are required.",
                "context": { "requiredGranularScopes": required },
            }]),
        )
        .with("links", json!({ "scopes": "https://developers.hubspot.com/scopes" }))
    }

    /// OAuth token-endpoint error: legacy `status` plus RFC 6749 `error`.
    pub fn oauth(status: StatusCode, legacy: &str, rfc: &str, message: &str) -> Self {
        let mut e = Self::new(status, "VALIDATION_ERROR", message);
        e.body.insert("status".into(), json!(legacy));
        e.body.insert("error".into(), json!(rfc));
        e.body.insert("error_description".into(), json!(message));
        e
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(Value::Object(self.body))).into_response();
        let h: &mut HeaderMap = resp.headers_mut();
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// JSON body extractor that answers malformed bodies with HubSpot's error shape instead of
/// axum's plain-text rejection.
pub struct Json<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_json(e.to_string()))?;
        serde_json::from_slice(&bytes).map(Json).map_err(|e| ApiError::bad_json(e.to_string()))
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
