//! Handlers grouped by domain.

pub mod accounts;
pub mod admin;
pub mod bans;
pub mod blocks;
pub mod comments;
pub mod communities;
pub mod listing;
pub mod meta;
pub mod moderation;
pub mod notifications;
pub mod posts;
pub mod profiles;
pub mod reports;
pub mod saved;
pub mod search;
