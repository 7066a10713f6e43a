//! Schedules and webhooks while the app runs: the webhook receiver and the scheduler start with
//! the app; thin commands read and set a mapping's schedule over `spoke-engine`.

use crate::error::IpcError;
use crate::state::AppState;
use serde::Serialize;
use spoke_connect::{AuthMethod, OAuthAppKind};
use spoke_engine::webhooks::{register_subscriptions, DEFAULT_WEBHOOK_PORT};
use spoke_engine::{
    CancelToken, Endpoint, Engine, Job, JobKind, JobOutcome, Receiver, Schedule, ScheduleEntry, Scheduler,
    SyncOptions, WebhookMode, WebhookStatus,
};
use tauri::{Manager, State};

type Res<T> = Result<T, IpcError>;

/// The scheduler and the webhook receiver (managed Tauri state).
pub struct Background {
    pub scheduler: Scheduler,
    pub receiver: Option<Receiver>,
    /// Why the receiver is not running (its port is taken).
    pub problem: Option<String>,
}

impl Background {
    pub fn is_live(&self, connection_id: &str) -> bool {
        self.receiver.as_ref().is_some_and(|r| r.is_live(connection_id))
    }

    pub fn status(&self, connection_id: &str) -> WebhookStatus {
        match &self.receiver {
            Some(r) => r.status(connection_id),
            None => WebhookStatus {
                mode: WebhookMode::Polling,
                detail: self.problem.clone().unwrap_or_default(),
                target_url: None,
                events_received: 0,
                duplicates: 0,
                rejected: 0,
                last_event_at: None,
                last_rejection: None,
            },
        }
    }
}

/// A mapping's schedule and the webhook status of its connection.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    /// `None`: manual (never scheduled).
    pub entry: Option<ScheduleEntry>,
    pub webhooks: WebhookStatus,
}

fn view(state: &AppState, bg: &Background, connection_id: &str, file: &str) -> Res<ScheduleView> {
    let entry = state.store.schedule(connection_id, file, bg.is_live(connection_id))?;
    Ok(ScheduleView { entry, webhooks: bg.status(connection_id) })
}

#[tauri::command]
#[specta::specta]
pub async fn get_schedule(state: State<'_, AppState>, bg: State<'_, Background>, connection_id: String, file: String) -> Res<ScheduleView> {
    if bg.receiver.as_ref().is_some_and(|r| !r.knows(&connection_id)) {
        enable_webhooks(&state, &bg, &connection_id).await;
    }
    view(&state, &bg, &connection_id, &file)
}

#[tauri::command]
#[specta::specta]
pub async fn set_schedule(
    state: State<'_, AppState>,
    bg: State<'_, Background>,
    connection_id: String,
    file: String,
    schedule: Schedule,
) -> Res<ScheduleView> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    match schedule {
        Schedule::Manual => state.store.delete_schedule(&connection_id, &file)?,
        _ => drop(state.store.set_schedule(&connection_id, &file, &mapping, &schedule)?),
    }
    enable_webhooks(&state, &bg, &connection_id).await;
    bg.scheduler.waker().notify_one();
    view(&state, &bg, &connection_id, &file)
}

/// Sets (or with an empty value removes) the public HTTPS URL that forwards a connection's
/// webhooks to this computer.
#[tauri::command]
#[specta::specta]
pub async fn set_webhook_url(
    state: State<'_, AppState>,
    bg: State<'_, Background>,
    connection_id: String,
    url: Option<String>,
) -> Res<WebhookStatus> {
    state.store.set_public_webhook_url(&connection_id, url.as_deref())?;
    enable_webhooks(&state, &bg, &connection_id).await;
    Ok(bg.status(&connection_id))
}

/// Receives a connection's webhooks when it can: OAuth with the demo portal's app (which
/// delivers to loopback; its subscriptions are set up here). HubSpot itself needs a public
/// HTTPS target URL, which a desktop app does not have: those connections poll.
pub async fn enable_webhooks(state: &AppState, bg: &Background, connection_id: &str) {
    let Some(receiver) = &bg.receiver else { return };
    if let Err(why) = try_enable(state, receiver, connection_id).await {
        receiver.unregister(connection_id, why);
    }
}

