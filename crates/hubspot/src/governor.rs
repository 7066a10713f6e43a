//! One rate governor per portal, shared by every caller that talks to that portal.
//!
//! HubSpot enforces three budgets per account: a burst window (e.g. 100 or 190 calls per 10 s),
//! a search budget (about 5 calls per second, and search is exempt from the burst window) and a
//! daily budget. The governor paces calls so they stay inside the tier's budgets, and learns from
//! the `X-HubSpot-RateLimit-*` headers: the server's own numbers replace the tier's, and calls made
//! by others with the same budget (another app, another process) show up as a lower `Remaining`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::Error;

/// A counted call, from [`Governor::acquire`] to [`Governor::finish`].
#[derive(Debug)]
pub struct Permit {
    kind: CallKind,
    started: Instant,
}

/// What a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Counts against the burst window and the daily budget.
    Standard,
    /// CRM search: its own per-second budget (exempt from the burst window) and the daily budget.
    Search,
}

/// A HubSpot subscription tier (what decides the default budgets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum Tier {
    /// Free and Starter: 100 calls / 10 s, 250,000 a day.
    FreeStarter,
    /// Professional: 190 calls / 10 s, 650,000 a day.
    Professional,
    /// Enterprise: 190 calls / 10 s, 1,000,000 a day.
    Enterprise,
    /// API limit increase (capacity pack): 250 calls / 10 s, 1,000,000 a day.
    CapacityPack,
    /// A publicly distributed OAuth app: 110 calls / 10 s per installed account; the daily
    /// limit is the portal's (up to 1,000,000).
    OAuthApp,
}

/// The budgets a governor starts from until HubSpot's headers say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBudget {
    pub burst: u32,
    pub burst_window: Duration,
    pub search_per_second: u32,
    pub daily: u64,
}

impl Tier {
    pub fn budget(self) -> RateBudget {
        let (burst, daily) = match self {
            Tier::FreeStarter => (100, 250_000),
            Tier::Professional => (190, 650_000),
            Tier::Enterprise => (190, 1_000_000),
            Tier::CapacityPack => (250, 1_000_000),
            // An OAuth app gets no daily headers and shares the portal's daily budget with
            // every other app, so the local cap stays at the largest tier's and HubSpot's own
            // DAILY 429 is what stops the day.
            Tier::OAuthApp => (110, 1_000_000),
        };
        RateBudget {
            burst,
            burst_window: Duration::from_secs(10),
            search_per_second: 5,
            daily,
        }
    }
}

impl Default for RateBudget {
    fn default() -> Self {
        Tier::FreeStarter.budget()
    }
}

/// How long the governor refuses calls after HubSpot said the daily budget is used up, before it
/// lets one call through to find out whether the day has rolled over.
const DAILY_RECHECK: Duration = Duration::from_secs(15 * 60);

/// One call in a window: when it counts from, and whether its answer is still out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    at: Instant,
    in_flight: bool,
}

/// Answered calls seen before a window trusts its fastest round trip (see [`Window::answered`]).
const ROUND_TRIPS_TO_TRUST: u32 = 8;

#[derive(Debug)]
struct Window {
    limit: u32,
    period: Duration,
    /// In-flight calls keep their start; answered ones move to when HubSpot counted them at the
    /// latest (see [`Window::answered`]).
    starts: VecDeque<Slot>,
    /// The fastest round trip of an answered call, and how many calls were answered.
    fastest: Option<Duration>,
    answers: u32,
}

impl Window {
    fn new(limit: u32, period: Duration) -> Window {
        Window {
            limit: limit.max(1),
            period,
            starts: VecDeque::new(),
            fastest: None,
            answers: 0,
        }
    }

    /// Forgets answered calls older than the period. A call whose answer is still out keeps its
    /// slot however long it takes: HubSpot counts it when it arrives, which may be well after it
    /// started here on a loaded machine.
    fn prune(&mut self, now: Instant) {
        let period = self.period;
        self.starts
            .retain(|slot| slot.in_flight || now.duration_since(slot.at) < period);
    }

