//! `spoke connections | connect | disconnect | scopes`: the Connections screen, headless.

use crate::output::{Failure, Out};
use crate::ConnectArgs;
use clap::Args;
use spoke_connect::{
    plan_scopes, scope_presets, AddToken, AuthMethod, BeginOAuth, ConnectConfig, Connection, Connections, ObjectAccess,
    OAuthAppKind, ScopeObject,
};
use spoke_hubspot::Secret;
use std::io::Read;
use std::path::Path;

/// Which objects Spoke may read and write, for scope planning.
#[derive(Args, Debug, Default)]
pub struct ScopeArgs {
    /// Objects to read, comma-separated: contacts,companies,deals,tickets,lineItems,products,
    /// customObjects,customSchemas,notes,files,conversations,owners
    #[arg(long, value_delimiter = ',', value_name = "OBJECTS")]
    pub read: Vec<String>,
    /// Objects to read and write, comma-separated (same names as --read).
    #[arg(long, value_delimiter = ',', value_name = "OBJECTS")]
    pub write: Vec<String>,
    /// Start from a playbook preset (see `spoke scopes --list-presets`).
    #[arg(long)]
    pub preset: Option<String>,
    /// List the playbook presets and exit.
    #[arg(long)]
    pub list_presets: bool,
}

fn service(dir: &Path, open_browser: bool) -> Result<Connections, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::local("cli.data_dir", format!("cannot create {}: {e}", dir.display()), "Pass a writable --data-dir.")
    })?;
    let mut config = ConnectConfig::new(dir.join("spoke.db"));
    config.open_browser = open_browser;
    Ok(Connections::open(config)?)
}

fn parse_object(name: &str) -> Result<ScopeObject, Failure> {
    serde_json::from_value(serde_json::Value::String(name.trim().to_owned())).map_err(|_| {
        Failure::usage(
            "cli.unknown_object",
            format!("unknown object {name:?}"),
            "Use one of contacts, companies, deals, tickets, lineItems, products, customObjects, customSchemas, notes, files, conversations, owners.",
        )
    })
}

/// The picks from --preset, --read and --write (write wins over read for the same object).
pub fn picks(args: &ScopeArgs) -> Result<Vec<ObjectAccess>, Failure> {
    let mut picks = Vec::new();
    if let Some(id) = &args.preset {
        let preset = scope_presets().into_iter().find(|p| p.id == id).ok_or_else(|| {
            Failure::usage("cli.unknown_preset", format!("unknown preset {id:?}"), "List them with `spoke scopes --list-presets`.")
        })?;
        picks.extend(preset.picks);
    }
    for name in args.read.iter().filter(|n| !n.is_empty()) {
        picks.push(ObjectAccess::read(parse_object(name)?));
    }
    for name in args.write.iter().filter(|n| !n.is_empty()) {
        picks.push(ObjectAccess::write(parse_object(name)?));
    }
    Ok(picks)
}

fn describe(c: &Connection) -> String {
    let status = match c.status {
        spoke_connect::ConnectionStatus::Connected => "connected".to_owned(),
        _ => format!("RECONNECT NEEDED: {}", c.status_detail.as_deref().unwrap_or("sign in again")),
    };
    format!(
        "{id}  {label}\n    portal {portal} ({domain}), {account}, hosted in {region}\n    {method} · {scopes} scopes · {status}\n    api {base}",
        id = c.id,
        label = c.label,
        portal = c.portal_id,
        domain = c.hub_domain.as_deref().unwrap_or("-"),
        account = c.account_type.as_deref().unwrap_or("-"),
        region = c.data_hosting_location.as_deref().unwrap_or("-"),
        method = if c.method == AuthMethod::OAuth { "OAuth" } else { "private-app token" },
        scopes = c.granted_scopes.len(),
        base = c.base_url,
    )
}

