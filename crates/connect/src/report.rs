//! The diagnostics bundle behind "Copy report" / "Save report" and `spoke test --report`:
//! a Markdown page for people and a JSON document for tools, with versions, the system, the
//! connection's metadata, every check result and HubSpot's `correlationId`s.
//!
//! It is built from an allow-list of fields (never from tokens, secrets or record contents),
//! and every string is scrubbed once more on the way out: `pat-…` tokens, long opaque strings
//! (OAuth access tokens) and email addresses are replaced.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use crate::check::{CheckRun, StepStatus};
use crate::store::{AuthMethod, Connection, ConnectionStatus};

/// A redacted diagnostics report.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub markdown: String,
    #[specta(type = AnyJson)]
    pub json: Value,
}

/// The JSON half of the report, typed as `unknown` for the UI (any JSON document).
pub struct AnyJson;

impl specta::Type for AnyJson {
    fn inline(_: &mut specta::TypeCollection, _: specta::Generics) -> specta::DataType {
        specta::DataType::Unknown
    }
}

/// Format tag of the JSON document.
pub const FORMAT: &str = "spoke.diagnostics.v1";

/// Builds the report of one test run.
pub fn build(run: &CheckRun, conn: &Connection, app_version: &str) -> Report {
    let mut json = json!({
        "format": FORMAT,
        "generatedAt": iso_from_ms(unix_ms()),
        "versions": {
            "app": app_version,
            "spokeConnect": env!("CARGO_PKG_VERSION"),
        },
        "system": system(),
        "connection": connection_json(conn),
        "run": serde_json::to_value(run).unwrap_or(Value::Null),
        "correlationIds": run.correlation_ids(),
    });
    scrub_value(&mut json);
    let markdown = scrub(&markdown(run, conn, app_version));
    Report { markdown, json }
}

/// Writes `path` (Markdown) and the same path with a `.json` extension; returns both paths.
pub fn save(report: &Report, path: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let md = if path.extension().is_none() {
        path.with_extension("md")
    } else {
        path.to_path_buf()
    };
    let js = md.with_extension("json");
    if let Some(parent) = md.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&md, &report.markdown)?;
    let text = serde_json::to_string_pretty(&report.json).map_err(std::io::Error::other)?;
    std::fs::write(&js, text)?;
    Ok((md, js))
}

fn connection_json(c: &Connection) -> Value {
    json!({
        "id": c.id,
        "label": c.label,
        "method": c.method,
        "baseUrl": c.base_url,
        "portalId": c.portal_id,
        "hubDomain": c.hub_domain,
        "accountType": c.account_type,
        "dataHostingLocation": c.data_hosting_location,
        "uiDomain": c.ui_domain,
        "timeZone": c.time_zone,
        "grantedScopes": c.granted_scopes,
        "oauthApp": c.oauth_app.as_ref().map(|a| json!({
            "kind": a.kind,
            "clientId": a.client_id,
            "authorizeBaseUrl": a.authorize_base_url,
            "redirectPort": a.redirect_port,
            "scopes": a.scopes,
            "optionalScopes": a.optional_scopes,
        })),
        "tokenExpiresAt": c.token_expires_at.map(|s| iso_from_ms(s * 1000)),
        "status": c.status,
        "statusDetail": c.status_detail,
        "createdAt": iso_from_ms(c.created_at * 1000),
        "updatedAt": iso_from_ms(c.updated_at * 1000),
    })
}

fn system() -> Value {
    json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "release": os_release(),
    })
}

/// `PRETTY_NAME` of /etc/os-release on Linux.
fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pass => "✅ pass",
        StepStatus::Warn => "⚠️ warn",
        StepStatus::Fail => "❌ fail",
        StepStatus::Skipped => "➖ skipped",
    }
}