    /// How long until one more call fits, or `None` if it fits now.
    fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.prune(now);
        if (self.starts.len() as u32) < self.limit {
            return None;
        }
        // The answered call whose expiry makes room (calls in flight cannot expire; answered
        // ones are ordered by when they count).
        let must_expire = self.starts.len() - self.limit as usize;
        // A little slack: HubSpot counts a call when it arrives, which is a bit after it started
        // here, so a slot that just freed up locally may not have freed up there yet.
        let slack = self.period / 40;
        match self.starts.iter().filter(|s| !s.in_flight).nth(must_expire) {
            Some(slot) => Some((slot.at + self.period + slack).saturating_duration_since(now)),
            // Every counted call is still waiting for its answer: look again shortly.
            None => Some(Duration::from_millis(5)),
        }
    }

    fn remaining(&mut self, now: Instant) -> u32 {
        self.prune(now);
        self.limit.saturating_sub(self.starts.len() as u32)
    }

    fn start(&mut self, now: Instant) {
        self.starts.push_back(Slot {
            at: now,
            in_flight: true,
        });
    }

    /// The call started at `started` was answered at `now`. HubSpot counted it when it arrived,
    /// somewhere between the two; under load a request can sit in queues for a while, so the
    /// start is not a safe bound. The answer is, but it costs a whole round trip of every slot:
    /// at 150 ms, a sixth of a one-second search budget. The way here, HubSpot's work and the
    /// next call's way there take at least as long as the fastest round trip seen, so once
    /// [`ROUND_TRIPS_TO_TRUST`] calls were answered a call counts from half that before its
    /// answer (never before its start): the next call, which needs its own way there, arrives
    /// no earlier than the window allows.
    fn answered(&mut self, started: Instant, now: Instant) {
        let Some(index) = self
            .starts
            .iter()
            .position(|s| s.in_flight && s.at == started)
        else {
            return;
        };
        self.starts.remove(index);
        let round_trip = now.saturating_duration_since(started);
        self.fastest = Some(self.fastest.map_or(round_trip, |f| f.min(round_trip)));
        self.answers = self.answers.saturating_add(1);
        let early = match self.fastest {
            Some(f) if self.answers >= ROUND_TRIPS_TO_TRUST => f / 2,
            _ => Duration::ZERO,
        };
        let at = now.checked_sub(early).unwrap_or(now).max(started);
        // Keep answered calls ordered by `at` (the fastest round trip only ever shrinks, so a
        // new one almost always goes last); where calls in flight stand does not matter.
        let position = self
            .starts
            .iter()
            .rposition(|s| !s.in_flight && s.at <= at)
            .map_or(0, |i| i + 1);
        self.starts.insert(
            position,
            Slot {
                at,
                in_flight: false,
            },
        );
    }

    /// Aligns the local view with the server's: if the server has fewer calls left than we think,
    /// someone else spent them; count them as spent now.
    fn align(&mut self, now: Instant, server_remaining: u32) {
        let local = self.remaining(now);
        for _ in server_remaining..local {
            self.starts.push_back(Slot {
                at: now,
                in_flight: false,
            });
        }
    }
}

#[derive(Debug)]
struct State {
    burst: Window,
    search: Window,
    paused_until: Option<Instant>,
    daily_limit: u64,
    daily_used: u64,
    day_started: Instant,
    daily_exhausted_until: Option<Instant>,
}

/// What a governor currently knows, for the UI ("quota left today").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct GovernorSnapshot {
    pub burst_limit: u32,
    #[specta(type = f64)]
    pub burst_window_ms: u64,
    pub burst_remaining: u32,
    pub search_per_second: u32,
    #[specta(type = f64)]
    pub daily_limit: u64,
    #[specta(type = f64)]
    pub daily_remaining: u64,
}

/// Paces calls for one portal. Share it with `Arc`; get it from a [`GovernorRegistry`].
#[derive(Debug)]
pub struct Governor {
    state: Mutex<State>,
}

