//! Who is asking: the member key a request presents, wherever its protocol puts it, found by
//! hash in the snapshot and checked usable.

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, header};
use sha2::{Digest, Sha256};

use super::protocol::{X_API_KEY, X_GOOG_API_KEY};
use super::snapshot::{KeyDigest, Snapshot};
use crate::domain::KeyStatus;
use crate::store::keys::ApiKey;

/// The one member key the request presents, from `x-api-key`, `Authorization: Bearer`,
/// `x-goog-api-key` or `?key=` (percent-decoded, as Google's SDKs encode it). Two different keys
/// are refused rather than guessed between.
pub(super) fn presented_key<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> std::result::Result<Cow<'a, str>, &'static str> {
    let values = |name: &'static HeaderName| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{fffd}"))
    };
    let bearer = values(&header::AUTHORIZATION).filter_map(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    let in_headers = values(&X_API_KEY)
        .chain(bearer)
        .chain(values(&X_GOOG_API_KEY))
        .map(|k| Cow::Borrowed(k.trim()));
    let in_query = query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
        .filter(|(name, _)| name == "key")
        .map(|(_, value)| Cow::Owned(value.trim().to_owned()));
    let mut found: Option<Cow<'a, str>> = None;
    for key in in_headers.chain(in_query).filter(|k| !k.is_empty()) {
        match &found {
            Some(k) if *k != key => {
                return Err("conflicting API keys: the request carries two different keys");
            }
            _ => found = Some(key),
        }
    }
    found.ok_or(
        "missing API key: send it in x-api-key, Authorization: Bearer, x-goog-api-key or ?key=",
    )
}

/// Finds the member key and checks it is usable.
pub(super) fn authenticate(
    snap: &Snapshot,
    headers: &HeaderMap,
    query: Option<&str>,
    now: i64,
) -> std::result::Result<Arc<ApiKey>, &'static str> {
    let presented = presented_key(headers, query)?;
    // Looked up by hash: the comparison never touches the plaintext, so its timing says nothing.
    let digest: KeyDigest = Sha256::digest(presented.as_bytes()).into();
    let key = snap.keys.get(&digest).ok_or("invalid API key")?;
    if key.status != KeyStatus::Active {
        return Err("this API key has been revoked");
    }
    if key.limits.expires_at.is_some_and(|t| t <= now) {
        return Err("this API key has expired");
    }
    Ok(key.clone())
}
