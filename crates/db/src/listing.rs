//! Post listings (the front page across communities, and one community's posts) and the
//! community list, each ordered by a stored, indexed sort key and paged by keyset cursors.
//!
//! Every page is read in two statements: the candidates (ids in order, with every visibility
//! test applied inside the index scan, so pages stay full), then the full [`PostView`] rows of
//! those ids only. Two small statements plan in a fraction of the time one joined statement
//! takes (the view joins seven tables), and each settles on a cached generic plan. Which index serves which sort and scope is described in
//! ARCHITECTURE.md ("Listings").

use crate::cursor::{self, Position, SortValue};
use crate::posts::{PostSort, PostView};
use crate::DbError;
use canopy_core::{CommunityId, PersonId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

/// Which posts a listing draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every community this node knows.
    All,
    /// Communities hosted on this node.
    Local,
    /// Communities `viewer` follows, with the follow accepted.
    Subscribed(PersonId),
    /// One community.
    Community(CommunityId),
}

impl Scope {
    /// What a cursor records of the scope: a cursor of one scope is refused by another.
    fn key(self) -> String {
        match self {
            Scope::All => "all".into(),
            Scope::Local => "local".into(),
            Scope::Subscribed(_) => "subscribed".into(),
            Scope::Community(c) => format!("c{}", c.0),
        }
    }
}

/// The time window of `top`: only posts published within it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Day,
    Week,
    Month,
    Year,
    #[default]
    All,
}

impl Window {
    fn span(self) -> Option<Duration> {
        match self {
            Window::Day => Some(Duration::days(1)),
            Window::Week => Some(Duration::weeks(1)),
            Window::Month => Some(Duration::days(30)),
            Window::Year => Some(Duration::days(365)),
            Window::All => None,
        }
    }
}

/// Where a page of a post listing ended, and the listing it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct ListCursor {
    #[serde(rename = "o")]
    scope: String,
    #[serde(rename = "s")]
    sort: PostSort,
    #[serde(rename = "w")]
    window: Window,
    #[serde(rename = "p")]
    after: Position,
}

/// A value bound to a generated query, in order of its `$n`.
enum Arg {
    Int(i64),
    Int4(i32),
    Float(f64),
    Time(DateTime<Utc>),
}

/// A query under construction: SQL text and its arguments; `$1` is always the viewer.
struct Query {
    args: Vec<Arg>,
}

impl Query {
    fn new() -> Self {
        Query { args: Vec::new() }
    }
    /// Add an argument and return its placeholder.
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len() + 1)
    }
}

/// The sort key's column and the table it lives on (`p` = post, `a` = post_aggregates).
fn key_column(sort: PostSort) -> &'static str {
    match sort {
        PostSort::Hot => "p.hot",
        PostSort::Top => "p.score",
        PostSort::New => "p.published",
        PostSort::Controversial => "p.controversy",
        PostSort::Active => "a.active",
        PostSort::MostComments => "a.comment_count",
    }
}

fn on_aggregates(sort: PostSort) -> bool {
    matches!(sort, PostSort::Active | PostSort::MostComments)
}

fn position(sort: PostSort, p: &PostView) -> Position {
    let value = match sort {
        PostSort::Hot => SortValue::Float(p.hot),
        PostSort::Top => SortValue::Int(i64::from(p.score)),
        PostSort::New => SortValue::time(p.published),
        PostSort::Controversial => SortValue::Float(p.controversy),
        PostSort::Active => SortValue::time(p.active),
        PostSort::MostComments => SortValue::Int(i64::from(p.comment_count)),
    };
    Position { value, id: p.id.0 }
}

fn cursor_arg(sort: PostSort, v: SortValue) -> Result<Arg, DbError> {
    Ok(match sort {
        PostSort::Hot | PostSort::Controversial => Arg::Float(v.as_float()?),
        PostSort::New | PostSort::Active => Arg::Time(v.as_time()?),
        PostSort::Top | PostSort::MostComments => Arg::Int4(
            i32::try_from(v.as_int()?).map_err(|_| DbError::BadCursor("count out of range"))?,
        ),
    })
}