impl Governor {
    pub fn new(budget: RateBudget) -> Governor {
        let now = Instant::now();
        Governor {
            state: Mutex::new(State {
                burst: Window::new(budget.burst, budget.burst_window),
                search: Window::new(budget.search_per_second, Duration::from_secs(1)),
                paused_until: None,
                daily_limit: budget.daily,
                daily_used: 0,
                day_started: now,
                daily_exhausted_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked (every update is a single step).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until a call of `kind` fits in every budget, then counts it. Hand the permit back
    /// to [`Governor::finish`] when the answer arrives.
    pub async fn acquire(&self, kind: CallKind) -> Result<Permit, Error> {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                if now.duration_since(s.day_started) >= Duration::from_secs(24 * 3600) {
                    s.day_started = now;
                    s.daily_used = 0;
                }
                if let Some(until) = s.daily_exhausted_until {
                    if now < until {
                        return Err(Error::DailyLimitReached);
                    }
                    s.daily_exhausted_until = None;
                } else if s.daily_used >= s.daily_limit {
                    return Err(Error::DailyLimitReached);
                }
                let paused = s
                    .paused_until
                    .and_then(|until| until.checked_duration_since(now))
                    .filter(|d| !d.is_zero());
                let window_wait = match kind {
                    CallKind::Standard => s.burst.wait(now),
                    CallKind::Search => s.search.wait(now),
                };
                match paused.or(window_wait) {
                    Some(wait) => wait,
                    None => {
                        match kind {
                            CallKind::Standard => s.burst.start(now),
                            CallKind::Search => s.search.start(now),
                        }
                        s.daily_used += 1;
                        return Ok(Permit { kind, started: now });
                    }
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// The call of `permit` got its answer. HubSpot counted it somewhere between start and
    /// answer, so from now on the window counts it at the answer: under load a request can sit
    /// in queues for a while, and counting from its start would free its slot too early.
    pub fn finish(&self, permit: Permit) {
        let mut s = self.lock();
        let now = Instant::now();
        let window = match permit.kind {
            CallKind::Standard => &mut s.burst,
            CallKind::Search => &mut s.search,
        };
        window.answered(permit.started, now);
    }

    /// Stops every caller until `wait` has passed (after a 429).
    pub fn pause_for(&self, wait: Duration) {
        let mut s = self.lock();
        let until = Instant::now() + wait;
        if !s.paused_until.is_some_and(|current| current >= until) {
            s.paused_until = Some(until);
        }
    }

    /// Marks the daily budget as used up (a 429 with the DAILY policy).
    pub fn daily_exhausted(&self) {
        let mut s = self.lock();
        s.daily_exhausted_until = Some(Instant::now() + DAILY_RECHECK);
    }

    /// Learns from a response's `X-HubSpot-RateLimit-*` headers.
    pub fn observe(&self, kind: CallKind, headers: &HeaderMap) {
        let limits = RateLimitHeaders::parse(headers);
        let mut s = self.lock();
        let now = Instant::now();
        if let (Some(max), Some(interval)) = (limits.max, limits.interval) {
            if kind == CallKind::Standard && max > 0 && !interval.is_zero() {
                s.burst.limit = max;
                s.burst.period = interval;
            }
        }
        if kind == CallKind::Standard {
            if let Some(remaining) = limits.remaining {
                s.burst.align(now, remaining);
            }
        }
        if let Some(secondly) = limits.secondly.filter(|v| *v > 0) {
            if kind == CallKind::Search {
                s.search.limit = secondly;
            }
        }
        if kind == CallKind::Search {
            if let Some(remaining) = limits.secondly_remaining {
                s.search.align(now, remaining);
            }
        }
        if let Some(daily) = limits.daily.filter(|v| *v > 0) {
            s.daily_limit = daily;
        }
        if let Some(remaining) = limits.daily_remaining {
            s.daily_used = s.daily_limit.saturating_sub(remaining);
            if remaining == 0 {
                s.daily_exhausted_until = Some(now + DAILY_RECHECK);
            }
        }
    }

    pub fn snapshot(&self) -> GovernorSnapshot {
        let mut s = self.lock();
        let now = Instant::now();
        let burst_remaining = s.burst.remaining(now);
        GovernorSnapshot {
            burst_limit: s.burst.limit,
            burst_window_ms: s.burst.period.as_millis() as u64,
            burst_remaining,
            search_per_second: s.search.limit,
            daily_limit: s.daily_limit,
            daily_remaining: s.daily_limit.saturating_sub(s.daily_used),
        }
    }
}

/// The `X-HubSpot-RateLimit-*` headers of one response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    pub max: Option<u32>,
    pub remaining: Option<u32>,
    pub interval: Option<Duration>,
    pub secondly: Option<u32>,
    pub secondly_remaining: Option<u32>,
    pub daily: Option<u64>,
    pub daily_remaining: Option<u64>,
}

impl RateLimitHeaders {
    pub fn parse(headers: &HeaderMap) -> RateLimitHeaders {
        fn num<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
            headers.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        RateLimitHeaders {
            max: num(headers, "x-hubspot-ratelimit-max"),
            remaining: num(headers, "x-hubspot-ratelimit-remaining"),
            interval: num::<u64>(headers, "x-hubspot-ratelimit-interval-milliseconds")
                .map(Duration::from_millis),
            secondly: num(headers, "x-hubspot-ratelimit-secondly"),
            secondly_remaining: num(headers, "x-hubspot-ratelimit-secondly-remaining"),
            daily: num(headers, "x-hubspot-ratelimit-daily"),
            daily_remaining: num(headers, "x-hubspot-ratelimit-daily-remaining"),
        }
    }
}

/// Hands out one [`Governor`] per portal. Use [`GovernorRegistry::shared`] so that every client in
/// the process (sync engine, write-back, connection tests) paces against the same budget.
#[derive(Debug, Default)]
pub struct GovernorRegistry {
    governors: Mutex<HashMap<String, Arc<Governor>>>,
}

impl GovernorRegistry {
    pub fn new() -> GovernorRegistry {
        GovernorRegistry::default()
    }

    /// The process-wide registry.
    pub fn shared() -> &'static GovernorRegistry {
        static SHARED: OnceLock<GovernorRegistry> = OnceLock::new();
        SHARED.get_or_init(GovernorRegistry::new)
    }

    /// The governor for `portal_id` on `base_url` (the demo portal and HubSpot never share one).
    /// `budget` applies only when the governor is created.
    pub fn for_portal(&self, base_url: &str, portal_id: u64, budget: RateBudget) -> Arc<Governor> {
        let key = format!("{}#{portal_id}", base_url.trim_end_matches('/'));
        let mut map = self
            .governors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(key)
            .or_insert_with(|| Arc::new(Governor::new(budget)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// A call answered at once.
    async fn call(g: &Governor, kind: CallKind) {
        let permit = g.acquire(kind).await.unwrap();
        g.finish(permit);
    }

    fn small(burst: u32, window_ms: u64, daily: u64) -> RateBudget {
        RateBudget {
            burst,
            burst_window: Duration::from_millis(window_ms),
            search_per_second: 2,
            daily,
        }
    }

    #[tokio::test]
    async fn burst_window_paces_calls() {
        let g = Governor::new(small(3, 300, 1000));
        let start = std::time::Instant::now();
        for _ in 0..3 {
            call(&g, CallKind::Standard).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "first three must not wait"
        );
        call(&g, CallKind::Standard).await;
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "fourth must wait for the window: {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_finished_call_counts_from_its_answer_not_its_start() {
        let g = Governor::new(small(2, 300, 1000));
        let start = std::time::Instant::now();
        let slow = g.acquire(CallKind::Standard).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        g.finish(slow);
        let quick = g.acquire(CallKind::Standard).await.unwrap();
        g.finish(quick);
        call(&g, CallKind::Standard).await;
        assert!(
            start.elapsed() >= Duration::from_millis(490),
            "the slot of the slow call frees 300 ms after its answer: {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn once_round_trips_are_known_a_call_counts_half_the_fastest_before_its_answer() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut w = Window::new(1, ms(1000));
        // The first calls count from their answers, however fast they were.
        for i in 0..u64::from(ROUND_TRIPS_TO_TRUST - 1) {
            let start = t0 + ms(i * 10_000);
            w.start(start);
            w.answered(start, start + ms(200 + i));
            assert_eq!(w.wait(start + ms(200 + i)), Some(ms(1000 + 25)), "call {i}");
        }
        // Then from half the fastest round trip (100 ms) before the answer.
        let start = t0 + ms(100_000);
        w.start(start);
        w.answered(start, start + ms(300));
        assert_eq!(w.wait(start + ms(300)), Some(ms(1000 + 25 - 100)));
        // Answered calls stay ordered by when they count.
        let mut w = Window::new(2, ms(1000));
        w.fastest = Some(ms(200));
        w.answers = ROUND_TRIPS_TO_TRUST;
        w.start(t0);
        w.start(t0 + ms(50));
        w.answered(t0 + ms(50), t0 + ms(400)); // counts at 300
        w.answered(t0, t0 + ms(380)); // counts at 280
        let ats: Vec<_> = w.starts.iter().map(|s| s.at.duration_since(t0)).collect();
        assert_eq!(ats, vec![ms(280), ms(300)]);
    }

    #[tokio::test]
    async fn an_unanswered_call_holds_its_slot_past_the_window() {
        let g = Governor::new(small(2, 200, 100));
        let slow = g.acquire(CallKind::Standard).await.unwrap();
        let quick = g.acquire(CallKind::Standard).await.unwrap();
        g.finish(quick);
        // Two windows later the slow call is still out: HubSpot may not have counted it yet,
        // so only the answered call's slot is free again.
        tokio::time::sleep(Duration::from_millis(450)).await;
        let third = g.acquire(CallKind::Standard).await.unwrap();
        let waiting =
            tokio::time::timeout(Duration::from_millis(500), g.acquire(CallKind::Standard)).await;
        assert!(waiting.is_err(), "no slot while one call is in flight and one just started");
        let answered = std::time::Instant::now();
        g.finish(slow);
        g.finish(third);
        call(&g, CallKind::Standard).await;
        assert!(
            answered.elapsed() >= Duration::from_millis(190),
            "a slot frees a period after its answer: {:?}",
            answered.elapsed()
        );
    }

    #[tokio::test]
    async fn search_has_its_own_budget_and_skips_the_burst_window() {
        let g = Governor::new(small(1, 10_000, 1000));
        call(&g, CallKind::Standard).await;
        let start = std::time::Instant::now();
        call(&g, CallKind::Search).await;
        call(&g, CallKind::Search).await;
        assert!(start.elapsed() < Duration::from_millis(100));
        call(&g, CallKind::Search).await;
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "third search in a second waits: {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn daily_budget_refuses_once_spent() {
        let g = Governor::new(small(100, 1000, 2));
        g.acquire(CallKind::Standard).await.unwrap();
        g.acquire(CallKind::Search).await.unwrap();
        assert!(matches!(
            g.acquire(CallKind::Standard).await,
            Err(Error::DailyLimitReached)
        ));
    }

    #[tokio::test]
    async fn headers_replace_budget_and_account_for_other_callers() {
        let g = Governor::new(small(100, 10_000, 1000));
        g.observe(
            CallKind::Standard,
            &headers(&[
                ("x-hubspot-ratelimit-max", "5"),
                ("x-hubspot-ratelimit-remaining", "1"),
                ("x-hubspot-ratelimit-interval-milliseconds", "400"),
                ("x-hubspot-ratelimit-daily", "500"),
                ("x-hubspot-ratelimit-daily-remaining", "120"),
            ]),
        );
        let snap = g.snapshot();
        assert_eq!(
            (snap.burst_limit, snap.burst_window_ms, snap.burst_remaining),
            (5, 400, 1)
        );
        assert_eq!((snap.daily_limit, snap.daily_remaining), (500, 120));
        let start = std::time::Instant::now();
        g.acquire(CallKind::Standard).await.unwrap();
        g.acquire(CallKind::Standard).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(380),
            "second call waits for calls others made: {:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn daily_remaining_zero_stops_calls_and_pause_delays_everyone() {
        let g = Governor::new(small(100, 1000, 1000));
        g.pause_for(Duration::from_millis(200));
        let start = std::time::Instant::now();
        g.acquire(CallKind::Search).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(190));
        g.observe(
            CallKind::Standard,
            &headers(&[("x-hubspot-ratelimit-daily-remaining", "0")]),
        );
        assert!(matches!(
            g.acquire(CallKind::Standard).await,
            Err(Error::DailyLimitReached)
        ));
    }

    #[test]
    fn registry_shares_one_governor_per_portal() {
        let r = GovernorRegistry::new();
        let a = r.for_portal("https://api.hubapi.com/", 42, Tier::Professional.budget());
        let b = r.for_portal("https://api.hubapi.com", 42, Tier::FreeStarter.budget());
        let c = r.for_portal("https://api.hubapi.com", 43, Tier::FreeStarter.budget());
        let d = r.for_portal("http://127.0.0.1:9000", 42, Tier::FreeStarter.budget());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(b.snapshot().burst_limit, 190, "first budget wins");
    }
}
