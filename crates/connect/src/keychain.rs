//! Secrets in the OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows). Entries are namespaced by app (the keychain *service*, `dev.spoke.app`) and by
//! connection (the *user*, `conn:<id>:access|refresh|client_secret`). There is no file fallback:
//! without a keychain, connecting fails with [`Error::KeychainUnavailable`] and its fix.

use std::sync::Arc;

use spoke_hubspot::Secret;

use crate::Error;

/// The keychain service name Spoke's entries live under.
pub const DEFAULT_SERVICE: &str = "dev.spoke.app";

/// Which secret of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// The OAuth access token, or the service key / private-app token of a token connection.
    Access,
    Refresh,
    ClientSecret,
}

impl SecretKind {
    pub const ALL: [SecretKind; 3] = [
        SecretKind::Access,
        SecretKind::Refresh,
        SecretKind::ClientSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Access => "access",
            SecretKind::Refresh => "refresh",
            SecretKind::ClientSecret => "client_secret",
        }
    }

    /// Words for messages ("the keychain has no refresh token for …").
    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::Access => "access token",
            SecretKind::Refresh => "refresh token",
            SecretKind::ClientSecret => "client secret",
        }
    }
}

/// The keychain *user* of one secret.
pub fn entry_user(connection_id: &str, kind: SecretKind) -> String {
    format!("conn:{connection_id}:{}", kind.as_str())
}

/// Where secrets live. Blocking (D-Bus / OS calls): call it from `spawn_blocking`.
pub trait SecretStore: Send + Sync + 'static {
    fn get(&self, connection_id: &str, kind: SecretKind) -> Result<Option<Secret>, Error>;
    fn set(&self, connection_id: &str, kind: SecretKind, value: &Secret) -> Result<(), Error>;
    /// Deleting a missing entry is not an error.
    fn delete(&self, connection_id: &str, kind: SecretKind) -> Result<(), Error>;
    /// Fails with [`Error::KeychainUnavailable`] or [`Error::KeychainLocked`] (both coded
    /// `connect.keychain_unavailable`) when secrets cannot be written right now.
    fn check(&self) -> Result<(), Error>;
}

/// The OS keychain through the `keyring` crate.
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
}

impl Default for Keychain {
    fn default() -> Self {
        Keychain::new(DEFAULT_SERVICE)
    }
}

impl Keychain {
    pub fn new(service: impl Into<String>) -> Keychain {
        Keychain {
            service: service.into(),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    fn entry(&self, user: &str) -> Result<keyring::Entry, Error> {
        keyring::Entry::new(&self.service, user).map_err(map_keyring_error)
    }
}

/// The keychain *user* of a database password: `db:<url>` (the URL itself never holds one).
pub fn database_user(url: &str) -> String {
    format!("db:{}", url.trim())
}

impl Keychain {
    /// The password saved for a database URL (a PostgreSQL destination), if any. Blocking.
    pub fn database_password(&self, url: &str) -> Result<Option<Secret>, Error> {
        match self.entry(&database_user(url))?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    /// Saves the password of a database URL. Blocking.
    pub fn set_database_password(&self, url: &str, password: &Secret) -> Result<(), Error> {
        self.entry(&database_user(url))?
            .set_password(password.expose())
            .map_err(map_keyring_error)
    }

    /// Forgets the password of a database URL (a missing entry is not an error). Blocking.
    pub fn delete_database_password(&self, url: &str) -> Result<(), Error> {
        match self.entry(&database_user(url))?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring_error(e)),
        }
    }
}

/// Maps `keyring` errors to Spoke's: no store / no bus → unavailable, no access → locked.
pub fn map_keyring_error(err: keyring::Error) -> Error {
    match err {
        keyring::Error::NoDefaultStore => Error::KeychainUnavailable(
            "no system keychain could be reached (on Linux: no Secret Service on the session bus)"
                .to_owned(),
        ),
        keyring::Error::PlatformFailure(inner) => Error::KeychainUnavailable(inner.to_string()),
        keyring::Error::NoStorageAccess(inner) => Error::KeychainLocked(inner.to_string()),
        other => Error::Keychain(other.to_string()),
    }
}

impl SecretStore for Keychain {
    fn get(&self, connection_id: &str, kind: SecretKind) -> Result<Option<Secret>, Error> {
        match self.entry(&entry_user(connection_id, kind))?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    fn set(&self, connection_id: &str, kind: SecretKind, value: &Secret) -> Result<(), Error> {
        self.entry(&entry_user(connection_id, kind))?
            .set_password(value.expose())
            .map_err(map_keyring_error)
    }

    fn delete(&self, connection_id: &str, kind: SecretKind) -> Result<(), Error> {
        match self
            .entry(&entry_user(connection_id, kind))?
            .delete_credential()
        {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    fn check(&self) -> Result<(), Error> {
        if let Err(e) = keyring::Entry::store_status() {
            return Err(match e {
                keyring::Error::NoDefaultStore => map_keyring_error(keyring::Error::NoDefaultStore),
                other => Error::KeychainUnavailable(other.to_string()),
            });
        }
        // A locked collection only shows on write: write and remove a marker (not a secret).
        let probe = self.entry("spoke:probe")?;
        probe.set_password("probe").map_err(map_keyring_error)?;
        match probe.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring_error(e)),
        }
    }
}

/// Runs a blocking keychain call off the async runtime.
pub(crate) async fn blocking<T, F>(store: &Arc<dyn SecretStore>, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&dyn SecretStore) -> Result<T, Error> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| Error::Keychain(format!("keychain task failed: {e}")))?
}

