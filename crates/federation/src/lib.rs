//! Canopy's ActivityPub side. For now it owns actor key pairs and the URL layout of local
//! objects; inbox handling and activities arrive with the federation issue.

pub mod keys;
pub mod urls;
