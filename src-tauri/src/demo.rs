//! The embedded demo portal: a local HubSpot started with the app, so a new user can connect,
//! map, test and sync without a HubSpot account.

use serde::Serialize;
use spoke_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

/// Default port of the embedded demo portal. Fixed, so demo connections saved in one session
/// still point at the portal in the next; `SPOKE_DEMO_PORT` changes it (0 = any free port).
pub const DEFAULT_DEMO_PORT: u16 = 53180;

/// Network latency the demo portal adds to every API answer, in milliseconds, as a HubSpot far
/// away would: `--demo-latency-ms N` on the command line, then `SPOKE_DEMO_LATENCY_MS`; 0 (off)
/// by default. With it a sync of the demo portal takes long enough to watch its progress.
pub fn demo_latency_ms(args: impl Iterator<Item = std::ffi::OsString>, env: Option<std::ffi::OsString>) -> u64 {
    let mut args = args.map(|a| a.to_string_lossy().into_owned());
    let mut from_args = None;
    while let Some(arg) = args.next() {
        if arg == "--demo-latency-ms" {
            from_args = args.next();
        } else if let Some(v) = arg.strip_prefix("--demo-latency-ms=") {
            from_args = Some(v.to_owned());
        }
    }
    let value = from_args.or_else(|| env.map(|e| e.to_string_lossy().into_owned()));
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => v.parse().unwrap_or_else(|_| {
            tracing::warn!(value = v, "demo latency is not a whole number of milliseconds; using 0");
            0
        }),
    }
}

/// What the UI may know about the demo portal. The demo app's client secret and the private-app
/// token stay in Rust.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DemoPortalInfo {
    pub available: bool,
    pub base_url: Option<String>,
    #[specta(type = Option<f64>)]
    pub portal_id: Option<u64>,
    pub app_name: Option<String>,
    pub redirect_uris: Vec<String>,
    /// Why the demo portal is not available, with the fix.
    pub problem: Option<String>,
}

pub enum DemoPortal {
    Running(SandboxHandle),
    Unavailable(String),
}

impl DemoPortal {
    /// Starts the demo portal on the current Tokio runtime. Never fails the app: when the port
    /// is taken, the demo portal is reported unavailable with the reason.
    pub async fn start() -> DemoPortal {
        let port = std::env::var("SPOKE_DEMO_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_DEMO_PORT);
        let latency_ms = demo_latency_ms(std::env::args_os().skip(1), std::env::var_os("SPOKE_DEMO_LATENCY_MS"));
        match Sandbox::start(SandboxConfig { port, latency_ms, ..SandboxConfig::default() }).await {
            Ok(handle) => {
                tracing::info!(base_url = %handle.base_url(), latency_ms, "demo portal started");
                DemoPortal::Running(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, port, "demo portal unavailable");
                DemoPortal::Unavailable(format!(
                    "The demo portal could not start on port {port} ({e}). Close the other program using it, or start Spoke with SPOKE_DEMO_PORT set to a free port."
                ))
            }
        }
    }

    pub fn handle(&self) -> Option<&SandboxHandle> {
        match self {
            DemoPortal::Running(h) => Some(h),
            DemoPortal::Unavailable(_) => None,
        }
    }

    pub fn info(&self) -> DemoPortalInfo {
        match self {
            DemoPortal::Running(h) => {
                let app = h.demo_app();
                DemoPortalInfo {
                    available: true,
                    base_url: Some(h.base_url()),
                    portal_id: Some(h.portal_id()),
                    app_name: Some(app.name),
                    redirect_uris: app.redirect_uris,
                    problem: None,
                }
            }
            DemoPortal::Unavailable(why) => DemoPortalInfo {
                available: false,
                base_url: None,
                portal_id: None,
                app_name: None,
                redirect_uris: Vec::new(),
                problem: Some(why.clone()),
            },
        }
    }
}

impl DemoPortal {
    fn running(&self) -> Result<&SandboxHandle, crate::error::Error> {
        match self {
            DemoPortal::Running(h) => Ok(h),
            DemoPortal::Unavailable(why) => Err(crate::error::Error::DemoUnavailable(why.clone())),
        }
    }

    /// An OAuth sign-in with the demo portal's own app, for the scopes the user picked. Like
    /// HubSpot, the demo app rejects an install URL whose scopes do not match its configuration,
    /// so the request is the app's required scopes plus the planned ones it offers.
    pub fn oauth_request(
        &self,
        scopes: Vec<String>,
        optional_scopes: Vec<String>,
    ) -> Result<spoke_connect::BeginOAuth, crate::error::Error> {
        let h = self.running()?;
        let app = h.demo_app();
        let (scopes, optional_scopes) = fit_to_app(&app.scopes, &app.optional_scopes, scopes, optional_scopes);
        Ok(spoke_connect::BeginOAuth {
            label: Some("Demo portal".to_owned()),
            app_kind: spoke_connect::OAuthAppKind::Demo,
            base_url: Some(h.base_url()),
            authorize_base_url: None,
            client_id: app.client_id,
            client_secret: app.client_secret.into(),
            port: None,
            scopes,
            optional_scopes,
        })
    }

    /// A token connection with the demo portal's private-app token (every scope granted).
    pub fn token_request(&self) -> Result<spoke_connect::AddToken, crate::error::Error> {
        let h = self.running()?;
        Ok(spoke_connect::AddToken {
            label: Some("Demo portal (private app)".to_owned()),
            base_url: Some(h.base_url()),
            token: h.private_app_token().into(),
        })
    }
}

/// Fits a scope plan to an app's configuration: `scope` = the app's required scopes plus planned
/// scopes the app offers; `optional_scope` = the rest of the plan the app offers as optional.
/// Planned scopes the app does not offer are left out (the granted-vs-needed report shows them).
fn fit_to_app(
    app_required: &[String],
    app_optional: &[String],
    planned_required: Vec<String>,
    planned_optional: Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let mut scope: Vec<String> = app_required.to_vec();
    for s in planned_required {
        if app_optional.contains(&s) && !scope.contains(&s) {
            scope.push(s);
        }
    }
    let optional = planned_optional
        .into_iter()
        .filter(|s| app_optional.contains(s) && !scope.contains(s))
        .collect();
    (scope, optional)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn demo_latency_comes_from_the_command_line_then_the_environment() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>().into_iter();
        let env = |e: &str| Some(std::ffi::OsString::from(e));
        assert_eq!(demo_latency_ms(args(&[]), None), 0);
        assert_eq!(demo_latency_ms(args(&[]), env("150")), 150);
        assert_eq!(demo_latency_ms(args(&["--data-dir", "/x", "--demo-latency-ms", "900"]), env("150")), 900);
        assert_eq!(demo_latency_ms(args(&["--demo-latency-ms=40"]), None), 40);
        assert_eq!(demo_latency_ms(args(&[]), env("soon")), 0, "not a number: off, with a warning");
    }

    #[test]
    fn plan_is_fitted_to_the_demo_apps_configuration() {
        let (scope, optional) = fit_to_app(
            &v(&["oauth", "crm.objects.contacts.read"]),
            &v(&["tickets", "files", "crm.schemas.tickets.read"]),
            v(&["oauth", "crm.objects.contacts.read", "tickets", "not.offered"]),
            v(&["crm.schemas.tickets.read", "tickets"]),
        );
        assert_eq!(scope, v(&["oauth", "crm.objects.contacts.read", "tickets"]));
        assert_eq!(optional, v(&["crm.schemas.tickets.read"]));
    }
}
