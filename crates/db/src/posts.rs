//! posts
