//! The one error type of `spoke-hubspot`, and the parsed HubSpot error body behind most of it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::Describe;

/// A HubSpot error body. HubSpot's API errors are `{status, message, correlationId, category,
/// subCategory, errors[], context, links}`; its OAuth endpoints add RFC 6749 `error` and
/// `error_description`. Every field is optional here so that any of these shapes parses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub status: Option<String>,
    pub message: Option<String>,
    pub correlation_id: Option<String>,
    pub category: Option<String>,
    pub sub_category: Option<serde_json::Value>,
    /// On 429s: `TEN_SECONDLY_ROLLING`, `SECONDLY`, `DAILY`.
    pub policy_name: Option<String>,
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
    #[serde(default)]
    pub context: BTreeMap<String, serde_json::Value>,
    /// RFC 6749 error code (`invalid_grant`, `invalid_client`, …) on OAuth endpoints.
    #[serde(rename = "error")]
    pub oauth_error: Option<String>,
    #[serde(rename = "error_description")]
    pub oauth_error_description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub message: Option<String>,
    pub code: Option<String>,
    #[serde(rename = "in")]
    pub location: Option<String>,
    #[serde(default)]
    pub context: BTreeMap<String, serde_json::Value>,
}

/// Context keys under which HubSpot lists the scopes a call needed.
const SCOPE_CONTEXT_KEYS: &[&str] = &[
    "missingScopes",
    "requiredScopes",
    "requiredGranularScopes",
    "requiredScope",
];

impl ErrorBody {
    /// Parses a body; anything that is not JSON becomes an empty body (the status still counts).
    pub fn parse(bytes: &[u8]) -> ErrorBody {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// The scopes HubSpot says are missing, from the top-level and per-detail `context`.
    pub fn missing_scopes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let contexts =
            std::iter::once(&self.context).chain(self.errors.iter().map(|detail| &detail.context));
        for context in contexts {
            for key in SCOPE_CONTEXT_KEYS {
                let Some(value) = context.get(*key) else {
                    continue;
                };
                let items: Vec<&serde_json::Value> = match value {
                    serde_json::Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for item in items {
                    if let Some(scope) = item.as_str() {
                        if !out.iter().any(|known| known == scope) {
                            out.push(scope.to_owned());
                        }
                    }
                }
            }
        }
        out
    }

    /// The most helpful human message in the body.
    pub fn best_message(&self) -> Option<String> {
        self.oauth_error_description
            .clone()
            .or_else(|| self.message.clone())
            .or_else(|| self.errors.iter().find_map(|d| d.message.clone()))
    }

    fn is_oauth_code(&self, rfc_code: &str, legacy_statuses: &[&str]) -> bool {
        self.oauth_error.as_deref() == Some(rfc_code)
            || self
                .status
                .as_deref()
                .is_some_and(|s| legacy_statuses.contains(&s))
    }
}

/// Everything that can go wrong talking to HubSpot (or the demo portal).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the HubSpot address {0:?} is not a valid http(s) URL")]
    InvalidBaseUrl(String),

    #[error("the access token contains characters that cannot be sent to HubSpot")]
    MalformedToken,

    #[error("HubSpot rejected the access token (401){}", suffix(message))]
    Unauthorized {
        message: Option<String>,
        correlation_id: Option<String>,
    },

    #[error("the connection is missing HubSpot scopes: {}", if scopes.is_empty() { "(HubSpot did not say which)".to_owned() } else { scopes.join(", ") })]
    MissingScopes {
        scopes: Vec<String>,
        message: Option<String>,
        correlation_id: Option<String>,
    },

    #[error("HubSpot refused the request (403){}", suffix(message))]
    Forbidden {
        message: Option<String>,
        correlation_id: Option<String>,
    },

    #[error("HubSpot has no such resource (404){}", suffix(message))]
    NotFound {
        message: Option<String>,
        correlation_id: Option<String>,
    },

    #[error("HubSpot kept rate-limiting the request (429) after {attempts} attempts")]
    RateLimited {
        attempts: u32,
        retry_after: Option<Duration>,
    },

    #[error("the portal's daily HubSpot API limit is used up")]
    DailyLimitReached,

