//! The Canopy node as a library: [`node`] composes the crates into a running node. The `canopy`
//! binary (command line, configuration, the embedded PostgreSQL) is built on it, and so are the
//! in-process test node and the benchmarks.

pub mod node;
pub mod telemetry;

pub use node::{Node, Options};
