//! Property-based fuzzing (proptest) of what reads untrusted bytes: the SSE usage scanner, the
//! non-stream usage reader, request-path and body parsing, and the error mapping. Each property
//! runs `CASES` generated inputs; none may panic, grow memory past its bound, or emit an error
//! that is not valid JSON in the client's protocol.

use aicarpool::gateway::endpoint::{self, Endpoint};
use aicarpool::gateway::protocol::{Kind, Protocol, error_response, stream_error};
use aicarpool::gateway::usage::{MAX_LINE, Report, SseScanner, Wire};
use http::HeaderMap;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::Value;

const CASES: u32 = 3000;
const WIRES: [Wire; 4] = [
    Wire::Anthropic,
    Wire::OpenaiChat,
    Wire::OpenaiResponses,
    Wire::Gemini,
];
const KINDS: [Kind; 13] = [
    Kind::InvalidRequest,
    Kind::UnsupportedMediaType,
    Kind::Authentication,
    Kind::Permission,
    Kind::NotFound,
    Kind::MethodNotAllowed,
    Kind::TooLarge,
    Kind::RateLimited,
    Kind::Unavailable,
    Kind::Overloaded,
    Kind::UpstreamFailed,
    Kind::Timeout,
    Kind::Internal,
];

/// Byte soup that looks like SSE often enough to reach the parsing paths.
fn sse_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"event: message_start\n".to_vec()),
        Just(b"event: message_delta\n".to_vec()),
        Just(b"event: message_stop\n".to_vec()),
        Just(b"event: response.completed\n".to_vec()),
        Just(b"data: [DONE]\n".to_vec()),
        Just(
            b"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5}}}\n"
                .to_vec()
        ),
        Just(b"data: {\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":1e309}}\n".to_vec()),
        Just(b"data: {\"usageMetadata\":{\"promptTokenCount\":\"x\"}}\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b":comment\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::String),
        prop_oneof![
            Just("model"),
            Just("stream"),
            Just("metadata"),
            Just("user_id"),
            Just("stream_options"),
            Just("messages"),
            Just("include_usage"),
            Just("claude-sonnet-4-5"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("model".to_owned()),
                        Just("stream".to_owned()),
                        Just("metadata".to_owned()),
                        Just("user_id".to_owned()),
                        Just("stream_options".to_owned()),
                        Just("include_usage".to_owned()),
                        ".{0,8}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn the_sse_scanner_survives_any_bytes_in_any_split(
        bytes in sse_like(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        w in 0..4usize,
    ) {
        let mut whole = SseScanner::new(WIRES[w]);
        whole.feed(&bytes);
        let mut split = SseScanner::new(WIRES[w]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort();
        let mut at = 0;
        for p in points.into_iter().chain([bytes.len()]) {
            split.feed(&bytes[at..p]);
            prop_assert!(split.buffered() <= MAX_LINE);
            at = p;
        }
        // Where the chunks break does not change what is counted.
        prop_assert_eq!(format!("{:?}", whole.report), format!("{:?}", split.report));
    }

    #[test]
    fn usage_is_read_from_any_json_without_panicking(v in json_value(), raw in proptest::collection::vec(any::<u8>(), 0..256), w in 0..4usize) {
        let r = Report::from_json(WIRES[w], v.to_string().as_bytes());
        prop_assert!(r.usage.total() >= 0);
        let r = Report::from_json(WIRES[w], &raw);
        prop_assert!(r.usage.total() >= 0);
    }

    #[test]
    fn any_path_and_body_parse_without_panicking(
        path in "(/v1(beta)?/(messages|models|chat|responses)?(/[a-zA-Z0-9:._%-]{0,30}){0,3})|.{0,60}",
        v in json_value(),
        session in proptest::option::of("[ -~]{0,40}"),
    ) {
        let mut headers = HeaderMap::new();
        if let Some(s) = session.as_deref().and_then(|s| http::HeaderValue::from_str(s).ok()) {
            headers.insert("x-claude-code-session-id", s);
        }
        let _ = Protocol::guess(&path, &headers);
        if let Some(e) = Endpoint::from_path(&path) {
            let body = v.to_string();
            match endpoint::parse(&e, &headers, &body) {
                Ok(parsed) => {
                    prop_assert!(v.is_object());
                    // Reading only the needed fields finds what a whole parse finds.
                    if !matches!(e, Endpoint::Gemini { .. }) {
                        prop_assert_eq!(parsed.model.as_deref(), v["model"].as_str());
                        prop_assert_eq!(parsed.stream, v["stream"].as_bool().unwrap_or(false));
                    }
                    // Whatever the gateway sends upstream instead is still JSON, with just
                    // the field it set changed (the rest is rewritten as text, not a tree).
                    if let Some(opts) = &parsed.stream_options
                        && let Some(b) = endpoint::with_usage_option(&body, opts)
                    {
                        let sent: Value = serde_json::from_str(&b).unwrap();
                        prop_assert_eq!(&sent["stream_options"]["include_usage"], &Value::Bool(true));
                        prop_assert_eq!(&sent["messages"], &v["messages"]);
                    }
                    for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
                        let renamed = endpoint::with_model(&bytes::Bytes::from(text.clone()), "mapped-model");
                        let sent: Value = serde_json::from_slice(&renamed).unwrap();
                        prop_assert_eq!(&sent["model"], &Value::from("mapped-model"));
                        let mut rest = sent.clone();
                        let mut orig: Value = serde_json::from_str(&text).unwrap();
                        rest.as_object_mut().unwrap().remove("model");
                        orig.as_object_mut().unwrap().remove("model");
                        prop_assert_eq!(rest, orig);
                    }
                }
                Err(_) => prop_assert!(!v.is_object(), "an object is always read"),
            }
        }
    }

    #[test]
    fn every_error_is_valid_json_in_the_clients_shape(message in "\\PC{0,200}|[\\x00-\\x1f\"\\\\]{0,20}", k in 0..13usize, p in 0..4usize, w in 0..4usize) {
        let protocol = [None, Some(Protocol::Anthropic), Some(Protocol::Openai), Some(Protocol::Gemini)][p];
        let resp = error_response(protocol, KINDS[k], &message);
        prop_assert_eq!(resp.status(), KINDS[k].status());
        let body = futures_body(resp.into_body());
        let v: Value = serde_json::from_slice(&body).expect("error bodies are JSON");
        let text = v.pointer("/error/message").and_then(Value::as_str);
        prop_assert_eq!(text, Some(message.as_str()));
        let event = stream_error(WIRES[w], KINDS[k], &message);
        let text = std::str::from_utf8(&event).unwrap();
        let data = text.lines().find_map(|l| l.strip_prefix("data: ")).expect("a data line");
        prop_assert!(serde_json::from_str::<Value>(data).is_ok());
        prop_assert!(text.ends_with("\n\n"));
    }
}

proptest! {
    // Each case feeds up to 3 MiB, so fewer of them.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn one_endless_line_stays_within_its_bound(len in 0..(3 * MAX_LINE), w in 0..4usize) {
        let mut s = SseScanner::new(WIRES[w]);
        let chunk = vec![b'a'; 64 * 1024];
        let mut fed = 0;
        while fed < len {
            s.feed(&chunk);
            fed += chunk.len();
            prop_assert!(s.buffered() <= MAX_LINE);
        }
    }
}

/// The bytes of a complete in-memory body.
fn futures_body(body: aicarpool::http::Body) -> bytes::Bytes {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(body.collect())
        .unwrap()
        .to_bytes()
}
