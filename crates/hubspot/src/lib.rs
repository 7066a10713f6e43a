//! Typed HubSpot client.
//!
//! Also home of the two conventions every Spoke crate shares: the redacting [`Secret`] type and
//! the [`Problem`] shape (`{code, message, hint}`) that errors take when they leave Rust.
//!
//! - [`Client`]: one per connection: base URL (HubSpot or the demo portal), bearer auth from a
//!   [`TokenProvider`], retries with jittered backoff, 429 handling, typed errors.
//! - [`Governor`]: one per portal (from [`GovernorRegistry::shared`]), pacing burst, search and
//!   daily budgets and learning from `X-HubSpot-RateLimit-*` headers.

pub mod api;
pub mod client;
pub mod error;
pub mod files;
pub mod governor;
pub mod problem;
pub mod secret;

pub use api::{
    AccountDetails, BatchWrite, BatchWriteInput, BatchWriteRecord, BatchWriteResponse, CrmObject, ListObjects, OAuthClient, Page, PrivateAppTokenInfo, TokenHint,
    TokenIntrospection, TokenResponse,
};
pub use client::{
    BoxFuture, Client, ClientConfig, Multipart, Request, Response, RetryPolicy, StaticToken, TokenProvider,
    HUBSPOT_API_BASE,
};
pub use error::{Error, ErrorBody};
pub use files::{FileAccess, FileInfo, FileUpload, SignedUrl};
pub use governor::{
    CallKind, Governor, GovernorRegistry, GovernorSnapshot, Permit, RateBudget, RateLimitHeaders,
    Tier,
};
pub use problem::{Describe, Problem};
pub use secret::Secret;
