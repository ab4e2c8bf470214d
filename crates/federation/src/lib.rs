//! Canopy's ActivityPub side: actor keys, the URL layout of local objects, and (growing with the
//! federation issue) actors, objects, the inbox and outgoing activities.
//!
//! This crate is the only one that knows ActivityStreams JSON.

pub mod context;
pub mod keys;
pub mod protocol;
pub mod routes;
pub mod urls;

pub use context::FedContext;
