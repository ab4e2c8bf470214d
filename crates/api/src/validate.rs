//! Input checks shared by handlers. Each failure is a 400 naming the field.

use crate::error::ApiError;
use canopy_core::limits;

pub fn name(field: &str, value: &str) -> Result<(), ApiError> {
    if limits::is_valid_name(value) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "`{field}` must be 1 to {} characters of a-z, 0-9 and _",
            limits::MAX_NAME_CHARS
        )))
    }
}

/// A required single-line text: trimmed, not empty, at most `max` characters.
pub fn title<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::invalid(format!("`{field}` must not be empty")));
    }
    if v.chars().count() > limits::MAX_TITLE_CHARS {
        return Err(ApiError::invalid(format!(
            "`{field}` is longer than {} characters",
            limits::MAX_TITLE_CHARS
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "`{field}` must be a single line of text"
        )));
    }
    Ok(v)
}

/// Markdown text: at most `max_bytes`; `required` texts must not be blank.
pub fn markdown(
    field: &str,
    value: &str,
    max_bytes: usize,
    required: bool,
) -> Result<(), ApiError> {
    if value.len() > max_bytes {
        return Err(ApiError::invalid(format!(
            "`{field}` is longer than {max_bytes} bytes"
        )));
    }
    if required && value.trim().is_empty() {
        return Err(ApiError::invalid(format!("`{field}` must not be empty")));
    }
    Ok(())
}

/// An absolute http(s) link.
pub fn link(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > limits::MAX_URL_BYTES {
        return Err(ApiError::invalid(format!(
            "`{field}` is longer than {} bytes",
            limits::MAX_URL_BYTES
        )));
    }
    match url::Url::parse(value) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {
            Ok(())
        }
        _ => Err(ApiError::invalid(format!(
            "`{field}` must be an absolute http or https URL"
        ))),
    }
}

pub fn password(value: &str) -> Result<(), ApiError> {
    let n = value.chars().count();
    if !(limits::MIN_PASSWORD_CHARS..=limits::MAX_PASSWORD_CHARS).contains(&n) {
        return Err(ApiError::invalid(format!(
            "`password` must be {} to {} characters",
            limits::MIN_PASSWORD_CHARS,
            limits::MAX_PASSWORD_CHARS
        )));
    }
    Ok(())
}

/// A page size within `1..=max`, or `default` when absent.
pub fn page_size(field: &str, value: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match value {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(v),
        Some(_) => Err(ApiError::invalid(format!(
            "`{field}` must be between 1 and {max}"
        ))),
    }
}

/// A vote score: 1 (up), -1 (down) or 0 (clear).
pub fn vote(value: i16) -> Result<i16, ApiError> {
    if matches!(value, -1..=1) {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            "`score` must be 1 (up), -1 (down) or 0 (clear)",
        ))
    }
}
