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

#[cfg(test)]
mod tests {
    use super::*;

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
