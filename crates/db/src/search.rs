//! Full-text search over posts, comments, communities and people: `websearch_to_tsquery` on the
//! stored `search` tsvector of each table (GIN-indexed, migration 20261206000101), ranked with
//! `ts_rank` (title and name words weigh more than body words), paged by keyset cursors over
//! (rank, kind, id). Hidden content never matches: the same tests as the listings.
//!
//! Every match of a kind is ranked (a word in 0.2% of 500,000 comments: ~1,000 ranked rows,
//! a few milliseconds; a word in 5% of them: ~25,000, about 100 ms, mostly reading the rows).

use crate::comments::CommentView;
use crate::communities::Community;
use crate::cursor::{self, Position, SortValue};
use crate::people::Person;
use crate::posts::PostView;
use crate::DbError;
use canopy_core::{CommunityId, PersonId};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::HashMap;

/// What to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchType {
    #[default]
    All,
    Posts,
    Comments,
    Communities,
    Users,
}

/// The kinds of result, in the order ties on rank are broken (higher first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    User = 1,
    Community = 2,
    Comment = 3,
    Post = 4,
}

impl Kind {
    /// The kind's table, the columns [`Kind::check`] needs, and the tests on the row itself
    /// (aliased `x`; `$3`/`$4` are the community/author filters where they apply to the row).
    fn own(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Post => (
                "post",
                "x.community_id, x.creator_id",
                "NOT x.deleted AND NOT x.removed
                 AND ($3::bigint IS NULL OR x.community_id = $3)
                 AND ($4::bigint IS NULL OR x.creator_id = $4)",
            ),
            Kind::Comment => (
                "comment",
                "x.post_id, x.creator_id",
                // The community filter here too (not only in the check), so that a common word
                // narrowed to a small community does not walk every match in rank order.
                "NOT x.deleted AND NOT x.removed AND ($4::bigint IS NULL OR x.creator_id = $4)
                 AND ($3::bigint IS NULL
                      OR x.post_id IN (SELECT fp.id FROM post fp WHERE fp.community_id = $3))",
            ),
            Kind::Community => (
                "community",
                "x.instance_id",
                "NOT x.deleted AND NOT x.removed",
            ),
            Kind::User => ("person", "x.instance_id", "NOT x.deleted"),
        }
    }

    /// `SELECT 1 ... WHERE <visible>` for a row `x` that passed [`Kind::own`]: the tests that
    /// need other tables (the thread and community are live, no instance is refused, the viewer
    /// `$1` blocks neither the author nor the community; the community filter `$3` of a comment).
    fn check(self) -> String {
        let community_blocked = |c: &str| {
            format!(
                "($1::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM community_block cb
                      WHERE cb.person_id = $1 AND cb.community_id = {c}))"
            )
        };
        match self {
            Kind::Post => format!(
                "SELECT 1 FROM community c JOIN instance ci ON ci.id = c.instance_id,
                        person u JOIN instance ui ON ui.id = u.instance_id
                 WHERE c.id = x.community_id AND u.id = x.creator_id
                   AND NOT c.deleted AND NOT c.removed
                   AND {} AND NOT {} AND NOT {}",
                crate::governance::post_visible(),
                crate::blocks::blocks_person("x.creator_id"),
                community_blocked("x.community_id"),
            ),
            Kind::Comment => format!(
                "SELECT 1 FROM post p JOIN community c ON c.id = p.community_id
                        JOIN instance ci ON ci.id = c.instance_id,
                        person u JOIN instance ui ON ui.id = u.instance_id
                 WHERE p.id = x.post_id AND u.id = x.creator_id
                   AND NOT p.deleted AND NOT p.removed AND NOT c.deleted AND NOT c.removed
                   AND ($3::bigint IS NULL OR p.community_id = $3)
                   AND {} AND NOT {} AND NOT {}",
                crate::governance::post_visible(),
                crate::blocks::blocks_person("x.creator_id"),
                community_blocked("p.community_id"),
            ),
            Kind::Community => format!(
                "SELECT 1 FROM instance i WHERE i.id = x.instance_id AND {} AND NOT {}",
                crate::governance::instance_visible("i"),
                community_blocked("x.id"),
            ),
            Kind::User => format!(
                "SELECT 1 FROM instance i WHERE i.id = x.instance_id AND {} AND NOT {}",
                crate::governance::instance_visible("i"),
                crate::blocks::blocks_person("x.id"),
            ),
        }
    }
}

