//! Payloads captured from other servers (Lemmy, Mastodon, Pleroma, Mbin, Mitra, PeerTube,
//! WordPress, GNU social; verbatim copies in `tests/fixtures/interop`) driven through the real
//! inbox, signed, with a stand-in serving every actor and object they name, and checked as rows.
//! Objects are resolved through `GET /api/v1/resolve`, which fetches them the way the inbox does.
//! `docs/INTEROP.md` lists every file and its outcome; the first test keeps that list complete.
//!
//! One stand-in plays every origin: `https://host/path?query#fragment` becomes
//! `{stand-in}/host/path~query#fragment`, so each origin keeps its own path prefix and ids stay on
//! their actor's authority. URLs that must name the node's own objects (the community followed,
//! the post replied to) are mapped onto them instead. Actors that sign are served with the
//! stand-in's key in place of the captured one.

use canopy_testkit::standin::StandIn;
use canopy_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use url::Url;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/interop");
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/INTEROP.md");
const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// A fixture file, parsed; `rel` is relative to `tests/fixtures/interop`.
fn fixture(rel: &str) -> Value {
    let path = Path::new(FIXTURES).join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "interop fixture {} cannot be read ({e}); the fixtures are part of the repository",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

/// Every fixture file, relative to `tests/fixtures/interop`, sorted.
fn all_fixtures() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("interop fixtures missing at {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                let rel = path.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = Path::new(FIXTURES);
    let mut out = vec![];
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Maps the fixtures' URLs onto the stand-in, or onto the node's own objects.
#[derive(Clone)]
pub(crate) struct Rewriter {
    base: String,
    /// `host/path` as written in a fixture (no scheme, no fragment) → the URL to use instead.
    local: Vec<(String, String)>,
}

impl Rewriter {
    fn new(standin: &StandIn) -> Self {
        Self {
            base: standin.base.clone(),
            local: vec![],
        }
    }

    /// Map the fixtures' `host/path` (either scheme) onto `to`, a URL of the node under test.
    pub(crate) fn local(mut self, from: &str, to: &str) -> Self {
        self.local.push((from.to_string(), to.to_string()));
        self
    }

    /// What the fixture URL `url` becomes.
    fn url(&self, url: &str) -> String {
        let parsed = match Url::parse(url) {
            Ok(u) if url != PUBLIC && u.host_str().is_some() => u,
            _ => return url.to_string(),
        };
        let query = parsed.query();
        let fragment = parsed
            .fragment()
            .map(|f| format!("#{f}"))
            .unwrap_or_default();
        let authority = canopy_core::authority(&parsed);
        let key = format!(
            "{authority}{}{}",
            parsed.path(),
            query.map(|q| format!("?{q}")).unwrap_or_default()
        );
        if let Some((_, to)) = self.local.iter().find(|(from, _)| *from == key) {
            return format!("{to}{fragment}");
        }
        format!(
            "{}/{}{}{}{fragment}",
            self.base,
            authority.replace(':', "_"),
            parsed.path(),
            query.map(|q| format!("~{q}")).unwrap_or_default()
        )
    }

    /// `value` with every URL rewritten (but not its JSON-LD `@context`).
    fn rewrite(&self, value: &Value) -> Value {
        match value {
            Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => {
                Value::String(self.url(s))
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.rewrite(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = if k == "@context" {
                            v.clone()
                        } else {
                            self.rewrite(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The path (with the leading `/`) the stand-in serves `url` at.
fn path_of(url: &str) -> String {
    Url::parse(url).unwrap().path().to_string()
}

/// What the node answered to one delivery or resolve.
pub(crate) struct Reply {
    what: String,
    status: StatusCode,
    body: String,
}

impl Reply {
    #[track_caller]
    pub(crate) fn accepted(&self) {
        assert_eq!(
            self.status,
            StatusCode::ACCEPTED,
            "{}: {}",
            self.what,
            self.body
        );
    }

    /// Refused with `status` and a JSON error whose message contains `reason`.
    #[track_caller]
    fn refused(&self, status: StatusCode, reason: &str) {
        assert_eq!(self.status, status, "{}: {}", self.what, self.body);
        let v: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("{}: error body is not JSON: {}", self.what, self.body));
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(reason),
            "{}: message {message:?} should say {reason:?}",
            self.what
        );
    }

    /// A successful resolve: its JSON.
    #[track_caller]
    fn resolved(&self, kind: &str) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}: {}", self.what, self.body);
        let v: Value = serde_json::from_str(&self.body).unwrap();
        assert_eq!(v["kind"], kind, "{}: {v}", self.what);
        v
    }
}

/// One node under test, its user alice, and one stand-in for every other server.
pub(crate) struct Node {
    pub(crate) app: TestApp,
    standin: StandIn,
    /// Another instance, where the follower of local communities lives (a community never relays
    /// an activity back to the instance it came from, so the follower is not on the senders' one).
    watch: StandIn,
    token: String,
    alice: String,
}

impl Node {
    pub(crate) async fn start() -> Self {
        let app = TestApp::spawn().await;
        let token = app.user("alice").await;
        let alice = format!("{}/u/alice", app.public_url);
        let standin = StandIn::start().await;
        let watch = StandIn::start().await;
        Self {
            app,
            standin,
            watch,
            token,
            alice,
        }
    }

    pub(crate) fn rewriter(&self) -> Rewriter {
        Rewriter::new(&self.standin)
    }

    fn inbox(&self) -> String {
        format!("{}/inbox", self.app.base_url)
    }

    /// Create a local community; returns its ActivityPub id.
    pub(crate) async fn community(&self, name: &str) -> String {
        let (s, c) = self
            .app
            .post(
                "/api/v1/communities",
                Some(&self.token),
                json!({"name": name, "title": name}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        format!("{}/c/{name}", self.app.public_url)
    }

    /// Create a local community with one post by alice; returns the post's id and ActivityPub id.
    async fn post(&self, community: &str) -> (i64, String) {
        let id = self.app.community_with_post(&self.token, community).await;
        let (_, p) = self.app.get(&format!("/api/v1/posts/{id}"), None).await;
        (id, p["ap_id"].as_str().unwrap().to_string())
    }

    /// A post by alice in the existing local community `community`; returns its id and
    /// ActivityPub id.
    async fn post_in(&self, community: &str) -> (i64, String) {
        let (_, c) = self
            .app
            .get(&format!("/api/v1/communities/{community}"), None)
            .await;
        let (s, p) = self
            .app
            .post(
                "/api/v1/posts",
                Some(&self.token),
                json!({"community_id": c["id"], "title": "a post"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        (
            p["id"].as_i64().unwrap(),
            p["ap_id"].as_str().unwrap().to_string(),
        )
    }

    /// alice makes the stand-in person `name` a moderator of her community `community`.
    async fn make_moderator(&self, community: &str, name: &str) {
        let (s, m) = self
            .app
            .post(
                &format!("/api/v1/communities/{community}/moderators"),
                Some(&self.token),
                json!({"person": format!("{name}@{}", self.standin.authority())}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{m}");
    }

    /// Whether the post or comment `ap_id` is removed.
    async fn removed(&self, ap_id: &str) -> Option<bool> {
        sqlx::query_as::<_, (bool,)>(
            "SELECT removed FROM post WHERE ap_id = $1
             UNION ALL SELECT removed FROM comment WHERE ap_id = $1",
        )
        .bind(ap_id)
        .fetch_optional(&self.app.db)
        .await
        .unwrap()
        .map(|(r,)| r)
    }

    /// Whether the post `ap_id` is locked.
    async fn locked(&self, ap_id: &str) -> bool {
        self.count(
            "SELECT count(*) FROM post WHERE ap_id = $1 AND locked",
            &[ap_id],
        )
        .await
            == 1
    }

    /// Whether the post `ap_id` is featured.
    async fn featured(&self, ap_id: &str) -> bool {
        self.count(
            "SELECT count(*) FROM post WHERE ap_id = $1 AND featured",
            &[ap_id],
        )
        .await
            == 1
    }

    /// The actions of the public moderation log, newest first.
    async fn modlog(&self) -> Vec<String> {
        let (s, log) = self.app.get("/api/v1/modlog", None).await;
        assert_eq!(s, StatusCode::OK, "{log}");
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    }

    /// The reports alice sees (`query` is `?state=…` and the like).
    async fn reports(&self, query: &str) -> Vec<Value> {
        let (s, r) = self
            .app
            .get(&format!("/api/v1/reports{query}"), Some(&self.token))
            .await;
        assert_eq!(s, StatusCode::OK, "{r}");
        r["reports"].as_array().unwrap().clone()
    }

    /// A comment by alice on `post`; returns its ActivityPub id.
    async fn comment(&self, post: i64) -> String {
        let id = self
            .app
            .comment(&self.token, post, None, "a local comment")
            .await;
        let (_, c) = self.app.get(&format!("/api/v1/comments/{id}"), None).await;
        c["comment"]["ap_id"].as_str().unwrap().to_string()
    }

    /// alice follows the remote community at `url`; the follow is pending until accepted.
    async fn follow_remote(&self, url: &str) {
        let (s, f) = self
            .app
            .post(
                "/api/v1/communities/follow",
                Some(&self.token),
                json!({"community": url}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{f}");
        assert_eq!(f["pending"], true, "{f}");
    }

    /// Serve the fixture `rel`, rewritten, at its id; returns it.
    fn serve(&self, rw: &Rewriter, rel: &str) -> Value {
        let v = rw.rewrite(&fixture(rel));
        let id = v["id"].as_str().unwrap();
        self.standin.put(&path_of(id), v.clone());
        v
    }

    /// Serve the actor fixture `rel` with the stand-in's key, so that it can sign; returns its id.
    fn serve_signer(&self, rw: &Rewriter, rel: &str) -> String {
        let mut v = rw.rewrite(&fixture(rel));
        v["publicKey"]["publicKeyPem"] = json!(self.standin.public_key_pem());
        let id = v["id"].as_str().unwrap().to_string();
        self.standin.put(&path_of(&id), v);
        id
    }

    /// Serve a minimal actor at what the fixture URL `url` becomes (for actors the fixtures name
    /// but do not include); returns its id.
    pub(crate) fn actor(&self, rw: &Rewriter, url: &str, kind: &str, name: &str) -> String {
        let id = rw.url(url);
        assert_eq!(self.standin.actor_at(&path_of(&id), kind, name), id);
        id
    }

    /// Deliver the activity fixture `rel`, rewritten and signed by its actor.
    pub(crate) async fn deliver(&self, rw: &Rewriter, rel: &str) -> Reply {
        let activity = rw.rewrite(&fixture(rel));
        let (status, body) = self.standin.deliver(&self.inbox(), &activity).await;
        Reply {
            what: rel.to_string(),
            status,
            body,
        }
    }

    /// A stand-in person follows the local community `community` (an ap_id), so that the
    /// community has a remote follower to announce to.
    async fn remote_follower(&self, community: &str) {
        let watcher = self.watch.person("watcher");
        let follow = json!({"id": format!("{}/follows/watcher", self.watch.base), "type": "Follow",
                            "actor": watcher, "object": community});
        let (status, body) = self.watch.deliver(&self.inbox(), &follow).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }

    /// `GET /api/v1/resolve?q={url}`.
    async fn resolve(&self, what: &str, url: &str) -> Reply {
        let resp = self
            .app
            .client
            .get(format!("{}/api/v1/resolve", self.app.base_url))
            .query(&[("q", url)])
            .send()
            .await
            .unwrap();
        Reply {
            what: what.to_string(),
            status: resp.status(),
            body: resp.text().await.unwrap(),
        }
    }

    async fn count(&self, sql: &str, binds: &[&str]) -> i64 {
        let mut q = sqlx::query_as::<_, (i64,)>(sql);
        for b in binds {
            q = q.bind(*b);
        }
        q.fetch_one(&self.app.db).await.unwrap().0
    }

    /// Rows of every kind an activity can write, to show that a refused one wrote none.
    async fn tally(&self) -> Vec<i64> {
        let mut out = vec![];
        for table in [
            "post",
            "comment",
            "post_vote",
            "comment_vote",
            "community_follow",
            "person_follow",
            "outbox_activity",
        ] {
            out.push(
                self.count(&format!("SELECT count(*) FROM {table}"), &[])
                    .await,
            );
        }
        out.push(
            self.count("SELECT count(*) FROM post WHERE deleted", &[])
                .await,
        );
        out.push(
            self.count("SELECT count(*) FROM comment WHERE deleted", &[])
                .await,
        );
        out
    }

    async fn post_row(&self, ap_id: &str) -> Option<PostRow> {
        sqlx::query_as::<_, PostRow>(
            "SELECT p.id, c.ap_id AS community, pe.ap_id AS creator, p.title, p.url, p.body,
                    p.deleted, p.upvotes, p.downvotes
             FROM post p JOIN community c ON c.id = p.community_id
                         JOIN person pe ON pe.id = p.creator_id
             WHERE p.ap_id = $1",
        )
        .bind(ap_id)
        .fetch_optional(&self.app.db)
        .await
        .unwrap()
    }

    /// Where the stored remote post `ap_id` said its thread is served: (`context`, `replies`).
    async fn thread_urls(&self, ap_id: &str) -> (Option<String>, Option<String>) {
        sqlx::query_as(
            "SELECT r.context_url, r.replies_url FROM post p
             LEFT JOIN remote_thread r ON r.post_id = p.id WHERE p.ap_id = $1",
        )
        .bind(ap_id)
        .fetch_one(&self.app.db)
        .await
        .unwrap()
    }

    async fn comment_row(&self, ap_id: &str) -> Option<CommentRow> {
        sqlx::query_as::<_, CommentRow>(
            "SELECT p.ap_id AS post, par.ap_id AS parent, pe.ap_id AS creator, c.content,
                    c.deleted, c.upvotes
             FROM comment c JOIN post p ON p.id = c.post_id
                            LEFT JOIN comment par ON par.id = c.parent_id
                            JOIN person pe ON pe.id = c.creator_id
             WHERE c.ap_id = $1",
        )
        .bind(ap_id)
        .fetch_optional(&self.app.db)
        .await
        .unwrap()
    }

    /// `voter`'s vote on the post or comment `target`.
    pub(crate) async fn vote(&self, target: &str, voter: &str) -> Option<i16> {
        sqlx::query_as::<_, (i16,)>(
            "SELECT v.score FROM post_vote v JOIN post t ON t.id = v.post_id
                 JOIN person pe ON pe.id = v.person_id WHERE t.ap_id = $1 AND pe.ap_id = $2
             UNION ALL
             SELECT v.score FROM comment_vote v JOIN comment t ON t.id = v.comment_id
                 JOIN person pe ON pe.id = v.person_id WHERE t.ap_id = $1 AND pe.ap_id = $2",
        )
        .bind(target)
        .bind(voter)
        .fetch_optional(&self.app.db)
        .await
        .unwrap()
        .map(|(s,)| s)
    }

    /// Whether `person` follows `community`: `Some(pending)`.
    async fn community_follow(&self, community: &str, person: &str) -> Option<bool> {
        sqlx::query_as::<_, (bool,)>(
            "SELECT f.pending FROM community_follow f JOIN community c ON c.id = f.community_id
                 JOIN person pe ON pe.id = f.person_id WHERE c.ap_id = $1 AND pe.ap_id = $2",
        )
        .bind(community)
        .bind(person)
        .fetch_optional(&self.app.db)
        .await
        .unwrap()
        .map(|(p,)| p)
    }

    /// Whether `follower` follows the person `target`: `Some(pending)`.
    async fn person_follow(&self, target: &str, follower: &str) -> Option<bool> {
        sqlx::query_as::<_, (bool,)>(
            "SELECT f.pending FROM person_follow f JOIN person t ON t.id = f.target_id
                 JOIN person pe ON pe.id = f.follower_id WHERE t.ap_id = $1 AND pe.ap_id = $2",
        )
        .bind(target)
        .bind(follower)
        .fetch_optional(&self.app.db)
        .await
        .unwrap()
        .map(|(p,)| p)
    }

    /// How many activities of `kind` by `actor` are queued whose `object` is `object_id` (an
    /// embedded activity's id or a URL).
    async fn queued(&self, kind: &str, actor: &str, object_id: &str) -> i64 {
        self.count(
            "SELECT count(*) FROM outbox_activity WHERE kind = $1 AND actor_ap_id = $2
                 AND coalesce(payload->'object'->>'id', payload->>'object') = $3",
            &[kind, actor, object_id],
        )
        .await
    }
}

#[derive(Debug, sqlx::FromRow)]
struct PostRow {
    id: i64,
    community: String,
    creator: String,
    title: String,
    url: Option<String>,
    body: Option<String>,
    deleted: bool,
    upvotes: i32,
    downvotes: i32,
}

#[derive(Debug, sqlx::FromRow)]
struct CommentRow {
    post: String,
    parent: Option<String>,
    creator: String,
    content: String,
    deleted: bool,
    upvotes: i32,
}

/// The `id` of a fixture's `object` after rewriting.
pub(crate) fn object_id(rw: &Rewriter, rel: &str) -> String {
    let v = rw.rewrite(&fixture(rel));
    match &v["object"] {
        Value::String(s) => s.clone(),
        o => o["id"].as_str().unwrap().to_string(),
    }
}

/// The rewritten `id` of a fixture.
fn id_of(rw: &Rewriter, rel: &str) -> String {
    rw.rewrite(&fixture(rel))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_fixture_parses_and_is_listed_in_the_interop_doc() {
    let files = all_fixtures();
    assert!(
        files.len() >= 80,
        "expected the whole interop fixture set in {FIXTURES}, found {} files",
        files.len()
    );
    let doc = std::fs::read_to_string(DOC).expect("docs/INTEROP.md exists");
    let listed: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|f| f.ends_with(".json"))
        .collect();
    for f in &files {
        fixture(f);
        assert!(
            listed.contains(&f.as_str()),
            "{f} has no row in docs/INTEROP.md"
        );
    }
    for l in &listed {
        assert!(
            files.iter().any(|f| f == l),
            "docs/INTEROP.md lists {l}, which is not a fixture"
        );
    }
    assert_eq!(listed.len(), files.len(), "each fixture is listed once");
}

#[test]
fn collections_parse_as_collections_of_what_they_claim() {
    for (rel, kind, items) in [
        (
            "lemmy/collections/group_featured_posts.json",
            "OrderedCollection",
            "Page",
        ),
        (
            "lemmy/collections/group_outbox.json",
            "OrderedCollection",
            "Announce",
        ),
        (
            "lemmy/collections/group_moderators.json",
            "OrderedCollection",
            "",
        ),
        ("lemmy/collections/group_followers.json", "Collection", ""),
        (
            "lemmy/collections/person_outbox.json",
            "OrderedCollection",
            "",
        ),
        (
            "mastodon/collections/featured.json",
            "OrderedCollection",
            "Note",
        ),
    ] {
        let v = fixture(rel);
        assert_eq!(v["type"], kind, "{rel}");
        let list = v["orderedItems"]
            .as_array()
            .or(v["items"].as_array())
            .unwrap_or_else(|| panic!("{rel} has no items"));
        for item in list {
            match item {
                Value::String(s) => assert!(Url::parse(s).is_ok(), "{rel}: {s}"),
                o => assert_eq!(o["type"], items, "{rel}: {o}"),
            }
        }
        if let Some(total) = v["totalItems"].as_u64() {
            // Lemmy's followers collection gives a count without listing anyone.
            assert!(
                list.len() as u64 <= total,
                "{rel}: more items than totalItems"
            );
        }
    }
}

/// What Lemmy sends to the server hosting a community: here `enterprise.lemmy.ml/c/main` is the
/// node's own community "main", and the Lemmy users are remote.
#[tokio::test]
async fn lemmy_posts_comments_votes_follows_and_deletes_land_in_a_local_community() {
    let n = Node::start().await;
    let main = n.community("main").await;
    n.remote_follower(&main).await;
    let rw = n.rewriter().local("enterprise.lemmy.ml/c/main", &main);
    let alpha = n.actor(
        &rw,
        "http://ds9.lemmy.ml/u/lemmy_alpha",
        "Person",
        "lemmy_alpha",
    );
    let beta = n.actor(
        &rw,
        "http://enterprise.lemmy.ml/u/lemmy_beta",
        "Person",
        "lemmy_beta",
    );
    let dir = "lemmy/activities";

    let page = object_id(&rw, &format!("{dir}/create_or_update/create_page.json"));
    n.deliver(&rw, &format!("{dir}/create_or_update/create_page.json"))
        .await
        .accepted();
    let p = n
        .post_row(&page)
        .await
        .expect("the Page is stored as a post");
    assert_eq!(
        (p.community.as_str(), p.creator.as_str(), p.title.as_str()),
        (main.as_str(), alpha.as_str(), "test post")
    );
    assert_eq!(p.body.as_deref(), Some("test body"));
    let link = rw.url("https://lemmy.ml/pictrs/image/xl8W7FZfk9.jpg");
    assert_eq!(p.url.as_deref(), Some(link.as_str()));
    let create_id = id_of(&rw, &format!("{dir}/create_or_update/create_page.json"));
    assert_eq!(
        n.queued("Announce", &main, &create_id).await,
        1,
        "the community announces the new post to its followers"
    );

    let comment = object_id(&rw, &format!("{dir}/create_or_update/create_comment.json"));
    n.deliver(&rw, &format!("{dir}/create_or_update/create_comment.json"))
        .await
        .accepted();
    let c = n.comment_row(&comment).await.expect("the Note is stored");
    assert_eq!((c.post.as_str(), c.parent), (page.as_str(), None));
    assert_eq!(
        (c.creator.as_str(), c.content.as_str()),
        (alpha.as_str(), "hello")
    );

    n.deliver(&rw, &format!("{dir}/create_or_update/update_page.json"))
        .await
        .accepted();
    let p = n.post_row(&page).await.unwrap();
    assert_eq!(p.title, "test post 1");
    assert_eq!(
        p.url.as_deref(),
        Some(link.as_str()),
        "the Page's link is kept"
    );

    // The comment starts with its author's upvote, as on Lemmy; lemmy_alpha's Like of their own
    // comment is that same vote, not a second one, and their Undo takes it back.
    assert_eq!(n.vote(&comment, &alpha).await, Some(1));
    assert_eq!(n.comment_row(&comment).await.unwrap().upvotes, 1);
    n.deliver(&rw, &format!("{dir}/voting/like_note.json"))
        .await
        .accepted();
    assert_eq!(n.vote(&comment, &alpha).await, Some(1));
    assert_eq!(n.comment_row(&comment).await.unwrap().upvotes, 1);
    n.deliver(&rw, &format!("{dir}/voting/undo_like_note.json"))
        .await
        .accepted();
    assert_eq!(n.vote(&comment, &alpha).await, None);
    assert_eq!(n.comment_row(&comment).await.unwrap().upvotes, 0);

    n.deliver(&rw, &format!("{dir}/voting/dislike_page.json"))
        .await
        .accepted();
    assert_eq!(n.vote(&page, &beta).await, Some(-1));
    assert_eq!(n.post_row(&page).await.unwrap().downvotes, 1);
    // Lemmy undoes a dislike with Undo(Like); the vote goes either way.
    n.deliver(&rw, &format!("{dir}/voting/undo_dislike_page.json"))
        .await
        .accepted();
    assert_eq!(n.vote(&page, &beta).await, None);
    let p = n.post_row(&page).await.unwrap();
    assert_eq!(
        (p.upvotes, p.downvotes),
        (1, 0),
        "only the author's own upvote is left"
    );

    let follow_id = id_of(&rw, &format!("{dir}/following/follow.json"));
    n.deliver(&rw, &format!("{dir}/following/follow.json"))
        .await
        .accepted();
    assert_eq!(n.community_follow(&main, &alpha).await, Some(false));
    assert_eq!(
        n.queued("Accept", &main, &follow_id).await,
        1,
        "an Accept of the Follow is queued"
    );
    n.deliver(&rw, &format!("{dir}/following/undo_follow.json"))
        .await
        .accepted();
    assert_eq!(n.community_follow(&main, &alpha).await, None);

    // A removal of someone else's comment by lemmy_beta, who moderates nothing here.
    let before = n.tally().await;
    n.deliver(&rw, &format!("{dir}/deletion/remove_note.json"))
        .await
        .refused(StatusCode::FORBIDDEN, "is not a moderator of");
    n.deliver(&rw, &format!("{dir}/deletion/undo_remove_note.json"))
        .await
        .refused(StatusCode::FORBIDDEN, "is not a moderator of");
    // lemmy_alpha, who moderates nothing here, editing the node's own community.
    n.deliver(&rw, &format!("{dir}/community/update_community.json"))
        .await
        .refused(StatusCode::FORBIDDEN, "is not a moderator of");
    assert_eq!(n.tally().await, before, "refused activities change nothing");
    let (_, community) = n.app.get("/api/v1/communities/main", None).await;
    assert_eq!(community["title"], "main");

    // Once alice makes lemmy_beta a moderator of main, the removal and its Undo act.
    n.make_moderator("main", "lemmy_beta").await;
    n.deliver(&rw, &format!("{dir}/deletion/remove_note.json"))
        .await
        .accepted();
    assert_eq!(n.removed(&comment).await, Some(true));
    n.deliver(&rw, &format!("{dir}/deletion/undo_remove_note.json"))
        .await
        .accepted();
    assert_eq!(n.removed(&comment).await, Some(false));
    let log: Vec<String> = n.modlog().await;
    assert_eq!(log[..2], ["restore_comment", "remove_comment"]);

    // Once lemmy_alpha moderates main too, its Update of the Group sets the title and the
    // description (from the markdown source); nothing else of the Group is taken.
    n.make_moderator("main", "lemmy_alpha").await;
    let key_before = community_key(&n, "main").await;
    n.deliver(&rw, &format!("{dir}/community/update_community.json"))
        .await
        .accepted();
    let (_, community) = n.app.get("/api/v1/communities/main", None).await;
    assert_eq!(community["title"], "The Updated Community");
    assert_eq!(community["description"], "updated 2");
    assert_eq!(community["posting_restricted_to_mods"], false);
    assert_eq!(
        community_key(&n, "main").await,
        key_before,
        "the key a moderator's copy names is not taken"
    );
    assert_eq!(n.modlog().await[0], "update_community");

    n.deliver(&rw, &format!("{dir}/deletion/delete_page.json"))
        .await
        .accepted();
    assert!(n.post_row(&page).await.unwrap().deleted);
    // Its author restores it.
    n.deliver(&rw, &format!("{dir}/deletion/undo_delete_page.json"))
        .await
        .accepted();
    assert!(!n.post_row(&page).await.unwrap().deleted);
}

async fn community_key(n: &Node, name: &str) -> String {
    let (key,): (String,) =
        sqlx::query_as("SELECT public_key_pem FROM community WHERE local AND name = $1")
            .bind(name)
            .fetch_one(&n.app.db)
            .await
            .unwrap();
    key
}

/// Lemmy moderators lock, unlock and feature posts and change moderators of the node's own
/// community "main": refused while they moderate nothing here, acted on once they do. Canopy
/// locks posts, not single comments.
#[tokio::test]
async fn lemmy_moderators_lock_posts_and_change_moderators_of_a_local_community() {
    let n = Node::start().await;
    let main = n.community("main").await;
    let (post_id, post) = n.post_in("main").await;
    let comment = n.comment(post_id).await;
    let rw = n
        .rewriter()
        .local("enterprise.lemmy.ml/c/main", &main)
        .local(
            "enterprise.lemmy.ml/c/main/moderators",
            &format!("{main}/moderators"),
        )
        .local("lemmy-alpha:8541/post/2", &post)
        .local("lemmy-alpha/comment/1", &comment)
        .local("ds9.lemmy.ml/c/main", &main)
        .local("ds9.lemmy.ml/c/main/featured", &format!("{main}/featured"))
        .local("ds9.lemmy.ml/post/2", &post);
    let beta = n.actor(
        &rw,
        "http://enterprise.lemmy.ml/u/lemmy_beta",
        "Person",
        "lemmy_beta",
    );
    let alpha = n.actor(
        &rw,
        "http://ds9.lemmy.ml/u/lemmy_alpha",
        "Person",
        "lemmy_alpha",
    );
    n.actor(
        &rw,
        "http://lemmy-alpha:8541/u/lemmy_alpha",
        "Person",
        "lemmy_alpha_8541",
    );
    n.actor(
        &rw,
        "https://lemmy-alpha/u/lemmy_aplha",
        "Person",
        "lemmy_aplha",
    );
    let dir = "lemmy/activities/community";

    let before = n.tally().await;
    for rel in [
        "lock_page.json",
        "undo_lock_page.json",
        "add_mod.json",
        "remove_mod.json",
    ] {
        n.deliver(&rw, &format!("{dir}/{rel}"))
            .await
            .refused(StatusCode::FORBIDDEN, "is not a moderator of");
    }
    assert_eq!(n.tally().await, before, "refused activities change nothing");
    assert!(!n.locked(&post).await);

    for name in ["lemmy_alpha_8541", "lemmy_beta"] {
        n.make_moderator("main", name).await;
    }
    n.deliver(&rw, &format!("{dir}/lock_page.json"))
        .await
        .accepted();
    assert!(n.locked(&post).await);
    n.deliver(&rw, &format!("{dir}/undo_lock_page.json"))
        .await
        .accepted();
    assert!(!n.locked(&post).await);
    for rel in ["lock_note.json", "undo_lock_note.json"] {
        n.deliver(&rw, &format!("{dir}/{rel}"))
            .await
            .refused(StatusCode::BAD_REQUEST, "Canopy locks whole posts");
    }

    n.deliver(&rw, &format!("{dir}/add_mod.json"))
        .await
        .accepted();
    let (_, mods) = n.app.get("/api/v1/communities/main/moderators", None).await;
    assert!(
        mods["moderators"]
            .as_array()
            .unwrap()
            .contains(&json!(alpha)),
        "{mods}"
    );
    // lemmy_alpha, a moderator now, features the post and unfeatures it.
    n.deliver(&rw, &format!("{dir}/add_featured_post.json"))
        .await
        .accepted();
    assert!(n.featured(&post).await);
    // The captured Remove carries the Add's id, so it is taken for a replay of it (200, nothing
    // changes); with an id of its own it unfeatures the post.
    let replay = n
        .deliver(&rw, &format!("{dir}/remove_featured_post.json"))
        .await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert!(n.featured(&post).await);
    let mut remove = rw.rewrite(&fixture(&format!("{dir}/remove_featured_post.json")));
    remove["id"] = json!(format!("{}/activities/remove/featured", n.standin.base));
    let (status, body) = n.standin.deliver(&n.inbox(), &remove).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(!n.featured(&post).await);
    n.deliver(&rw, &format!("{dir}/remove_mod.json"))
        .await
        .accepted();
    let (_, mods) = n.app.get("/api/v1/communities/main/moderators", None).await;
    assert!(
        !mods["moderators"]
            .as_array()
            .unwrap()
            .contains(&json!(alpha)),
        "{mods}"
    );
    assert!(
        mods["moderators"]
            .as_array()
            .unwrap()
            .contains(&json!(beta)),
        "{mods}"
    );

    let log = n.modlog().await;
    assert_eq!(
        log[..6],
        [
            "remove_moderator",
            "unfeature_post",
            "feature_post",
            "add_moderator",
            "unlock_post",
            "lock_post"
        ]
    );
}

/// alice follows a remote Lemmy community (`enterprise.lemmy.ml/c/main` on the stand-in), which
/// accepts and then announces a post; `ds9.lemmy.ml/u/lemmy_alpha` is alice.
#[tokio::test]
async fn lemmy_remote_community_accepts_a_follow_and_announces_a_post() {
    let n = Node::start().await;
    let rw = n.rewriter().local("ds9.lemmy.ml/u/lemmy_alpha", &n.alice);
    let main = n.actor(&rw, "http://enterprise.lemmy.ml/c/main", "Group", "main");
    let beta = n.actor(
        &rw,
        "http://enterprise.lemmy.ml/u/lemmy_beta",
        "Person",
        "lemmy_beta",
    );
    n.follow_remote(&main).await;
    assert_eq!(n.community_follow(&main, &n.alice).await, Some(true));

    n.deliver(&rw, "lemmy/activities/following/accept.json")
        .await
        .accepted();
    assert_eq!(n.community_follow(&main, &n.alice).await, Some(false));

    n.deliver(&rw, "lemmy/activities/community/announce_create_page.json")
        .await
        .accepted();
    let p = n
        .post_row(&rw.url("http://enterprise.lemmy.ml/post/7"))
        .await
        .expect("the announced Page is stored");
    assert_eq!(
        (p.community.as_str(), p.creator.as_str(), p.title.as_str()),
        (main.as_str(), beta.as_str(), "post 4")
    );
}

/// Lemmy's community ban (`block/block_user.json`: lemmy_beta bans ds9's lemmy_alpha from
/// "main" with removeData, until a time already past) and its Undo: refused while lemmy_beta
/// moderates nothing here; once he does, the ban is stored (ended already, so it keeps nobody
/// out), lemmy_alpha's post in "main" is removed, both are logged with the ban's reason and
/// end, and the Undo lifts the ban and is logged too.
#[tokio::test]
async fn lemmy_block_bans_from_a_local_community_and_undo_block_lifts_it() {
    let n = Node::start().await;
    let main = n.community("main").await;
    let rw = n.rewriter().local("enterprise.lemmy.ml/c/main", &main);
    let alpha = n.actor(
        &rw,
        "http://ds9.lemmy.ml/u/lemmy_alpha",
        "Person",
        "lemmy_alpha",
    );
    n.actor(
        &rw,
        "http://enterprise.lemmy.ml/u/lemmy_beta",
        "Person",
        "lemmy_beta",
    );
    let dir = "lemmy/activities";
    let page = object_id(&rw, &format!("{dir}/create_or_update/create_page.json"));
    n.deliver(&rw, &format!("{dir}/create_or_update/create_page.json"))
        .await
        .accepted();
    let bans = "SELECT count(*) FROM community_ban b JOIN person p ON p.id = b.person_id
                WHERE p.ap_id = $1";

    let before = n.tally().await;
    n.deliver(&rw, &format!("{dir}/block/block_user.json"))
        .await
        .refused(StatusCode::FORBIDDEN, "is not a moderator of");
    assert_eq!(n.tally().await, before);
    assert_eq!(n.count(bans, &[&alpha]).await, 0);
    assert_eq!(n.removed(&page).await, Some(false));

    n.make_moderator("main", "lemmy_beta").await;
    n.deliver(&rw, &format!("{dir}/block/block_user.json"))
        .await
        .accepted();
    assert_eq!(n.count(bans, &[&alpha]).await, 1);
    assert_eq!(n.removed(&page).await, Some(true));
    let (_, log) = n.app.get("/api/v1/modlog", None).await;
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries[0]["action"], "remove_post", "{log}");
    assert_eq!(entries[1]["action"], "ban_person", "{log}");
    assert_eq!(entries[1]["target"], alpha);
    assert_eq!(entries[1]["reason"], "spam post");
    assert_eq!(entries[1]["until"], "2021-11-01T12:23:50.151874Z");
    // Its end (`endTime`) has passed: the ban keeps nobody out and is not listed.
    let (s, list) = n
        .app
        .get("/api/v1/communities/main/bans", Some(&n.token))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["bans"], json!([]));

    n.deliver(&rw, &format!("{dir}/block/undo_block_user.json"))
        .await
        .accepted();
    assert_eq!(n.count(bans, &[&alpha]).await, 0);
    assert_eq!(n.modlog().await[0], "unban_person");
}

/// Lemmy activities this node does not act on (private messages, account deletion): each is
/// refused with its reason or acknowledged as a no-op.
#[tokio::test]
async fn lemmy_moderation_private_messages_and_account_deletion_change_nothing() {
    let n = Node::start().await;
    n.post("main").await;
    let rw = n.rewriter();
    for (url, name) in [
        ("http://enterprise.lemmy.ml/u/lemmy_beta", "lemmy_beta"),
        ("http://ds9.lemmy.ml/u/lemmy_alpha", "lemmy_alpha"),
        ("http://ds9.lemmy.ml/u/lemmy_user", "lemmy_user"),
        ("https://lemmy-alpha/u/lemmy_aplha", "lemmy_aplha"),
        // Another server's lemmy_alpha: on the one stand-in, names must differ.
        ("http://lemmy-alpha:8541/u/lemmy_alpha", "lemmy_alpha_8541"),
        ("https://enterprise.lemmy.ml/u/nutomic", "nutomic"),
    ] {
        n.actor(&rw, url, "Person", name);
    }
    let before = n.tally().await;
    for (rel, status, reason) in [
        (
            "create_or_update/create_private_message.json",
            422,
            "not addressed to a community this node knows",
        ),
        (
            "create_or_update/create_private_message_0.19.json",
            400,
            "objects of type \"ChatMessage\" are not stored",
        ),
    ] {
        n.deliver(&rw, &format!("lemmy/activities/{rel}"))
            .await
            .refused(StatusCode::from_u16(status).unwrap(), reason);
    }
    // Deleting (or restoring) a message the node never stored, and deleting an account (whose content stays,
    // marked by its own deletes), are acknowledged and change nothing.
    for rel in [
        "deletion/delete_private_message.json",
        "deletion/undo_delete_private_message.json",
        "deletion/delete_user.json",
    ] {
        n.deliver(&rw, &format!("lemmy/activities/{rel}"))
            .await
            .accepted();
    }
    assert_eq!(n.tally().await, before, "nothing was stored");
}

#[tokio::test]
async fn lemmy_objects_resolve_to_rows() {
    let n = Node::start().await;
    let rw = n.rewriter();
    let dir = "lemmy/objects";
    for rel in [
        "person.json",
        "group.json",
        "instance.json",
        "page.json",
        "page_image_and_link.json",
        "comment.json",
        "private_message.json",
        "tombstone.json",
    ] {
        n.serve(&rw, &format!("{dir}/{rel}"));
    }
    let picard = id_of(&rw, &format!("{dir}/person.json"));
    let tenforward = id_of(&rw, &format!("{dir}/group.json"));
    let user = n.resolve("person.json", &picard).await.resolved("user");
    assert_eq!(
        user["user"]["handle"],
        format!("picard@{}", n.standin.authority())
    );
    let group = n
        .resolve("group.json", &tenforward)
        .await
        .resolved("community");
    assert_eq!(group["community"]["title"], "Ten Forward");
    // An instance actor (Application) is stored like a person.
    let instance = n
        .resolve(
            "instance.json",
            &id_of(&rw, &format!("{dir}/instance.json")),
        )
        .await
        .resolved("user");
    assert_eq!(instance["user"]["name"], "enterprise.lemmy.ml");

    let page = id_of(&rw, &format!("{dir}/page.json"));
    n.resolve("page.json", &page).await.resolved("post");
    let p = n.post_row(&page).await.unwrap();
    assert_eq!(
        (p.community.as_str(), p.creator.as_str(), p.title.as_str()),
        (tenforward.as_str(), picard.as_str(), "Post title")
    );
    let image = rw.url("https://enterprise.lemmy.ml/pictrs/image/eOtYb9iEiB.png");
    assert_eq!(p.url.as_deref(), Some(image.as_str()));
    // Its markdown `source` is the stored body, and its `context` is where its thread is read.
    assert_eq!(
        p.body.as_deref(),
        Some("This is a post in the /c/tenforward community")
    );
    assert_eq!(
        n.thread_urls(&page).await,
        (
            Some(rw.url("https://enterprise.lemmy.ml/post/55143/context")),
            None
        )
    );

    let both = id_of(&rw, &format!("{dir}/page_image_and_link.json"));
    n.resolve("page_image_and_link.json", &both)
        .await
        .resolved("post");
    let p = n.post_row(&both).await.unwrap();
    let link = &fixture(&format!("{dir}/page_image_and_link.json"))["attachment"][1]["href"];
    assert_eq!(
        p.url,
        Some(rw.url(link.as_str().unwrap())),
        "the Link, not the Image"
    );

    let comment = id_of(&rw, &format!("{dir}/comment.json"));
    n.resolve("comment.json", &comment)
        .await
        .resolved("comment");
    let c = n.comment_row(&comment).await.unwrap();
    assert_eq!(
        (c.post.as_str(), c.content.as_str()),
        (page.as_str(), "first comment!")
    );

    n.resolve(
        "private_message.json",
        &id_of(&rw, &format!("{dir}/private_message.json")),
    )
    .await
    .refused(
        StatusCode::UNPROCESSABLE_ENTITY,
        "not addressed to a community this node knows",
    );
    n.resolve(
        "tombstone.json",
        &id_of(&rw, &format!("{dir}/tombstone.json")),
    )
    .await
    .refused(StatusCode::BAD_REQUEST, "has no attributedTo");
}

/// Mastodon users reply to, like and follow the node's content: `ds9.lemmy.ml/c/testcom` and
/// `ds9.lemmy.ml/post/147` are local, and the replied-to status on mamot.fr is alice's comment.
#[tokio::test]
async fn mastodon_replies_likes_and_follows_land_on_local_content() {
    let n = Node::start().await;
    let (post_id, post) = n.post("testcom").await;
    let comment = n.comment(post_id).await;
    let testcom = format!("{}/c/testcom", n.app.public_url);
    n.remote_follower(&testcom).await;
    let tenforward = n.community("tenforward").await;
    let rw = n
        .rewriter()
        .local("ds9.lemmy.ml/c/testcom", &testcom)
        .local("ds9.lemmy.ml/post/147", &post)
        .local(
            "mamot.fr/users/retiolus/statuses/107224244380204526",
            &comment,
        )
        .local("mamot.fr/users/retiolus", &n.alice)
        .local("enterprise.lemmy.ml/c/tenforward", &tenforward);
    let felix = n.actor(
        &rw,
        "https://mastodon.madrid/users/felix",
        "Person",
        "felix",
    );
    let asonix = n.actor(
        &rw,
        "https://masto.asonix.dog/users/asonix",
        "Person",
        "asonix",
    );
    let nutomic = n.actor(
        &rw,
        "https://mastodon.world/users/nutomic",
        "Person",
        "nutomic",
    );
    let dir = "mastodon/activities";

    let reply = object_id(&rw, &format!("{dir}/create_note.json"));
    n.deliver(&rw, &format!("{dir}/create_note.json"))
        .await
        .accepted();
    let c = n.comment_row(&reply).await.expect("the reply is stored");
    assert_eq!(
        (c.post.as_str(), c.parent.as_deref(), c.creator.as_str()),
        (post.as_str(), Some(comment.as_str()), felix.as_str())
    );
    assert!(
        c.content.contains("disappointed by a thinkpad"),
        "{}",
        c.content
    );
    // The Note replies to alice's comment and its Mention tag names her (Mastodon mentions the
    // parent's author): she is notified once, of the reply.
    let (s, notes) = n.app.get("/api/v1/notifications", Some(&n.token)).await;
    assert_eq!(s, StatusCode::OK, "{notes}");
    let notes = notes["notifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["kind"], "reply");
    assert_eq!(notes[0]["ap_id"], reply.as_str());
    assert_eq!(notes[0]["creator"]["name"], "felix");
    assert_eq!(
        n.queued(
            "Announce",
            &testcom,
            &id_of(&rw, &format!("{dir}/create_note.json"))
        )
        .await,
        1
    );

    n.deliver(&rw, &format!("{dir}/like_page.json"))
        .await
        .accepted();
    assert_eq!(n.vote(&post, &felix).await, Some(1));
    assert_eq!(
        n.post_row(&post).await.unwrap().upvotes,
        2,
        "alice's own upvote and felix's"
    );
    n.deliver(&rw, &format!("{dir}/undo_like_page.json"))
        .await
        .accepted();
    assert_eq!(n.vote(&post, &felix).await, None);

    let follow_id = id_of(&rw, &format!("{dir}/follow.json"));
    n.deliver(&rw, &format!("{dir}/follow.json"))
        .await
        .accepted();
    assert_eq!(n.community_follow(&testcom, &asonix).await, Some(false));
    assert_eq!(n.queued("Accept", &testcom, &follow_id).await, 1);
    n.deliver(&rw, &format!("{dir}/undo_follow.json"))
        .await
        .accepted();
    assert_eq!(n.community_follow(&testcom, &asonix).await, None);

    let before = n.tally().await;
    // Mastodon sends Deletes of statuses the node never saw; they are acknowledged.
    n.deliver(&rw, &format!("{dir}/delete.json"))
        .await
        .accepted();
    // A bare Note (a direct message) posted to the inbox is not an activity.
    let note = rw.rewrite(&fixture(&format!("{dir}/private_message.json")));
    let (status, body) = n.standin.deliver_as(&nutomic, &n.inbox(), &note).await;
    Reply {
        what: "private_message.json".into(),
        status,
        body,
    }
    .refused(StatusCode::BAD_REQUEST, "activity without an actor");
    assert_eq!(n.tally().await, before, "nothing was stored");
    assert!(!n.comment_row(&reply).await.unwrap().deleted);

    // Objects. A status addressed to a community (with a Mention) becomes a post there.
    let dir = "mastodon/objects";
    let author = id_of(&rw, &format!("{dir}/person.json"));
    n.serve(&rw, &format!("{dir}/person.json"));
    let user = n.resolve("person.json", &author).await.resolved("user");
    assert_eq!(user["user"]["name"], "mastodon");
    let status_post = id_of(&rw, &format!("{dir}/page.json"));
    n.serve(&rw, &format!("{dir}/page.json"));
    n.resolve("page.json", &status_post).await.resolved("post");
    let p = n.post_row(&status_post).await.unwrap();
    assert_eq!(
        (p.community.as_str(), p.creator.as_str()),
        (tenforward.as_str(), author.as_str())
    );
    assert!(p
        .body
        .unwrap_or_default()
        .contains("Variable never resetting"));
    assert_eq!(p.title, "@tenforward Variable never resetting at refresh");
    // note_1.json is the reply create_note.json delivered: resolving it finds that comment.
    n.serve(&rw, &format!("{dir}/note_1.json"));
    let found = n.resolve("note_1.json", &reply).await.resolved("comment");
    assert_eq!(found["comment"]["ap_id"], reply.as_str());
    // note_2.json replies to a status nobody serves.
    n.serve(&rw, &format!("{dir}/note_2.json"));
    n.resolve("note_2.json", &id_of(&rw, &format!("{dir}/note_2.json")))
        .await
        .refused(StatusCode::UNPROCESSABLE_ENTITY, "could not fetch");
}

/// Pleroma: a reply to a Lemmy post (here the node's post), a Delete of something never seen,
/// and a follow of a user (here alice).
#[tokio::test]
async fn pleroma_reply_delete_and_user_follow() {
    let n = Node::start().await;
    let (_, post) = n.post("main").await;
    let rw = n
        .rewriter()
        .local("enterprise.lemmy.ml/post/55143", &post)
        .local("enterprise.lemmy.ml/u/picard", &n.alice)
        .local("lemmy.ca/u/kinetix", &n.alice);
    let nutomic = n.actor(
        &rw,
        "https://greenish.red/users/nutomic",
        "Person",
        "nutomic",
    );
    n.actor(&rw, "https://greenish.red/users/vpzom", "Person", "vpzom");
    let kinetix = n.actor(&rw, "https://mycrowd.ca/users/kinetix", "Person", "kinetix");
    let dir = "pleroma/activities";

    let reply = object_id(&rw, &format!("{dir}/create_note.json"));
    n.deliver(&rw, &format!("{dir}/create_note.json"))
        .await
        .accepted();
    let c = n.comment_row(&reply).await.expect("the reply is stored");
    assert_eq!(
        (c.post.as_str(), c.parent, c.creator.as_str()),
        (post.as_str(), None, nutomic.as_str())
    );
    assert!(c.content.ends_with(" test"), "{}", c.content);

    let before = n.tally().await;
    n.deliver(&rw, &format!("{dir}/delete.json"))
        .await
        .accepted();
    assert_eq!(
        n.tally().await,
        before,
        "a Delete of an unknown object changes nothing"
    );

    let follow_id = id_of(&rw, &format!("{dir}/follow.json"));
    n.deliver(&rw, &format!("{dir}/follow.json"))
        .await
        .accepted();
    assert_eq!(n.person_follow(&n.alice, &kinetix).await, Some(false));
    assert_eq!(n.queued("Accept", &n.alice, &follow_id).await, 1);

    let dir = "pleroma/objects";
    let lanodan = id_of(&rw, &format!("{dir}/person.json"));
    for rel in ["person.json", "note.json", "chat_message.json"] {
        n.serve(&rw, &format!("{dir}/{rel}"));
    }
    n.resolve("person.json", &lanodan).await.resolved("user");
    let note = id_of(&rw, &format!("{dir}/note.json"));
    n.resolve("note.json", &note).await.resolved("comment");
    let c = n.comment_row(&note).await.unwrap();
    assert_eq!(
        (c.post.as_str(), c.creator.as_str(), c.content.as_str()),
        (post.as_str(), lanodan.as_str(), "Have what?")
    );
    n.resolve(
        "chat_message.json",
        &id_of(&rw, &format!("{dir}/chat_message.json")),
    )
    .await
    .refused(
        StatusCode::BAD_REQUEST,
        "objects of type \"ChatMessage\" are not stored",
    );
}

/// Mbin: a magazine accepts alice's follow (`some-other.instance/u/someUser` is alice); a report
/// about a post of alice's magazine `lemmy-test/c/test_mag` (here a local community) reaches
/// its moderator; the instance actor resolves.
#[tokio::test]
async fn mbin_accept_flag_and_instance_actor() {
    let n = Node::start().await;
    let (post_id, post) = n.post("test_mag").await;
    let rw = n
        .rewriter()
        .local("some-other.instance/u/someUser", &n.alice)
        .local("lemmy-test/post/4", &post)
        .local(
            "lemmy-test/c/test_mag",
            &format!("{}/c/test_mag", n.app.public_url),
        );
    let mag = n.actor(
        &rw,
        "https://some-mbin.instance/m/someMag",
        "Group",
        "someMag",
    );
    let reporter = n.actor(
        &rw,
        "https://mbin-test1/u/BentiGorlich",
        "Person",
        "BentiGorlich",
    );
    n.follow_remote(&mag).await;
    n.deliver(&rw, "mbin/activities/accept.json")
        .await
        .accepted();
    assert_eq!(n.community_follow(&mag, &n.alice).await, Some(false));

    let before = n.tally().await;
    n.deliver(&rw, "mbin/activities/flag.json").await.accepted();
    assert_eq!(n.tally().await, before, "a report changes no content");
    let reports = n.reports("").await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["post_id"], post_id);
    assert_eq!(reports[0]["reason"], "dikjhgasdpas dsaü");
    assert_eq!(reports[0]["reporter_ap_id"], reporter);
    assert_eq!(reports[0]["community"], "test_mag");

    n.serve(&rw, "mbin/objects/instance.json");
    let actor = n
        .resolve("instance.json", &id_of(&rw, "mbin/objects/instance.json"))
        .await
        .resolved("user");
    assert_eq!(actor["user"]["name"], "fedia.io");
}

/// Mitra: a post addressed to a Lemmy community (here the node's), and an Accept naming the
/// Follow by id (`voyager.lemmy.ml/u/silverpill` is alice).
#[tokio::test]
async fn mitra_post_lands_and_accept_by_id() {
    let n = Node::start().await;
    let community = n.community("pubtest0906").await;
    let group = n.actor(
        &n.rewriter(),
        "https://mitra.social/users/localtestgroup",
        "Group",
        "localtestgroup",
    );
    n.follow_remote(&group).await;
    // The Accept names alice's Follow, as Mitra would answer it.
    let follow: (String,) =
        sqlx::query_as("SELECT ap_id FROM outbox_activity WHERE kind = 'Follow'")
            .fetch_one(&n.app.db)
            .await
            .unwrap();
    let rw = n
        .rewriter()
        .local("voyager.lemmy.ml/c/pubtest0906", &community)
        .local("voyager.lemmy.ml/u/silverpill", &n.alice)
        .local(
            "voyager.lemmy.ml/activities/follow/7d782f02-b91d-4455-b6c0-772540f00c2d",
            &follow.0,
        );
    let test = n.actor(&rw, "https://mitra.social/users/test", "Person", "test");

    let note = object_id(&rw, "mitra/activities/create_post.json");
    n.deliver(&rw, "mitra/activities/create_post.json")
        .await
        .accepted();
    let p = n
        .post_row(&note)
        .await
        .expect("the Note is stored as a post");
    assert_eq!(
        (p.community.as_str(), p.creator.as_str()),
        (community.as_str(), test.as_str())
    );
    // Sent as HTML only: the body keeps markdown made from it (the HTML is kept beside it).
    assert_eq!(p.body.as_deref(), Some("Remote post 5"));
    assert_eq!(
        p.title, "Remote post 5",
        "a title-less Note's first line, as text"
    );

    // Mitra names the accepted Follow by id rather than embedding it.
    n.deliver(&rw, "mitra/activities/accept.json")
        .await
        .accepted();
    assert_eq!(
        n.community_follow(&group, &n.alice).await,
        Some(false),
        "the follow is accepted"
    );
}

/// PeerTube: a channel (a Group) announces a video by URL; the video is fetched and stored as a
/// post in the channel.
#[tokio::test]
async fn peertube_channel_announces_a_video() {
    let n = Node::start().await;
    let rw = n.rewriter();
    let dir = "peertube/objects";
    let channel = n.serve_signer(&rw, &format!("{dir}/group.json"));
    let account = id_of(&rw, &format!("{dir}/person.json"));
    for rel in ["person.json", "video.json", "note.json"] {
        n.serve(&rw, &format!("{dir}/{rel}"));
    }
    let video = id_of(&rw, &format!("{dir}/video.json"));
    n.deliver(&rw, "peertube/activities/announce_video.json")
        .await
        .accepted();
    let p = n
        .post_row(&video)
        .await
        .expect("the Video is stored as a post");
    assert_eq!(
        (p.community.as_str(), p.creator.as_str()),
        (channel.as_str(), account.as_str())
    );
    assert!(
        p.title.starts_with("Mesa, Wayland & X.org in trouble"),
        "{}",
        p.title
    );
    // PeerTube names a video's replies `comments`: that is where its thread is walked.
    assert_eq!(
        n.thread_urls(&video).await,
        (
            None,
            Some(rw.url(
                "https://tilvids.com/videos/watch/e7946124-7b72-4ad7-9d22-844a84bb2de1/comments"
            ))
        )
    );

    n.resolve("group.json", &channel)
        .await
        .resolved("community");
    n.resolve("person.json", &account).await.resolved("user");
    let found = n.resolve("video.json", &video).await.resolved("post");
    assert_eq!(found["post"]["id"], p.id);
    // The comment replies to a Pleroma object nobody serves.
    n.resolve("note.json", &id_of(&rw, &format!("{dir}/note.json")))
        .await
        .refused(StatusCode::UNPROCESSABLE_ENTITY, "could not fetch");
}

/// WordPress: a blog (a Group) announces an Update of an Article the node has never seen.
#[tokio::test]
async fn wordpress_announce_and_objects() {
    let n = Node::start().await;
    let rw = n.rewriter();
    n.actor(
        &rw,
        "https://pfefferle.org/@pfefferle.org",
        "Group",
        "pfefferle.org",
    );
    let dir = "wordpress/objects";
    for rel in ["person.json", "group.json", "page.json", "note.json"] {
        n.serve(&rw, &format!("{dir}/{rel}"));
    }
    // The blog announces an Update of an Article this node never saw: it is stored as new.
    n.deliver(&rw, "wordpress/activities/announce.json")
        .await
        .accepted();
    let article = rw.url("https://pfefferle.org/lemmy-part-4/");
    let stored = n
        .post_row(&article)
        .await
        .expect("the announced Article is stored");
    assert!(!stored.title.is_empty());

    n.resolve("person.json", &id_of(&rw, &format!("{dir}/person.json")))
        .await
        .resolved("user");
    let blog = id_of(&rw, &format!("{dir}/group.json"));
    n.resolve("group.json", &blog).await.resolved("community");
    // The article's author is not among the fixtures; the stand-in serves one.
    let db0 = n.actor(&rw, "https://dbzer0.com/blog/author/db0/", "Person", "db0");
    let page = id_of(&rw, &format!("{dir}/page.json"));
    n.resolve("page.json", &page).await.resolved("post");
    let p = n.post_row(&page).await.unwrap();
    assert_eq!(
        (p.community.as_str(), p.creator.as_str(), p.title.as_str()),
        (
            blog.as_str(),
            db0.as_str(),
            "An Epic 3D-Printed Fan Expansion for Last Light"
        )
    );
    // The Article names both its thread's `context` and its `replies`.
    assert_eq!(
        n.thread_urls(&page).await,
        (
            Some(rw.url("https://dbzer0.com/wp-json/activitypub/1.0/posts/27948/context")),
            Some(rw.url("https://dbzer0.com/wp-json/activitypub/1.0/posts/27948/replies"))
        )
    );
    // The comment replies to a SocialHub object nobody serves.
    n.resolve("note.json", &id_of(&rw, &format!("{dir}/note.json")))
        .await
        .refused(StatusCode::UNPROCESSABLE_ENTITY, "could not fetch");
}

/// GNU social: a page addressed to a group (here the node's community "hackers"), a reply to it,
/// and a like of a note (here the node's post).
#[tokio::test]
async fn gnusocial_page_reply_and_like() {
    let n = Node::start().await;
    let (_, liked) = n.post("local").await;
    let hackers = n.community("hackers").await;
    let rw = n
        .rewriter()
        .local("instance.gnusocial.test/actor/21", &hackers)
        .local("instance.gnusocial.test/object/note/1337", &liked);
    let diogo = n.serve_signer(&rw, "gnusocial/objects/person.json");
    let other = n.actor(
        &rw,
        "https://another_instance.gnusocial.test/actor/43",
        "Person",
        "43",
    );
    let dir = "gnusocial/activities";

    let page = object_id(&rw, &format!("{dir}/create_page.json"));
    n.deliver(&rw, &format!("{dir}/create_page.json"))
        .await
        .accepted();
    let p = n.post_row(&page).await.expect("the Page is stored");
    assert_eq!(
        (p.community.as_str(), p.creator.as_str(), p.title.as_str()),
        (hackers.as_str(), diogo.as_str(), "hello, world.")
    );
    assert_eq!(p.body.as_deref(), Some("This is an interesting page."));

    let note = object_id(&rw, &format!("{dir}/create_note.json"));
    n.deliver(&rw, &format!("{dir}/create_note.json"))
        .await
        .accepted();
    let c = n.comment_row(&note).await.expect("the reply is stored");
    assert_eq!((c.post.as_str(), c.parent), (page.as_str(), None));
    // Sent as HTML only: the markdown source is made from it.
    assert_eq!(c.content, "yay ^^");

    n.deliver(&rw, &format!("{dir}/like_note.json"))
        .await
        .accepted();
    assert_eq!(n.vote(&liked, &other).await, Some(1));

    let dir = "gnusocial/objects";
    for rel in ["page.json", "note.json"] {
        n.serve(&rw, &format!("{dir}/{rel}"));
    }
    n.resolve("person.json", &diogo).await.resolved("user");
    n.resolve("page.json", &page).await.resolved("post");
    n.resolve("note.json", &note).await.resolved("comment");
    // The group's key names another actor as its owner.
    let plain = n.rewriter();
    n.serve(&plain, &format!("{dir}/group.json"));
    n.resolve("group.json", &id_of(&plain, &format!("{dir}/group.json")))
        .await
        .refused(StatusCode::FORBIDDEN, "is owned by");
}

/// Lemmy reports a post of the node's own community "main" (`enterprise.lemmy.ml/c/main`,
/// `…/post/7`): the report reaches alice, its moderator. `Resolve` of it and `Warn` about the
/// post are refused while their actors moderate nothing here (nothing changes), and act once
/// they do: the report is resolved, the warning is logged against the post's author.
#[tokio::test]
async fn lemmy_reports_resolves_and_warnings_reach_a_local_communitys_moderators() {
    let n = Node::start().await;
    let main = n.community("main").await;
    let (post_id, post) = n.post_in("main").await;
    let rw = n
        .rewriter()
        .local("enterprise.lemmy.ml/c/main", &main)
        .local("enterprise.lemmy.ml/post/7", &post)
        .local("voyager.lemmy.ml/post/1541", &post)
        .local("voyager.lemmy.ml/u/lemmy_alpha", &n.alice);
    let reporter = n.actor(
        &rw,
        "http://ds9.lemmy.ml/u/lemmy_alpha",
        "Person",
        "lemmy_alpha",
    );
    let resolver = n.actor(
        &rw,
        "http://ds9.lemmy.ml/u/lemmy_user",
        "Person",
        "lemmy_user",
    );
    let warner = n.actor(
        &rw,
        "http://enterprise.lemmy.ml/u/lemmy_beta",
        "Person",
        "lemmy_beta",
    );
    let dir = "lemmy/activities/community";

    n.deliver(&rw, &format!("{dir}/report_page.json"))
        .await
        .accepted();
    let open = n.reports("").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["reporter_ap_id"], reporter);
    assert_eq!(open[0]["reason"], "report this post");
    assert_eq!(open[0]["post_id"], post_id);
    assert_eq!(open[0]["person_ap_id"], n.alice);
    assert_eq!(open[0]["local"], false);

    let log_before = n.modlog().await;
    for rel in ["resolve_report_page.json", "warn.json"] {
        n.deliver(&rw, &format!("{dir}/{rel}"))
            .await
            .refused(StatusCode::FORBIDDEN, "is not a moderator of");
    }
    assert_eq!(n.reports("").await.len(), 1, "the report is still open");
    assert_eq!(n.modlog().await, log_before, "nothing logged");

    n.make_moderator("main", "lemmy_user").await;
    n.make_moderator("main", "lemmy_beta").await;
    n.deliver(&rw, &format!("{dir}/resolve_report_page.json"))
        .await
        .accepted();
    assert!(n.reports("").await.is_empty());
    let resolved = n.reports("?state=resolved").await;
    assert_eq!(resolved[0]["resolved_by"], resolver);
    n.deliver(&rw, &format!("{dir}/warn.json")).await.accepted();
    let (_, log) = n.app.get("/api/v1/modlog", None).await;
    let warning = &log["entries"][0];
    assert_eq!(warning["action"], "warn", "{log}");
    assert_eq!(warning["moderator_ap_id"], warner);
    assert_eq!(warning["target"], n.alice);
    assert_eq!(warning["post_id"], post_id);
    assert_eq!(warning["reason"], "fU8HltC5wq");
    assert_eq!(log["entries"][1]["action"], "resolve_report");
}

/// Mastodon's `Flag` comes from its instance actor and names an account and statuses, the
/// reason in `content`. Statuses stored here become reports for their community's moderators;
/// when none is, the account (if this node knows it) becomes a report for the admins; when
/// nothing named is known here, the Flag is acknowledged and nothing is stored.
#[tokio::test]
async fn mastodon_flags_report_stored_statuses_or_else_the_account_to_admins() {
    let n = Node::start().await;
    let (post_id, post) = n.post("testcom").await;
    let dir = "mastodon/activities";
    let count = || async {
        sqlx::query_as::<_, (i64,)>("SELECT count(*) FROM report")
            .fetch_one(&n.app.db)
            .await
            .unwrap()
            .0
    };

    // Nothing named is stored here: acknowledged, nothing stored.
    let rw = n.rewriter();
    let actor = n.actor(
        &rw,
        "https://mastodon.example/actor",
        "Application",
        "actor",
    );
    n.deliver(&rw, &format!("{dir}/flag.json")).await.accepted();
    assert_eq!(count().await, 0);

    // One status is alice's post: a report about it, for its community's moderators.
    let rw = n
        .rewriter()
        .local("example.com/users/1", &n.alice)
        .local("example.com/posts/380590", &post);
    let mut flag = rw.rewrite(&fixture(&format!("{dir}/flag.json")));
    flag["id"] = json!(format!("{}/mastodon.example/flags/2", n.standin.base));
    let (status, body) = n.standin.deliver(&n.inbox(), &flag).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let reports = n.reports("").await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["post_id"], post_id);
    assert_eq!(reports[0]["community"], "testcom");
    assert_eq!(reports[0]["reporter_ap_id"], actor);
    assert_eq!(
        reports[0]["reason"],
        "Please take a look at this user and their posts"
    );

    // No status stored here, but the account is alice: a report about her, for admins only.
    let rw = n.rewriter().local("example.com/users/1", &n.alice);
    let mut flag = rw.rewrite(&fixture(&format!("{dir}/flag.json")));
    flag["id"] = json!(format!("{}/mastodon.example/flags/3", n.standin.base));
    let (status, body) = n.standin.deliver(&n.inbox(), &flag).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(count().await, 2);
    assert_eq!(n.reports("").await.len(), 1, "alice is no admin");
    sqlx::query("UPDATE local_user SET is_admin = true")
        .execute(&n.app.db)
        .await
        .unwrap();
    let all = n.reports("").await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0]["community"], Value::Null);
    assert_eq!(all[0]["object_ap_id"], n.alice);
    assert_eq!(all[0]["person_ap_id"], n.alice);
    let (s, done) = n
        .app
        .post(
            &format!("/api/v1/reports/{}/resolve", all[0]["id"]),
            Some(&n.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "resolved");
}
