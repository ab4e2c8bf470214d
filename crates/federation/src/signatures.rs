//! HTTP signatures as ActivityPub servers use them: draft-cavage-http-signatures with
//! RSA-PKCS1-v1.5-SHA256, a `Signature` header (or `Authorization: Signature …`), and a `Digest`
//! header carrying the SHA-256 of a POST body.
//!
//! Signing produces the headers Mastodon requires of a delivery; verification enforces
//! Mastodon's rules, so that what we accept and refuse matches the rest of the fediverse. The RSA
//! work is done by aws-lc-rs.
//!
//! Verification needs the `Host` header as the client sent it. Behind HTTP/2 the host arrives as
//! the `:authority` of the URI instead; the caller puts it into the header map before verifying.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, PublicKey as RsaPublicKey, RsaParameters};
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use http::header::{AUTHORIZATION, DATE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// The longest `Signature` (or `Authorization`) header we look at; real ones are under 1 KiB.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 8 * 1024;
/// How far the signed `Date` may be from our clock, either way (Mastodon's window).
pub const DATE_WINDOW: Duration = Duration::from_secs(12 * 60 * 60);
/// Tolerated clock difference for `(created)` and `(expires)` (Mastodon's margin).
pub const CLOCK_SKEW: Duration = Duration::from_secs(60 * 60);
/// How long after we first receive a signed request an exact copy of it may still pass
/// [`verify_request`]: its `Date` (or `(created)`) was at most [`DATE_WINDOW`] from our clock
/// then, and passes for as long as it stays within [`DATE_WINDOW`] of it, so at most twice the
/// window later. Incoming activity ids must be remembered at least this long, or a captured
/// request could be replayed once its id is forgotten.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(2 * DATE_WINDOW.as_secs());

const SIGNATURE: HeaderName = HeaderName::from_static("signature");
const DIGEST: HeaderName = HeaderName::from_static("digest");
const REQUEST_TARGET: &str = "(request-target)";
const CREATED: &str = "(created)";
const EXPIRES: &str = "(expires)";
/// The algorithm name we put in signatures we make; Mastodon sends the same.
const RSA_SHA256: &str = "rsa-sha256";
/// Newer servers say `hs2019` and leave the real algorithm to the key; for us that is RSA-SHA256.
const HS2019: &str = "hs2019";

/// Peers pad base64 inconsistently; the signature bytes are what matter.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a key could not be used or a request's signature was refused. Each message says the
/// reason in words a person (say, the admin of the sending server) understands.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the key is not PEM: {0}")]
    InvalidPem(&'static str),
    #[error("a PEM block labelled {0:?} is not a key this server can use")]
    UnsupportedPemLabel(String),
    #[error("the key is not a valid RSA {0} key")]
    InvalidKey(&'static str),
    #[error("the RSA key has {0} bits; at least 2048 are required")]
    KeyTooSmall(u32),
    #[error("the key id cannot be put into a Signature header")]
    InvalidKeyId,
    #[error("the URL to sign has no host")]
    UrlWithoutHost,
    #[error("RSA signing failed")]
    SigningFailed,

    #[error("missing Signature header")]
    MissingSignature,
    #[error("the Signature header is longer than {MAX_SIGNATURE_HEADER_LEN} bytes")]
    SignatureHeaderTooLong,
    #[error("the Signature header is malformed: {0}")]
    MalformedSignature(&'static str),
    #[error("the Signature header has no {0} parameter")]
    MissingParameter(&'static str),
    #[error("the Signature header's {0} parameter is not valid")]
    InvalidParameter(&'static str),
    #[error("unsupported algorithm {0:?}; only rsa-sha256 and hs2019 are accepted")]
    UnsupportedAlgorithm(String),

    #[error("the Date header is not signed, and neither is (created)")]
    DateNotSigned,
    #[error("neither (request-target) nor the Digest header is signed")]
    TargetNotSigned,
    #[error("the Host header is not signed on a GET request")]
    HostNotSigned,
    #[error("the Digest header is not signed on a POST request")]
    DigestNotSigned,
    #[error("the {0} pseudo-header cannot be used with algorithm rsa-sha256")]
    PseudoHeaderNotAllowed(&'static str),

    #[error("missing Digest header")]
    MissingDigest,
    #[error("the Digest header has no SHA-256 value")]
    DigestWithoutSha256,
    #[error("the Digest header's SHA-256 value is not valid base64")]
    MalformedDigest,
    #[error("Digest does not match the body")]
    DigestMismatch,

    #[error("the Date header is not a valid HTTP date")]
    InvalidDate,
    #[error("Date is more than 12 hours away from now")]
    DateOutOfWindow,
    #[error("(created) is in the future")]
    CreatedInFuture,
    #[error("(created) is more than 12 hours in the past")]
    CreatedTooOld,
    #[error("the signature has expired")]
    Expired,

    #[error("the signed header {0:?} is not in the request")]
    MissingSignedHeader(String),
    #[error("signature does not verify with the actor's key")]
    BadSignature,
}

/// A local actor's RSA private key, parsed once and used to sign outgoing requests.
pub struct PrivateKey {
    pair: KeyPair,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// Parse a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM RSA key.
    pub fn from_pem(pem: &str) -> Result<Self, SignatureError> {
        let (label, der) = decode_pem(pem)?;
        let pair = match label {
            "PRIVATE KEY" => {
                KeyPair::from_pkcs8(&der).map_err(|_| SignatureError::InvalidKey("private"))?
            }
            "RSA PRIVATE KEY" => {
                KeyPair::from_der(&der).map_err(|_| SignatureError::InvalidKey("private"))?
            }
            other => return Err(SignatureError::UnsupportedPemLabel(other.to_owned())),
        };
        Ok(Self { pair })
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| SignatureError::SigningFailed)?;
        Ok(signature)
    }
}

/// A remote actor's RSA public key, parsed once so the caller can cache and reuse it.
#[derive(Clone)]
pub struct PublicKey {
    key: ParsedPublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicKey(..)")
    }
}

impl PublicKey {
    /// Parse an SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM RSA key of 2048 to 8192 bits.
    pub fn from_pem(pem: &str) -> Result<Self, SignatureError> {
        let (label, der) = decode_pem(pem)?;
        if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
            return Err(SignatureError::UnsupportedPemLabel(label.to_owned()));
        }
        // aws-lc-rs reads both the PKCS#1 RSAPublicKey and the SPKI wrapping of it.
        let rsa_key =
            RsaPublicKey::from_der(&der).map_err(|_| SignatureError::InvalidKey("public"))?;
        let bits = RsaParameters::public_modulus_len(rsa_key.as_ref())
            .map_err(|_| SignatureError::InvalidKey("public"))?;
        if bits < RSA_PKCS1_2048_8192_SHA256.min_modulus_len() {
            return Err(SignatureError::KeyTooSmall(bits));
        }
        let key = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_key.as_ref())
            .map_err(|_| SignatureError::InvalidKey("public"))?;
        Ok(Self { key })
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        self.key
            .verify_sig(message, signature)
            .map_err(|_| SignatureError::BadSignature)
    }
}

/// Return the label and the decoded body of the first PEM block in `pem`.
///
/// Hand-written rather than a strict RFC 7468 parser because keys published by other servers
/// come with `\r\n`, odd line lengths or no final newline, all of which we want to accept.
fn decode_pem(pem: &str) -> Result<(&str, Vec<u8>), SignatureError> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let start = pem
        .find(BEGIN)
        .ok_or(SignatureError::InvalidPem("no BEGIN line"))?;
    let after_begin = &pem[start + BEGIN.len()..];
    let label_end = after_begin
        .find(DASHES)
        .ok_or(SignatureError::InvalidPem("unterminated BEGIN line"))?;
    let label = &after_begin[..label_end];
    let rest = &after_begin[label_end + DASHES.len()..];
    let end_line = format!("-----END {label}-----");
    let body_end = rest
        .find(&end_line)
        .ok_or(SignatureError::InvalidPem("no matching END line"))?;
    let body: String = rest[..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = LENIENT_BASE64
        .decode(body)
        .map_err(|_| SignatureError::InvalidPem("the body is not base64"))?;
    Ok((label, der))
}

/// Headers to add to an outgoing POST: Host, Date, Digest (SHA-256 of body), Signature over
/// "(request-target) host date digest" (the set Mastodon requires). Content-Type is the caller's.
pub fn sign_post(
    key: &PrivateKey,
    key_id: &str,
    url: &url::Url,
    body: &[u8],
    now: SystemTime,
) -> Result<HeaderMap, SignatureError> {
    sign_request(key, key_id, &Method::POST, url, Some(body), now)
}

/// Headers for a signed GET (authorized fetch): Host, Date, Signature over
/// "(request-target) host date".
pub fn sign_get(
    key: &PrivateKey,
    key_id: &str,
    url: &url::Url,
    now: SystemTime,
) -> Result<HeaderMap, SignatureError> {
    sign_request(key, key_id, &Method::GET, url, None, now)
}

fn sign_request(
    key: &PrivateKey,
    key_id: &str,
    method: &Method,
    url: &url::Url,
    body: Option<&[u8]>,
    now: SystemTime,
) -> Result<HeaderMap, SignatureError> {
    if key_id
        .bytes()
        .any(|b| b == b'"' || b == b'\\' || !(b == b' ' || b.is_ascii_graphic()))
    {
        return Err(SignatureError::InvalidKeyId);
    }
    let host = canopy_core::authority(url);
    if host.is_empty() {
        return Err(SignatureError::UrlWithoutHost);
    }
    let mut headers = HeaderMap::new();
    headers.insert(HOST, header_value(&host)?);
    headers.insert(DATE, header_value(&httpdate::fmt_http_date(now))?);
    let mut signed = vec![REQUEST_TARGET, "host", "date"];
    if let Some(body) = body {
        headers.insert(DIGEST, header_value(&sha256_digest_header(body))?);
        signed.push("digest");
    }

    let path_and_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let signed: Vec<String> = signed.into_iter().map(str::to_owned).collect();
    let target = RequestTarget {
        method,
        path_and_query: &path_and_query,
        created: None,
        expires: None,
    };
    let signing_string = signing_string(&target, &headers, &signed)?;
    let signature = key.sign(&signing_string)?;
    let value = format!(
        "keyId=\"{key_id}\",algorithm=\"{RSA_SHA256}\",headers=\"{}\",signature=\"{}\"",
        signed.join(" "),
        STANDARD.encode(signature)
    );
    headers.insert(SIGNATURE, header_value(&value)?);
    Ok(headers)
}

fn header_value(value: &str) -> Result<HeaderValue, SignatureError> {
    // Everything we put in a header is built from a URL, a date, base64 or a checked key id.
    HeaderValue::from_str(value).map_err(|_| SignatureError::InvalidKeyId)
}

fn sha256_digest_header(body: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, body);
    format!("SHA-256={}", STANDARD.encode(hash.as_ref()))
}

/// The parsed Signature header (or `Authorization: Signature …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    pub key_id: String,
    pub algorithm: Option<String>,
    /// Signed header names, lowercased, in signing order; `["date"]` when the header omits them.
    pub headers: Vec<String>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
    /// The `created` and `expires` parameters, in Unix seconds.
    pub created: Option<i64>,
    pub expires: Option<i64>,
}

