//! Domain types shared by the db, federation and api crates without a dependency cycle:
//! id newtypes, the authority of a URL, markdown rendering, the limits every entry point
//! enforces and the rate limiter the API and the inbox share.

pub mod authority;
pub mod content;
pub mod ids;
pub mod limits;
pub mod rate_limit;

pub use authority::{authority, parse_authority, same_authority};
pub use ids::{CommentId, CommunityId, InstanceId, PersonId, PostId, ReportId};
