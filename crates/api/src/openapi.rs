//! The OpenAPI document, generated from the handlers' annotations.

use crate::routes::{
    accounts, admin, bans, blocks, comments, communities, listing, meta, moderation, notifications,
    posts, profiles, reports, saved, search,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Canopy API", description = "REST API of a Canopy node. Conventions: docs/API.md."),
    paths(
        meta::health,
        accounts::register, accounts::login, accounts::logout, profiles::me, profiles::edit_me,
        accounts::get_user, profiles::posts, profiles::comments,
        communities::create, communities::get, listing::communities,
        communities::follow, communities::unfollow, communities::resolve,
        communities::subscriptions,
        notifications::list, notifications::count, notifications::mark_read,
        notifications::mark_unread, notifications::mark_all_read,
        saved::save_post, saved::unsave_post, saved::save_comment, saved::unsave_comment,
        saved::list,
        posts::create, posts::get, listing::community_posts, listing::front_page,
        search::search, posts::edit, posts::delete, posts::vote,
        comments::create, comments::get, comments::edit, comments::delete, comments::vote,
        comments::tree, comments::replies,
        moderation::remove_post, moderation::restore_post, moderation::lock_post,
        moderation::unlock_post, moderation::feature_post, moderation::unfeature_post,
        moderation::remove_comment, moderation::restore_comment,
        moderation::moderators, moderation::add_moderator, moderation::remove_moderator,
        moderation::modlog, moderation::edit_community,
        reports::report_post, reports::report_comment, reports::list, reports::resolve,
        reports::reopen,
        admin::queue, admin::instances, admin::block, admin::unblock, admin::allow,
        admin::disallow, admin::resync,
        bans::community_bans, bans::ban_from_community, bans::unban_from_community,
        bans::site_bans, bans::site_ban, bans::site_unban,
        blocks::list, blocks::block_person, blocks::unblock_person, blocks::block_community,
        blocks::unblock_community,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Registration, sessions, users"),
        (name = "communities"), (name = "posts"),
        (name = "search", description = "Full-text search of posts, comments, communities and users; URLs and handles resolve"),
        (name = "comments", description = "Comments and paged comment trees"),
        (name = "moderation", description = "Community moderators: removals, locks, moderators, the public moderation log"),
        (name = "blocks", description = "Personal blocks: people and communities a user hides from their own listings and trees"),
        (name = "reports", description = "Reports of posts and comments to their community's moderators, and their handling"),
        (name = "notifications", description = "Replies to the user's posts and comments, and mentions of the user"),
        (name = "saved", description = "Posts and comments a user saved"),
        (name = "meta", description = "Health"),
        (name = "admin", description = "For instance administrators: the delivery queue, known instances, blocks and the allow-list, thread resync"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    /// The API's published shape: a change to any route, parameter or schema shows up as a
    /// diff of `snapshots/canopy_api__openapi__tests__openapi_document.snap`.
    #[test]
    fn openapi_document() {
        insta::assert_json_snapshot!(super::document());
    }
}
