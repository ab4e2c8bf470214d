//! NodeInfo 2.1 (<https://nodeinfo.diaspora.software/>): what software this is and how big.

use canopy_db::published::LocalCounts;
use serde::{Deserialize, Serialize};

pub const SCHEMA_2_1: &str = "http://nodeinfo.diaspora.software/ns/schema/2.1";

/// The link relation of the instance actor in `/.well-known/nodeinfo` (FEP-2677).
pub const APPLICATION_REL: &str = "https://www.w3.org/ns/activitystreams#Application";

/// Media type of the NodeInfo 2.1 document.
pub const NODEINFO_JSON: &str =
    "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"";

/// `/.well-known/nodeinfo`: where the documents are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfoLinks {
    pub links: Vec<NodeInfoLink>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfoLink {
    pub rel: String,
    pub href: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub version: String,
    pub software: Software,
    pub protocols: Vec<String>,
    pub services: Services,
    pub open_registrations: bool,
    pub usage: Usage,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Software {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Services {
    pub inbound: Vec<String>,
    pub outbound: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub users: Users,
    pub local_posts: i64,
    pub local_comments: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Users {
    pub total: i64,
    pub active_month: i64,
    pub active_halfyear: i64,
}

impl NodeInfo {
    /// The document for this build with the node's figures (see
    /// [`canopy_db::published::local_counts`] for what counts as active).
    pub fn new(counts: &LocalCounts) -> Self {
        Self {
            version: "2.1".to_string(),
            software: Software {
                name: "canopy".to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            protocols: vec!["activitypub".to_string()],
            services: Services::default(),
            open_registrations: true,
            usage: Usage {
                users: Users {
                    total: counts.users,
                    active_month: counts.active_month,
                    active_halfyear: counts.active_halfyear,
                },
                local_posts: counts.posts,
                local_comments: counts.comments,
            },
            metadata: serde_json::Map::new(),
        }
    }
}
