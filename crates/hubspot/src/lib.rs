//! Typed HubSpot client.
//!
//! Also home of the two conventions every Spoke crate shares: the redacting [`Secret`] type and
//! the [`Problem`] shape (`{code, message, hint}`) that errors take when they leave Rust.

pub mod problem;
pub mod secret;

pub use problem::{Describe, Problem};
pub use secret::Secret;
