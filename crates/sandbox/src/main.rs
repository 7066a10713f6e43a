//! `spoke-sandbox`: run the demo portal (a local HubSpot) from the command line.

use clap::Parser;
use spoke_sandbox::{Sandbox, SandboxConfig, Tier};


/// The demo portal: a faithful local HubSpot on loopback.
///
/// Serves HubSpot's API (what api.hubapi.com serves) and the OAuth consent page (what
/// app.hubspot.com serves) from one base URL, with deterministic seeded data. Prints the base
/// URL, the demo OAuth app's credentials and redirect URLs, and a private-app token with all
/// scopes. The admin API for tests lives under /_sandbox (see the crate README).
#[derive(Debug, Parser)]
#[command(name = "spoke-sandbox", version)]
struct Args {
    /// TCP port on 127.0.0.1 (0 = pick a free port).
    #[arg(long, default_value_t = 0, env = "SPOKE_SANDBOX_PORT")]
    port: u16,
    /// Seed of the generated portal; the same seed always yields the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Subscription tier, which sets the rate limits: free, starter, pro or enterprise.
    #[arg(long, default_value = "pro")]
    tier: Tier,
    /// Number of seeded contacts (companies, deals, tickets, notes, calls scale with it).
    #[arg(long, default_value_t = 500)]
    contacts: usize,
    /// Fixed latency added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Value of the all-scopes private-app token (default: derived from the seed).
    #[arg(long, env = "SPOKE_SANDBOX_TOKEN")]
    token: Option<String>,
    /// `expires_in` of OAuth access tokens, in seconds.
    #[arg(long, default_value_t = 1800)]
    access_token_ttl: u64,
    /// Extra redirect URI to register on the demo app (repeatable).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Search index lag in milliseconds (eventual consistency).
    #[arg(long, default_value_t = 0)]
    search_lag_ms: u64,
    /// Disable 429s (rate-limit headers are still sent).
    #[arg(long)]
    no_rate_limits: bool,
    /// Probability (0–1) of answering a 5xx instead of handling a request.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// HubSpot portal (hub) id.
    #[arg(long, default_value_t = 24_681_357)]
    portal_id: u64,
    /// Print the startup information as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "spoke_sandbox=info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let faults = spoke_sandbox::FaultConfig { error_rate: args.error_rate, ..Default::default() };
    let config = SandboxConfig {
        port: args.port,
        seed: args.seed,
        tier: args.tier,
        contacts: args.contacts,
        latency_ms: args.latency_ms,
        token: args.token,
        access_token_ttl_secs: args.access_token_ttl,
        extra_redirect_uris: args.redirect_uris,
        rate_limits: !args.no_rate_limits,
        search_lag_ms: args.search_lag_ms,
        portal_id: args.portal_id,
        faults,
        ..SandboxConfig::default()
    };
    let handle = match Sandbox::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("spoke-sandbox: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let app = handle.demo_app();
    if args.json {
        let v = serde_json::json!({
            "baseUrl": handle.base_url(),
            "portalId": handle.portal_id(),
            "privateAppToken": handle.private_app_token(),
            "clientId": app.client_id,
            "clientSecret": app.client_secret,
            "appId": app.app_id,
            "developerApiKey": app.developer_api_key,
            "redirectUris": app.redirect_uris,
            "scopes": app.scopes,
            "optionalScopes": app.optional_scopes,
        });
        println!("{v}");
    } else {
        println!("Spoke demo portal (a local HubSpot)");
        println!("  base URL:          {}", handle.base_url());
        println!("  portal id:         {}", handle.portal_id());
        println!("  private-app token: {}", handle.private_app_token());
        println!("  OAuth app:         {} (app id {})", app.name, app.app_id);
        println!("    client id:       {}", app.client_id);
        println!("    client secret:   {}", app.client_secret);
        println!("    developer key:   {}", app.developer_api_key);
        println!("    authorize URL:   {}/oauth/authorize", handle.base_url());
        println!("    scopes:          {}", app.scopes.join(" "));
        println!("    optional scopes: {}", app.optional_scopes.join(" "));
        println!("    redirect URLs:");
        for u in &app.redirect_uris {
            println!("      {u}");
        }
        println!("  admin API:         {}/_sandbox", handle.base_url());
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    std::process::ExitCode::SUCCESS
}
