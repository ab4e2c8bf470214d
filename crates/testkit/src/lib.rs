//! The dev-only kit shared by the end-to-end tests (`tests/`), the binary's tests
//! (`crates/canopy/tests`) and the benchmarks (`crates/bench`), so each piece exists once:
//!
//! - [`database`]: throwaway databases on the throwaway cluster of `scripts/test` or
//!   `scripts/bench`;
//! - [`app`]: [`TestApp`], the real node in this process on a loopback port;
//! - [`standin`]: a stand-in remote server (actors with keys, documents, signed deliveries);
//! - [`fedify_peer`]: a real Fedify server as a peer (Node.js);
//! - [`process`]: `canopy serve` and `canopy worker` as processes, and free loopback ports;
//! - [`wait`]: polling with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod database;
pub mod fedify_peer;
pub mod process;
pub mod standin;
pub mod wait;

pub use app::*;
pub use database::{admin_url, empty_database_url, fresh_database};
pub use wait::{eventually, eventually_within};
