//! Backfill: making a remote thread here converge with its home. A thread is read from the
//! collection its home serves — the FEP-7888 `context` collection of the post (FEP-f228), else
//! the `replies` collections walked from the post down, else (a Lemmy serving neither) the ids
//! its public read API lists ([`crate::lemmy_api`]) — and every item not stored here is
//! fetched from its own id and stored through the normal object path ([`objects::store`]), so
//! the origin rules apply to it exactly as to a delivered object. A resync also reads known items
//! again (newest first, bounded), which brings edits and deletions.
//!
//! Everything is bounded per run: items listed, requests made, wall time; requests to one host
//! are spread over a few connections at most ([`HostLimits`]). Runs start from the triggers in
//! [`Backfills`] (a new remote thread, a reply whose ancestors were missing, a read of a thread
//! not synced recently, the background pass over recently active threads) and never block the
//! request that caused them; `canopy admin resync` runs one at once.
//!
//! Trust: an item embedded in a collection page is taken as it is only when its id is on the
//! authority the page was fetched from (the same rule as content relayed by its own host); any
//! other item is fetched from its own id. Pages must stay on the collection's authority, and a
//! page seen twice ends the walk.

use crate::error::FedError;
use crate::fetch::{self, FedData, Fetched};
use crate::json::{id_of, kind_of};
use crate::objects::{self, Stored};
use canopy_core::{authority, PostId};
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use url::Url;

/// Bounds and schedule of backfills (the `[backfill]` settings).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most items (posts and comments) one run lists from a thread's collections.
    pub max_items: usize,
    /// Most requests one run makes (collection pages and items; actors fetched to store an
    /// item count against that item's own budget).
    pub max_requests: u32,
    /// Longest one run may take; it stops there and keeps what it stored.
    pub max_time: Duration,
    /// Most known items a resync reads again for edits and deletions (newest first).
    pub max_refresh: usize,
    /// Most requests in flight to one host, over every run of this process.
    pub per_host: usize,
    /// Most runs at once in this process.
    pub concurrent_runs: usize,
    /// A read of a remote thread synced longer ago than this starts a resync in the background.
    pub stale_after: Duration,
    /// How often the background pass looks for threads to resync (zero: never).
    pub background_every: Duration,
    /// The background pass resyncs remote posts published within this window...
    pub active_within: Duration,
    /// ...whose last sync is older than this...
    pub resync_every: Duration,
    /// ...at most this many per pass.
    pub background_batch: usize,
    /// Whether backfills start by themselves (the triggers and the background pass); when off,
    /// threads are synced only when an administrator asks (`canopy admin resync`).
    pub automatic: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_items: 10_000,
            max_requests: 12_000,
            max_time: Duration::from_secs(120),
            max_refresh: 1_000,
            per_host: 8,
            concurrent_runs: 2,
            stale_after: Duration::from_secs(10 * 60),
            background_every: Duration::from_secs(5 * 60),
            active_within: Duration::from_secs(3 * 24 * 3600),
            resync_every: Duration::from_secs(3600),
            background_batch: 20,
            automatic: true,
        }
    }
}

/// Whether a run only fetches what is missing or also reads known items again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fetch only items not stored here (a new thread, missing ancestors).
    Missing,
    /// Also read the post and up to [`Settings::max_refresh`] known items again (resync).
    Resync,
}

/// Where a run read the thread from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Nothing to do: the post is local, so its thread is complete here.
    #[default]
    Local,
    /// The thread's `context` collection (FEP-7888, FEP-f228).
    Context,
    /// The `replies` collections, walked from the post down.
    Replies,
    /// The thread's home is a Lemmy serving neither: its public read API listed the ids.
    LemmyApi,
    /// The home serves no collection this node can read.
    None,
}