async fn try_enable(state: &AppState, receiver: &Receiver, id: &str) -> Result<(), String> {
    let conn = state.connections.get(id).await.map_err(|e| e.to_string())?;
    let app = match (&conn.method, &conn.oauth_app) {
        (AuthMethod::OAuth, Some(app)) => app,
        _ => return Err("This connection signs in with a private-app token or service key, and HubSpot sends webhooks only to OAuth apps: real-time schedules read changes every minute instead.".into()),
    };
    let demo = state.demo.handle().filter(|h| app.kind == OAuthAppKind::Demo && h.base_url() == conn.base_url);
    let Some(demo) = demo else {
        // HubSpot: only through a public HTTPS URL (a tunnel) the admin set as the app's target URL.
        let Some(url) = state.store.public_webhook_url(id).map_err(|e| e.to_string())? else {
            return Err(format!(
                "No public URL: HubSpot delivers webhooks only to a public HTTPS target URL, and none reaches this computer, so real-time schedules read changes every minute instead. To receive them, run a tunnel to {} and enter its https:// address here and as the target URL in your app's Webhooks settings.",
                receiver.local_url(id)
            ));
        };
        let client_secret = state.connections.client_secret(id).await.map_err(|e| e.to_string())?;
        receiver.register(Endpoint { connection_id: id.to_owned(), portal_id: conn.portal_id, client_secret, target_url: url });
        return Ok(());
    };
    let mut objects: Vec<(String, Vec<String>)> = Vec::new();
    for e in state.store.schedules(&|_| false).map_err(|e| e.to_string())? {
        if e.connection_id == id && e.schedule == Schedule::Realtime {
            if let Ok(m) = state.mappings.load(id, &e.file) {
                objects.push((m.object.clone(), m.hubspot_properties()));
            }
        }
    }
    let target = receiver.local_url(id);
    let client = state.connections.client(id).map_err(|e| e.to_string())?;
    register_subscriptions(&client, demo.demo_app().app_id, &target, &objects)
        .await
        .map_err(|e| format!("The demo portal refused the webhook subscriptions ({e}); real-time schedules read changes every minute instead."))?;
    let client_secret = state.connections.client_secret(id).await.map_err(|e| e.to_string())?;
    receiver.register(Endpoint { connection_id: id.to_owned(), portal_id: conn.portal_id, client_secret, target_url: target });
    Ok(())
}

/// Starts the webhook receiver (127.0.0.1, `SPOKE_WEBHOOK_PORT` or 53190); a taken port leaves
/// real-time schedules polling, with the reason shown.
pub async fn background(store: &spoke_engine::Store) -> Background {
    let scheduler = Scheduler::new(store.clone());
    let port = std::env::var("SPOKE_WEBHOOK_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_WEBHOOK_PORT);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    match Receiver::bind(addr, store.clone(), scheduler.waker()).await {
        Ok(r) => Background { scheduler, receiver: Some(r), problem: None },
        Err(e) => {
            tracing::warn!(error = %e, "webhook receiver unavailable");
            let problem = Some(format!("{e}. Real-time schedules read changes every minute instead."));
            Background { scheduler, receiver: None, problem }
        }
    }
}

/// Sets up webhooks for every connection that can receive them, then runs the scheduler while
/// the app runs. Scheduled runs land in the run history like manual ones.
pub fn spawn(app: tauri::AppHandle) {
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let bg = app.state::<Background>();
        // Connections with a real-time mapping receive webhooks from the start; the others
        // when the Sync screen first asks.
        if let Ok(entries) = state.store.schedules(&|_| false) {
            let mut ids: Vec<String> =
                entries.into_iter().filter(|e| e.schedule == Schedule::Realtime).map(|e| e.connection_id).collect();
            ids.dedup();
            for id in ids {
                enable_webhooks(&state, &bg, &id).await;
            }
        }
        let receiver = bg.receiver.clone();
        let live = move |id: &str| receiver.as_ref().is_some_and(|r| r.is_live(id));
        let handle = app.clone();
        bg.scheduler.spawn(live, move |job| run_job(handle.clone(), job));
    });
}

async fn run_job(app: tauri::AppHandle, job: Job) -> JobOutcome {
    let state = app.state::<AppState>();
    let Some(cancel) = state.syncs.try_begin(&job.connection_id, &job.file) else {
        return JobOutcome::skipped("a sync of this mapping was already running");
    };
    let result = run_engine(&state, &job, cancel).await;
    state.syncs.end(&job.connection_id, &job.file);
    match result {
        Ok(message) => JobOutcome::ok(message),
        Err(e) if e.code == "engine.busy" => JobOutcome::skipped(e.message),
        Err(e) => JobOutcome::failed(e.message),
    }
}

async fn run_engine(state: &AppState, job: &Job, cancel: CancelToken) -> Res<String> {
    let mapping = state.mappings.load(&job.connection_id, &job.file).inspect_err(|_| {
        // The mapping file is gone (deleted outside the app): forget its schedule.
        if !state.mappings.list(&job.connection_id).is_ok_and(|l| l.iter().any(|e| e.file == job.file)) {
            let _ = state.store.delete_schedule(&job.connection_id, &job.file);
        }
    })?;
    let engine = Engine::new(state.store.clone(), state.connections.client(&job.connection_id)?);
    Ok(match job.kind {
        JobKind::Events => {
            let done = engine.apply_events(&job.connection_id, &mapping, SyncOptions::default(), cancel, |_| {}).await?;
            done.run.map(|r| r.message).unwrap_or_else(|| "no webhook events waiting".to_owned())
        }
        JobKind::Sync => engine.sync(&mapping, SyncOptions::default(), cancel, |_| {}).await?.message,
    })
}