/// Find and parse the request's `Signature` header, or else `Authorization: Signature …`.
///
/// Refuses an algorithm other than `rsa-sha256` or `hs2019` here already, so that the caller
/// does not fetch a key for a signature it cannot check.
pub fn parse_signature(headers: &HeaderMap) -> Result<SignatureParams, SignatureError> {
    let raw = match headers.get(SIGNATURE) {
        Some(value) => value.as_bytes(),
        None => headers
            .get_all(AUTHORIZATION)
            .iter()
            .find_map(|value| strip_signature_scheme(value.as_bytes()))
            .ok_or(SignatureError::MissingSignature)?,
    };
    if raw.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(SignatureError::SignatureHeaderTooLong);
    }
    let raw = std::str::from_utf8(raw)
        .map_err(|_| SignatureError::MalformedSignature("it is not ASCII text"))?;

    let mut key_id = None;
    let mut algorithm = None;
    let mut signed_headers = None;
    let mut signature = None;
    let mut created = None;
    let mut expires = None;
    for (name, value) in parse_params(raw)? {
        let slot = match name.as_str() {
            "keyid" => &mut key_id,
            "algorithm" => &mut algorithm,
            "headers" => &mut signed_headers,
            "signature" => &mut signature,
            "created" => &mut created,
            "expires" => &mut expires,
            // Unknown parameters are ignored, as the draft asks.
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(SignatureError::MalformedSignature(
                "a parameter appears twice",
            ));
        }
    }

    let key_id = key_id.ok_or(SignatureError::MissingParameter("keyId"))?;
    if key_id.is_empty() {
        return Err(SignatureError::InvalidParameter("keyId"));
    }
    let signature = signature.ok_or(SignatureError::MissingParameter("signature"))?;
    let signature = LENIENT_BASE64
        .decode(signature)
        .map_err(|_| SignatureError::InvalidParameter("signature"))?;
    let headers = match signed_headers {
        Some(list) => list
            .split_ascii_whitespace()
            .map(str::to_ascii_lowercase)
            .collect(),
        None => vec!["date".to_owned()],
    };
    let created = parse_timestamp(created, "created")?;
    let expires = parse_timestamp(expires, "expires")?;

    let params = SignatureParams {
        key_id,
        algorithm,
        headers,
        signature,
        created,
        expires,
    };
    check_algorithm(&params)?;
    Ok(params)
}

