//! A value that must never be printed, logged, serialized or passed on a command line.

use std::fmt;

/// Wraps a secret (token, client secret, refresh token). `Debug` and `Display` print `***`;
/// serializing it fails, so a secret cannot leak into IPC payloads, JSON files or logs by accident.
/// The only way to the value is [`Secret::expose`], which call sites use at the last moment
/// (the `Authorization` header, the keychain write).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The wrapped value. Keep the borrow short and never format it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, _serializer: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "refusing to serialize a secret; call Secret::expose where the value is really needed",
        ))
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// A secret crosses IPC only inbound (a pasted token on its way to the keychain); on the
/// TypeScript side it is the plain value type.
impl<T: specta::Type> specta::Type for Secret<T> {
    fn inline(
        type_map: &mut specta::TypeCollection,
        generics: specta::Generics,
    ) -> specta::datatype::DataType {
        T::inline(type_map, generics)
    }
}

/// Keys whose values are secrets wherever they appear: `key=value` (query strings, forms) and
/// `"key":"value"` (JSON).
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "client_secret",
    "code_verifier",
    "code",
    "token",
    "password",
];

/// Redacts secrets from free text on its way to a log file: `Bearer …` credentials, HubSpot
/// private-app / personal access keys (`pat-…`), and the values of well-known secret keys (`code`, `refresh_token`, …) in query
/// strings, forms and JSON. A second line of defence; the first is that secrets are [`Secret`]s.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if let Some(skip) = secret_prefix_len(rest, i == 0 || !is_token_char(bytes[i - 1])) {
            out.push_str(&rest[..skip]);
            out.push_str("***");
            i += skip;
            while i < bytes.len() && is_token_char(bytes[i]) {
                i += 1;
            }
            continue;
        }
        let ch = rest.chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&rest[..ch]);
        i += ch;
    }
    out
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'%')
}

/// If `rest` starts with something followed by a secret value, how many bytes to keep before
/// the value.
fn secret_prefix_len(rest: &str, at_word_start: bool) -> Option<usize> {
    if !at_word_start {
        return None;
    }
    let lower = rest.get(..rest.len().min(40))?.to_ascii_lowercase();
    if lower.starts_with("bearer ") {
        return Some("bearer ".len());
    }
    if lower.starts_with("pat-") {
        return Some(0);
    }
    for key in SECRET_KEYS {
        if !lower.starts_with(key) {
            continue;
        }
        let after = &rest[key.len()..];
        for sep in ["="] {
            if after.starts_with(sep) {
                return Some(key.len() + sep.len());
            }
        }
        if let Some(stripped) = after.strip_prefix('"') {
            for sep in [":\"", ": \""] {
                if stripped.starts_with(sep) {
                    return Some(key.len() + 1 + sep.len());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_known_secret_shapes() {
        let line = r#"GET /x?code=abc123&state=s1 Authorization: Bearer CNb7xyz.- token pat-na1-11111111-2222-3333-4444-555555555555 {"refresh_token":"rt-9","other":"ok"} client_secret=shh"#;
        let r = redact(line);
        for leaked in ["abc123", "CNb7xyz", "pat-na1-1111", "rt-9", "shh"] {
            assert!(!r.contains(leaked), "{leaked} leaked in {r}");
        }
        assert!(r.contains("state=s1"), "{r}");
        assert!(r.contains(r#""other":"ok""#), "{r}");
        assert_eq!(
            redact("plain text, no secrets: encode"),
            "plain text, no secrets: encode"
        );
    }

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::from("pat-na1-12345678-abcd");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "pat-na1-12345678-abcd");
    }

    #[test]
    fn serializing_fails_and_names_the_fix() {
        #[derive(serde::Serialize)]
        struct Holder {
            token: Secret,
        }
        let err = serde_json::to_string(&Holder { token: "x".into() }).unwrap_err();
        assert!(err.to_string().contains("refusing to serialize a secret"));
    }

    #[test]
    fn deserializing_wraps() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose(), "abc");
    }
}
