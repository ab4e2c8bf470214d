//! The db crate's typed error. The api crate maps it to HTTP statuses in one place.

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The row the caller asked for does not exist (or is not visible).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was broken: the payload names which one.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A cursor could not be decoded or does not fit the request.
    #[error("bad cursor: {0}")]
    BadCursor(&'static str),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    /// Turn a unique-violation on `constraint` into `Conflict(what)`, leaving other errors as they are.
    pub(crate) fn conflict_on(err: sqlx::Error, what: &'static str) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.code().as_deref() == Some("23505") {
                return DbError::Conflict(what);
            }
        }
        DbError::Sqlx(err)
    }
}
