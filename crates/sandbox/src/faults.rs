//! Fault injection: latency, 5xx, connection resets, timeouts, token-endpoint 429s, search
//! disorder. Set at start ([`crate::SandboxConfig::faults`]) or live with
//! `PUT /_sandbox/faults` (same JSON, camelCase). Faults never touch `/_sandbox/` itself.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultConfig {
    /// Extra latency on every API response (added to `latency_ms` of the config).
    pub latency_ms: u64,
    /// Uniform random extra latency in `0..=latency_jitter_ms`.
    pub latency_jitter_ms: u64,
    /// Long tail: with probability `latency_tail_rate` (0–1) add `latency_tail_ms` more.
    pub latency_tail_rate: f64,
    pub latency_tail_ms: u64,
    /// Probability (0–1) of answering 500/502/503 instead of handling the request.
    pub error_rate: f64,
    /// Probability of dropping the connection mid-response.
    pub reset_rate: f64,
    /// Probability of handling the request and then dropping the connection before the answer
    /// arrives: the write is applied, the client sees a reset (as when HubSpot applies a write
    /// and the answer is lost to a timeout or a network failure).
    pub lost_answer_rate: f64,
    /// Probability of stalling `timeout_ms` and then answering 504.
    pub timeout_rate: f64,
    pub timeout_ms: u64,
    /// The next N token-endpoint requests answer 429.
    pub token_endpoint_429: u32,
    /// Search returns each page in shuffled order (HubSpot's search is not reliably ordered).
    pub search_shuffle: bool,
    /// Batch create/update/upsert answer their results in shuffled order (HubSpot does not
    /// promise input order; clients match by id, unique property or `objectWriteTraceId`).
    pub batch_shuffle: bool,
    /// Search index lag in milliseconds (on top of the config's `search_lag_ms`).
    pub search_lag_ms: u64,
    /// Signed file URLs are issued already expired (a download that starts too late).
    pub expired_signed_urls: bool,
    /// Only apply latency/5xx/reset/timeout to paths starting with this prefix.
    pub path_prefix: Option<String>,
}

/// A body that fails on first poll: hyper aborts the connection, the client sees a reset.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;
    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected connection reset"))))
    }
}

enum Action {
    Pass,
    Error(StatusCode),
    Reset,
    LostAnswer,
    Timeout(u64),
}

pub async fn fault_layer(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if !st.faults_active() {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    if path.starts_with("/_sandbox") {
        return next.run(req).await;
    }
    let f = st.faults_snapshot();
    let is_token = path.starts_with("/oauth/") && path.contains("/token") && req.method() == axum::http::Method::POST;
    if is_token && st.take_token_429() {
        return ApiError::oauth(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT", "rate_limit_exceeded", "You have reached your secondly limit.")
            .with("category", serde_json::json!("RATE_LIMITS"))
            .into_response();
    }
    let applies = f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p));
    let (delay, action) = {
        let mut rng = rand::rng();
        let mut delay = st.cfg.latency_ms;
        if applies {
            delay += f.latency_ms;
            if f.latency_jitter_ms > 0 {
                delay += rng.random_range(0..=f.latency_jitter_ms);
            }
            if f.latency_tail_rate > 0.0 && rng.random_bool(f.latency_tail_rate.clamp(0.0, 1.0)) {
                delay += f.latency_tail_ms;
            }
        }
        let action = if !applies {
            Action::Pass
        } else if f.error_rate > 0.0 && rng.random_bool(f.error_rate.clamp(0.0, 1.0)) {
            Action::Error(*[StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE]
                .get(rng.random_range(0..3))
                .unwrap_or(&StatusCode::INTERNAL_SERVER_ERROR))
        } else if f.reset_rate > 0.0 && rng.random_bool(f.reset_rate.clamp(0.0, 1.0)) {
            Action::Reset
        } else if f.lost_answer_rate > 0.0 && rng.random_bool(f.lost_answer_rate.clamp(0.0, 1.0)) {
            Action::LostAnswer
        } else if f.timeout_rate > 0.0 && rng.random_bool(f.timeout_rate.clamp(0.0, 1.0)) {
            Action::Timeout(if f.timeout_ms == 0 { 30_000 } else { f.timeout_ms })
        } else {
            Action::Pass
        };
        (delay, action)
    };
    if delay > 0 && !path.starts_with("/oauth/authorize") {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    match action {
        Action::Pass => next.run(req).await,
        Action::Error(code) => {
            st.count_fault("error");
            ApiError::new(code, "INTERNAL_ERROR", "internal error").into_response()
        }
        Action::Reset => {
            st.count_fault("reset");
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::new(BrokenBody))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Action::LostAnswer => {
            let handled = next.run(req).await;
            drop(handled);
            st.count_fault("lost_answer");
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::new(BrokenBody))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Action::Timeout(ms) => {
            st.count_fault("timeout");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "INTERNAL_ERROR", "The request timed out.").into_response()
        }
    }
}
