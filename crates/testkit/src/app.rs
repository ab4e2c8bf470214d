//! [`TestApp`]: the real node (built by `canopy::Node`, as `canopy serve` builds it) in this
//! process, on a free loopback port, against its own fresh database on the throwaway cluster
//! that `scripts/test` starts (`TEST_DATABASE_URL`).

use crate::database::fresh_database;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

/// A running node for one test.
pub struct TestApp {
    pub base_url: String,
    pub db: PgPool,
    pub client: reqwest::Client,
    /// The public URL the node names itself by (`http://localhost:PORT`).
    pub public_url: String,
    /// What federation code and delivery workers need to act as this node.
    pub fed: canopy_federation::FedContext,
    /// The node's federation handle (for [`TestApp::request_data`]).
    pub federation: canopy_federation::Federation,
    server: tokio::task::JoinHandle<()>,
    /// Ends the server gracefully (its open connections close too): see [`TestApp::stop`].
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The node's own delivery worker, if it runs one.
    worker: Option<canopy::node::Tasks>,
    _stop_worker: tokio::sync::watch::Sender<bool>,
    /// What the node was started with, to start it again ([`TestApp::restart`]).
    worker_config: Option<canopy_worker::WorkerConfig>,
    options: canopy::Options,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(w) = &self.worker {
            w.abort();
        }
    }
}

/// A worker configuration for tests: quick retries and polls, otherwise the defaults.
pub fn fast_worker_config() -> canopy_worker::WorkerConfig {
    canopy_worker::WorkerConfig {
        retry_base: std::time::Duration::from_millis(20),
        retry_max: std::time::Duration::from_millis(200),
        poll_interval: std::time::Duration::from_millis(5),
        ..canopy_worker::WorkerConfig::default()
    }
}

/// Node options with every rate limit off (the other options at their defaults).
pub fn unlimited() -> canopy::Options {
    canopy::Options::default().with_limits(canopy_api::limits::Limits::unlimited())
}

impl TestApp {
    /// A node with its own delivery worker (default configuration), as `serve` runs it.
    pub async fn spawn() -> Self {
        Self::spawn_with_worker(Some(canopy_worker::WorkerConfig::default())).await
    }

    /// A node that sends nothing until the test runs workers on [`TestApp::fed`] itself.
    pub async fn spawn_without_worker() -> Self {
        Self::spawn_with_worker(None).await
    }

    /// A node with the given worker (if any) and no rate limits, so that tests of other
    /// things may register, log in and write as often as they like.
    pub async fn spawn_with_worker(worker: Option<canopy_worker::WorkerConfig>) -> Self {
        Self::spawn_configured(worker, unlimited()).await
    }

