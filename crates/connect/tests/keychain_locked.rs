//! A locked keychain: a clear "unlock it" error. The test starts its own private session bus and
//! GNOME Keyring (in a temporary HOME), unlocks it, locks it again over D-Bus, and points only
//! this process at it. Its own test binary, because the environment change is process-wide.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use spoke_connect::keychain::{Keychain, SecretKind, SecretStore};
use spoke_hubspot::{Describe, Secret};

/// Kills the daemons this test started (by their own handles) when the test ends.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
#[ignore = "needs dbus-daemon, dbus-send and gnome-keyring-daemon (run with the keychain suite)"]
fn locked_keychain_is_a_clear_error_with_the_fix() {
    let home = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let mut daemons = Daemons(Vec::new());
    // Without a display on the bus either: it starts the keyring's password prompter.
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon");
    let mut address = String::new();
    BufReader::new(bus.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let address = address.trim().to_owned();
    daemons.0.push(bus);
    let env = [
        ("DBUS_SESSION_BUS_ADDRESS", address.as_str()),
        ("HOME", home.path().to_str().unwrap()),
        ("XDG_RUNTIME_DIR", runtime.path().to_str().unwrap()),
    ];
    // No display for this keyring: with one (the test suite runs under Xvfb), a locked keyring
    // asks for the password in a GUI prompt and the request waits for a user forever.
    let mut keyring = Command::new("gnome-keyring-daemon")
        .args(["--foreground", "--unlock", "--components=secrets"])
        .envs(env)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon");
    keyring
        .stdin
        .take()
        .unwrap()
        .write_all(b"test-password")
        .unwrap();
    daemons.0.push(keyring);
    // Wait until the keyring owns its bus name and has created the unlocked login collection.
    let collection = "/org/freedesktop/secrets/collection/login";
    let ready = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        Command::new("dbus-send")
            .envs(env)
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                collection,
            ])
            .args([
                "org.freedesktop.DBus.Properties.Get",
                "string:org.freedesktop.Secret.Collection",
                "string:Locked",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(ready, "the private keyring did not come up");
    let locked = Command::new("dbus-send")
        .envs(env)
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
        ])
        .args([
            "org.freedesktop.Secret.Service.Lock",
            &format!("array:objpath:{collection}"),
        ])
        .output()
        .unwrap();
    assert!(
        locked.status.success(),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );

    for (key, value) in env {
        std::env::set_var(key, value);
    }
    let keychain = Keychain::new("dev.spoke.test.locked");
    let err = keychain.check().unwrap_err();
    assert_eq!(err.code(), "connect.keychain_unavailable", "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(err.hint().unwrap().contains("Unlock"));
    let err = keychain
        .set("c1", SecretKind::Refresh, &Secret::from("rt"))
        .unwrap_err();
    assert_eq!(err.code(), "connect.keychain_unavailable", "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
}
