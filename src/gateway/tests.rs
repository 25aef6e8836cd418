//! How a member key is found in a request, and what request ids look like.

use super::*;
use http::HeaderValue;

#[test]
fn the_member_key_is_found_in_any_protocols_place_and_never_forwarded() {
    let one = |name: &'static str, value: &'static str| {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    };
    let none = HeaderMap::new();
    assert_eq!(
        presented_key(&none, Some("alt=sse&key=acp_q")).as_deref(),
        Ok("acp_q")
    );
    assert_eq!(
        presented_key(&one("x-goog-api-key", "acp_g"), None).as_deref(),
        Ok("acp_g")
    );
    assert_eq!(
        presented_key(&one("authorization", "Bearer acp_b"), None).as_deref(),
        Ok("acp_b")
    );
    assert_eq!(
        presented_key(&one("x-api-key", " acp_x "), None).as_deref(),
        Ok("acp_x")
    );
    assert!(
        presented_key(&none, None)
            .unwrap_err()
            .starts_with("missing")
    );
    // The same key twice is fine; two different keys are refused, not guessed between.
    let mut both = one("x-api-key", "acp_x");
    both.insert("authorization", HeaderValue::from_static("Bearer acp_x"));
    assert_eq!(
        presented_key(&both, Some("key=acp_x")).as_deref(),
        Ok("acp_x")
    );
    both.append("x-api-key", HeaderValue::from_static("acp_y"));
    assert!(
        presented_key(&both, None)
            .unwrap_err()
            .starts_with("conflicting")
    );
    let bearer = one("authorization", "Bearer acp_b");
    assert!(presented_key(&bearer, Some("key=acp_q")).is_err());
    let bad = one("x-api-key", "acp_x");
    let mut bad = bad;
    bad.append("x-api-key", HeaderValue::from_bytes(b"acp_\xff").unwrap());
    assert!(
        presented_key(&bad, None).is_err(),
        "a non-UTF-8 key is not ignored"
    );
    assert_eq!(
        upstream_query(Some("key=acp_q&alt=sse")).as_deref(),
        Some("alt=sse")
    );
    assert_eq!(upstream_query(Some("key=acp_q")), None);
    // Percent-encoded, as SDKs may send it; an encoded name is still the key.
    assert_eq!(
        presented_key(&none, Some("k%65y=acp%5Fq")).as_deref(),
        Ok("acp_q")
    );
    assert_eq!(
        upstream_query(Some("k%65y=acp_q&alt=sse")).as_deref(),
        Some("alt=sse")
    );
    assert_eq!(
        upstream_query(Some("beta=true")).as_deref(),
        Some("beta=true")
    );
}

#[test]
fn request_ids_are_long_distinct_and_ordered_by_time() {
    let (a, b) = (request_id(), request_id());
    assert_eq!(a.len(), 32);
    assert!(
        a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
        "{a}"
    );
    assert_ne!(a, b);
    // The first twelve digits are the time in milliseconds.
    let ms = i64::from_str_radix(&a[..12], 16).unwrap();
    assert!(now_ms().abs_diff(ms) < 60_000, "{ms}");
    // Time first: later requests sort after earlier ones (to the millisecond).
    std::thread::sleep(Duration::from_millis(2));
    assert!(request_id() > a);
}
