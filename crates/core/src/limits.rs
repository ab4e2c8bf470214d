//! Size limits enforced at every entry point (REST API now, federation inbox later).

/// Longest accepted user or community name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest display name or post title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest markdown body of a post, in bytes.
pub const MAX_POST_BODY_BYTES: usize = 50_000;
/// Longest markdown body of a comment, in bytes.
pub const MAX_COMMENT_BODY_BYTES: usize = 10_000;
/// Longest community description or user bio, in bytes.
pub const MAX_SUMMARY_BYTES: usize = 5_000;
/// Longest reason of a moderation action, in characters (longer received ones are cut).
pub const MAX_REASON_CHARS: usize = 1_000;
/// Longest accepted URL, in bytes.
pub const MAX_URL_BYTES: usize = 2_000;
/// Shortest and longest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Largest request body the HTTP layer reads, in bytes.
pub const MAX_REQUEST_BODY_BYTES: usize = 256 * 1024;

/// Whether `name` is a valid local user or community name: 1–32 of `[a-z0-9_]`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_allow_lowercase_digits_and_underscore_only() {
        assert!(is_valid_name("rust_lang2"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("Rust"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("ä"));
        assert!(!is_valid_name(&"a".repeat(33)));
        assert!(is_valid_name(&"a".repeat(32)));
    }
}
