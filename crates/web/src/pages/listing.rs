//! What the front page and a community's page share: reading a post list's sort, window and
//! cursor from the query, and the links of its switches.

use super::SortLink;
use crate::format;
use canopy_db::listing::Window;
use canopy_db::posts::PostSort;
use canopy_db::DbError;
use serde::Deserialize;

pub const SORTS: [(PostSort, &str); 6] = [
    (PostSort::Hot, "hot"),
    (PostSort::Active, "active"),
    (PostSort::New, "new"),
    (PostSort::Top, "top"),
    (PostSort::MostComments, "most_comments"),
    (PostSort::Controversial, "controversial"),
];

pub const WINDOWS: [(Window, &str); 5] = [
    (Window::Day, "day"),
    (Window::Week, "week"),
    (Window::Month, "month"),
    (Window::Year, "year"),
    (Window::All, "all"),
];

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub scope: Option<String>,
    pub sort: Option<String>,
    pub window: Option<String>,
    pub cursor: Option<String>,
}

/// The entry of `table` named `raw` (none for an absent or empty value; an unknown name is an
/// error, which the pages answer with a 400).
pub fn pick<T: Copy>(table: &[(T, &'static str)], raw: Option<&str>) -> Result<Option<T>, DbError> {
    match raw {
        None | Some("") => Ok(None),
        Some(s) => table
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(x, _)| Some(*x))
            .ok_or(DbError::BadCursor("unknown name in the page query")),
    }
}

/// The name of `x` in `table`.
pub fn name<T: Copy + PartialEq>(table: &[(T, &'static str)], x: T) -> &'static str {
    table.iter().find(|(y, _)| *y == x).map_or("", |(_, n)| n)
}

/// A post list's order as a page shows it.
pub struct Order {
    pub sort: PostSort,
    pub window: Window,
}

impl Order {
    /// The order the query asks for, `default` when it names none; an unknown name is an error.
    pub fn from_query(q: &ListQuery, default: PostSort) -> Result<Self, DbError> {
        Ok(Self {
            sort: pick(&SORTS, q.sort.as_deref())?.unwrap_or(default),
            window: pick(&WINDOWS, q.window.as_deref())?.unwrap_or_default(),
        })
    }

    /// The query string of this order (with `extra` before it, e.g. `scope=local&`).
    pub fn query(&self, extra: &str) -> String {
        let mut q = format!("{extra}sort={}", name(&SORTS, self.sort));
        if self.sort == PostSort::Top {
            q.push_str(&format!("&window={}", name(&WINDOWS, self.window)));
        }
        q
    }

    /// The sort switch for a list at `path` (with `extra` kept in every link).
    pub fn sort_links(&self, path: &str, extra: &str) -> Vec<SortLink> {
        SORTS
            .iter()
            .map(|(s, n)| SortLink {
                name: n,
                href: format!("{path}?{extra}sort={n}"),
                current: *s == self.sort,
            })
            .collect()
    }

    /// The window switch, shown with `top` only.
    pub fn window_links(&self, path: &str, extra: &str) -> Vec<SortLink> {
        if self.sort != PostSort::Top {
            return Vec::new();
        }
        WINDOWS
            .iter()
            .map(|(w, n)| SortLink {
                name: n,
                href: format!("{path}?{extra}sort=top&window={n}"),
                current: *w == self.window,
            })
            .collect()
    }

    /// The link to the page after `cursor`.
    pub fn next(&self, path: &str, extra: &str, cursor: Option<String>) -> Option<String> {
        cursor.map(|c| {
            format!(
                "{path}?{}&cursor={}",
                self.query(extra),
                format::query_value(&c)
            )
        })
    }
}

/// The post sort a stored setting names (unknown names fall back to hot).
pub fn sort_named(name: &str) -> PostSort {
    pick(&SORTS, Some(name)).ok().flatten().unwrap_or_default()
}
