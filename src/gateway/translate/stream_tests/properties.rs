//! Property tests: any request of any format translates or is refused, and a stream split
//! anywhere translates as the whole.

use super::*;
use proptest::prelude::*;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z_ ]{0,8}".prop_map(Value::String),
        prop::sample::select(vec![
            "user",
            "assistant",
            "model",
            "tool",
            "text",
            "image",
            "tool_use",
            "tool_result",
            "function",
            "function_call",
            "message",
            "input_text",
            "thinking",
            "system",
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop::sample::select(vec![
            "role",
            "content",
            "type",
            "text",
            "messages",
            "contents",
            "parts",
            "input",
            "tools",
            "tool_calls",
            "function",
            "name",
            "arguments",
            "id",
            "call_id",
            "tool_use_id",
            "functionCall",
            "functionResponse",
            "args",
            "response",
            "source",
            "image_url",
            "url",
            "system",
            "instructions",
            "tool_choice",
            "max_tokens",
            "generationConfig",
            "thinking",
            "reasoning",
            "effort",
            "output",
            "stop",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_request_of_any_format_translates_or_is_refused_without_panic(v in json_value()) {
        let body = match v { Value::Object(_) => v, other => json!({ "messages": other, "input": other, "contents": other }) };
        for endpoint in [Endpoint::Messages, Endpoint::ChatCompletions, Endpoint::Responses, gemini_endpoint(GeminiMethod::Stream), Endpoint::CountTokens] {
            for (upstream, only) in [(Protocol::Anthropic, OpenaiApis::ChatOnly), (Protocol::Openai, OpenaiApis::ChatOnly), (Protocol::Openai, OpenaiApis::Both), (Protocol::Openai, OpenaiApis::ResponsesOnly), (Protocol::Gemini, OpenaiApis::ChatOnly)] {
                let asked = Asked { endpoint: &endpoint, stream: true, model: "m", request_id: "r", query: None, session: None, started_at_ms: 0 };
                if let Some(mut t) = Translation::plan(&asked, upstream, only) {
                    let _ = t.request(body.to_string().as_bytes(), "m", None);
                    let _ = t.response(body.to_string().as_bytes());
                    let mut s = t.stream();
                    let _ = s.feed(format!("data: {body}\n\n").as_bytes());
                    let _ = s.finish();
                }
            }
        }
    }

    /// The Anthropic request written by hand is serde's, byte for byte, for whatever a chat or
    /// Responses request reads as.
    #[test]
    fn the_hand_written_request_is_serdes(v in json_value(), stream in any::<bool>(), think in any::<bool>()) {
        let text = match v { Value::Object(_) => v, other => json!({ "messages": other, "input": other }) }.to_string();
        let notes = crate::gateway::skim::note(text.as_bytes()).unwrap().1;
        let read = [
            super::super::chat_request::to_pivot(&text, &notes).ok().map(|r| r.request),
            super::super::responses_request::to_pivot(&text, &notes).ok().map(|r| r.request),
        ];
        for mut p in read.into_iter().flatten() {
            p.model = "claude-sonnet-4-5".into();
            p.stream = Some(stream);
            p.max_tokens.get_or_insert(DEFAULT_MAX_TOKENS);
            if think {
                p.set_thinking(2048);
            }
            let hand = super::super::write::request(&p, 0);
            prop_assert_eq!(String::from_utf8(hand).unwrap(), serde_json::to_string(&p).unwrap());
        }
    }

    /// The chat request written by hand is serde's, byte for byte, for whatever an Anthropic
    /// request reads as.
    #[test]
    fn the_hand_written_chat_request_is_serdes(v in json_value(), stream in any::<bool>(), session in any::<bool>()) {
        let text = match v { Value::Object(_) => v, other => json!({ "messages": other, "system": other }) }.to_string();
        let notes = crate::gateway::skim::note(text.as_bytes()).unwrap().1;
        let mut t = plan(Endpoint::Messages, stream, Protocol::Openai);
        t.session = session.then(|| "conversation \"1\"".to_owned());
        if let Ok(body) = super::super::chat_upstream::read(&text, &notes, "deepseek-chat", &t) {
            let hand = super::super::chat_upstream::write(&body, 0);
            prop_assert_eq!(String::from_utf8(hand).unwrap(), serde_json::to_string(&body).unwrap());
        }
    }

    #[test]
    fn a_stream_split_anywhere_translates_as_the_whole(cuts in prop::collection::vec(0usize..2000, 0..6)) {
        for (t, stream) in [
            (plan(Endpoint::Messages, true, Protocol::Openai), CHAT_STREAM),
            (plan(Endpoint::Responses, true, Protocol::Anthropic), ANTHROPIC_STREAM),
            (plan(gemini_endpoint(GeminiMethod::Stream), true, Protocol::Anthropic), ANTHROPIC_STREAM),
            (plan(Endpoint::ChatCompletions, true, Protocol::Gemini), GEMINI_STREAM),
            (responses_only(Endpoint::Messages, true), RESPONSES_STREAM),
        ] {
            let mut cut: Vec<usize> = cuts.iter().map(|c| c % stream.len()).collect();
            cut.sort();
            prop_assert_eq!(run(&t, stream.as_bytes(), &cut), run(&t, stream.as_bytes(), &[]));
        }
    }
}