/// Narrowing of a search; both apply to posts and comments only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    #[serde(rename = "c")]
    pub community: Option<CommunityId>,
    #[serde(rename = "a")]
    pub author: Option<PersonId>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.community.is_none() && self.author.is_none()
    }
}

/// One result.
#[derive(Debug, Clone)]
pub enum Hit {
    Post(PostView),
    Comment(CommentView),
    Community(Community),
    User(Person),
}

#[derive(Debug, Serialize, Deserialize)]
struct SearchCursor {
    q: String,
    #[serde(rename = "t")]
    kind: SearchType,
    #[serde(rename = "f")]
    filters: Filters,
    /// The kind of the last result (ties on rank are broken by kind, then id).
    #[serde(rename = "k")]
    last_kind: i16,
    #[serde(rename = "p")]
    after: Position,
}

#[derive(sqlx::FromRow)]
struct Candidate {
    kind: i16,
    id: i64,
    rank: f64,
}

/// A page of results for `q` (web search syntax: words, "quoted phrases", `-not`, `or`), best
/// first; returns the page and the cursor of the next page when there may be one. The cursor
/// must come from an earlier page of the same query, type and filters. With a filter, only
/// posts and comments are searched.
pub async fn search(
    pool: &PgPool,
    q: &str,
    what: SearchType,
    filters: Filters,
    cursor: Option<&str>,
    limit: i64,
    viewer: Option<PersonId>,
) -> Result<(Vec<Hit>, Option<String>), DbError> {
    let after = match cursor {
        Some(raw) => {
            let c: SearchCursor = cursor::decode(raw)?;
            if c.q != q || c.kind != what || c.filters != filters {
                return Err(DbError::BadCursor("cursor belongs to another search"));
            }
            Some((c.last_kind, c.after.value.as_float()?, c.after.id))
        }
        None => None,
    };
    let kinds: &[Kind] = match what {
        SearchType::All if !filters.is_empty() => &[Kind::Post, Kind::Comment],
        SearchType::All => &[Kind::Post, Kind::Comment, Kind::Community, Kind::User],
        SearchType::Posts => &[Kind::Post],
        SearchType::Comments => &[Kind::Comment],
        SearchType::Communities => &[Kind::Community],
        SearchType::Users => &[Kind::User],
    };
    // $1 viewer, $2 query text, $3 community, $4 author, $5-$7 the cursor. The limit is
    // written into the text (a validated number), so that the planner knows the page's size.
    //
    // Each kind ranks its matches on its own table first (the GIN index finds them; `OFFSET 0`
    // keeps that ranked list a subquery of its own, so its order is known), and only then tests
    // the other tables, row by row in rank order, until the page is full: the joins are done for
    // about a page of rows, not for every match.
    let lim = limit;
    let keyset = if after.is_some() {
        "WHERE (x.rank, x.kind, x.id) < ($5, $6, $7)"
    } else {
        ""
    };
    let parts: Vec<String> = kinds
        .iter()
        .map(|&k| {
            let (table, columns, own) = k.own();
            format!(
                "(SELECT x.kind, x.id, x.rank
                  FROM (SELECT {kind}::smallint AS kind, x.id, {columns},
                               ts_rank(x.search, websearch_to_tsquery('simple', $2))::float8
                                   AS rank
                          FROM {table} x
                         WHERE x.search @@ websearch_to_tsquery('simple', $2) AND {own}
                         ORDER BY rank DESC, x.id DESC OFFSET 0) x
                  CROSS JOIN LATERAL ({check} LIMIT 1) v
                  {keyset}
                  ORDER BY x.rank DESC, x.id DESC LIMIT {lim})",
                kind = k as i16,
                check = k.check(),
            )
        })
        .collect();
    let sql = format!(
        "SELECT kind, id, rank FROM ({}) u ORDER BY rank DESC, kind DESC, id DESC LIMIT {lim}",
        parts.join(" UNION ALL ")
    );
    let (last_kind, rank, id) = after.unwrap_or((0, 0.0, 0));
    // The plan does not depend on the words searched for (the shape above is what makes it
    // fast), so it is planned once per connection and kept (planning this statement costs more
    // than running it); and a page's worth of work is not worth starting parallel workers.
    let mut tx = pool.begin().await?;
    sqlx::query(
        "SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
                set_config('max_parallel_workers_per_gather', '0', true)",
    )
    .execute(&mut *tx)
    .await?;
    let found: Vec<Candidate> = sqlx::query_as(&sql)
        .bind(viewer)
        .bind(q)
        .bind(filters.community)
        .bind(filters.author)
        .bind(rank)
        .bind(last_kind)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let hits = load(pool, &found, viewer).await?;
    let next = match found.last() {
        Some(last) if found.len() as i64 == limit => Some(cursor::encode(&SearchCursor {
            q: q.to_owned(),
            kind: what,
            filters,
            last_kind: last.kind,
            after: Position {
                value: SortValue::Float(last.rank),
                id: last.id,
            },
        })),
        _ => None,
    };
    Ok((hits, next))
}