/// Why a run ended before reading everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Items,
    Requests,
    Time,
    /// A page on another host, a page seen before, or something that is not a collection.
    BadCollection,
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub source: Source,
    /// Items listed by the thread's collections (the post included).
    pub listed: usize,
    pub posts_added: usize,
    pub comments_added: usize,
    /// Known items whose newer text was taken.
    pub updated: usize,
    /// Known items their home says are deleted.
    pub deleted: usize,
    /// Listed items already stored here.
    pub known: usize,
    /// Items that could not be fetched or stored (each logged).
    pub failed: usize,
    /// Requests this run made (pages and items).
    pub requests: u32,
    pub elapsed: Duration,
    /// The bound that ended the run early: the first one met, or `Time` when time ran out.
    pub stopped: Option<Stop>,
    /// How many comments the home counts (its context collection's `totalItems`, less the post).
    pub remote_comments: Option<i64>,
}

impl Report {
    /// Record why the run stopped early: the first bound met, unless time ran out later (the
    /// run ended there).
    fn stop(&mut self, s: Stop) {
        if s == Stop::Time || self.stopped.is_none() {
            self.stopped = Some(s);
        }
    }

    pub fn added(&self) -> usize {
        self.posts_added + self.comments_added
    }
}

/// Items one run stores at once (database round trips overlap; a reply waits for its parent).
const STORE_CONCURRENCY: usize = 8;

/// Requests in flight per host, shared by every run of a process.
#[derive(Debug)]
pub struct HostLimits {
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostLimits {
    pub fn new(per_host: usize) -> Self {
        Self {
            per_host: per_host.max(1),
            hosts: Mutex::default(),
        }
    }

    fn of(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        // Forget idle hosts now and then so that the map stays small.
        if hosts.len() > 1024 {
            hosts.retain(|_, s| s.available_permits() < self.per_host);
        }
        hosts
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }
}

/// One listed item: its id, and the object itself when it could be taken from the page (same
/// origin) or was fetched while walking `replies`.
#[derive(Debug)]
struct Listed {
    id: Url,
    object: Option<Value>,
}

/// One run's bookkeeping.
struct Run<'a> {
    data: &'a FedData,
    settings: &'a Settings,
    hosts: &'a HostLimits,
    deadline: Instant,
    requests: AtomicU32,
}

enum Walk {
    Done,
    Stopped(Stop),
}

impl Run<'_> {
    /// Fetch `url` within the run's bounds, at most `per_host` at once per host.
    async fn get(&self, url: &Url) -> Result<Fetched, RunError> {
        let left = self
            .deadline
            .checked_duration_since(Instant::now())
            .ok_or(RunError::Stop(Stop::Time))?;
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        if n >= self.settings.max_requests {
            self.requests.fetch_sub(1, Ordering::Relaxed);
            return Err(RunError::Stop(Stop::Requests));
        }
        let limit = self.hosts.of(&authority(url));
        // A task of its own: the fetch (signing included) goes on while the run stores what
        // came before, and can use the other core.
        let (data, at) = (self.data.clone(), url.clone());
        let mut task = tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            fetch::fetch_object_signed(&at, &data).await
        });
        match tokio::time::timeout(left, &mut task).await {
            Ok(Ok(fetched)) => fetched.map_err(RunError::Fed),
            Ok(Err(e)) => Err(RunError::Fed(FedError::Internal(format!(
                "fetch task: {e}"
            )))),
            Err(_) => {
                task.abort();
                Err(RunError::Stop(Stop::Time))
            }
        }
    }

    /// A listed item's document: the embedded one, or fetched from its id.
    async fn take(&self, l: Listed) -> (Url, Result<Fetched, RunError>) {
        let got = match l.object {
            Some(o) => Ok(Fetched::Object(o)),
            None => self.get(&l.id).await,
        };
        (l.id, got)
    }

    /// Walk the collection (or page) `start` — a URL, or an embedded collection from a document
    /// of `origin` — appending its items to `out` (each id once) within the bounds. Returns the
    /// collection's `totalItems` when it says one.
    async fn walk(
        &self,
        start: &Value,
        origin: &str,
        out: &mut Vec<Listed>,
        seen: &mut HashSet<String>,
    ) -> Result<(Walk, Option<i64>), RunError> {
        let mut seen_pages = HashSet::new();
        let Some((mut page, page_origin)) = self.open(start, origin, &mut seen_pages).await? else {
            return Ok((Walk::Stopped(Stop::BadCollection), None));
        };
        if !is_collection(&page) {
            return Ok((Walk::Stopped(Stop::BadCollection), None));
        }
        let total = page.get("totalItems").and_then(Value::as_i64);
        let mut first = true;
        loop {
            for item in items_of(&page) {
                if out.len() >= self.settings.max_items {
                    return Ok((Walk::Stopped(Stop::Items), total));
                }
                if let Some(listed) = listed(item, &page_origin) {
                    if seen.insert(listed.id.to_string()) {
                        out.push(listed);
                    }
                }
            }
            // A collection leads to its first page, a page to the next.
            let next = if first {
                page.get("first").or_else(|| page.get("next"))
            } else {
                page.get("next")
            };
            first = false;
            let Some(next) = next.cloned() else {
                return Ok((Walk::Done, total));
            };
            match self.open(&next, &page_origin, &mut seen_pages).await? {
                Some((p, o)) if is_collection(&p) && o == page_origin => page = p,
                _ => return Ok((Walk::Stopped(Stop::BadCollection), total)),
            }
        }
    }

    /// The document `v` names: embedded (taken as it is, from `origin`) or fetched from its URL,
    /// which must be on `origin` and not seen before in this walk.
    async fn open(
        &self,
        v: &Value,
        origin: &str,
        seen_pages: &mut HashSet<String>,
    ) -> Result<Option<(Value, String)>, RunError> {
        match v {
            Value::Object(o) if o.contains_key("type") => {
                if let Some(id) = id_of(v) {
                    if !seen_pages.insert(id.to_string()) {
                        return Ok(None);
                    }
                }
                Ok(Some((v.clone(), origin.to_string())))
            }
            _ => {
                let Some(url) = id_of(v).filter(http_url) else {
                    return Ok(None);
                };
                if authority(&url) != origin || !seen_pages.insert(url.to_string()) {
                    return Ok(None);
                }
                match self.get(&url).await? {
                    Fetched::Object(doc) => Ok(Some((doc, origin.to_string()))),
                    Fetched::Gone => Ok(None),
                }
            }
        }
    }
}

