//! instances