fn strip_signature_scheme(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"signature ";
    let head = value.get(..SCHEME.len())?;
    head.eq_ignore_ascii_case(SCHEME)
        .then(|| &value[SCHEME.len()..])
}

fn parse_timestamp(
    value: Option<String>,
    name: &'static str,
) -> Result<Option<i64>, SignatureError> {
    value
        .map(|v| {
            v.parse()
                .map_err(|_| SignatureError::InvalidParameter(name))
        })
        .transpose()
}

/// Split `name=value, name="quoted \"value\"", …` into lowercased names and unquoted values.
fn parse_params(input: &str) -> Result<Vec<(String, String)>, SignatureError> {
    use SignatureError::MalformedSignature as Malformed;
    let bytes = input.as_bytes();
    let mut params = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i] == b' ' || bytes[*i] == b'\t') {
            *i += 1;
        }
    };
    loop {
        // Empty list elements (",,") are allowed by HTTP's list syntax.
        skip_ws(&mut i);
        while i < bytes.len() && bytes[i] == b',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i == bytes.len() {
            return Ok(params);
        }

        let name_start = i;
        while i < bytes.len() && is_tchar(bytes[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(Malformed("expected a parameter name"));
        }
        let name = input[name_start..i].to_ascii_lowercase();
        skip_ws(&mut i);
        if bytes.get(i) != Some(&b'=') {
            return Err(Malformed("a parameter has no '='"));
        }
        i += 1;
        skip_ws(&mut i);

        let value = if bytes.get(i) == Some(&b'"') {
            i += 1;
            let mut value = Vec::new();
            loop {
                match bytes.get(i) {
                    None => return Err(Malformed("a quoted value is not closed")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let escaped = bytes
                            .get(i + 1)
                            .ok_or(Malformed("a quoted value is not closed"))?;
                        value.push(*escaped);
                        i += 2;
                    }
                    Some(b) => {
                        value.push(*b);
                        i += 1;
                    }
                }
            }
            // The input is valid UTF-8 and we only dropped ASCII quotes and backslashes.
            String::from_utf8(value).map_err(|_| Malformed("a quoted value is not text"))?
        } else {
            let start = i;
            while i < bytes.len() && (is_tchar(bytes[i]) || b"/=".contains(&bytes[i])) {
                i += 1;
            }
            input[start..i].to_owned()
        };
        params.push((name, value));

        skip_ws(&mut i);
        match bytes.get(i) {
            None => return Ok(params),
            Some(b',') => i += 1,
            Some(_) => return Err(Malformed("parameters must be separated by commas")),
        }
    }
}

/// RFC 9110 `tchar`. Unquoted values also take `/` and `=`, so that unquoted base64 survives.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_algorithm(params: &SignatureParams) -> Result<(), SignatureError> {
    match params.algorithm.as_deref() {
        None => Ok(()),
        Some(name)
            if name.eq_ignore_ascii_case(RSA_SHA256) || name.eq_ignore_ascii_case(HS2019) =>
        {
            Ok(())
        }
        Some(other) => Err(SignatureError::UnsupportedAlgorithm(
            other.chars().take(64).collect(),
        )),
    }
}

/// Verify a request by Mastodon's rules. `body` is Some for POST.
///
/// `path_and_query` is the request URI's path and query as received (`/inbox?x=1`); `headers`
/// must hold `Host` (see the module docs). A signed Digest is checked against `body`, where None
/// counts as empty. The checks run cheapest first and the RSA verification last, so a refusal
/// names the first rule the request breaks.
pub fn verify_request(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    params: &SignatureParams,
    key: &PublicKey,
    now: SystemTime,
) -> Result<(), SignatureError> {
    check_algorithm(params)?;
    let signs = |name: &str| params.headers.iter().any(|h| h == name);
    if !signs("date") && !signs(CREATED) {
        return Err(SignatureError::DateNotSigned);
    }
    if !signs(REQUEST_TARGET) && !signs("digest") {
        return Err(SignatureError::TargetNotSigned);
    }
    if *method == Method::GET && !signs("host") {
        return Err(SignatureError::HostNotSigned);
    }
    if *method == Method::POST && !signs("digest") {
        return Err(SignatureError::DigestNotSigned);
    }
    let is_rsa_sha256 = params
        .algorithm
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(RSA_SHA256));
    for pseudo in [CREATED, EXPIRES] {
        if is_rsa_sha256 && signs(pseudo) {
            return Err(SignatureError::PseudoHeaderNotAllowed(pseudo));
        }
    }

    if signs("digest") {
        check_digest(headers, body.unwrap_or_default())?;
    }
    if signs("date") {
        check_date(headers, now)?;
    }
    let now_secs = unix_seconds(now);
    if signs(CREATED) {
        let created = params
            .created
            .ok_or(SignatureError::MissingParameter("created"))?;
        if created > now_secs.saturating_add(secs(CLOCK_SKEW)) {
            return Err(SignatureError::CreatedInFuture);
        }
        if created < now_secs.saturating_sub(secs(DATE_WINDOW)) {
            return Err(SignatureError::CreatedTooOld);
        }
    }
    if signs(EXPIRES) && params.expires.is_none() {
        return Err(SignatureError::MissingParameter("expires"));
    }
    if let Some(expires) = params.expires {
        if expires < now_secs.saturating_sub(secs(CLOCK_SKEW)) {
            return Err(SignatureError::Expired);
        }
    }

    let target = RequestTarget {
        method,
        path_and_query,
        created: params.created,
        expires: params.expires,
    };
    let signing_string = signing_string(&target, headers, &params.headers)?;
    key.verify(&signing_string, &params.signature)
}

fn check_digest(headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
    let mut values = headers.get_all(DIGEST).iter().peekable();
    if values.peek().is_none() {
        return Err(SignatureError::MissingDigest);
    }
    let sha256 = values
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .find_map(|entry| {
            let entry = entry.trim_ascii();
            let eq = entry.iter().position(|&b| b == b'=')?;
            let (name, value) = (&entry[..eq], &entry[eq + 1..]);
            name.trim_ascii()
                .eq_ignore_ascii_case(b"sha-256")
                .then(|| value.trim_ascii())
        })
        .ok_or(SignatureError::DigestWithoutSha256)?;
    let claimed = LENIENT_BASE64
        .decode(sha256)
        .map_err(|_| SignatureError::MalformedDigest)?;
    let actual = digest::digest(&digest::SHA256, body);
    if claimed != actual.as_ref() {
        return Err(SignatureError::DigestMismatch);
    }
    Ok(())
}