enum RunError {
    Stop(Stop),
    Fed(FedError),
}

fn http_url(u: &Url) -> bool {
    matches!(u.scheme(), "http" | "https") && u.host().is_some()
}

fn is_collection(v: &Value) -> bool {
    matches!(
        kind_of(v),
        "Collection" | "OrderedCollection" | "CollectionPage" | "OrderedCollectionPage"
    )
}

fn items_of(page: &Value) -> impl Iterator<Item = &Value> {
    ["orderedItems", "items"]
        .into_iter()
        .filter_map(|k| page.get(k))
        .flat_map(|v| match v {
            Value::Array(a) => a.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
}

/// An item of a page from `origin`: an id, or an embedded object (kept when on `origin`).
fn listed(item: &Value, origin: &str) -> Option<Listed> {
    let id = id_of(item).filter(http_url)?;
    let object = match item {
        Value::Object(o) if o.contains_key("type") && authority(&id) == origin => {
            Some(item.clone())
        }
        _ => None,
    };
    Some(Listed { id, object })
}

/// The thread URLs an object names: its `context` (when a URL on the object's own authority)
/// and its `replies` collection's id (likewise; PeerTube calls a video's replies `comments`).
pub fn thread_urls(object: &Value, id: &Url) -> (Option<String>, Option<String>) {
    let own = |field: &str| {
        object
            .get(field)
            .and_then(id_of)
            .filter(|u| http_url(u) && authority(u) == authority(id) && u != id)
            .map(String::from)
    };
    (own("context"), own("replies").or_else(|| own("comments")))
}

/// Sync the thread of the post `post` with its home (see the module's documentation).
pub async fn thread(
    post: PostId,
    mode: Mode,
    data: &FedData,
    settings: &Settings,
    hosts: &HostLimits,
) -> Result<Report, FedError> {
    let started = Instant::now();
    let state = canopy_db::remote_threads::state(&data.db, post).await?;
    if state.local {
        return Ok(Report::default());
    }
    let run = Run {
        data,
        settings,
        hosts,
        deadline: started + settings.max_time,
        requests: AtomicU32::new(0),
    };
    let mut report = Report::default();
    let post_url = Url::parse(&state.ap_id).map_err(|e| FedError::bad(e.to_string()))?;
    let origin = authority(&post_url);
    let (mut context, mut replies) = (state.context_url.clone(), state.replies_url.clone());

    // The post itself: read again on a resync, or to learn where its thread is served.
    if mode == Mode::Resync || (context.is_none() && replies.is_none()) {
        match run.get(&post_url).await {
            Ok(Fetched::Object(json)) if kind_of(&json) == "Tombstone" => {
                delete_known(&state.ap_id, data, &mut report).await?;
            }
            Ok(Fetched::Gone) => delete_known(&state.ap_id, data, &mut report).await?,
            Ok(Fetched::Object(json)) => {
                let (c, r) = thread_urls(&json, &post_url);
                if (c.is_some() && c != context) || (r.is_some() && r != replies) {
                    let mut conn = data.db.acquire().await?;
                    canopy_db::remote_threads::record(&mut conn, post, c.as_deref(), r.as_deref())
                        .await?;
                }
                context = c.or(context);
                replies = r.or(replies);
                if mode == Mode::Resync {
                    refresh(&json, &state.ap_id, data, &mut report).await;
                }
            }
            Err(RunError::Fed(e)) => {
                tracing::info!(post = %post_url, error = %e, "backfill could not read the post");
            }
            Err(RunError::Stop(s)) => report.stopped = Some(s),
        }
    }

    // List the thread.
    let mut listed = Vec::new();
    let mut seen = HashSet::new();
    if report.stopped.is_none() && report.deleted == 0 {
        let walked = if let Some(c) = context.as_deref() {
            report.source = Source::Context;
            run.walk(
                &Value::String(c.to_string()),
                &origin,
                &mut listed,
                &mut seen,
            )
            .await
            .map(|(w, total)| {
                report.remote_comments = total.map(|t| (t - 1).max(0));
                w
            })
        } else if let Some(r) = replies.as_deref() {
            report.source = Source::Replies;
            walk_replies(&run, r, &origin, &mut listed, &mut seen).await
        } else {
            // A Lemmy serves neither collection: its public read API lists the comment ids.
            let left = run.deadline.saturating_duration_since(Instant::now());
            let bounds = crate::lemmy_api::ListBounds {
                max_pages: settings.max_items / 50 + 1,
                max_ids: settings.max_items,
                max_time: left,
            };
            match crate::lemmy_api::comment_ids(&post_url, data, &bounds).await {
                Ok(Some(ids)) => {
                    report.source = Source::LemmyApi;
                    for id in ids {
                        if seen.insert(id.to_string()) {
                            listed.push(Listed { id, object: None });
                        }
                    }
                    Ok(Walk::Done)
                }
                Ok(None) => {
                    report.source = Source::None;
                    Ok(Walk::Done)
                }
                Err(e) => {
                    report.source = Source::LemmyApi;
                    Err(RunError::Fed(e))
                }
            }
        };
        match walked {
            Ok(Walk::Done) => {}
            Ok(Walk::Stopped(s)) | Err(RunError::Stop(s)) => report.stopped = Some(s),
            Err(RunError::Fed(e)) => {
                tracing::info!(post = %post_url, error = %e, "backfill could not read the thread");
                report.failed += 1;
            }
        }
    }
    report.listed = listed.len();
    // The post itself was read above.
    listed.retain(|l| l.id != post_url);
    store_listed(&run, listed, mode, &mut report).await?;
    report.requests = run.requests.load(Ordering::Relaxed);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Walk `replies` collections breadth first from the post's: every reply is fetched (it names
/// its own `replies`), so this costs a request per item.
async fn walk_replies(
    run: &Run<'_>,
    start: &str,
    origin: &str,
    out: &mut Vec<Listed>,
    seen: &mut HashSet<String>,
) -> Result<Walk, RunError> {
    let mut frontier: VecDeque<(Value, String)> = VecDeque::new();
    frontier.push_back((Value::String(start.to_string()), origin.to_string()));
    let mut visited = HashSet::new();
    while let Some((collection, from)) = frontier.pop_front() {
        let mut level = Vec::new();
        let walked = run.walk(&collection, &from, &mut level, seen).await?.0;
        if let Walk::Stopped(Stop::Items | Stop::Requests | Stop::Time) = walked {
            out.extend(level);
            return Ok(walked);
        }
        for mut item in level {
            if out.len() >= run.settings.max_items {
                return Ok(Walk::Stopped(Stop::Items));
            }
            if item.object.is_none() {
                match run.get(&item.id).await {
                    Ok(Fetched::Object(o)) => item.object = Some(o),
                    Ok(Fetched::Gone) => continue,
                    Err(RunError::Fed(e)) => {
                        tracing::debug!(item = %item.id, error = %e, "reply not fetched");
                        continue;
                    }
                    Err(stop) => return Err(stop),
                }
            }
            if let Some(o) = &item.object {
                if let Some(r) = o.get("replies") {
                    let key = id_of(r).map(String::from).unwrap_or_default();
                    if key.is_empty() || visited.insert(key) {
                        frontier.push_back((r.clone(), authority(&item.id)));
                    }
                }
            }
            out.push(item);
        }
    }
    Ok(Walk::Done)
}

/// Store the listed items this node lacks (fetched concurrently, stored in the listed order so
/// that parents come before replies), and on a resync read known ones again.
async fn store_listed(
    run: &Run<'_>,
    listed: Vec<Listed>,
    mode: Mode,
    report: &mut Report,
) -> Result<(), FedError> {
    let data = run.data;
    let mut known = HashSet::new();
    for chunk in listed.chunks(1000) {
        let ids: Vec<String> = chunk.iter().map(|l| l.id.to_string()).collect();
        known.extend(canopy_db::remote_threads::known(&data.db, &ids).await?);
    }
    let (old, new): (Vec<Listed>, Vec<Listed>) = listed
        .into_iter()
        .filter(|l| !fetch::is_local(&l.id, data))
        .partition(|l| known.contains(l.id.as_str()));
    report.known += old.len();

    // Fetches started ahead of the items being stored (each host still gets at most `per_host`
    // at once: see `Run::get`), and up to STORE_CONCURRENCY items stored at once, each after its
    // parent when the parent is among them (the list is oldest first, so a parent is always
    // started before its replies).
    let fetches = run.settings.per_host.max(1) * 4;
    let signals: HashMap<String, tokio::sync::watch::Sender<bool>> = new
        .iter()
        .map(|l| (l.id.to_string(), tokio::sync::watch::Sender::new(false)))
        .collect();
    let signals = &signals;
    let mut outcomes = stream::iter(new)
        .map(|l| run.take(l))
        .buffered(fetches)
        .map(|(id, got)| async move {
            let outcome = match got {
                Ok(Fetched::Object(json)) if kind_of(&json) != "Tombstone" => {
                    let parent = json.get("inReplyTo").and_then(id_of).map(String::from);
                    if let Some(signal) = parent.and_then(|p| signals.get(&p)) {
                        let mut done = signal.subscribe();
                        // Set whether the parent was stored or not; a closed channel cannot
                        // happen while `signals` lives.
                        let _ = done.wait_for(|d| *d).await;
                    }
                    let stored =
                        objects::store(&json, None, &data.reset_request_count(), &mut Vec::new())
                            .await;
                    Ok(Some(stored))
                }
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            };
            if let Some(signal) = signals.get(id.as_str()) {
                signal.send_replace(true);
            }
            (id, outcome)
        })
        .buffer_unordered(STORE_CONCURRENCY);
    while let Some((id, outcome)) = outcomes.next().await {
        match outcome {
            Ok(Some(Ok(Stored::Post { .. }))) => report.posts_added += 1,
            Ok(Some(Ok(Stored::Comment { .. }))) => report.comments_added += 1,
            Ok(Some(Err(e))) => {
                tracing::debug!(item = %id, error = %e, "backfilled item not stored");
                report.failed += 1;
            }
            Ok(None) => {}
            Err(RunError::Stop(s)) => report.stop(s),
            Err(RunError::Fed(e)) => {
                tracing::debug!(item = %id, error = %e, "backfilled item not fetched");
                report.failed += 1;
            }
        }
    }
    drop(outcomes);

    if mode == Mode::Resync && report.stopped.is_none() {
        // Newest first: edits and deletions are likeliest there.
        let again_items: Vec<Listed> = old
            .into_iter()
            .rev()
            .take(run.settings.max_refresh)
            .collect();
        let mut again = stream::iter(again_items)
            .map(|l| run.take(l))
            .buffered(fetches);
        while let Some((id, got)) = again.next().await {
            match got {
                Ok(Fetched::Gone) => delete_known(id.as_str(), data, report).await?,
                Ok(Fetched::Object(json)) if kind_of(&json) == "Tombstone" => {
                    delete_known(id.as_str(), data, report).await?
                }
                Ok(Fetched::Object(json)) => refresh(&json, id.as_str(), data, report).await,
                Err(RunError::Stop(s)) => report.stop(s),
                Err(RunError::Fed(e)) => {
                    tracing::debug!(item = %id, error = %e, "known item not read again");
                    report.failed += 1;
                }
            }
        }
    }
    Ok(())
}

/// Take a known remote item's newer text (an Update by its home, in effect).
async fn refresh(json: &Value, ap_id: &str, data: &FedData, report: &mut Report) {
    if json.get("id").and_then(id_of).map(String::from).as_deref() != Some(ap_id) {
        return;
    }
    let row = match canopy_db::content::by_ap_id(&data.db, ap_id).await {
        Ok(Some(row)) if !row.local => row,
        _ => return,
    };
    // Only an object that says it was edited after what is stored here is taken (one without
    // `updated` was never edited).
    let edited = crate::json::time_field(json, "updated");
    if edited.is_none_or(|at| at <= row.updated.unwrap_or(row.published)) {
        return;
    }
    match objects::update(json, Some(&row), None, data).await {
        Ok(Some(_)) => report.updated += 1,
        Ok(None) => {}
        Err(e) => {
            tracing::debug!(item = %ap_id, error = %e, "known item's new text not taken");
            report.failed += 1;
        }
    }
}

/// A known remote item its home says is gone: deleted here too.
async fn delete_known(ap_id: &str, data: &FedData, report: &mut Report) -> Result<(), FedError> {
    if let Some(row) = canopy_db::content::by_ap_id(&data.db, ap_id).await? {
        if !row.local && canopy_db::content::delete_remote(&data.db, ap_id).await? {
            report.deleted += 1;
        }
    }
    Ok(())
}

/// What starts a run in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A remote post was stored for the first time.
    NewThread,
    /// A reply arrived whose parent had to be fetched.
    MissingAncestors,
    /// Someone read a remote thread.
    Read,
}

#[derive(Debug, Clone, Copy)]
struct Request {
    post: PostId,
    reason: Reason,
}

/// The background side: triggers send requests here (never waiting), and the task started by
/// [`Backfills::start`] runs them, a few at a time, each thread claimed in the database first so
/// that one thread is synced once however many processes or readers ask.
#[derive(Default)]
pub struct Backfills {
    settings: OnceLock<Settings>,
    sender: OnceLock<mpsc::Sender<Request>>,
    recent: Mutex<HashMap<PostId, Instant>>,
}

impl std::fmt::Debug for Backfills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backfills")
            .field("started", &self.sender.get().is_some())
            .finish()
    }
}

