//! The instance policy as this process applies it: which instances are blocked, whether only
//! listed ones federate. The inbox and the outbound client ask [`Governance::check`] on every
//! request, so the policy is kept in memory and reloaded when the database says it changed:
//! every change bumps a generation counter ([`canopy_db::governance`]), which a task polls every
//! [`REFRESH_INTERVAL`] (one tiny query). A block made by any process — `canopy admin`, the
//! API of another `serve` — thus applies everywhere within about a second, without restarts.

use canopy_db::{DbError, PgPool};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// How often each process checks whether the policy changed.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Whether the node federates with every instance not blocked, or only with listed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FederationMode {
    /// Every instance except the blocked ones.
    #[default]
    Open,
    /// Only instances on the allow-list (and never a blocked one).
    Allowlist,
}

impl fmt::Display for FederationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FederationMode::Open => "open",
            FederationMode::Allowlist => "allowlist",
        })
    }
}

/// Why the node will not federate with an instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("instance {authority} is blocked by this node's administrators{}", reason_suffix(.reason))]
    Blocked {
        authority: String,
        reason: Option<String>,
    },
    #[error("this node federates only with the instances on its allow-list, and {authority} is not on it")]
    NotAllowed { authority: String },
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

#[derive(Debug, Default)]
struct Snapshot {
    generation: Option<i64>,
    allowlist: bool,
    blocked: HashMap<String, Option<String>>,
    allowed: HashSet<String>,
    /// Remote people banned from this node (see [`canopy_db::bans`]), with the end of the ban.
    banned: HashMap<String, Option<DateTime<Utc>>>,
}

/// The policy of this process. Shared through an `Arc`; cheap to check.
#[derive(Debug)]
pub struct Governance {
    db: PgPool,
    /// This node's own authority: never refused.
    local: String,
    state: RwLock<Snapshot>,
}

impl Governance {
    /// The policy of the node at `local`, loaded from `db`.
    pub async fn load(db: PgPool, local: &str) -> Result<Arc<Self>, DbError> {
        let governance = Arc::new(Self {
            db,
            local: local.to_ascii_lowercase(),
            state: RwLock::new(Snapshot::default()),
        });
        governance.reload().await?;
        Ok(governance)
    }

    /// Whether the node federates with the instance at `authority` (host, and port when not
    /// the default, as [`canopy_core::authority`] writes it).
    pub fn check(&self, authority: &str) -> Result<(), Refused> {
        let authority = authority.to_ascii_lowercase();
        if authority == self.local {
            return Ok(());
        }
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if let Some(reason) = state.blocked.get(&authority) {
            return Err(Refused::Blocked {
                authority,
                reason: reason.clone(),
            });
        }
        if state.allowlist && !state.allowed.contains(&authority) {
            return Err(Refused::NotAllowed { authority });
        }
        Ok(())
    }

    /// Whether the remote person `ap_id` is banned from this node now (a site ban, which
    /// changes the policy's generation like a block does; an expired ban no longer counts).
    pub fn site_banned(&self, ap_id: &str) -> bool {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        match state.banned.get(ap_id) {
            Some(Some(end)) => *end > Utc::now(),
            Some(None) => true,
            None => false,
        }
    }

    /// The mode in force.
    pub fn mode(&self) -> FederationMode {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if state.allowlist {
            FederationMode::Allowlist
        } else {
            FederationMode::Open
        }
    }

    /// Read the whole policy again.
    pub async fn reload(&self) -> Result<(), DbError> {
        let policy = canopy_db::governance::policy(&self.db).await?;
        let banned = canopy_db::bans::site_banned_remote(&self.db).await?;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        *state = Snapshot {
            generation: Some(policy.generation),
            allowlist: policy.allowlist,
            blocked: policy.blocked.into_iter().collect(),
            allowed: policy.allowed.into_iter().collect(),
            banned: banned.into_iter().collect(),
        };
        Ok(())
    }

    /// Reload the policy if its generation moved. True when it did.
    pub async fn refresh(&self) -> Result<bool, DbError> {
        let generation = canopy_db::governance::generation(&self.db).await?;
        let known = self
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .generation;
        if known == Some(generation) {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Poll for changes every `every` for as long as the policy is in use anywhere (the task
    /// holds no strong reference and ends when the last one is dropped).
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(governance) = weak.upgrade() else {
                    return;
                };
                match governance.refresh().await {
                    Ok(true) => {
                        tracing::info!(mode = %governance.mode(), "instance policy reloaded")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not check the instance policy; the one in memory stays in force")
                    }
                }
            }
        })
    }
}