pub async fn list(dir: &Path, out: &Out) -> Result<(), Failure> {
    let list = service(dir, false)?.list().await?;
    out.print(&list, || {
        if list.is_empty() {
            "No connections yet. Add one with `spoke connect --token-stdin` or `spoke connect --oauth --client-id ID`.".to_owned()
        } else {
            list.iter().map(describe).collect::<Vec<_>>().join("\n\n")
        }
    })
}

fn read_stdin_secret(what: &str) -> Result<Secret, Failure> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| {
        Failure::usage("cli.stdin", format!("could not read the {what} from standard input: {e}"), "Pipe it in, e.g. `spoke connect --token-stdin < token.txt`.")
    })?;
    // one trailing newline from `echo` or a file is expected; anything else is the token's problem
    let trimmed = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    Ok(Secret::new(trimmed.to_owned()))
}

pub async fn connect(dir: &Path, args: &ConnectArgs, out: &Out) -> Result<(), Failure> {
    let conn = if args.token_stdin {
        let token = read_stdin_secret("token")?;
        let svc = service(dir, false)?;
        svc.add_token(AddToken { label: args.label.clone(), base_url: args.base_url.clone(), token }).await?
    } else if args.oauth {
        let client_secret = read_stdin_secret("client secret")?;
        let svc = service(dir, !args.no_browser)?;
        let plan = plan_scopes(&picks(&args.scopes)?, AuthMethod::OAuth);
        let started = svc
            .begin_oauth(BeginOAuth {
                label: args.label.clone(),
                app_kind: OAuthAppKind::Own,
                base_url: args.base_url.clone(),
                authorize_base_url: None,
                client_id: args.client_id.clone().unwrap_or_default(),
                client_secret,
                port: Some(args.port),
                scopes: plan.required,
                optional_scopes: plan.optional,
            })
            .await?;
        out.note(&format!(
            "{}\nSign in at:\n  {}\nWaiting for the callback on {} (Ctrl-C to cancel)…",
            if started.browser_opened { "Your browser opened HubSpot's consent page." } else { "Open this address in a browser." },
            started.authorize_url,
            started.redirect_uri
        ));
        svc.finish_oauth(&started.flow_id).await?
    } else {
        return Err(Failure::usage(
            "cli.connect_method",
            "choose how to connect",
            "Use --token-stdin (private-app token on stdin) or --oauth --client-id ID (client secret on stdin).",
        ));
    };
    out.print(&conn, || format!("Connected.\n{}", describe(&conn)))
}

pub async fn disconnect(dir: &Path, id: &str, out: &Out) -> Result<(), Failure> {
    let report = service(dir, false)?.disconnect(id).await?;
    out.print(&report, || match (&report.revoked, &report.note) {
        (true, _) => format!("Disconnected {id}; HubSpot revoked its sign-in and the keychain entries are gone."),
        (false, Some(note)) => format!("Disconnected {id}. {note}"),
        (false, None) => format!("Disconnected {id}; its keychain entries are gone."),
    })
}

pub fn scopes(args: &ScopeArgs, out: &Out) -> Result<(), Failure> {
    if args.list_presets {
        let presets = scope_presets();
        return out.print(&presets, || {
            presets.iter().map(|p| format!("{:<28} {} — {}", p.id, p.product, p.name)).collect::<Vec<_>>().join("\n")
        });
    }
    let picks = picks(args)?;
    if picks.is_empty() {
        return Err(Failure::usage("cli.no_objects", "no objects chosen", "Pass --read, --write or --preset."));
    }
    let plan = plan_scopes(&picks, AuthMethod::OAuth);
    out.print(&plan, || {
        let line = |s: &String| format!("  {s:<36} {}", spoke_connect::scopes::explain(s).unwrap_or(""));
        let mut text = String::from("Required scopes:\n");
        text += &plan.required.iter().map(line).collect::<Vec<_>>().join("\n");
        if !plan.optional.is_empty() {
            text += "\nOptional scopes:\n";
            text += &plan.optional.iter().map(line).collect::<Vec<_>>().join("\n");
        }
        text
    })
}
