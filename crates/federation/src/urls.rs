//! The URL layout of local objects (Lemmy's shape): `/u/{name}`, `/c/{name}`, `/post/{id}`,
//! `/comment/{id}`. These URLs are the ActivityPub ids stored with every row.

use url::Url;

/// The public base URL of this node, without a trailing slash, e.g. `https://canopy.example`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBase {
    url: String,
    /// [`canopy_core::authority`] of `url`, computed once.
    authority: String,
}

impl PublicBase {
    /// Accepts an absolute http(s) URL without query or fragment; a trailing slash is dropped.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("not an absolute URL: {e}"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err("must use http or https".into());
        }
        if url.host_str().is_none() {
            return Err("must name a host".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment".into());
        }
        if url.path() != "/" {
            return Err("must not have a path; Canopy serves from the root of its domain".into());
        }
        Ok(Self {
            url: url.as_str().trim_end_matches('/').to_string(),
            authority: canopy_core::authority(&url),
        })
    }

    /// Host and port as the instance is keyed in the database (`localhost:8536`).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    pub fn person(&self, name: &str) -> String {
        format!("{}/u/{name}", self.url)
    }
    pub fn community(&self, name: &str) -> String {
        format!("{}/c/{name}", self.url)
    }
    /// Prefix of post ids; the row id is appended at insert time.
    pub fn post_prefix(&self) -> String {
        format!("{}/post/", self.url)
    }
    /// Prefix of comment ids; the row id is appended at insert time.
    pub fn comment_prefix(&self) -> String {
        format!("{}/comment/", self.url)
    }
    pub fn shared_inbox(&self) -> String {
        format!("{}/inbox", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_keeps_the_port() {
        let b = PublicBase::parse("http://Alpha.localhost:8001/").unwrap();
        assert_eq!(b.as_str(), "http://alpha.localhost:8001");
        assert_eq!(b.authority(), "alpha.localhost:8001");
        assert_eq!(
            PublicBase::parse("https://x.example").unwrap().authority(),
            "x.example"
        );
    }

    #[test]
    fn rejects_paths_and_other_schemes() {
        assert!(PublicBase::parse("ftp://x.example").is_err());
        assert!(PublicBase::parse("https://x.example/sub").is_err());
        assert!(PublicBase::parse("not a url").is_err());
    }
}
