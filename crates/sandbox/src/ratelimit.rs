//! HubSpot's API rate limits: a rolling 10-second burst budget per app, a per-second budget for
//! search, and a daily budget per account, with the `X-HubSpot-RateLimit-*` headers.
//!
//! | tier | burst / 10 s (private app) | burst / 10 s (OAuth app) | daily | search |
//! |---|---|---|---|---|
//! | free, starter | 100 | 110 | 250,000 | 5/s |
//! | pro | 190 | 110 | 625,000 | 5/s |
//! | enterprise | 190 | 110 | 1,000,000 | 5/s |
//!
//! Search responses carry no rate-limit headers (as on HubSpot). Daily headers are sent to
//! private apps only. A 429 has `policyName` `TEN_SECONDLY_ROLLING`, `SECONDLY` or `DAILY`;
//! `Retry-After` is sent for the first and last but not for search's `SECONDLY` (HubSpot does
//! not always send it, and clients must cope).

use crate::auth::{Caller, TokenKind};
use crate::error::ApiError;
use crate::Tier;
use axum::http::StatusCode;
use serde_json::json;
use std::collections::{HashMap, VecDeque};

pub const SEARCH_PER_SECOND: u32 = 5;

#[derive(Default)]
struct Window {
    hits: VecDeque<i64>,
}

impl Window {
    fn count_since(&mut self, since: i64) -> u32 {
        while self.hits.front().is_some_and(|&t| t <= since) {
            self.hits.pop_front();
        }
        self.hits.len() as u32
    }
}

#[derive(Default)]
pub struct Limiter {
    burst: HashMap<String, Window>,
    search: HashMap<String, Window>,
    daily_day: i64,
    daily_used: u32,
}

pub struct Limits {
    pub tier: Tier,
    pub enforce: bool,
    pub portal_id: u64,
}

type Headers = Vec<(&'static str, String)>;

fn too_many(policy: &str, message: &str, group: String) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITS", message)
        .with("errorType", json!("RATE_LIMIT"))
        .with("policyName", json!(policy))
        .with("groupName", json!(group))
}

impl Limiter {
    pub fn check(&mut self, caller: &Caller, search: bool, now: i64, l: &Limits) -> Result<Headers, ApiError> {
        let key = match caller.kind {
            TokenKind::PrivateApp => format!("private-app:{}", caller.token),
            TokenKind::OAuth => format!("app:{}", caller.app_id),
        };
        let group = match caller.kind {
            TokenKind::PrivateApp => format!("publicapi:private-app:{}:{}", caller.app_id, l.portal_id),
            TokenKind::OAuth => format!("publicapi:app-api:{}:{}", caller.app_id, l.portal_id),
        };
        let burst_max = match caller.kind {
            TokenKind::PrivateApp => l.tier.burst_per_10s(),
            TokenKind::OAuth => 110,
        };
        let daily_max = l.tier.daily();
        let day = now.div_euclid(86_400_000);
        if day != self.daily_day {
            self.daily_day = day;
            self.daily_used = 0;
        }
        if l.enforce && self.daily_used >= daily_max {
            let secs = ((day + 1) * 86_400_000 - now) / 1000 + 1;
            return Err(too_many("DAILY", "You have reached your daily limit.", group).header("Retry-After", secs.to_string()));
        }
        if search {
            let w = self.search.entry(key).or_default();
            let used = w.count_since(now - 1000);
            if l.enforce && used >= SEARCH_PER_SECOND {
                return Err(too_many("SECONDLY", "You have reached your secondly limit.", group));
            }
            w.hits.push_back(now);
            self.daily_used += 1;
            return Ok(Vec::new());
        }
        let w = self.burst.entry(key).or_default();
        let used = w.count_since(now - 10_000);
        if l.enforce && used >= burst_max {
            let oldest = w.hits.front().copied().unwrap_or(now);
            let wait_ms = (oldest + 10_000 - now).max(1);
            return Err(too_many("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.", group)
                .header("Retry-After", ((wait_ms + 999) / 1000).to_string()));
        }
        w.hits.push_back(now);
        // Bound memory when limits are not enforced.
        while w.hits.len() > 4 * burst_max as usize {
            w.hits.pop_front();
        }
        let used = used + 1;
        let secondly_used = w.hits.iter().rev().take_while(|&&t| t > now - 1000).count() as u32;
        let secondly_max = burst_max / 10;
        self.daily_used += 1;
        let mut h: Headers = vec![
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000".into()),
            ("X-HubSpot-RateLimit-Max", burst_max.to_string()),
            ("X-HubSpot-RateLimit-Remaining", burst_max.saturating_sub(used).to_string()),
            ("X-HubSpot-RateLimit-Secondly", secondly_max.to_string()),
            ("X-HubSpot-RateLimit-Secondly-Remaining", secondly_max.saturating_sub(secondly_used).to_string()),
        ];
        if caller.kind == TokenKind::PrivateApp {
            h.push(("X-HubSpot-RateLimit-Daily", daily_max.to_string()));
            h.push(("X-HubSpot-RateLimit-Daily-Remaining", daily_max.saturating_sub(self.daily_used).to_string()));
        }
        Ok(h)
    }

    /// Sets the daily usage (admin API), e.g. to test the DAILY policy.
    pub fn set_daily_used(&mut self, used: u32, now: i64) {
        self.daily_day = now.div_euclid(86_400_000);
        self.daily_used = used;
    }

    pub fn daily_used(&self) -> u32 {
        self.daily_used
    }
}