/// How long one request for a thread is enough (further ones are dropped in memory).
const REQUEST_DEBOUNCE: Duration = Duration::from_secs(10);

impl Backfills {
    /// Ask for a background run of `post`'s thread. Does nothing in a process that runs no
    /// backfills, nor when the same thread was asked for a moment ago.
    pub fn request(&self, post: PostId, reason: Reason) {
        let (Some(sender), Some(settings)) = (self.sender.get(), self.settings.get()) else {
            return;
        };
        if !settings.automatic {
            return;
        }
        let window = match reason {
            Reason::Read => settings.stale_after.max(REQUEST_DEBOUNCE),
            _ => REQUEST_DEBOUNCE,
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if recent
                .get(&post)
                .is_some_and(|at| now.duration_since(*at) < window)
            {
                return;
            }
            if recent.len() > 100_000 {
                recent.retain(|_, at| now.duration_since(*at) < window);
            }
            recent.insert(post, now);
        }
        if sender.try_send(Request { post, reason }).is_err() {
            tracing::debug!(%post, "backfill queue full; request dropped");
        }
    }

    /// The settings, once started.
    pub fn settings(&self) -> Option<&Settings> {
        self.settings.get()
    }

    /// Start running backfills with `settings` (once per process): requests, and the
    /// background pass. `config_data` makes each run's request data.
    pub fn start(
        self: &Arc<Self>,
        settings: Settings,
        make_data: impl Fn() -> FedData + Send + Sync + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let (tx, rx) = mpsc::channel(1024);
        self.sender.set(tx).ok()?;
        self.settings.set(settings.clone()).ok()?;
        Some(tokio::spawn(run_queue(rx, settings, Arc::new(make_data))))
    }
}

