//! OAuth pieces: PKCE (S256), random `state`, and the authorize URL.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use spoke_hubspot::Secret;
use url::Url;

use crate::Error;

/// HubSpot's consent page host for production portals.
pub const HUBSPOT_APP_BASE: &str = "https://app.hubspot.com";

/// A PKCE verifier (secret until the code exchange) and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

/// `n` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A fresh PKCE pair: 32 random bytes (43 characters) and `BASE64URL(SHA256(verifier))`.
pub fn pkce() -> Pkce {
    let verifier = random_token(32);
    let challenge = challenge_for(&verifier);
    Pkce {
        verifier: Secret::new(verifier),
        challenge,
    }
}

/// The S256 challenge of a verifier.
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The loopback redirect URL registered in the HubSpot app. HubSpot allows plain http only for
/// `localhost`, and matches redirect URLs exactly, so the port is fixed per app.
pub fn redirect_uri(port: u16) -> String {
    format!("http://localhost:{port}/callback")
}

fn encode(value: &str) -> String {
    // `scope` is space-separated; HubSpot's documentation encodes spaces as %20.
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// What goes into the authorize URL.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    pub authorize_base_url: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub optional_scopes: &'a [String],
    pub state: &'a str,
    pub code_challenge: &'a str,
}

/// `{base}/oauth/authorize?client_id&redirect_uri&scope&optional_scope&state&code_challenge…`.
pub fn authorize_url(req: &AuthorizeRequest<'_>) -> Result<String, Error> {
    let base = Url::parse(req.authorize_base_url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "{:?} is not a valid consent page address",
                req.authorize_base_url
            ))
        })?;
    if req.client_id.trim().is_empty() {
        return Err(Error::InvalidInput(
            "the app's client ID is empty".to_owned(),
        ));
    }
    if req.scopes.is_empty() {
        return Err(Error::InvalidInput(
            "at least one scope must be requested".to_owned(),
        ));
    }
    let mut url = format!("{}/oauth/authorize", base.as_str().trim_end_matches('/'));
    url.push_str(&format!("?client_id={}", encode(req.client_id.trim())));
    url.push_str(&format!("&redirect_uri={}", encode(req.redirect_uri)));
    url.push_str(&format!("&scope={}", encode(&req.scopes.join(" "))));
    let optional: Vec<&String> = req
        .optional_scopes
        .iter()
        .filter(|s| !req.scopes.contains(s))
        .collect();
    if !optional.is_empty() {
        let joined: Vec<&str> = optional.iter().map(|s| s.as_str()).collect();
        url.push_str(&format!("&optional_scope={}", encode(&joined.join(" "))));
    }
    url.push_str(&format!("&state={}", encode(req.state)));
    url.push_str(&format!(
        "&code_challenge={}&code_challenge_method=S256",
        encode(req.code_challenge)
    ));
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let a = pkce();
        let b = pkce();
        assert_eq!(a.verifier.expose().len(), 43);
        assert_ne!(a.verifier.expose(), b.verifier.expose());
        assert_eq!(a.challenge, challenge_for(a.verifier.expose()));
    }

    #[test]
    fn authorize_url_carries_every_parameter_encoded() {
        let scopes = vec!["oauth".to_owned(), "crm.objects.contacts.read".to_owned()];
        let optional = vec!["crm.schemas.contacts.read".to_owned(), "oauth".to_owned()];
        let url = authorize_url(&AuthorizeRequest {
            authorize_base_url: "https://app.hubspot.com/",
            client_id: "abc-123",
            redirect_uri: &redirect_uri(53135),
            scopes: &scopes,
            optional_scopes: &optional,
            state: "st+/=",
            code_challenge: "E9Mel",
        })
        .unwrap();
        assert_eq!(
            url,
            "https://app.hubspot.com/oauth/authorize?client_id=abc-123\
             &redirect_uri=http%3A%2F%2Flocalhost%3A53135%2Fcallback\
             &scope=oauth%20crm.objects.contacts.read\
             &optional_scope=crm.schemas.contacts.read\
             &state=st%2B%2F%3D&code_challenge=E9Mel&code_challenge_method=S256"
        );
        let parsed = Url::parse(&url).unwrap();
        let pairs: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs["scope"], "oauth crm.objects.contacts.read");
        assert_eq!(pairs["state"], "st+/=");
    }

    #[test]
    fn authorize_url_rejects_bad_input() {
        let scopes = vec!["oauth".to_owned()];
        let base = AuthorizeRequest {
            authorize_base_url: "https://app.hubspot.com",
            client_id: "id",
            redirect_uri: "http://localhost:1/callback",
            scopes: &scopes,
            optional_scopes: &[],
            state: "s",
            code_challenge: "c",
        };
        assert!(authorize_url(&AuthorizeRequest {
            authorize_base_url: "ftp://x",
            ..base.clone()
        })
        .is_err());
        assert!(authorize_url(&AuthorizeRequest {
            client_id: " ",
            ..base.clone()
        })
        .is_err());
        assert!(authorize_url(&AuthorizeRequest {
            scopes: &[],
            ..base.clone()
        })
        .is_err());
        assert!(authorize_url(&base).is_ok());
    }
}