    /// A node with the given worker (if any; without the cleanup `serve` runs beside it) and
    /// node options. `Options::default()` has the rate limits `canopy serve` has by default;
    /// [`unlimited`] has none.
    pub async fn spawn_configured(
        worker: Option<canopy_worker::WorkerConfig>,
        options: canopy::Options,
    ) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .try_init();
        let db = fresh_database().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start(db, listener, worker, options).await
    }

    /// The node on `db`, serving on `listener`.
    async fn start(
        db: PgPool,
        listener: tokio::net::TcpListener,
        worker: Option<canopy_worker::WorkerConfig>,
        options: canopy::Options,
    ) -> Self {
        let port = listener.local_addr().unwrap().port();
        let base_url = format!("http://127.0.0.1:{port}");
        let public_url = format!("http://localhost:{port}");
        let public = canopy_federation_base(&public_url);
        let node = canopy::Node::build(db.clone(), public, options.clone())
            .await
            .unwrap();
        let federation = node.federation().clone();
        let fed = federation.context().clone();
        let (stop_worker, stopped) = tokio::sync::watch::channel(false);
        let tasks = worker
            .clone()
            .map(|config| canopy::node::Tasks::spawn(&fed, config, None, stopped));
        let (shutdown, down) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            node.serve(listener, async move {
                let _ = down.await;
            })
            .await
            .unwrap();
        });
        Self {
            base_url,
            db,
            client: reqwest::Client::new(),
            public_url,
            fed,
            federation,
            server,
            shutdown: Some(shutdown),
            worker: tasks,
            _stop_worker: stop_worker,
            worker_config: worker,
            options,
        }
    }

    /// Federation data with a fresh fetch budget, as the API hands it to federation code: for
    /// calling federation functions directly as this node.
    pub fn request_data(&self) -> canopy_federation::fetch::FedData {
        self.federation.request_data()
    }

    /// Stop the node as if its process ended: the server closes its listener and connections,
    /// the worker stops. Its database stays; [`TestApp::restart`] starts it again.
    pub async fn stop(&mut self) {
        if let Some(w) = &self.worker {
            w.abort();
        }
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        // Graceful: in-flight requests finish, idle connections close; bounded all the same.
        if tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .is_err()
        {
            panic!("the test node did not stop within 10 s");
        }
    }

    /// Start a stopped node again on its port (its identity is its URL), with its database and
    /// the options it first ran with.
    pub async fn restart(&mut self) {
        let port: u16 = self.base_url.rsplit(':').next().unwrap().parse().unwrap();
        let listener = crate::wait::eventually("the port is free again", || async {
            tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .ok()
        })
        .await;
        let fresh = Self::start(
            self.db.clone(),
            listener,
            self.worker_config.clone(),
            self.options.clone(),
        )
        .await;
        *self = fresh;
    }

    /// Send a request with an optional JSON body and bearer token; returns status and JSON body
    /// (`Value::Null` when the body is empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{status} body is not JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(&body)).await
    }

    /// Register `name` and log in; returns the token.
    pub async fn user(&self, name: &str) -> String {
        let password = "correct horse battery";
        let (s, b) = self
            .post(
                "/api/v1/accounts",
                None,
                serde_json::json!({"name": name, "password": password}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "register {name}: {b}");
        let (s, b) = self
            .post(
                "/api/v1/sessions",
                None,
                serde_json::json!({"name": name, "password": password}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "login {name}: {b}");
        b["token"].as_str().unwrap().to_string()
    }

    /// Register and log in the local user `name` as an administrator; returns the token.
    pub async fn admin(&self, name: &str) -> String {
        let token = self.user(name).await;
        sqlx::query(
            "UPDATE local_user SET is_admin = true
             WHERE person_id = (SELECT id FROM person WHERE local AND name = $1)",
        )
        .bind(name)
        .execute(&self.db)
        .await
        .unwrap();
        token
    }

    /// Create a community and a post in it; returns the post id.
    pub async fn community_with_post(&self, token: &str, name: &str) -> i64 {
        let (s, c) = self
            .post(
                "/api/v1/communities",
                Some(token),
                serde_json::json!({"name": name, "title": name}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let (s, p) = self
            .post(
                "/api/v1/posts",
                Some(token),
                serde_json::json!({"community_id": c["id"], "title": "a post", "body": "hello"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        p["id"].as_i64().unwrap()
    }

    /// Make one remote person per inbox in `inboxes` (`http://host:port/u/NAME/inbox`, the
    /// person's id being the inbox URL without `/inbox`, no shared inbox) and let each follow the
    /// local community `community`.
    ///
    /// Written straight to the tables so that a test can have thousands of followers without
    /// thousands of signed Follow requests.
    pub async fn remote_followers(&self, community: &str, inboxes: &[String]) {
        let authorities: Vec<String> = inboxes
            .iter()
            .map(|u| canopy_core::authority(&url::Url::parse(u).unwrap()))
            .collect();
        sqlx::query(
            "INSERT INTO instance (authority) SELECT DISTINCT a FROM unnest($1::text[]) AS t(a)
             ON CONFLICT (authority) DO NOTHING",
        )
        .bind(&authorities)
        .execute(&self.db)
        .await
        .unwrap();
        let ids: Vec<(i64,)> = sqlx::query_as(
            "INSERT INTO person (instance_id, name, ap_id, inbox_url, public_key_pem, local)
             SELECT i.id, 'follower' || t.n || '_' || md5(t.u), regexp_replace(t.u, '/inbox$', ''), t.u,
                    'not used', false
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(u, a, n)
             JOIN instance i ON i.authority = t.a
             RETURNING id",
        )
        .bind(inboxes)
        .bind(&authorities)
        .fetch_all(&self.db)
        .await
        .unwrap();
        let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
        let followed = sqlx::query(
            "INSERT INTO community_follow (community_id, person_id)
             SELECT c.id, p FROM community c, unnest($2::bigint[]) AS p WHERE c.name = $1 AND c.local",
        )
        .bind(community)
        .bind(&ids)
        .execute(&self.db)
        .await
        .unwrap()
        .rows_affected();
        assert_eq!(
            followed as usize,
            inboxes.len(),
            "no local community {community}"
        );
    }

    /// Post a comment (reply when `parent` is given); returns its id.
    pub async fn comment(&self, token: &str, post: i64, parent: Option<i64>, text: &str) -> i64 {
        let (s, c) = self
            .post(
                "/api/v1/comments",
                Some(token),
                serde_json::json!({"post_id": post, "parent_id": parent, "content": text}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        c["id"].as_i64().unwrap()
    }
}

fn canopy_federation_base(url: &str) -> canopy_federation::urls::PublicBase {
    canopy_federation::urls::PublicBase::parse(url).unwrap()
}