/// One keyset scan of posts in `sort` order (ids and keys, best first, at most `limit`), with
/// every visibility test; `community` narrows it to one community (a column or a placeholder).
fn scan(
    q: &mut Query,
    sort: PostSort,
    community: Option<&str>,
    after: Option<&Position>,
    extra: &str,
    limit: &str,
) -> Result<String, DbError> {
    let key = key_column(sort);
    let (from, id) = if on_aggregates(sort) {
        (
            "post_aggregates a JOIN post p ON p.id = a.post_id",
            "a.post_id",
        )
    } else {
        ("post p", "p.id")
    };
    let mut filter = String::new();
    if let Some(c) = community {
        let col = if on_aggregates(sort) {
            "a.community_id"
        } else {
            "p.community_id"
        };
        filter.push_str(&format!(" AND {col} = {c}"));
    }
    if let Some(pos) = after {
        let k = q.arg(cursor_arg(sort, pos.value)?);
        let i = q.arg(Arg::Int(pos.id));
        filter.push_str(&format!(" AND ({key}, {id}) < ({k}, {i})"));
    }
    Ok(format!(
        "SELECT {id} AS id, {key} AS k FROM {from}
           JOIN community c ON c.id = p.community_id
           JOIN instance ci ON ci.id = c.instance_id
           JOIN person u ON u.id = p.creator_id
           JOIN instance ui ON ui.id = u.instance_id
         WHERE NOT p.deleted AND NOT p.removed AND NOT c.deleted AND NOT c.removed
           AND {visible} AND NOT {blocked}
           AND NOT ($1::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM community_block cb
                    WHERE cb.person_id = $1 AND cb.community_id = p.community_id))
           {filter} {extra}
         ORDER BY {key} DESC, {id} DESC LIMIT {limit}",
        visible = crate::governance::post_visible(),
        blocked = crate::blocks::blocks_person("p.creator_id"),
    ))
}

/// A page of posts in `scope`, ordered by `sort` (`window` narrows `top` only), `limit` after
/// the cursor; returns the page and the cursor of the next page when there may be one. The
/// cursor must come from an earlier page of the same scope, sort and window. Deleted and
/// removed posts, posts of refused instances, of deleted or removed communities, of
/// communities the viewer blocks and by people the viewer blocks are left out. Featured posts
/// take their place in the order like any other (as in a community's list).
pub async fn posts(
    pool: &PgPool,
    scope: Scope,
    sort: PostSort,
    window: Window,
    cursor: Option<&str>,
    limit: i64,
    viewer: Option<PersonId>,
) -> Result<(Vec<PostView>, Option<String>), DbError> {
    let window = if sort == PostSort::Top {
        window
    } else {
        Window::All
    };
    let after = match cursor {
        Some(raw) => {
            let c: ListCursor = cursor::decode(raw)?;
            if c.scope != scope.key() {
                return Err(DbError::BadCursor("cursor belongs to another listing"));
            }
            if c.sort != sort {
                return Err(DbError::BadCursor("cursor belongs to another sort"));
            }
            if c.window != window {
                return Err(DbError::BadCursor("cursor belongs to another window"));
            }
            Some(c.after)
        }
        None => None,
    };
    let mut q = Query::new();
    // The limit is written into the text (it is a validated number): with a placeholder the
    // planner guesses the page's size, and for a large guess joins whole tables instead of
    // looking up the page's rows.
    let lim = limit.to_string();
    let now = Utc::now();
    let since = window.span().map(|s| now - s);
    let mut extra = String::new();
    if let Some(since) = since {
        let s = q.arg(Arg::Time(since));
        extra = format!("AND p.published >= {s}");
    }
    // `top` over a day, week or month, of everything or one community: the best posts of each
    // day of the window, each day one range of the (day, score, id) index, merged.
    let by_day = matches!(window, Window::Day | Window::Week | Window::Month)
        && matches!(scope, Scope::All | Scope::Community(_));
    let candidates = match scope {
        Scope::All | Scope::Community(_) => {
            let community = match scope {
                Scope::Community(c) => Some(q.arg(Arg::Int(c.0))),
                _ => None,
            };
            if let (true, Some(since)) = (by_day, since) {
                let first = q.arg(Arg::Int4(day(since)));
                let last = q.arg(Arg::Int4(day(now) + 1));
                let inner = scan(
                    &mut q,
                    sort,
                    community.as_deref(),
                    after.as_ref(),
                    &format!("{extra} AND canopy_day(p.published) = d.day"),
                    &lim,
                )?;
                format!(
                    "SELECT x.id, x.k FROM generate_series({first}, {last}) AS d(day)
                     CROSS JOIN LATERAL ({inner}) x
                     ORDER BY x.k DESC, x.id DESC LIMIT {lim}"
                )
            } else {
                scan(
                    &mut q,
                    sort,
                    community.as_deref(),
                    after.as_ref(),
                    &extra,
                    &lim,
                )?
            }
        }
        // A set of communities: the best posts of each (one range of its community index),
        // merged.
        Scope::Local | Scope::Subscribed(_) => {
            let which = match scope {
                Scope::Subscribed(follower) => {
                    let f = q.arg(Arg::Int(follower.0));
                    format!(
                        "s.id IN (SELECT cf.community_id FROM community_follow cf
                                  WHERE cf.person_id = {f} AND NOT cf.pending)"
                    )
                }
                _ => "s.local".to_owned(),
            };
            let inner = scan(&mut q, sort, Some("s.id"), after.as_ref(), &extra, &lim)?;
            format!(
                "SELECT x.id, x.k FROM community s CROSS JOIN LATERAL ({inner}) x
                 WHERE {which} AND NOT s.deleted AND NOT s.removed
                 ORDER BY x.k DESC, x.id DESC LIMIT {lim}"
            )
        }
    };
    // The candidates' rows carry their sort key `k` too (its type depends on the sort); only
    // the id is read.
    let mut query = sqlx::query(&candidates).bind(viewer);
    for a in q.args {
        query = match a {
            Arg::Int(v) => query.bind(v),
            Arg::Int4(v) => query.bind(v),
            Arg::Float(v) => query.bind(v),
            Arg::Time(v) => query.bind(v),
        };
    }
    let ids: Vec<i64> = query
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let rows = crate::posts::views(pool, &ids, viewer).await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == limit => Some(cursor::encode(&ListCursor {
            scope: scope.key(),
            sort,
            window,
            after: position(sort, last),
        })),
        _ => None,
    };
    Ok((rows, next))
}