#[cfg(test)]
pub(crate) mod memory {
    //! An in-memory store for unit tests of logic *around* the keychain. Tests of the keychain
    //! itself use the real Secret Service (see `tests/keychain.rs`).

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    pub struct MemoryStore {
        pub entries: Mutex<HashMap<(String, SecretKind), String>>,
        pub unavailable: AtomicBool,
        /// Reads work, writes fail (a keychain that locks in the middle of a refresh).
        pub fail_writes: AtomicBool,
        pub writes: AtomicUsize,
    }

    impl MemoryStore {
        fn guard(&self) -> Result<(), Error> {
            if self.unavailable.load(Ordering::SeqCst) {
                Err(Error::KeychainUnavailable("test: no keychain".into()))
            } else {
                Ok(())
            }
        }

        pub fn value(&self, id: &str, kind: SecretKind) -> Option<String> {
            self.entries
                .lock()
                .unwrap()
                .get(&(id.to_owned(), kind))
                .cloned()
        }
    }

    impl SecretStore for MemoryStore {
        fn get(&self, id: &str, kind: SecretKind) -> Result<Option<Secret>, Error> {
            self.guard()?;
            Ok(self.value(id, kind).map(Secret::new))
        }
        fn set(&self, id: &str, kind: SecretKind, value: &Secret) -> Result<(), Error> {
            self.guard()?;
            if self.fail_writes.load(Ordering::SeqCst) {
                return Err(Error::KeychainLocked("test: locked".into()));
            }
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.entries
                .lock()
                .unwrap()
                .insert((id.to_owned(), kind), value.expose().clone());
            Ok(())
        }
        fn delete(&self, id: &str, kind: SecretKind) -> Result<(), Error> {
            self.guard()?;
            self.entries.lock().unwrap().remove(&(id.to_owned(), kind));
            Ok(())
        }
        fn check(&self) -> Result<(), Error> {
            self.guard()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoke_hubspot::Describe;

    #[test]
    fn entries_are_namespaced_by_connection_and_kind() {
        assert_eq!(entry_user("c1", SecretKind::Access), "conn:c1:access");
        assert_eq!(entry_user("c1", SecretKind::Refresh), "conn:c1:refresh");
        assert_eq!(
            entry_user("c2", SecretKind::ClientSecret),
            "conn:c2:client_secret"
        );
    }

    #[test]
    fn keyring_errors_map_to_unavailable_and_locked_with_fixes() {
        let err = map_keyring_error(keyring::Error::NoDefaultStore);
        assert_eq!(err.code(), "connect.keychain_unavailable");
        assert!(err.hint().unwrap().contains("never in a file"));
        let err = map_keyring_error(keyring::Error::NoStorageAccess(
            "collection is locked".into(),
        ));
        assert_eq!(err.code(), "connect.keychain_unavailable");
        assert!(err.to_string().contains("locked"));
        assert!(err.hint().unwrap().contains("Unlock"));
        let err = map_keyring_error(keyring::Error::PlatformFailure(
            "org.freedesktop.DBus.Error.ServiceUnknown".into(),
        ));
        assert_eq!(err.code(), "connect.keychain_unavailable");
    }
}