type MakeData = Arc<dyn Fn() -> FedData + Send + Sync>;

async fn run_queue(mut rx: mpsc::Receiver<Request>, settings: Settings, make_data: MakeData) {
    let settings = Arc::new(settings);
    let hosts = Arc::new(HostLimits::new(settings.per_host));
    let runs = Arc::new(Semaphore::new(settings.concurrent_runs.max(1)));
    let background = settings.automatic && !settings.background_every.is_zero();
    let mut tick = tokio::time::interval(if background {
        settings.background_every
    } else {
        Duration::from_secs(3600)
    });
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (post, mode, stale) = tokio::select! {
            req = rx.recv() => match req {
                Some(Request { post, reason }) => match reason {
                    Reason::NewThread | Reason::MissingAncestors => (post, Mode::Missing, None),
                    Reason::Read => (post, Mode::Resync, Some(settings.stale_after)),
                },
                None => return,
            },
            _ = tick.tick(), if background => {
                let data = make_data();
                match canopy_db::remote_threads::due(
                    &data.db,
                    settings.active_within,
                    settings.resync_every,
                    i64::try_from(settings.background_batch).unwrap_or(i64::MAX),
                ).await {
                    Ok(posts) => {
                        for post in posts {
                            spawn_run(&runs, &settings, &hosts, &make_data, post, Mode::Resync,
                                      Some(settings.resync_every)).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "background resync: no threads listed"),
                }
                continue;
            }
        };
        spawn_run(&runs, &settings, &hosts, &make_data, post, mode, stale).await;
    }
}

