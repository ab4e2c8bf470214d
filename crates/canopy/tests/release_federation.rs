//! The release build federates on one machine, as the Quick start builds and runs it.
//!
//! The rest of the suite runs debug builds, where activitypub_federation relaxes some checks of
//! its own (`cfg!(debug_assertions)`); these tests run the binary `cargo build --release -p
//! canopy` makes, which `scripts/test` builds first and names in `TEST_CANOPY_RELEASE_BIN`.
//! Each node is a `canopy serve` process in development mode, chosen only by its `http://`
//! public URL, under a test host name (`http://alpha.test:PORT`) that its `hosts` setting maps
//! to 127.0.0.1, with its own database on the test cluster. The tests drive the nodes through
//! the REST API, as a person with a client would.
//!
//! When a test fails, the logs of its nodes are printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use canopy_testkit::fedify_peer::{FedifyPeer, PrivateAddresses};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where `scripts/test` puts the path of the release binary.
const RELEASE_BIN_VAR: &str = "TEST_CANOPY_RELEASE_BIN";
/// How long one federation step may take (deliveries go through each node's worker; a retry
/// after a first failure waits a second).
const STEP: Duration = Duration::from_secs(60);
/// Every test host name, as both nodes' `hosts` setting (TOML, as in the environment).
const HOSTS: &str = r#"{"alpha.test"="127.0.0.1","beta.test"="127.0.0.1"}"#;
const PASSWORD: &str = "a long password";

/// The release binary. Fails (never skips) when it is not there: these tests are the proof
/// that the Quick start's build federates.
fn release_bin() -> PathBuf {
    let Some(path) = std::env::var_os(RELEASE_BIN_VAR) else {
        panic!(
            "{RELEASE_BIN_VAR} is not set: these tests run the release build of canopy. Run the \
             suite with scripts/test (without TEST_SKIP_RELEASE_BUILD=1), which builds it \
             (`cargo build --release --locked -p canopy`) and sets {RELEASE_BIN_VAR} to its path"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{RELEASE_BIN_VAR}={} is not a file; build it with `cargo build --release --locked -p canopy`",
        path.display()
    );
    path
}

/// A fresh directory for one node's data and logs, deleted when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "canopy-release-{name}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a node is: its binary, directory, URLs and database.
struct Setup {
    name: &'static str,
    bin: PathBuf,
    dir: TempDir,
    /// `http://NAME.test:PORT`: what peers know the node by.
    public_url: String,
    /// `http://127.0.0.1:PORT`: where the test reaches its API.
    api_url: String,
    database: String,
}

impl Setup {
    /// A `canopy` command with this node's settings and nothing else: no `CANOPY_*` variable
    /// is inherited, and only the database, data directory, address, public URL, host table
    /// and log level are set.
    fn command(&self) -> std::process::Command {
        let mut cmd = canopy_testkit::process::canopy_command(&self.bin, &self.dir.0);
        cmd.envs(self.settings());
        cmd
    }

    /// This node's `CANOPY_*` settings (development mode comes from the `http://` public URL
    /// alone).
    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CANOPY_DATABASE_URL", self.database.clone()),
            (
                "CANOPY_DATA_DIR",
                self.dir.0.join("data").display().to_string(),
            ),
            (
                "CANOPY_BIND",
                self.api_url.trim_start_matches("http://").to_string(),
            ),
            ("CANOPY_PUBLIC_URL", self.public_url.clone()),
            ("CANOPY_HOSTS", HOSTS.to_string()),
            (
                "CANOPY_LOG_LEVEL",
                "info,canopy_federation=debug,canopy_worker=debug".to_string(),
            ),
        ]
    }
}

/// A running release `canopy serve` under `http://NAME.test:PORT`. Dropping it prints its
/// logs if the test is failing, kills the process (SIGKILL) and deletes its directory.
struct Node {
    /// Declared first so that the process is killed before its directory is deleted.
    process: canopy_testkit::process::NodeProcess,
    setup: Setup,
    client: reqwest::Client,
}

impl std::ops::Deref for Node {
    type Target = Setup;
    fn deref(&self) -> &Setup {
        &self.setup
    }
}

