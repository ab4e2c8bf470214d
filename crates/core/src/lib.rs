//! Domain types shared by the db, federation and api crates without a dependency cycle:
//! id newtypes, markdown rendering and the limits every entry point enforces.

pub mod content;
pub mod ids;
pub mod limits;

pub use ids::{CommentId, CommunityId, InstanceId, PersonId, PostId};
