//! Checks a pasted service key / private-app token before anything is sent to HubSpot.
//!
//! HubSpot's service keys and private-app tokens look like `pat-<region>-<uuid>`
//! (`pat-na1-1a2b3c4d-…`, `pat-eu1-…`). The common mistakes are pasting the app's client secret
//! (a bare UUID), a token that lost its end, or one with a line break picked up on the way.

use crate::error::{Error, TokenFormatIssue};
use spoke_hubspot::Secret;

/// The checked token, and the data-hosting region it names (`na1`, `eu1`, …).
#[derive(Debug, Clone)]
pub struct CheckedToken {
    pub token: Secret,
    pub region: String,
}

const UUID_LEN: usize = 36;

fn is_uuid(s: &str) -> bool {
    s.len() == UUID_LEN
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Validates the shape of a pasted token. Surrounding whitespace (a trailing newline from the
/// clipboard) is trimmed; whitespace inside is refused.
pub fn check_token(raw: &Secret) -> Result<CheckedToken, Error> {
    let value = raw.expose().trim();
    if value.is_empty() {
        return Err(Error::TokenFormat(TokenFormatIssue::Empty));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(Error::TokenFormat(TokenFormatIssue::Whitespace));
    }
    if is_uuid(value)
        || (value.len() < UUID_LEN + 4
            && !value.to_ascii_lowercase().starts_with("pat-")
            && value.contains('-')
            && value.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
    {
        return Err(Error::TokenFormat(TokenFormatIssue::LooksLikeClientSecret));
    }
    let Some(rest) = value.strip_prefix("pat-") else {
        return Err(Error::TokenFormat(TokenFormatIssue::NotAToken));
    };
    let Some((region, key)) = rest.split_once('-') else {
        return Err(Error::TokenFormat(TokenFormatIssue::Truncated));
    };
    let region_ok = (2..=5).contains(&region.len())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && region
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase());
    if !region_ok {
        return Err(Error::TokenFormat(TokenFormatIssue::Malformed));
    }
    if !key.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::TokenFormat(TokenFormatIssue::Malformed));
    }
    if key.len() < UUID_LEN {
        return Err(Error::TokenFormat(TokenFormatIssue::Truncated));
    }
    if !is_uuid(key) {
        return Err(Error::TokenFormat(TokenFormatIssue::Malformed));
    }
    Ok(CheckedToken {
        token: Secret::from(value),
        region: region.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(raw: &str) -> TokenFormatIssue {
        match check_token(&Secret::from(raw)) {
            Err(Error::TokenFormat(issue)) => issue,
            other => panic!("{raw:?} gave {other:?}"),
        }
    }

    const GOOD: &str = "pat-na1-1a2b3c4d-5e6f-4a1b-8c2d-9e0f1a2b3c4d";

    #[test]
    fn accepts_private_app_tokens_and_service_keys_of_any_region() {
        let checked = check_token(&Secret::from(GOOD)).unwrap();
        assert_eq!(checked.region, "na1");
        assert_eq!(checked.token.expose(), GOOD);
        let eu = check_token(&Secret::from(
            "pat-eu1-AAAAAAAA-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        ))
        .unwrap();
        assert_eq!(eu.region, "eu1");
        let trimmed = check_token(&Secret::from(format!("  {GOOD}\n"))).unwrap();
        assert_eq!(trimmed.token.expose(), GOOD);
    }

    #[test]
    fn names_each_common_mistake() {
        assert_eq!(issue(""), TokenFormatIssue::Empty);
        assert_eq!(issue(" \n"), TokenFormatIssue::Empty);
        assert_eq!(
            issue("pat-na1-1a2b3c4d-5e6f-4a1b\n-8c2d-9e0f1a2b3c4d"),
            TokenFormatIssue::Whitespace
        );
        assert_eq!(
            issue("pat-na1-1a2b3c4d 5e6f-4a1b-8c2d-9e0f1a2b3c4d"),
            TokenFormatIssue::Whitespace
        );
        assert_eq!(
            issue("1a2b3c4d-5e6f-4a1b-8c2d-9e0f1a2b3c4d"),
            TokenFormatIssue::LooksLikeClientSecret
        );
        assert_eq!(issue(&GOOD[..30]), TokenFormatIssue::Truncated);
        assert_eq!(issue("pat-na1"), TokenFormatIssue::Truncated);
        assert_eq!(
            issue("pat-na1-1a2b3c4d-5e6f-4a1b-8c2d-9e0f1a2b3c4z"),
            TokenFormatIssue::Malformed
        );
        assert_eq!(
            issue("pat-NA1-1a2b3c4d-5e6f-4a1b-8c2d-9e0f1a2b3c4d"),
            TokenFormatIssue::Malformed
        );
        assert_eq!(issue(&format!("{GOOD}0")), TokenFormatIssue::Malformed);
        assert_eq!(
            issue("CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpuIFEavB2-qYAGQsF4"),
            TokenFormatIssue::NotAToken
        );
    }

    #[test]
    fn messages_and_hints_are_specific() {
        use spoke_hubspot::Describe;
        let err = check_token(&Secret::from("1a2b3c4d-5e6f-4a1b-8c2d-9e0f1a2b3c4d")).unwrap_err();
        assert_eq!(err.code(), "connect.token_format");
        assert!(err.to_string().contains("client secret"));
        assert!(err.hint().unwrap().contains("pat-"));
        let err = check_token(&Secret::from("pat-na1-1a2b 3c4d")).unwrap_err();
        assert!(err.to_string().contains("space or line break"));
    }
}