fn check_date(headers: &HeaderMap, now: SystemTime) -> Result<(), SignatureError> {
    let date = headers
        .get(DATE)
        .ok_or_else(|| SignatureError::MissingSignedHeader("date".to_owned()))?;
    let date = date
        .to_str()
        .ok()
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .ok_or(SignatureError::InvalidDate)?;
    let distance = match now.duration_since(date) {
        Ok(past) => past,
        Err(future) => future.duration(),
    };
    if distance > DATE_WINDOW {
        return Err(SignatureError::DateOutOfWindow);
    }
    Ok(())
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The values behind the pseudo-headers of a signing string.
struct RequestTarget<'a> {
    method: &'a Method,
    path_and_query: &'a str,
    created: Option<i64>,
    expires: Option<i64>,
}

/// The draft-cavage signing string: one `name: value` line per signed header, joined by `\n`.
/// Several values of one header are trimmed and joined with `, `.
fn signing_string(
    target: &RequestTarget<'_>,
    headers: &HeaderMap,
    signed: &[String],
) -> Result<Vec<u8>, SignatureError> {
    let mut out = Vec::new();
    for (index, name) in signed.iter().enumerate() {
        if index > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        match name.as_str() {
            REQUEST_TARGET => {
                out.extend_from_slice(target.method.as_str().to_ascii_lowercase().as_bytes());
                out.push(b' ');
                out.extend_from_slice(target.path_and_query.as_bytes());
            }
            CREATED => {
                let created = target
                    .created
                    .ok_or(SignatureError::MissingParameter("created"))?;
                out.extend_from_slice(created.to_string().as_bytes());
            }
            EXPIRES => {
                let expires = target
                    .expires
                    .ok_or(SignatureError::MissingParameter("expires"))?;
                out.extend_from_slice(expires.to_string().as_bytes());
            }
            _ => {
                let missing = || SignatureError::MissingSignedHeader(name.clone());
                let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| missing())?;
                let mut values = headers.get_all(&header).iter().peekable();
                if values.peek().is_none() {
                    return Err(missing());
                }
                for (i, value) in values.enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    out.extend_from_slice(value.as_bytes().trim_ascii());
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs1v15::{Signature as RsaSignature, SigningKey, VerifyingKey};
    use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
    use rsa::sha2::Sha256;
    use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};

    use super::*;
    use crate::keys::{generate_actor_keys, ActorKeys};

    const KEY_ID: &str = "https://local.example/u/alice#main-key";
    const BODY: &[u8] = br#"{"type":"Create","actor":"https://local.example/u/alice"}"#;

    struct TestKeys {
        pem: ActorKeys,
        private: PrivateKey,
        public: PublicKey,
    }

    fn keys() -> &'static TestKeys {
        static KEYS: OnceLock<TestKeys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let pem = generate_actor_keys().unwrap();
            let private = PrivateKey::from_pem(&pem.private_key_pem).unwrap();
            let public = PublicKey::from_pem(&pem.public_key_pem).unwrap();
            TestKeys {
                pem,
                private,
                public,
            }
        })
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn inbox_url() -> url::Url {
        url::Url::parse("https://remote.example/inbox?x=1").unwrap()
    }

    fn signed_post() -> HeaderMap {
        sign_post(&keys().private, KEY_ID, &inbox_url(), BODY, now()).unwrap()
    }

    /// Parse and verify as the inbox does, with the test key and clock.
    fn verify(
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: Option<&[u8]>,
    ) -> Result<(), SignatureError> {
        let params = parse_signature(headers)?;
        verify_request(method, path, headers, body, &params, &keys().public, now())
    }

    fn verify_post(headers: &HeaderMap) -> Result<(), SignatureError> {
        verify(&Method::POST, "/inbox?x=1", headers, Some(BODY))
    }

    /// Headers of a request signed over `signed`, with whatever extra parameters a test needs;
    /// lets a test produce signatures `sign_post` would never make.
    struct Custom<'a> {
        method: Method,
        signed: &'a [&'a str],
        algorithm: Option<&'a str>,
        created: Option<i64>,
        expires: Option<i64>,
    }

    impl Custom<'_> {
        fn sign(&self, mut headers: HeaderMap) -> HeaderMap {
            let signed: Vec<String> = self.signed.iter().map(|s| (*s).to_owned()).collect();
            let target = RequestTarget {
                method: &self.method,
                path_and_query: "/inbox?x=1",
                created: self.created,
                expires: self.expires,
            };
            let text = signing_string(&target, &headers, &signed).unwrap();
            let signature = keys().private.sign(&text).unwrap();
            let mut value = format!("keyId=\"{KEY_ID}\"");
            if let Some(algorithm) = self.algorithm {
                value.push_str(&format!(",algorithm=\"{algorithm}\""));
            }
            if let Some(created) = self.created {
                value.push_str(&format!(",created={created}"));
            }
            if let Some(expires) = self.expires {
                value.push_str(&format!(",expires={expires}"));
            }
            value.push_str(&format!(
                ",headers=\"{}\",signature=\"{}\"",
                self.signed.join(" "),
                STANDARD.encode(signature)
            ));
            headers.insert(SIGNATURE, HeaderValue::from_str(&value).unwrap());
            headers
        }
    }

    fn custom_post(signed: &'static [&'static str]) -> Custom<'static> {
        Custom {
            method: Method::POST,
            signed,
            algorithm: Some("rsa-sha256"),
            created: None,
            expires: None,
        }
    }

    /// The Host, Date and Digest a real POST of `BODY` carries, without a signature.
    fn unsigned_post_headers() -> HeaderMap {
        let mut headers = signed_post();
        headers.remove(SIGNATURE);
        headers
    }

    fn now_secs() -> i64 {
        unix_seconds(now())
    }

    // ---- round trips ----

    #[test]
    fn signed_post_verifies() {
        let headers = signed_post();
        assert_eq!(headers[HOST], "remote.example");
        assert_eq!(headers[DATE], "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(headers[DIGEST], sha256_digest_header(BODY));
        let params = parse_signature(&headers).unwrap();
        assert_eq!(params.key_id, KEY_ID);
        assert_eq!(params.algorithm.as_deref(), Some("rsa-sha256"));
        assert_eq!(
            params.headers,
            ["(request-target)", "host", "date", "digest"]
        );
        verify_post(&headers).unwrap();
    }

    #[test]
    fn signed_get_verifies_and_keeps_a_non_default_port() {
        let url = url::Url::parse("https://remote.example:8443/u/bob?page=2").unwrap();
        let headers = sign_get(&keys().private, KEY_ID, &url, now()).unwrap();
        assert_eq!(headers[HOST], "remote.example:8443");
        assert!(headers.get(DIGEST).is_none());
        assert_eq!(
            parse_signature(&headers).unwrap().headers,
            ["(request-target)", "host", "date"]
        );
        verify(&Method::GET, "/u/bob?page=2", &headers, None).unwrap();
    }

    #[test]
    fn hs2019_is_accepted() {
        let mut custom = custom_post(&["(request-target)", "host", "date", "digest"]);
        custom.algorithm = Some("hs2019");
        verify_post(&custom.sign(unsigned_post_headers())).unwrap();
    }

    #[test]
    fn absent_algorithm_is_accepted() {
        let mut custom = custom_post(&["(request-target)", "host", "date", "digest"]);
        custom.algorithm = None;
        verify_post(&custom.sign(unsigned_post_headers())).unwrap();
    }

    #[test]
    fn hs2019_with_created_and_expires_instead_of_date_is_accepted() {
        let custom = Custom {
            method: Method::POST,
            signed: &[
                "(request-target)",
                "(created)",
                "(expires)",
                "host",
                "digest",
            ],
            algorithm: Some("hs2019"),
            created: Some(now_secs() - 10),
            expires: Some(now_secs() + 300),
        };
        let mut headers = custom.sign(unsigned_post_headers());
        headers.remove(DATE);
        verify_post(&headers).unwrap();
    }

    #[test]
    fn authorization_signature_form_is_accepted() {
        let mut headers = signed_post();
        let value = headers.remove(SIGNATURE).unwrap();
        let auth = format!("Signature {}", value.to_str().unwrap());
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
        verify_post(&headers).unwrap();
    }

    #[test]
    fn digest_with_several_algorithms_uses_the_sha256_one() {
        let mut headers = unsigned_post_headers();
        let ours = sha256_digest_header(BODY).replace("SHA-256=", "sha-256=");
        let both = format!("SHA-512=AAAA, {ours}");
        headers.insert(DIGEST, HeaderValue::from_str(&both).unwrap());
        let headers = custom_post(&["(request-target)", "host", "date", "digest"]).sign(headers);
        verify_post(&headers).unwrap();
    }

    // ---- refusals ----

    #[test]
    fn unsigned_request_is_refused() {
        let headers = unsigned_post_headers();
        assert!(matches!(
            parse_signature(&headers),
            Err(SignatureError::MissingSignature)
        ));
        let mut bearer = headers.clone();
        bearer.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert!(matches!(
            parse_signature(&bearer),
            Err(SignatureError::MissingSignature)
        ));
    }

    #[test]
    fn signature_from_another_key_is_refused() {
        let other = PrivateKey::from_pem(&generate_actor_keys().unwrap().private_key_pem).unwrap();
        let headers = sign_post(&other, KEY_ID, &inbox_url(), BODY, now()).unwrap();
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::BadSignature)
        ));
    }

    #[test]
    fn tampered_body_is_refused() {
        let headers = signed_post();
        let result = verify(
            &Method::POST,
            "/inbox?x=1",
            &headers,
            Some(br#"{"type":"Delete"}"#),
        );
        assert!(matches!(result, Err(SignatureError::DigestMismatch)));
    }

    #[test]
    fn tampered_signed_header_is_refused() {
        let mut headers = signed_post();
        headers.insert(HOST, HeaderValue::from_static("other.example"));
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::BadSignature)
        ));
    }

    #[test]
    fn other_request_target_is_refused() {
        let headers = signed_post();
        let result = verify(&Method::POST, "/inbox?x=2", &headers, Some(BODY));
        assert!(matches!(result, Err(SignatureError::BadSignature)));
    }

    #[test]
    fn date_13_hours_old_is_refused_and_11_hours_old_is_not() {
        let sign_at = |hours_ago: u64| {
            let then = now() - Duration::from_secs(hours_ago * 3600);
            sign_post(&keys().private, KEY_ID, &inbox_url(), BODY, then).unwrap()
        };
        assert!(matches!(
            verify_post(&sign_at(13)),
            Err(SignatureError::DateOutOfWindow)
        ));
        verify_post(&sign_at(11)).unwrap();
    }

    #[test]
    fn date_13_hours_ahead_is_refused() {
        let later = now() + Duration::from_secs(13 * 3600);
        let headers = sign_post(&keys().private, KEY_ID, &inbox_url(), BODY, later).unwrap();
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::DateOutOfWindow)
        ));
    }

    /// A request first received at `now()` passes again only until `REPLAY_WINDOW` later,
    /// whatever its signed time: the de-duplication of activity ids relies on this bound.
    #[test]
    fn a_captured_request_passes_for_at_most_the_replay_window_after_it_was_received() {
        let verify_at = |headers: &HeaderMap, at: SystemTime| {
            let params = parse_signature(headers)?;
            let body = Some(BODY);
            verify_request(
                &Method::POST,
                "/inbox?x=1",
                headers,
                body,
                &params,
                &keys().public,
                at,
            )
        };
        // The latest Date accepted at first receipt.
        let ahead = sign_post(
            &keys().private,
            KEY_ID,
            &inbox_url(),
            BODY,
            now() + DATE_WINDOW,
        )
        .unwrap();
        verify_at(&ahead, now()).unwrap();
        verify_at(&ahead, now() + REPLAY_WINDOW).unwrap();
        assert!(matches!(
            verify_at(&ahead, now() + REPLAY_WINDOW + Duration::from_secs(1)),
            Err(SignatureError::DateOutOfWindow)
        ));
        // With `(created)` instead of a Date the request ages out sooner.
        let created = Custom {
            method: Method::POST,
            signed: &["(request-target)", "(created)", "host", "digest"],
            algorithm: Some("hs2019"),
            created: Some(now_secs() + secs(CLOCK_SKEW)),
            expires: None,
        };
        let mut headers = created.sign(unsigned_post_headers());
        headers.remove(DATE);
        verify_at(&headers, now()).unwrap();
        assert!(matches!(
            verify_at(&headers, now() + REPLAY_WINDOW + Duration::from_secs(1)),
            Err(SignatureError::CreatedTooOld)
        ));
    }

    #[test]
    fn unparseable_date_is_refused() {
        let mut headers = unsigned_post_headers();
        headers.insert(DATE, HeaderValue::from_static("yesterday"));
        let headers = custom_post(&["(request-target)", "host", "date", "digest"]).sign(headers);
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::InvalidDate)
        ));
    }

    #[test]
    fn digest_not_signed_on_post_is_refused() {
        let headers =
            custom_post(&["(request-target)", "host", "date"]).sign(unsigned_post_headers());
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::DigestNotSigned)
        ));
    }

    #[test]
    fn missing_digest_header_is_refused() {
        let mut headers = signed_post();
        headers.remove(DIGEST);
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::MissingDigest)
        ));
    }

    #[test]
    fn digest_without_sha256_is_refused() {
        let mut headers = unsigned_post_headers();
        headers.insert(DIGEST, HeaderValue::from_static("SHA-512=AAAA"));
        let headers = custom_post(&["(request-target)", "host", "date", "digest"]).sign(headers);
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::DigestWithoutSha256)
        ));
    }

    #[test]
    fn date_not_signed_is_refused() {
        let headers =
            custom_post(&["(request-target)", "host", "digest"]).sign(unsigned_post_headers());
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::DateNotSigned)
        ));
    }

    #[test]
    fn neither_request_target_nor_digest_signed_is_refused() {
        let mut custom = custom_post(&["host", "date"]);
        custom.method = Method::GET;
        let headers = custom.sign(unsigned_post_headers());
        let result = verify(&Method::GET, "/inbox?x=1", &headers, None);
        assert!(matches!(result, Err(SignatureError::TargetNotSigned)));
    }

    #[test]
    fn host_not_signed_on_get_is_refused() {
        let mut custom = custom_post(&["(request-target)", "date"]);
        custom.method = Method::GET;
        let headers = custom.sign(unsigned_post_headers());
        let result = verify(&Method::GET, "/inbox?x=1", &headers, None);
        assert!(matches!(result, Err(SignatureError::HostNotSigned)));
    }

    #[test]
    fn headers_default_to_date_alone_which_is_not_enough() {
        let mut headers = unsigned_post_headers();
        headers.insert(
            SIGNATURE,
            HeaderValue::from_static("keyId=\"k\",signature=\"AAAA\""),
        );
        let params = parse_signature(&headers).unwrap();
        assert_eq!(params.headers, ["date"]);
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::TargetNotSigned)
        ));
    }

    #[test]
    fn unknown_algorithm_is_refused() {
        let mut custom = custom_post(&["(request-target)", "host", "date", "digest"]);
        custom.algorithm = Some("hmac-sha256");
        let headers = custom.sign(unsigned_post_headers());
        assert!(matches!(
            parse_signature(&headers),
            Err(SignatureError::UnsupportedAlgorithm(a)) if a == "hmac-sha256"
        ));

        // Also when the caller hands verify_request parameters it built itself.
        let mut params = parse_signature(&signed_post()).unwrap();
        params.algorithm = Some("rsa-sha512".to_owned());
        let result = verify_request(
            &Method::POST,
            "/inbox?x=1",
            &signed_post(),
            Some(BODY),
            &params,
            &keys().public,
            now(),
        );
        assert!(matches!(
            result,
            Err(SignatureError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn headers_list_naming_an_absent_header_is_refused() {
        let mut headers = unsigned_post_headers();
        headers.insert("x-extra", HeaderValue::from_static("1"));
        let mut headers =
            custom_post(&["(request-target)", "host", "date", "digest", "x-extra"]).sign(headers);
        verify_post(&headers).unwrap();
        headers.remove("x-extra");
        assert!(matches!(
            verify_post(&headers),
            Err(SignatureError::MissingSignedHeader(h)) if h == "x-extra"
        ));
    }

    #[test]
    fn created_in_the_future_is_refused() {
        let custom = Custom {
            method: Method::POST,
            signed: &["(request-target)", "(created)", "host", "digest"],
            algorithm: Some("hs2019"),
            created: Some(now_secs() + 2 * 3600),
            expires: None,
        };
        assert!(matches!(
            verify_post(&custom.sign(unsigned_post_headers())),
            Err(SignatureError::CreatedInFuture)
        ));
    }

    #[test]
    fn expires_in_the_past_is_refused() {
        let custom = Custom {
            method: Method::POST,
            signed: &[
                "(request-target)",
                "(created)",
                "(expires)",
                "host",
                "digest",
            ],
            algorithm: Some("hs2019"),
            created: Some(now_secs() - 3 * 3600),
            expires: Some(now_secs() - 2 * 3600),
        };
        assert!(matches!(
            verify_post(&custom.sign(unsigned_post_headers())),
            Err(SignatureError::Expired)
        ));
    }

    #[test]
    fn created_with_rsa_sha256_is_refused() {
        let custom = Custom {
            method: Method::POST,
            signed: &["(request-target)", "(created)", "host", "digest"],
            algorithm: Some("rsa-sha256"),
            created: Some(now_secs()),
            expires: None,
        };
        assert!(matches!(
            verify_post(&custom.sign(unsigned_post_headers())),
            Err(SignatureError::PseudoHeaderNotAllowed("(created)"))
        ));
    }

    #[test]
    fn garbage_signature_headers_are_refused_without_panicking() {
        let long = format!("keyId=\"{}\",signature=\"AAAA\"", "a".repeat(9000));
        let garbage: &[&[u8]] = &[
            b"",
            b",,,",
            b"=",
            b"keyId",
            b"keyId=",
            b"keyId=\"unterminated",
            b"keyId=\"a\\",
            b"keyId=\"a\" signature=\"AAAA\"",
            b"keyId=\"a\"signature=\"AAAA\"",
            b"keyId=\"a\",signature=\"!!not base64!!\"",
            b"keyId=\"a\",signature=\"AAAA\",created=soon",
            b"keyId=\"a\",keyId=\"b\",signature=\"AAAA\"",
            b"keyId=\"\",signature=\"AAAA\"",
            b"signature=\"AAAA\"",
            b"keyId=\"a\"",
            b"\"keyId\"=\"a\"",
            b"keyId=\"caf\xc3\xa9\",signature=\"AAAA\",algorithm=\"\xe2\x98\x83\"",
            b"keyId=\xff\xfe",
            long.as_bytes(),
        ];
        for raw in garbage {
            let mut headers = HeaderMap::new();
            let Ok(value) = HeaderValue::from_bytes(raw) else {
                continue;
            };
            headers.insert(SIGNATURE, value);
            let result = parse_signature(&headers);
            assert!(
                result.is_err(),
                "{:?} parsed as {result:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn oversized_signature_header_is_refused() {
        let mut headers = HeaderMap::new();
        let value = format!("keyId=\"{}\",signature=\"AAAA\"", "a".repeat(9000));
        headers.insert(SIGNATURE, HeaderValue::from_str(&value).unwrap());
        assert!(matches!(
            parse_signature(&headers),
            Err(SignatureError::SignatureHeaderTooLong)
        ));
    }

    // ---- parsing and the signing string ----

    #[test]
    fn parameters_accept_quoting_escapes_spacing_and_unknown_names() {
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE,
            HeaderValue::from_static(concat!(
                r#" KeyId = "https://a.example/u/x#main-key" ,, algorithm=hs2019,"#,
                r#"headers="(Request-Target)  Host","#,
                "\t",
                r#"note="a \"quoted\", value","#,
                r#" signature="AAAA", created=1700000000,expires="1700000300""#,
            )),
        );
        let params = parse_signature(&headers).unwrap();
        assert_eq!(
            params,
            SignatureParams {
                key_id: "https://a.example/u/x#main-key".to_owned(),
                algorithm: Some("hs2019".to_owned()),
                headers: vec!["(request-target)".to_owned(), "host".to_owned()],
                signature: vec![0, 0, 0],
                created: Some(1_700_000_000),
                expires: Some(1_700_000_300),
            }
        );
    }

    #[test]
    fn signing_string_follows_the_draft() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("remote.example"));
        headers.append("x-list", HeaderValue::from_static(" a "));
        headers.append("x-list", HeaderValue::from_static("b"));
        let target = RequestTarget {
            method: &Method::POST,
            path_and_query: "/inbox?x=1",
            created: Some(1_700_000_000),
            expires: Some(1_700_000_300),
        };
        let signed: Vec<String> = [
            "(request-target)",
            "(created)",
            "(expires)",
            "host",
            "x-list",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let text = signing_string(&target, &headers, &signed).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "(request-target): post /inbox?x=1\n\
             (created): 1700000000\n\
             (expires): 1700000300\n\
             host: remote.example\n\
             x-list: a, b"
        );
    }

    // ---- cross-checks against the pure-Rust `rsa` crate ----

    /// The signing string of a fixed POST with an empty body, written out by hand rather than by
    /// our code. The digest is the well-known SHA-256 of the empty string.
    const FIXED_SIGNING_STRING: &str = "(request-target): post /users/bob/inbox\n\
        host: mastodon.example\n\
        date: Tue, 14 Nov 2023 22:13:20 GMT\n\
        digest: SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    #[test]
    fn signature_made_by_the_rsa_crate_verifies_with_ours() {
        let rsa_key = rsa::RsaPrivateKey::from_pkcs8_pem(&keys().pem.private_key_pem).unwrap();
        let signature: RsaSignature =
            SigningKey::<Sha256>::new(rsa_key).sign(FIXED_SIGNING_STRING.as_bytes());

        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("mastodon.example"));
        headers.insert(
            DATE,
            HeaderValue::from_static("Tue, 14 Nov 2023 22:13:20 GMT"),
        );
        headers.insert(
            DIGEST,
            HeaderValue::from_static("SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        );
        let value = format!(
            "keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",headers=\"(request-target) host date digest\",signature=\"{}\"",
            STANDARD.encode(signature.to_bytes())
        );
        headers.insert(SIGNATURE, HeaderValue::from_str(&value).unwrap());
        verify(&Method::POST, "/users/bob/inbox", &headers, Some(b"")).unwrap();
    }

    #[test]
    fn signature_made_by_ours_verifies_with_the_rsa_crate() {
        let url = url::Url::parse("https://mastodon.example/users/bob/inbox").unwrap();
        let headers = sign_post(&keys().private, KEY_ID, &url, b"", now()).unwrap();
        let signature = parse_signature(&headers).unwrap().signature;
        let public = rsa::RsaPublicKey::from_public_key_pem(&keys().pem.public_key_pem).unwrap();
        VerifyingKey::<Sha256>::new(public)
            .verify(
                FIXED_SIGNING_STRING.as_bytes(),
                &RsaSignature::try_from(signature.as_slice()).unwrap(),
            )
            .unwrap();
    }

    // ---- keys ----

    /// `publicKey.publicKeyPem` of https://enterprise.lemmy.ml/u/picard, from Lemmy's
    /// ActivityPub example objects.
    const LEMMY_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\n\
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0lP99/s5Vv+XbPdkeqIJ\n\
        woD4GFnHmBnBHdEKChEUWfWj1TtioC/rGNoXFQeXQA3Amhy4nxSceiDnUgwkkuQY\n\
        v0MtIW58NzgknEavtllxL+LSds5pg3gANaDIk8UiWTkqXTg0GnlJMpCK1Chen0l/\n\
        szL6DEvUyTSuS5ZYDXFgewF89Pe7U0S15V5U2Harv7AgJYDyxmUL0D1pGuUCRqcE\n\
        l5MTHJjrXeNnH1w2g8aly8YlO/Cr0L51rFg/lBF23vni7ZLv8HbmWh6YpaAf1R8h\n\
        E45zKR7OHqymdjzrg1ITBwovefpwMkVgnJ+Wdr4HPnFlBSkXPoZeM11+Z8L0anzA\n\
        XwIDAQAB\n\
        -----END PUBLIC KEY-----\n";

    /// A 1024-bit key, too small for us (made with `openssl genrsa 1024`).
    const SMALL_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\n\
        MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCeopwvS+a91ABdDwLrf7a0Skm\n\
        MeJf1e2RbVVXFuNtMeunChyg0nTulWme6mrK6W9HNopBiHAOZoHjq9Me00PenHbX\n\
        eykfYPSNyibi1p+hLxSW6BphlNmFz/Yvi2Bsi0tUgyz472McwYoVve9Tbpj/QWx/\n\
        +7KfAoZs9zcDQANLMwIDAQAB\n\
        -----END PUBLIC KEY-----\n";

    fn to_pkcs1_pem(spki_pem: &str) -> String {
        rsa::RsaPublicKey::from_public_key_pem(spki_pem)
            .unwrap()
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::CRLF)
            .unwrap()
    }

    #[test]
    fn real_world_key_parses_as_spki_and_as_pkcs1() {
        PublicKey::from_pem(LEMMY_PUBLIC_KEY).unwrap();
        let pkcs1 = to_pkcs1_pem(LEMMY_PUBLIC_KEY);
        assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        PublicKey::from_pem(&pkcs1).unwrap();
        // Without the trailing newline, as some servers publish it.
        PublicKey::from_pem(LEMMY_PUBLIC_KEY.trim_end()).unwrap();
    }

    #[test]
    fn pkcs1_public_key_verifies_our_signature() {
        let pkcs1 = to_pkcs1_pem(&keys().pem.public_key_pem);
        let key = PublicKey::from_pem(&pkcs1).unwrap();
        let headers = signed_post();
        let params = parse_signature(&headers).unwrap();
        verify_request(
            &Method::POST,
            "/inbox?x=1",
            &headers,
            Some(BODY),
            &params,
            &key,
            now(),
        )
        .unwrap();
    }

    #[test]
    fn unusable_keys_are_refused() {
        assert!(matches!(
            PublicKey::from_pem(SMALL_PUBLIC_KEY),
            Err(SignatureError::KeyTooSmall(1024))
        ));
        assert!(matches!(
            PublicKey::from_pem("not a key"),
            Err(SignatureError::InvalidPem(_))
        ));
        assert!(matches!(
            PublicKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(SignatureError::UnsupportedPemLabel(_))
        ));
        assert!(matches!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(SignatureError::InvalidKey(_))
        ));
        assert!(matches!(
            PrivateKey::from_pem(LEMMY_PUBLIC_KEY),
            Err(SignatureError::UnsupportedPemLabel(_))
        ));
    }

    #[test]
    fn key_id_that_would_break_the_header_is_refused() {
        let result = sign_post(&keys().private, "a\"b", &inbox_url(), BODY, now());
        assert!(matches!(result, Err(SignatureError::InvalidKeyId)));
    }

    #[test]
    fn keys_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PrivateKey>();
        assert_send_sync::<PublicKey>();
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Header values as a peer (or an attacker) might send them: pieces of the syntax
        /// (names, `=`, quotes, escapes, commas, spaces) mixed with arbitrary printable text.
        fn signature_like() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("keyId".to_owned()),
                Just("algorithm".to_owned()),
                Just("headers".to_owned()),
                Just("signature".to_owned()),
                Just("created".to_owned()),
                Just("expires".to_owned()),
                Just("=".to_owned()),
                Just("\"".to_owned()),
                Just("\\".to_owned()),
                Just(",".to_owned()),
                Just(" ".to_owned()),
                Just("\t".to_owned()),
                Just("hs2019".to_owned()),
                Just("(request-target) host date digest".to_owned()),
                "[A-Za-z0-9+/=]{0,16}",
                "-?[0-9]{1,20}",
                "[ -~]{0,8}",
            ];
            proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
        }

        fn parse_value(bytes: &[u8]) -> Option<Result<SignatureParams, SignatureError>> {
            let value = HeaderValue::from_bytes(bytes).ok()?;
            let mut headers = HeaderMap::new();
            headers.insert(SIGNATURE, value);
            Some(parse_signature(&headers))
        }

        fn parse_authorization(bytes: &[u8]) -> Option<Result<SignatureParams, SignatureError>> {
            let mut with_scheme = b"Signature ".to_vec();
            with_scheme.extend_from_slice(bytes);
            let value = HeaderValue::from_bytes(&with_scheme).ok()?;
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value);
            Some(parse_signature(&headers))
        }

        /// What a parse that succeeded must hold, whatever the input.
        fn check_parsed(parsed: &SignatureParams) -> Result<(), TestCaseError> {
            prop_assert!(!parsed.key_id.is_empty());
            prop_assert!(parsed.headers.iter().all(|h| h.to_ascii_lowercase() == *h));
            if let Some(a) = &parsed.algorithm {
                prop_assert!(a.eq_ignore_ascii_case(RSA_SHA256) || a.eq_ignore_ascii_case(HS2019));
            }
            Ok(())
        }

        fn quote(value: &str) -> String {
            format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_bytes_never_panic_the_parser(
                bytes in proptest::collection::vec(any::<u8>(), 0..700)
            ) {
                let parsed = [parse_value(&bytes), parse_authorization(&bytes)];
                for p in parsed.into_iter().flatten().flatten() {
                    check_parsed(&p)?;
                }
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    let _ = parse_params(text);
                }
            }

            #[test]
            fn signature_like_text_never_panics_the_parser(text in signature_like()) {
                if let Some(Ok(p)) = parse_value(text.as_bytes()) {
                    check_parsed(&p)?;
                }
                let _ = parse_params(&text);
                // Whatever parses also goes through verification without panicking.
                if let Some(Ok(params)) = parse_value(text.as_bytes()) {
                    let headers = unsigned_post_headers();
                    let _ = verify_request(
                        &Method::POST, "/inbox?x=1", &headers, Some(BODY), &params,
                        &keys().public, now(),
                    );
                    let _ = verify_request(
                        &Method::GET, "/", &headers, None, &params, &keys().public, now(),
                    );
                }
            }

            #[test]
            fn what_we_sign_parses_back_and_verifies(
                key_id in "[ -~]{1,80}",
                path in "/[a-zA-Z0-9/_.~-]{0,30}",
                query in proptest::option::of("[a-zA-Z0-9=&_-]{0,20}"),
                port in proptest::option::of(1u16..),
                body in proptest::collection::vec(any::<u8>(), 0..300),
                offset in -(DATE_WINDOW.as_secs() as i64)..=(DATE_WINDOW.as_secs() as i64),
            ) {
                let mut url = url::Url::parse("https://remote.example").unwrap();
                url.set_path(&path);
                url.set_query(query.as_deref());
                url.set_port(port).unwrap();
                let at = if offset >= 0 {
                    now() + Duration::from_secs(offset.unsigned_abs())
                } else {
                    now() - Duration::from_secs(offset.unsigned_abs())
                };
                let signed = sign_post(&keys().private, &key_id, &url, &body, at);
                if key_id.contains(['"', '\\']) {
                    prop_assert!(matches!(signed, Err(SignatureError::InvalidKeyId)));
                    return Ok(());
                }
                let headers = signed.unwrap();
                let params = parse_signature(&headers).unwrap();
                prop_assert_eq!(&params.key_id, &key_id);
                prop_assert_eq!(&params.headers, &["(request-target)", "host", "date", "digest"]);
                prop_assert_eq!(params.algorithm.as_deref(), Some(RSA_SHA256));
                let target = match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_owned(),
                };
                let (body, key) = (Some(body.as_slice()), &keys().public);
                verify_request(&Method::POST, &target, &headers, body, &params, key, now())?;
            }

            #[test]
            fn any_well_formed_header_parses_to_its_parameters(
                key_id in "[ -~]{1,60}",
                algorithm in proptest::option::of(
                    prop_oneof![Just("rsa-sha256"), Just("hs2019"), Just("RSA-SHA256")]
                ),
                signed in proptest::option::of(
                    proptest::collection::vec("[a-z0-9()-]{1,16}", 1..6)
                ),
                signature in proptest::collection::vec(any::<u8>(), 0..300),
                padded in any::<bool>(),
                created in proptest::option::of(any::<i64>()),
                expires in proptest::option::of(any::<i64>()),
                unknown in proptest::option::of("[ -~]{0,20}"),
                spacing in prop_oneof![Just(","), Just(", "), Just(" , "), Just(",\t")],
                order in Just((0..7).collect::<Vec<usize>>()).prop_shuffle(),
            ) {
                let encoded = if padded {
                    STANDARD.encode(&signature)
                } else {
                    STANDARD.encode(&signature).trim_end_matches('=').to_owned()
                };
                let mut params: Vec<Option<String>> = vec![
                    Some(format!("keyId={}", quote(&key_id))),
                    algorithm.map(|a| format!("algorithm={}", quote(a))),
                    signed.as_ref().map(|h| format!("headers={}", quote(&h.join(" ")))),
                    Some(format!("signature={}", quote(&encoded))),
                    // Numbers come bare, as peers send them.
                    created.map(|c| format!("created={c}")),
                    expires.map(|e| format!("expires={}", quote(&e.to_string()))),
                    unknown.as_ref().map(|u| format!("x-extension={}", quote(u))),
                ];
                let value: Vec<String> = order.iter().filter_map(|&i| params[i].take()).collect();
                let parsed = parse_value(value.join(spacing).as_bytes()).unwrap().unwrap();
                prop_assert_eq!(parsed, SignatureParams {
                    key_id,
                    algorithm: algorithm.map(str::to_owned),
                    headers: signed.unwrap_or_else(|| vec!["date".to_owned()]),
                    signature,
                    created,
                    expires,
                });
            }
        }
    }
}
