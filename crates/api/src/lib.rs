//! Canopy's REST API (placeholder while the real one is written).
use canopy_db::PgPool;
use canopy_federation::urls::PublicBase;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub base: PublicBase,
}

#[derive(Debug)]
pub struct ApiError(pub String);
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ApiError {}

impl AppState {
    pub async fn new(db: PgPool, base: PublicBase) -> Result<Self, ApiError> {
        Ok(Self { db, base })
    }
}

pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/api/v1/health", axum::routing::get(|| async { "ok" }))
        .with_state(state)
}

pub mod accounts {
    use super::*;
    #[derive(Debug, serde::Serialize)]
    pub struct UserView {
        pub id: i64,
        pub name: String,
    }
    pub async fn create_account(
        _state: &AppState,
        name: &str,
        _password: &str,
        _display_name: Option<&str>,
        _admin: bool,
    ) -> Result<UserView, ApiError> {
        Ok(UserView { id: 0, name: name.into() })
    }
}