impl Node {
    /// Start `serve` on a free port with a fresh database, and wait until it is healthy.
    async fn start(bin: &Path, name: &'static str) -> Self {
        let port = canopy_testkit::process::free_port().unwrap();
        let setup = Setup {
            name,
            bin: bin.to_path_buf(),
            dir: TempDir::new(name),
            public_url: format!("http://{name}.test:{port}"),
            api_url: format!("http://127.0.0.1:{port}"),
            database: canopy_testkit::empty_database_url().await,
        };
        let mut serve = canopy_testkit::process::Serve::new(bin, &setup.dir.0);
        for (key, value) in setup.settings() {
            serve = serve.env(key, value);
        }
        let process = serve
            .start()
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", without_colours(&format!("{e:#}"))));
        let node = Self {
            process,
            setup,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        node.wait_healthy().await;
        node
    }

    fn logs(&self) -> String {
        format!(
            "===== {} ({}) =====\n{}",
            self.name,
            self.public_url,
            without_colours(&self.process.logs())
        )
    }

    /// Check the start-up lines, then wait for `/api/v1/health` to answer 200.
    async fn wait_healthy(&self) {
        let stdout = std::fs::read_to_string(&self.process.stdout_log).unwrap();
        assert!(
            stdout.contains(&format!("Public URL: {}", self.public_url)),
            "{stdout}"
        );
        eventually(&format!("{} to be healthy", self.name), || async {
            let (status, _) = self.call(Method::GET, "/api/v1/health", None, None).await;
            (status == StatusCode::OK).then_some(())
        })
        .await;
    }

    /// An API request; returns the status and the JSON body (`Value::Null` when empty).
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.api_url))
            .timeout(STEP);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let bytes = response.bytes().await.unwrap_or_default();
                (
                    status,
                    serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                )
            }
            // Not up yet, or gone: the callers' assertions say which step failed.
            Err(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"request_error": e.to_string()}),
            ),
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(&body)).await
    }

    /// This node's authority (`NAME.test:PORT`), which handles of its actors end with.
    fn authority(&self) -> &str {
        self.public_url.trim_start_matches("http://")
    }

    /// Make an administrator with `canopy admin create-user --admin`, as an operator does.
    fn create_admin(&self, name: &str) {
        let out = self
            .command()
            .args([
                "admin",
                "create-user",
                name,
                "--password",
                PASSWORD,
                "--admin",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "admin create-user {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Register `name` through the API.
    async fn register(&self, name: &str) {
        let (status, body) = self
            .post(
                "/api/v1/accounts",
                None,
                json!({"name": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {name}: {body}");
    }

    /// Log `name` in; returns the session token.
    async fn login(&self, name: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/sessions",
                None,
                json!({"name": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "log in {name}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Create the community `name`; returns it as the API shows it.
    async fn community(&self, token: &str, name: &str) -> Value {
        let (status, community) = self
            .post(
                "/api/v1/communities",
                Some(token),
                json!({"name": name, "title": name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{community}");
        community
    }

    /// Wait until the administrators' queue report shows every delivery to `authority`
    /// finished, and return that instance's row.
    async fn deliveries_finished(&self, admin: &str, authority: &str) -> Value {
        eventually(
            &format!("{} to finish its deliveries to {authority}", self.name),
            || async {
                let (status, report) = self.get("/api/v1/admin/queue", Some(admin)).await;
                assert_eq!(status, StatusCode::OK, "{report}");
                report["instances"]
                    .as_array()?
                    .iter()
                    .find(|i| i["authority"] == authority && i["pending"] == 0)
                    .cloned()
            },
        )
        .await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            println!("{}", self.logs());
        }
    }
}

/// `text` without the terminal colour codes (`ESC [ … m`) the text log format writes.
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\x1b[") {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        match rest.find('m') {
            Some(end) => rest = &rest[end + 1..],
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Poll `check` every 100 ms until it returns `Some`, for at most [`STEP`]; then fail naming
/// `what`.
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    canopy_testkit::eventually_within(STEP, Duration::from_millis(100), what, check).await
}

/// The comment with ActivityPub id `ap_id` in a tree page (`comments`, nested `replies`).
fn find_comment<'a>(comments: &'a Value, ap_id: &str) -> Option<&'a Value> {
    comments.as_array()?.iter().find_map(|c| {
        if c["ap_id"] == ap_id {
            Some(c)
        } else {
            find_comment(&c["replies"], ap_id)
        }
    })
}

/// The comment tree of `post` on `node`, oldest first, every level.
async fn tree(node: &Node, post: i64) -> Value {
    let (status, tree) = node
        .get(
            &format!("/api/v1/posts/{post}/comments?sort=old&max_depth=20"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tree}");
    tree["comments"].clone()
}

/// A person on beta follows a community on alpha, by handle under alpha's test host name; the
/// follow is accepted; a post made on alpha arrives on beta; a reply made on beta arrives on
/// alpha in the post's tree; and a reply to it made on alpha reaches beta through the
/// community's Announce, in the same place of the tree. Neither node retried a delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_release_nodes_under_test_host_names_follow_post_and_reply_both_ways() {
    let bin = release_bin();
    let (alpha, beta) = tokio::join!(Node::start(&bin, "alpha"), Node::start(&bin, "beta"));

    alpha.create_admin("alice");
    let alice = alpha.login("alice").await;
    let garden = alpha.community(&alice, "garden").await;
    beta.register("bob").await;
    let bob = beta.login("bob").await;

    // bob finds the community by its handle: WebFinger and the Group, from alpha.test.
    let handle = format!("garden@{}", alpha.authority());
    let (status, found) = beta.get(&format!("/api/v1/resolve?q={handle}"), None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["kind"], "community", "{found}");
    assert_eq!(found["community"]["handle"], handle.as_str());
    assert_eq!(
        found["community"]["ap_id"],
        format!("{}/c/garden", alpha.public_url)
    );

    let (status, follow) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": handle}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{follow}");
    assert_eq!(follow["pending"], true, "{follow}");
    let subscribers = garden["subscriber_count"].as_i64().unwrap() + 1;
    eventually("alpha to count bob as a subscriber", || async {
        let (_, c) = alpha.get("/api/v1/communities/garden", None).await;
        (c["subscriber_count"] == subscribers).then_some(())
    })
    .await;
    let beta_db = sqlx::PgPool::connect(&beta.database).await.unwrap();
    eventually("beta to take alpha's Accept", || async {
        let pending: Vec<bool> = sqlx::query_scalar("SELECT pending FROM community_follow")
            .fetch_all(&beta_db)
            .await
            .unwrap();
        (pending == [false]).then_some(())
    })
    .await;
    beta_db.close().await;

    // alice posts on alpha; the community's Announce brings it to beta.
    let (status, post) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": garden["id"], "title": "First bloom", "body": "*hello* from alpha"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let post_ap = post["ap_id"].as_str().unwrap().to_owned();
    assert_eq!(post_ap, format!("{}/post/{}", alpha.public_url, post["id"]));
    let on_beta = eventually("the post to arrive on beta", || async {
        let (_, list) = beta
            .get(&format!("/api/v1/communities/{handle}/posts"), None)
            .await;
        list["posts"]
            .as_array()?
            .iter()
            .find(|p| p["ap_id"] == post_ap.as_str())
            .cloned()
    })
    .await;
    assert_eq!(on_beta["title"], "First bloom");
    assert_eq!(on_beta["body_html"], "<p><em>hello</em> from alpha</p>\n");
    assert_eq!(on_beta["local"], false);
    assert_eq!(
        on_beta["creator"]["handle"],
        format!("alice@{}", alpha.authority())
    );
    let beta_post = on_beta["id"].as_i64().unwrap();

    // bob replies on beta; the reply arrives on alpha as a comment of the post.
    let (status, reply) = beta
        .post(
            "/api/v1/comments",
            Some(&bob),
            json!({"post_id": beta_post, "content": "hello from beta"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let reply_ap = reply["ap_id"].as_str().unwrap().to_owned();
    let alpha_post = post["id"].as_i64().unwrap();
    let on_alpha = eventually("bob's reply to arrive on alpha", || async {
        find_comment(&tree(&alpha, alpha_post).await, &reply_ap).cloned()
    })
    .await;
    assert_eq!(on_alpha["depth"], 0, "{on_alpha}");
    assert_eq!(on_alpha["local"], false);
    assert_eq!(on_alpha["content"], "hello from beta");
    assert_eq!(
        on_alpha["creator"]["handle"],
        format!("bob@{}", beta.authority())
    );

    // alice answers bob on alpha; the community announces her answer back to beta, where it
    // sits under bob's reply.
    let (status, answer) = alpha
        .post(
            "/api/v1/comments",
            Some(&alice),
            json!({"post_id": alpha_post, "parent_id": on_alpha["id"], "content": "welcome, bob"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let answer_ap = answer["ap_id"].as_str().unwrap().to_owned();
    let beta_tree = eventually("alice's answer to arrive on beta", || async {
        let tree = tree(&beta, beta_post).await;
        find_comment(&tree, &answer_ap).is_some().then_some(tree)
    })
    .await;
    let bobs = find_comment(&beta_tree, &reply_ap).unwrap();
    let replies = bobs["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1, "{beta_tree}");
    assert_eq!(replies[0]["ap_id"], answer_ap.as_str());
    assert_eq!(replies[0]["content"], "welcome, bob");
    assert_eq!(
        replies[0]["creator"]["handle"],
        format!("alice@{}", alpha.authority())
    );

    // Every delivery from alpha to beta (the Accept and two Announces) went through the first
    // time: a refused signature or an unreachable name would show as a failure here.
    let instance = alpha.deliveries_finished(&alice, beta.authority()).await;
    assert_eq!(instance["failed"], 0, "{instance}");
    assert!(instance["succeeded"].as_i64().unwrap() >= 3, "{instance}");
    assert_eq!(instance["state"], "ok", "{instance}");
}

/// A real Fedify server (standing in for a Mastodon user) follows a community on a release node
/// under a test host name: the peer fetches the Group from `alpha.test` (its `--hosts` maps the
/// name to 127.0.0.1, as the node's `hosts` setting does), the node's Accept reaches the peer's
/// personal inbox and verifies there, and a new post is announced to the peer's shared inbox,
/// verifies, and is fetched from the node. The peer itself is `localhost:PORT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_node_under_a_test_host_name_federates_with_a_fedify_peer() {
    let bin = release_bin();
    let hosts = [("alpha.test", IpAddr::V4(Ipv4Addr::LOCALHOST))];
    let (alpha, peer) = tokio::join!(
        Node::start(&bin, "alpha"),
        FedifyPeer::start_with_hosts("mastodon", PrivateAddresses::All, &hosts)
    );
    // A failure inside the peer, or a request it refused.
    let refused = |e: &Value| {
        matches!(
            e["event"].as_str(),
            Some("rejected" | "inbox_error" | "server_error" | "object_failed" | "follow_failed")
        )
    };

    alpha.create_admin("owner");
    let owner = alpha.login("owner").await;
    let garden = alpha.community(&owner, "garden").await;
    let community_id = format!("{}/c/garden", alpha.public_url);
    assert_eq!(garden["ap_id"], community_id.as_str());

    let follow = peer.follow(&community_id).await;
    let accepted = peer
        .wait_for(
            STEP,
            "the peer to take the node's Accept",
            |e| e["event"] == "accepted" && e["follow"] == follow.as_str(),
            refused,
        )
        .await;
    assert_eq!(accepted["by"], community_id.as_str());
    let accept = peer
        .events_of("received")
        .into_iter()
        .find(|e| e["type"] == "Accept")
        .unwrap();
    assert_eq!(accept["inbox"], "personal", "{accept}");
    // The Accept is sent once the Follow is stored.
    let (_, community) = alpha.get("/api/v1/communities/garden", None).await;
    assert_eq!(
        community["subscriber_count"],
        garden["subscriber_count"].as_i64().unwrap() + 1,
        "{community}"
    );

    let (status, post) = alpha
        .post(
            "/api/v1/posts",
            Some(&owner),
            json!({"community_id": garden["id"], "title": "First bloom", "body": "hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let post_id = format!("{}/post/{}", alpha.public_url, post["id"]);
    let object = peer
        .wait_for(
            STEP,
            "the peer to take the post's Announce and fetch the post",
            |e| e["event"] == "object" && e["id"] == post_id.as_str(),
            refused,
        )
        .await;
    assert_eq!(object["type"], "Page", "{object}");
    let announce = peer
        .events_of("received")
        .into_iter()
        .find(|e| e["type"] == "Announce")
        .unwrap();
    assert_eq!(announce["actor"], community_id.as_str());

    // Nothing was refused on either side, not even once before a retry got through.
    let refusals: Vec<Value> = peer.events().into_iter().filter(refused).collect();
    assert!(refusals.is_empty(), "{}", peer.transcript());
    let instance = alpha
        .deliveries_finished(&owner, peer.origin.trim_start_matches("http://"))
        .await;
    assert_eq!(instance["failed"], 0, "{instance}\n{}", peer.transcript());
    assert!(instance["succeeded"].as_i64().unwrap() >= 2, "{instance}");
    peer.stop().await;
}
