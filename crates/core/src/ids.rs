//! Newtypes for database ids so that a post id can never be passed where a comment id is meant.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A row of `instance`: one remote or local server, keyed by its authority (host and port).
    InstanceId
);
id_type!(
    /// A row of `person`: a local or remote user actor.
    PersonId
);
id_type!(
    /// A row of `community`: a local or remote group actor.
    CommunityId
);
id_type!(
    /// A row of `post`.
    PostId
);
id_type!(
    /// A row of `comment`.
    CommentId
);
id_type!(
    /// A row of `report`: someone asked moderators to look at a post, a comment or an account.
    ReportId
);