/// Days since the Unix epoch (UTC), as `canopy_day` computes them.
fn day(t: DateTime<Utc>) -> i32 {
    i32::try_from(t.timestamp().div_euclid(86_400)).unwrap_or(i32::MAX)
}

/// Orders of the community list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CommunitySort {
    /// Most accepted followers first.
    #[default]
    Subscribers,
    /// Most posting activity first: posts counted with a weight that halves every week.
    Active,
    /// Newest first (when this node first stored the community).
    New,
    /// By name, A to Z.
    Name,
}

#[derive(Debug, Serialize, Deserialize)]
struct CommunityCursor {
    #[serde(rename = "s")]
    sort: CommunitySort,
    #[serde(rename = "p")]
    after: Position,
}

#[derive(sqlx::FromRow)]
struct ListedCommunity {
    #[sqlx(flatten)]
    community: crate::communities::Community,
    activity: f64,
}

/// A page of communities by `sort` (name: see [`crate::communities::list`]), without deleted,
/// removed, refused-instance and viewer-blocked ones.
pub async fn communities(
    pool: &PgPool,
    sort: CommunitySort,
    cursor: Option<&str>,
    limit: i64,
    viewer: Option<PersonId>,
) -> Result<(Vec<crate::communities::Community>, Option<String>), DbError> {
    let key = match sort {
        CommunitySort::Name => {
            return crate::communities::list(pool, cursor, limit, viewer).await;
        }
        CommunitySort::Subscribers => "c.subscriber_count",
        CommunitySort::Active => "c.activity",
        CommunitySort::New => "c.created_at",
    };
    let after = match cursor {
        Some(raw) => {
            let c: CommunityCursor = cursor::decode(raw)?;
            if c.sort != sort {
                return Err(DbError::BadCursor("cursor belongs to another sort"));
            }
            Some(c.after)
        }
        None => None,
    };
    let mut q = Query::new();
    let lim = limit.to_string();
    let mut filter = String::new();
    if let Some(pos) = after {
        let k = q.arg(match sort {
            CommunitySort::Subscribers => Arg::Int4(
                i32::try_from(pos.value.as_int()?)
                    .map_err(|_| DbError::BadCursor("count out of range"))?,
            ),
            CommunitySort::Active => Arg::Float(pos.value.as_float()?),
            _ => Arg::Time(pos.value.as_time()?),
        });
        let i = q.arg(Arg::Int(pos.id));
        filter = format!("AND ({key}, c.id) < ({k}, {i})");
    }
    let sql = format!(
        "SELECT {columns}, c.activity FROM community c JOIN instance i ON i.id = c.instance_id
         WHERE NOT c.deleted AND NOT c.removed AND {visible} {filter}
           AND NOT ($1::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM community_block cb
                    WHERE cb.person_id = $1 AND cb.community_id = c.id))
         ORDER BY {key} DESC, c.id DESC LIMIT {lim}",
        columns = crate::communities::COLUMNS,
        visible = crate::governance::instance_visible("i"),
    );
    let mut query = sqlx::query_as::<_, ListedCommunity>(&sql).bind(viewer);
    for a in q.args {
        query = match a {
            Arg::Int(v) => query.bind(v),
            Arg::Int4(v) => query.bind(v),
            Arg::Float(v) => query.bind(v),
            Arg::Time(v) => query.bind(v),
        };
    }
    let rows = query.fetch_all(pool).await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == limit => {
            let c = &last.community;
            let value = match sort {
                CommunitySort::Subscribers => SortValue::Int(i64::from(c.subscriber_count)),
                CommunitySort::Active => SortValue::Float(last.activity),
                _ => SortValue::time(c.created_at),
            };
            Some(cursor::encode(&CommunityCursor {
                sort,
                after: Position { value, id: c.id.0 },
            }))
        }
        _ => None,
    };
    Ok((rows.into_iter().map(|r| r.community).collect(), next))
}