    #[error(
        "HubSpot no longer accepts this authorization (invalid_grant){}",
        suffix(description)
    )]
    InvalidGrant { description: Option<String> },

    #[error(
        "HubSpot did not accept the app's client ID or client secret (invalid_client){}",
        suffix(description)
    )]
    InvalidClient { description: Option<String> },

    #[error("HubSpot's OAuth endpoint answered {error}{}", suffix(description))]
    OAuth {
        error: String,
        description: Option<String>,
    },

    #[error("HubSpot answered {status}{}", suffix(message))]
    Api {
        status: u16,
        category: Option<String>,
        message: Option<String>,
        correlation_id: Option<String>,
    },

    #[error("HubSpot had a server error ({status}) after {attempts} attempts")]
    Server { status: u16, attempts: u32 },

    #[error("HubSpot answered with a redirect ({status}); Spoke does not follow redirects")]
    Redirect { status: u16 },

    #[error("HubSpot did not answer in time after {attempts} attempts")]
    Timeout { attempts: u32 },

    #[error("could not reach HubSpot after {attempts} attempts: {detail}")]
    Network { detail: String, attempts: u32 },

    #[error("HubSpot sent a response Spoke could not read: {0}")]
    Decode(String),

    #[error("the file is {size} bytes, over the {limit}-byte limit")]
    FileTooLarge { size: u64, limit: u64 },

    #[error("the signed download URL was refused ({status}){}", suffix(message))]
    DownloadRefused { status: u16, message: Option<String> },

    #[error("could not write the downloaded file: {0}")]
    LocalWrite(String),

    /// The token provider (keychain, refresh) failed; carries that crate's problem code.
    #[error("{message}")]
    TokenProvider {
        code: &'static str,
        message: String,
        hint: Option<String>,
    },
}

fn suffix(text: &Option<String>) -> String {
    match text {
        Some(t) if !t.is_empty() => format!(": {t}"),
        _ => String::new(),
    }
}

impl Error {
    /// Maps a non-success HTTP answer to an error.
    pub fn from_response(status: u16, body: &ErrorBody) -> Error {
        let message = body.best_message();
        let correlation_id = body.correlation_id.clone();
        let description = body
            .oauth_error_description
            .clone()
            .or_else(|| body.message.clone());
        if body.is_oauth_code(
            "invalid_grant",
            &["BAD_REFRESH_TOKEN", "BAD_AUTH_CODE", "EXPIRED_AUTH_CODE"],
        ) {
            return Error::InvalidGrant { description };
        }
        if body.is_oauth_code(
            "invalid_client",
            &["BAD_CLIENT_ID", "BAD_CLIENT_SECRET", "INVALID_CLIENT"],
        ) {
            return Error::InvalidClient { description };
        }
        if let Some(error) = &body.oauth_error {
            return Error::OAuth {
                error: error.clone(),
                description,
            };
        }
        match status {
            401 => Error::Unauthorized {
                message,
                correlation_id,
            },
            403 if body.category.as_deref() == Some("MISSING_SCOPES")
                || !body.missing_scopes().is_empty() =>
            {
                Error::MissingScopes {
                    scopes: body.missing_scopes(),
                    message,
                    correlation_id,
                }
            }
            403 => Error::Forbidden {
                message,
                correlation_id,
            },
            404 => Error::NotFound {
                message,
                correlation_id,
            },
            _ => Error::Api {
                status,
                category: body.category.clone(),
                message,
                correlation_id,
            },
        }
    }

    /// True when the user must sign in again (the stored grant is dead).
    pub fn needs_reconnect(&self) -> bool {
        matches!(
            self,
            Error::InvalidGrant { .. } | Error::Unauthorized { .. }
        )
    }
}