/// The full rows of the candidates, in their order.
async fn load(
    pool: &PgPool,
    found: &[Candidate],
    viewer: Option<PersonId>,
) -> Result<Vec<Hit>, DbError> {
    let ids = |kind: Kind| -> Vec<i64> {
        found
            .iter()
            .filter(|c| c.kind == kind as i16)
            .map(|c| c.id)
            .collect()
    };
    let mut rows: HashMap<(i16, i64), Hit> = HashMap::new();
    let posts = ids(Kind::Post);
    rows.extend(
        crate::posts::views(pool, &posts, viewer)
            .await?
            .into_iter()
            .map(|p| ((Kind::Post as i16, p.id.0), Hit::Post(p))),
    );
    let comments = ids(Kind::Comment);
    if !comments.is_empty() {
        let v: Vec<CommentView> = sqlx::query_as(&format!(
            "SELECT {} FROM comment c {} WHERE c.id = ANY($2)",
            crate::comments::VIEW_COLUMNS,
            crate::comments::VIEW_JOINS
        ))
        .bind(viewer)
        .bind(&comments)
        .fetch_all(pool)
        .await?;
        rows.extend(
            v.into_iter()
                .map(|c| ((Kind::Comment as i16, c.id.0), Hit::Comment(c))),
        );
    }
    let communities = ids(Kind::Community);
    if !communities.is_empty() {
        let v: Vec<Community> = sqlx::query_as(&format!(
            "SELECT {} FROM community c JOIN instance i ON i.id = c.instance_id
             WHERE c.id = ANY($1)",
            crate::communities::COLUMNS
        ))
        .bind(&communities)
        .fetch_all(pool)
        .await?;
        rows.extend(
            v.into_iter()
                .map(|c| ((Kind::Community as i16, c.id.0), Hit::Community(c))),
        );
    }
    let people = ids(Kind::User);
    if !people.is_empty() {
        let v: Vec<Person> = sqlx::query_as(&format!(
            "SELECT {} FROM person p JOIN instance i ON i.id = p.instance_id
             LEFT JOIN local_user u ON u.person_id = p.id
             WHERE p.id = ANY($1)",
            crate::people::PERSON_COLUMNS
        ))
        .bind(&people)
        .fetch_all(pool)
        .await?;
        rows.extend(
            v.into_iter()
                .map(|p| ((Kind::User as i16, p.id.0), Hit::User(p))),
        );
    }
    Ok(found
        .iter()
        .filter_map(|c| rows.remove(&(c.kind, c.id)))
        .collect())
}

/// Whether `viewer` may see the object (what a search would let through): used for what a
/// pasted URL or handle resolved to.
pub async fn visible(
    pool: &PgPool,
    kind: Kind,
    id: i64,
    viewer: Option<PersonId>,
) -> Result<bool, DbError> {
    let (table, columns, own) = kind.own();
    let (yes,): (bool,) = sqlx::query_as(&format!(
        "SELECT EXISTS (SELECT 1 FROM (SELECT x.id, {columns} FROM {table} x
                                         WHERE x.id = $2 AND {own}) x
                          CROSS JOIN LATERAL ({}) v)",
        kind.check()
    ))
    .bind(viewer)
    .bind(id)
    .bind(None::<i64>)
    .bind(None::<i64>)
    .fetch_one(pool)
    .await?;
    Ok(yes)
}