fn markdown(run: &CheckRun, c: &Connection, app_version: &str) -> String {
    let mut md = String::new();
    md += "# Spoke connection test report\n\n";
    md += &format!(
        "- **Result:** {} in {} ms ({} steps)\n",
        if run.passed { "PASSED" } else { "FAILED" },
        run.duration_ms,
        run.steps.len()
    );
    md += &format!("- **Tested at:** {}\n", iso_from_ms(run.started_at));
    md += &format!(
        "- **Spoke:** {app_version} (spoke-connect {})\n",
        env!("CARGO_PKG_VERSION")
    );
    md += &format!(
        "- **System:** {} {}{}\n\n",
        std::env::consts::OS,
        std::env::consts::ARCH,
        os_release().map(|r| format!(" ({r})")).unwrap_or_default()
    );

    md += "## Connection\n\n| Field | Value |\n|---|---|\n";
    let method = match c.method {
        AuthMethod::Token => "service key / private-app token".to_owned(),
        AuthMethod::OAuth => format!(
            "OAuth ({} app, client id {})",
            match c.oauth_app.as_ref().map(|a| a.kind) {
                Some(crate::store::OAuthAppKind::Demo) => "demo",
                _ => "own",
            },
            c.oauth_app
                .as_ref()
                .map(|a| a.client_id.as_str())
                .unwrap_or("-")
        ),
    };
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let rows = [
        ("Id", c.id.clone()),
        ("Label", c.label.clone()),
        ("Method", method),
        ("API base URL", c.base_url.clone()),
        ("Portal id", c.portal_id.to_string()),
        ("Hub domain", dash(&c.hub_domain)),
        ("Account type", dash(&c.account_type)),
        ("Data hosting", dash(&c.data_hosting_location)),
        ("Time zone", dash(&c.time_zone)),
        (
            "Status",
            match c.status {
                ConnectionStatus::Connected => "connected".to_owned(),
                ConnectionStatus::ReconnectRequired => format!(
                    "reconnect required{}",
                    c.status_detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
            },
        ),
        (
            "Token expires",
            c.token_expires_at
                .map(|s| iso_from_ms(s * 1000))
                .unwrap_or_else(|| "does not expire".to_owned()),
        ),
        ("Granted scopes", c.granted_scopes.join(", ")),
    ];
    for (k, v) in rows {
        md += &format!("| {k} | {} |\n", cell(&v));
    }

    if !run.plan.is_empty() {
        let plan: Vec<String> = run
            .plan
            .iter()
            .map(|p| {
                format!(
                    "{} ({})",
                    p.object.label(),
                    match p.access {
                        crate::scopes::Access::Read => "read",
                        crate::scopes::Access::Write => "read + write",
                    }
                )
            })
            .collect();
        md += &format!("\n**Plan tested:** {}\n", plan.join(", "));
    }

    md += "\n## Checks\n\n| Step | Status | Time | Detail |\n|---|---|---|---|\n";
    for s in &run.steps {
        md += &format!(
            "| {} | {} | {} ms | {} |\n",
            cell(&s.title),
            status_word(s.status),
            s.duration_ms,
            cell(&s.detail)
        );
    }

    let problems: Vec<_> = run
        .steps
        .iter()
        .filter_map(|s| s.diagnosis.as_ref().map(|d| (s, d)))
        .collect();
    if !problems.is_empty() {
        md += "\n## Problems and fixes\n";
        for (s, d) in problems {
            md += &format!("\n### {} — `{}`\n\n", s.title, d.code);
            md += &format!("- **Cause:** {}\n- **Fix:** {}\n", d.cause, d.fix);
            if let Some(id) = &d.correlation_id {
                md += &format!("- **HubSpot correlation id:** `{id}`\n");
            }
        }
    }

    md += "\n## Step details\n";
    for s in run.steps.iter().filter(|s| !s.facts.is_empty()) {
        md += &format!("\n**{}**\n\n", s.title);
        for f in &s.facts {
            md += &format!("- {}: {}\n", f.label, f.value);
        }
    }

    if let Some(b) = &run.budget {
        md += "\n## Rate budget\n\n";
        md += &format!(
            "- Burst: {} of {} calls left per {} s{}\n",
            b.burst_remaining,
            b.burst_limit,
            b.burst_window_ms / 1000,
            if b.from_headers {
                " (from X-HubSpot-RateLimit headers)"
            } else {
                " (tier default)"
            }
        );
        md += &format!(
            "- Daily: {}\n",
            match (b.daily_remaining, b.daily_limit) {
                (Some(r), Some(l)) => format!(
                    "{r} of {l} left{}",
                    b.daily_resets_at
                        .as_deref()
                        .map(|t| format!(", resets {t}"))
                        .unwrap_or_default()
                ),
                _ => "not reported by HubSpot".to_owned(),
            }
        );
        md += &format!(
            "- Full sync of the plan: about {} calls (about {} s at the burst budget)\n",
            b.full_sync_calls, b.full_sync_secs_at_burst
        );
    }

    let ids = run.correlation_ids();
    if !ids.is_empty() {
        md += "\n## HubSpot correlation ids\n\n";
        for id in ids {
            md += &format!("- `{id}`\n");
        }
    }
    md += "\n_No token, secret or record content is included in this report._\n";
    md
}

// ---- Redaction ----------------------------------------------------------------------------------

fn scrub_value(v: &mut Value) {
    match v {
        Value::String(s) => {
            let clean = scrub(s);
            if clean != *s {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => map.values_mut().for_each(scrub_value),
        _ => {}
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+' | '/' | '@' | '%')
}

/// Replaces tokens, long opaque strings and email addresses in `text`.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            out.push_str(&scrub_word(word));
            word.clear();
        }
    };
    for c in text.chars() {
        if is_token_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn scrub_word(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("pat-") {
        let region = rest.split('-').next().unwrap_or("");
        return format!("pat-{region}-***");
    }
    if word.contains("://") || word.starts_with('/') {
        return word.to_owned();
    }
    if let Some((local, domain)) = word.split_once('@') {
        if !local.is_empty() && domain.contains('.') {
            return "[email]".to_owned();
        }
    }
    // Opaque strings as long as a token (OAuth access tokens are 60+ characters of base64).
    let opaque = word.len() >= 40
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
        && !word.contains('.');
    if opaque {
        return "***".to_owned();
    }
    word.to_owned()
}

// ---- Time ----------------------------------------------------------------------------------------

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-11-24T15:04:05Z` from Unix milliseconds (UTC).
pub fn iso_from_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_are_utc_calendar_dates() {
        assert_eq!(iso_from_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_from_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso_from_ms(1_795_532_645_000), "2026-11-24T15:04:05Z");
        assert_eq!(iso_from_ms(1_795_532_645_999), "2026-11-24T15:04:05Z");
    }

    #[test]
    fn scrub_removes_tokens_and_emails_but_keeps_ids_and_urls() {
        let text = "token pat-eu1-11111111-2222-3333-4444-555555555555 and CNbase64AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1234567890xyz \
                    for ada@example.com at https://api.hubapi.com/crm/v3 correlation 3e1b2c4d-1111-2222-3333-444455556666 portal 24681357";
        let clean = scrub(text);
        assert!(!clean.contains("11111111-2222"), "{clean}");
        assert!(clean.contains("pat-eu1-***"), "{clean}");
        assert!(!clean.contains("CNbase64"), "{clean}");
        assert!(
            !clean.contains("ada@example.com") && clean.contains("[email]"),
            "{clean}"
        );
        assert!(clean.contains("https://api.hubapi.com/crm/v3"), "{clean}");
        assert!(
            clean.contains("3e1b2c4d-1111-2222-3333-444455556666"),
            "correlation ids stay: {clean}"
        );
        assert!(clean.contains("24681357"));
    }
}