impl Describe for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::InvalidBaseUrl(_) => "hubspot.invalid_base_url",
            Error::MalformedToken => "hubspot.malformed_token",
            Error::Unauthorized { .. } => "hubspot.unauthorized",
            Error::MissingScopes { .. } => "hubspot.missing_scopes",
            Error::Forbidden { .. } => "hubspot.forbidden",
            Error::NotFound { .. } => "hubspot.not_found",
            Error::RateLimited { .. } => "hubspot.rate_limited",
            Error::DailyLimitReached => "hubspot.daily_limit_reached",
            Error::InvalidGrant { .. } => "hubspot.invalid_grant",
            Error::InvalidClient { .. } => "hubspot.invalid_client",
            Error::OAuth { .. } => "hubspot.oauth_error",
            Error::Api { .. } => "hubspot.api_error",
            Error::Server { .. } => "hubspot.server_error",
            Error::Redirect { .. } => "hubspot.redirect",
            Error::Timeout { .. } => "hubspot.timeout",
            Error::Network { .. } => "hubspot.network",
            Error::Decode(_) => "hubspot.unexpected_response",
            Error::FileTooLarge { .. } => "hubspot.file_too_large",
            Error::DownloadRefused { .. } => "hubspot.download_refused",
            Error::LocalWrite(_) => "hubspot.local_write",
            Error::TokenProvider { code, .. } => code,
        }
    }

    fn hint(&self) -> Option<String> {
        let text = match self {
            Error::InvalidBaseUrl(_) => "Use an address like https://api.hubapi.com or the demo portal's http://127.0.0.1:PORT.",
            Error::MalformedToken => "Copy the token again from HubSpot; it picked up a line break or another stray character.",
            Error::Unauthorized { .. } => "The token is expired, revoked or mistyped. Reconnect this portal, or paste a fresh token from HubSpot.",
            Error::MissingScopes { .. } => "Add the listed scopes to the app or service key in HubSpot. For a token, regenerate it after saving the scopes; for OAuth, reconnect so the new scopes are granted.",
            Error::Forbidden { .. } => "The HubSpot user or app lacks permission for this. Ask a Super Admin to check the app's access.",
            Error::NotFound { .. } => "Check the object type or record id; it may have been deleted in HubSpot.",
            Error::RateLimited { .. } => "The portal is over its HubSpot rate limit. Wait a minute and try again, or lower the sync's concurrency.",
            Error::DailyLimitReached => "HubSpot resets the daily limit at midnight in the portal's time zone. Try again then, or raise the limit with a capacity pack.",
            Error::InvalidGrant { .. } => "The authorization was revoked, expired or already used. Click Reconnect to sign in to HubSpot again.",
            Error::InvalidClient { .. } => "Copy the client ID and client secret again from the app's Auth tab in HubSpot.",
            Error::OAuth { .. } => "Check the app's settings in HubSpot (redirect URL, scopes) and try connecting again.",
            Error::Api { .. } => return None,
            Error::Server { .. } => "HubSpot is having trouble. Try again in a few minutes; status.hubspot.com shows incidents.",
            Error::Redirect { .. } => "Check the connection's base URL; it should point at the API host, not a web page.",
            Error::Timeout { .. } | Error::Network { .. } => "Check your internet connection, proxy or firewall, then try again.",
            Error::Decode(_) => "Check that the base URL points at HubSpot's API (or the demo portal).",
            Error::FileTooLarge { .. } => "Download or attach the file in HubSpot itself, or raise the size limit in Spoke.",
            Error::DownloadRefused { .. } => "Signed URLs expire; the next sync asks HubSpot for a fresh one. If it keeps failing, the file was deleted in HubSpot.",
            Error::LocalWrite(_) => "Check free disk space and that Spoke may write to its data folder.",
            Error::TokenProvider { hint, .. } => return hint.clone(),
        };
        Some(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_scopes_body_maps_to_missing_scopes_with_the_list() {
        let body = ErrorBody::parse(
            br#"{"status":"error","message":"This app hasn't been granted all required scopes to make this call.",
                 "correlationId":"c-1","category":"MISSING_SCOPES",
                 "errors":[{"message":"One or more of the following scopes are required.",
                            "context":{"requiredGranularScopes":["crm.objects.contacts.read","crm.objects.contacts.write"]}}]}"#,
        );
        let err = Error::from_response(403, &body);
        match &err {
            Error::MissingScopes {
                scopes,
                correlation_id,
                ..
            } => {
                assert_eq!(
                    scopes,
                    &["crm.objects.contacts.read", "crm.objects.contacts.write"]
                );
                assert_eq!(correlation_id.as_deref(), Some("c-1"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.code(), "hubspot.missing_scopes");
        assert!(err.to_string().contains("crm.objects.contacts.write"));
        assert!(err.hint().unwrap().contains("regenerate"));
    }

    #[test]
    fn oauth_errors_map_by_rfc_code_or_legacy_status() {
        let grant = ErrorBody::parse(
            br#"{"error":"invalid_grant","error_description":"refresh token is invalid"}"#,
        );
        assert!(matches!(
            Error::from_response(400, &grant),
            Error::InvalidGrant { .. }
        ));
        let legacy = ErrorBody::parse(
            br#"{"status":"BAD_REFRESH_TOKEN","message":"missing or invalid refresh token"}"#,
        );
        assert!(matches!(
            Error::from_response(400, &legacy),
            Error::InvalidGrant { .. }
        ));
        let client =
            ErrorBody::parse(br#"{"error":"invalid_client","status":"BAD_CLIENT_SECRET"}"#);
        assert_eq!(
            Error::from_response(401, &client).code(),
            "hubspot.invalid_client"
        );
        let other = ErrorBody::parse(br#"{"error":"invalid_scope"}"#);
        assert_eq!(
            Error::from_response(400, &other).code(),
            "hubspot.oauth_error"
        );
    }

    #[test]
    fn plain_errors_map_by_status_and_keep_the_message() {
        let body = ErrorBody::parse(br#"{"status":"error","message":"Property values were not valid","correlationId":"x","category":"VALIDATION_ERROR"}"#);
        let err = Error::from_response(400, &body);
        assert!(
            matches!(&err, Error::Api { status: 400, category: Some(c), .. } if c == "VALIDATION_ERROR")
        );
        assert!(err.to_string().contains("Property values were not valid"));
        assert_eq!(
            Error::from_response(401, &ErrorBody::parse(b"not json")).code(),
            "hubspot.unauthorized"
        );
        assert_eq!(
            Error::from_response(404, &ErrorBody::default()).code(),
            "hubspot.not_found"
        );
        assert_eq!(
            Error::from_response(403, &ErrorBody::default()).code(),
            "hubspot.forbidden"
        );
    }
}
