//! The one error type of `spoke-connect`.

use spoke_hubspot::Describe;

/// Why a pasted token was refused before asking HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormatIssue {
    Empty,
    /// A space, tab or line break inside the token.
    Whitespace,
    /// A bare UUID: the app's client secret or client ID, or a legacy developer API key.
    LooksLikeClientSecret,
    /// Starts like a HubSpot token but is too short.
    Truncated,
    /// `pat-…` with characters that cannot be part of a token.
    Malformed,
    /// Not shaped like a private-app token or service key at all.
    NotAToken,
}

/// Everything that can go wrong in `spoke-connect`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no keychain is available: {0}")]
    KeychainUnavailable(String),

    #[error("the keychain is locked: {0}")]
    KeychainLocked(String),

    #[error("the keychain refused the operation: {0}")]
    Keychain(String),

    #[error("{}", token_format_message(*.0))]
    TokenFormat(TokenFormatIssue),

    #[error(transparent)]
    HubSpot(#[from] spoke_hubspot::Error),

    #[error("connection {0} does not exist")]
    NotFound(String),

    #[error("HubSpot no longer accepts the sign-in of connection {connection_id}; it needs to be reconnected")]
    ReconnectRequired { connection_id: String },

    #[error("the keychain has no {what} for connection {connection_id}")]
    SecretMissing {
        connection_id: String,
        what: &'static str,
    },

    #[error("HubSpot consent was denied{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    ConsentDenied { description: Option<String> },

    #[error("HubSpot reported an error during sign-in: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    AuthorizationFailed {
        error: String,
        description: Option<String>,
    },

    #[error("the sign-in was not completed within {minutes} minutes")]
    OAuthTimeout { minutes: u64 },

    #[error("the sign-in was cancelled")]
    OAuthCancelled,

    #[error("no sign-in with id {0} is in progress")]
    FlowNotFound(String),

    #[error("port {port} on this computer is already in use")]
    PortInUse { port: u16 },

    #[error("the sign-in listener failed: {0}")]
    Listener(String),

    #[error("HubSpot signed in to portal {got}, but this connection is for portal {expected}")]
    PortalMismatch { expected: u64, got: u64 },

    #[error("{0}")]
    InvalidInput(String),

    #[error("the connections database failed: {0}")]
    Store(String),
}

fn token_format_message(issue: TokenFormatIssue) -> &'static str {
    match issue {
        TokenFormatIssue::Empty => "the token is empty",
        TokenFormatIssue::Whitespace => "the token contains a space or line break",
        TokenFormatIssue::LooksLikeClientSecret => {
            "this looks like an app's client secret or client ID (or a legacy API key), not an access token"
        }
        TokenFormatIssue::Truncated => "the token is shorter than a HubSpot token; it looks cut off",
        TokenFormatIssue::Malformed => "the token contains characters a HubSpot token never has",
        TokenFormatIssue::NotAToken => "this is not a HubSpot service key or private-app token (they start with pat-)",
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.to_string())
    }
}

impl Error {
    /// Converts into the HubSpot client's error, keeping this crate's code and hint (used by the
    /// token provider the client calls).
    pub fn into_hubspot(self) -> spoke_hubspot::Error {
        match self {
            Error::HubSpot(inner) => inner,
            other => spoke_hubspot::Error::TokenProvider {
                code: other.code(),
                message: other.to_string(),
                hint: other.hint(),
            },
        }
    }
}

impl Describe for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::KeychainUnavailable(_) => "connect.keychain_unavailable",
            // Same code as "no keychain" (the UI and CLI treat both as "keychain not usable");
            // the message and the hint say which one it is.
            Error::KeychainLocked(_) => "connect.keychain_unavailable",
            Error::Keychain(_) => "connect.keychain_error",
            Error::TokenFormat(_) => "connect.token_format",
            Error::HubSpot(inner) => inner.code(),
            Error::NotFound(_) => "connect.not_found",
            Error::ReconnectRequired { .. } => "connect.reconnect_required",
            Error::SecretMissing { .. } => "connect.secret_missing",
            Error::ConsentDenied { .. } => "connect.consent_denied",
            Error::AuthorizationFailed { .. } => "connect.authorization_failed",
            Error::OAuthTimeout { .. } => "connect.oauth_timeout",
            Error::OAuthCancelled => "connect.oauth_cancelled",
            Error::FlowNotFound(_) => "connect.flow_not_found",
            Error::PortInUse { .. } => "connect.port_in_use",
            Error::Listener(_) => "connect.listener_failed",
            Error::PortalMismatch { .. } => "connect.portal_mismatch",
            Error::InvalidInput(_) => "connect.invalid_input",
            Error::Store(_) => "connect.store_error",
        }
    }

    fn hint(&self) -> Option<String> {
        let text = match self {
            Error::KeychainUnavailable(_) => {
                "Spoke keeps tokens only in the system keychain and never in a file. On Linux, install and start a Secret Service \
                 (GNOME Keyring or KWallet) in your desktop session; on macOS and Windows, sign in to your user account normally. \
                 Then restart Spoke."
            }
            Error::KeychainLocked(_) => {
                "Unlock your keychain (on Linux your login keyring, e.g. with Seahorse; on macOS \
                 Keychain Access) and try again. Spoke never stores tokens in a file."
            }
            Error::Keychain(_) => "Check that your keychain works (e.g. with Seahorse or Keychain Access), then try again.",
            Error::TokenFormat(issue) => match issue {
                TokenFormatIssue::Empty => "Paste the service key or private-app access token from HubSpot.",
                TokenFormatIssue::Whitespace => "Copy the token again with the Copy button in HubSpot; do not include spaces or line breaks.",
                TokenFormatIssue::LooksLikeClientSecret => {
                    "In HubSpot, open Development → Keys → Service keys (or your private app's Auth tab) and copy the access token, \
                     which starts with pat-. A client secret belongs in the OAuth form instead."
                }
                TokenFormatIssue::Truncated | TokenFormatIssue::Malformed => {
                    "Copy the whole token again with the Copy button in HubSpot."
                }
                TokenFormatIssue::NotAToken => {
                    "Copy the access token of a service key or private app from HubSpot; it starts with pat- (for example pat-na1-…)."
                }
            },
            Error::HubSpot(inner) => return inner.hint(),
            Error::NotFound(_) => "Refresh the connections list; it may have been removed.",
            Error::ReconnectRequired { .. } => "Click Reconnect and sign in to HubSpot again.",
            Error::SecretMissing { .. } => "The keychain entry was removed outside Spoke. Click Reconnect (or paste the token again).",
            Error::ConsentDenied { .. } => "Click Connect again and choose Connect app / Grant access on HubSpot's consent page.",
            Error::AuthorizationFailed { .. } => "Check the app's redirect URL and scopes in HubSpot, then connect again.",
            Error::OAuthTimeout { .. } => "Click Connect again and finish the sign-in in your browser within 5 minutes.",
            Error::OAuthCancelled => return None,
            Error::FlowNotFound(_) => "Start the connection again.",
            Error::PortInUse { .. } => {
                "Close the other program using that port, or pick another callback port and add its \
                 http://localhost:PORT/callback URL to the app's redirect URLs in HubSpot."
            }
            Error::Listener(_) => "Try again; if it keeps failing, pick another callback port.",
            Error::PortalMismatch { .. } => "Sign in with a user of the portal this connection belongs to, or add a new connection.",
            Error::InvalidInput(_) => return None,
            Error::Store(_) => "Check free disk space and permissions of Spoke's data folder, then restart Spoke.",
        };
        Some(text.to_owned())
    }
}