async fn spawn_run(
    runs: &Arc<Semaphore>,
    settings: &Arc<Settings>,
    hosts: &Arc<HostLimits>,
    make_data: &MakeData,
    post: PostId,
    mode: Mode,
    stale: Option<Duration>,
) {
    let Ok(permit) = runs.clone().acquire_owned().await else {
        return;
    };
    let (settings, hosts, data) = (settings.clone(), hosts.clone(), make_data());
    tokio::spawn(async move {
        let _permit = permit;
        match claimed_run(post, mode, stale, &data, &settings, &hosts).await {
            Ok(Some(r)) => tracing::info!(
                %post, source = ?r.source, listed = r.listed, added = r.added(),
                updated = r.updated, deleted = r.deleted, failed = r.failed,
                requests = r.requests, elapsed_ms = r.elapsed.as_millis() as u64,
                stopped = ?r.stopped, "thread backfilled"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(%post, error = %e, "thread backfill failed"),
        }
    });
}

/// Claim `post`'s thread (not when another run holds it, nor, with `stale`, when synced more
/// recently), run, and record the sync. `None`: not claimed.
pub async fn claimed_run(
    post: PostId,
    mode: Mode,
    stale: Option<Duration>,
    data: &FedData,
    settings: &Settings,
    hosts: &HostLimits,
) -> Result<Option<Report>, FedError> {
    let hold = settings.max_time + Duration::from_secs(60);
    if !canopy_db::remote_threads::claim(&data.db, post, hold, stale).await? {
        return Ok(None);
    }
    let report = thread(post, mode, data, settings, hosts).await;
    let count = report
        .as_ref()
        .ok()
        .and_then(|r| r.remote_comments)
        .and_then(|c| i32::try_from(c).ok());
    canopy_db::remote_threads::finish(&data.db, post, count).await?;
    report.map(Some)
}

/// What `resync` of a URL did: one report per thread it synced.
#[derive(Debug, Clone, Default)]
pub struct Resync {
    pub threads: Vec<(PostId, Report)>,
}

impl Resync {
    pub fn added(&self) -> usize {
        self.threads.iter().map(|(_, r)| r.added()).sum()
    }
}

/// How many of a community's latest posts a resync of the community visits.
pub const COMMUNITY_RESYNC_POSTS: i64 = 20;

/// Resync at once what `url` names (`canopy admin resync`, `POST /api/v1/admin/resync`): a post's
/// thread, a comment's thread, or a community's latest threads. An unknown URL is fetched and
/// stored first. Waits (up to the run's time bound) while a background run holds the thread.
pub async fn resync_url(
    url: &Url,
    data: &FedData,
    settings: &Settings,
    hosts: &HostLimits,
) -> Result<Resync, FedError> {
    use crate::resolve::Found;
    // A post of a community this node does not know yet: learn the community first (the post
    // names it in `audience`), as a follower would have.
    if canopy_db::content::by_ap_id(&data.db, url.as_str())
        .await?
        .is_none()
    {
        if let Ok(json) = fetch::fetch_json(url, data).await {
            for group in crate::json::ids_of(json.get("audience")) {
                if let Err(e) = crate::resolve::resolve(&group, data).await {
                    tracing::debug!(%group, error = %e, "the object's community is not known");
                }
            }
        }
    }
    let posts = match crate::resolve::resolve(url, data).await? {
        Found::Post(p) => vec![p],
        Found::Comment(c) => vec![canopy_db::comments::head(&data.db, c).await?.post_id],
        Found::Community(c) => {
            canopy_db::remote_threads::recent_posts_of(&data.db, c, COMMUNITY_RESYNC_POSTS).await?
        }
        Found::Person(_) => {
            return Err(FedError::bad(
                "a person has no thread to resync: name a post, a comment or a community",
            ))
        }
    };
    let mut out = Resync::default();
    for post in posts {
        let give_up = Instant::now() + settings.max_time + Duration::from_secs(5);
        loop {
            if let Some(r) = claimed_run(post, Mode::Resync, None, data, settings, hosts).await? {
                out.threads.push((post, r));
                break;
            }
            // Local posts are never claimed: nothing to do for them.
            if canopy_db::remote_threads::state(&data.db, post)
                .await?
                .local
            {
                out.threads.push((post, Report::default()));
                break;
            }
            if Instant::now() >= give_up {
                return Err(FedError::Unresolvable(format!(
                    "post {post}: another sync of its thread is still running"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_items_are_kept_only_from_their_own_host() {
        let same = json!({"id": "https://a.example/comment/1", "type": "Note"});
        let other = json!({"id": "https://b.example/comment/2", "type": "Note"});
        let l = listed(&same, "a.example").expect("listed");
        assert!(l.object.is_some());
        let l = listed(&other, "a.example").expect("listed");
        assert!(
            l.object.is_none(),
            "a foreign object is only an id to fetch"
        );
        assert_eq!(l.id.as_str(), "https://b.example/comment/2");
        assert!(listed(&json!("javascript:alert(1)"), "a.example").is_none());
        assert!(listed(&json!({"type": "Note"}), "a.example").is_none());
    }

    #[test]
    fn thread_urls_must_be_on_the_objects_own_host() {
        let id = Url::parse("https://a.example/post/1").expect("url");
        let (c, r) = thread_urls(
            &json!({"context": "https://a.example/post/1/context",
                    "replies": {"id": "https://a.example/post/1/replies", "type": "Collection"}}),
            &id,
        );
        assert_eq!(c.as_deref(), Some("https://a.example/post/1/context"));
        assert_eq!(r.as_deref(), Some("https://a.example/post/1/replies"));
        let (c, r) = thread_urls(
            &json!({"context": "https://evil.example/c", "replies": "https://a.example/post/1"}),
            &id,
        );
        assert_eq!((c, r), (None, None));
    }

    #[test]
    fn items_are_read_from_ordered_and_plain_pages() {
        let page = json!({"orderedItems": ["https://a.example/1"], "items": "https://a.example/2"});
        assert_eq!(items_of(&page).count(), 2);
    }
}
