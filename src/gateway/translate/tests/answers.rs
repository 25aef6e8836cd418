//! An Anthropic answer translated for a chat or Responses client, and a chat answer for an
//! Anthropic client, are read once for both the client's answer and the request's usage
//! report, with the results of reading them twice.

use super::*;
use crate::gateway::test_style::Style;
use crate::gateway::usage::Report;

#[test]
fn one_reading_gives_what_two_did_for_any_answer_and_style() {
    let answers = [
        // Usage with cache writes of both lifetimes, text and a tool call.
        r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Reading \"a\".\n"},{"type":"tool_use","id":"toolu_1","name":"read","input":{"path":"/a"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":40,"cache_read_input_tokens":7,"cache_creation":{"ephemeral_5m_input_tokens":30,"ephemeral_1h_input_tokens":10},"output_tokens":9,"service_tier":"standard"}}"#,
        // Usage first, the model named by `modelVersion` only, thinking.
        r#"{"usage":{"output_tokens":3,"input_tokens":1},"content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"ok"}],"modelVersion":"m-2","type":"message","stop_reason":"end_turn"}"#,
        // A usage of null and a model that is no string: counted as present, and no name.
        r#"{"type":"message","model":7,"modelVersion":"hidden","usage":null,"content":[],"stop_reason":"max_tokens"}"#,
        // No usage at all, and a type other than a message.
        r#"{"type":"other","content":[{"type":"text","text":"x"}]}"#,
    ];
    for endpoint in [Endpoint::ChatCompletions, Endpoint::Responses] {
        let t = plan(endpoint.clone(), false, Protocol::Anthropic);
        for answer in answers {
            for text in [Style::Compact, Style::Spaced, Style::Pretty].map(|s| s.json(answer)) {
                let (bytes, report) = t.response_and_report(text.as_bytes()).expect("read once");
                assert_eq!(
                    Some(bytes),
                    t.response(text.as_bytes()),
                    "{endpoint:?}: {text}"
                );
                assert_eq!(
                    report,
                    Report::from_json(Wire::Anthropic, text.as_bytes()),
                    "{endpoint:?}: {text}"
                );
            }
        }
    }
    let t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    assert!(t.response_and_report(b"<html>").is_none());
    // Other directions are read twice, as before.
    let t = plan(Endpoint::Messages, false, Protocol::Gemini);
    assert!(t.response_and_report(answers[0].as_bytes()).is_none());
}

#[test]
fn a_chat_answer_read_once_is_what_the_tree_made_of_it() {
    let answers = [
        // DeepSeek's reasoning beside the answer, cached prompt tokens, escapes in texts.
        r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"Reading \"a\".\n","reasoning_content":"think \u00e9"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":8},"prompt_cache_hit_tokens":8}}"#,
        // Parallel tool calls, one without an id, arguments with spaces and escapes.
        r#"{"choices":[{"finish_reason":"tool_calls","message":{"content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"path\": \"/a\"}"}},{"type":"function","function":{"arguments":"","name":"ls"}}]}}],"usage":{"completion_tokens":2,"prompt_tokens":3},"model":"glm-4.6"}"#,
        // Content as parts, a refusal, `reasoning` instead of `reasoning_content`.
        r#"{"model":"kimi","choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"refusal":"no","reasoning":"r"},"finish_reason":"length"}],"usage":null}"#,
        // No choices at all, a model that is no string, usage not an object.
        r#"{"id":"x","model":["m"],"modelVersion":"v","usage":7}"#,
        // Choices of null, an empty list; a message of null.
        r#"{"choices":null,"modelVersion":"v"}"#,
        r#"{"choices":[]}"#,
        r#"{"choices":[{"message":null,"finish_reason":null}],"usage":{}}"#,
        // Shapes the typed reading leaves to the tree: a tool call that is no object,
        // choices that are an object, a repeated key.
        r#"{"choices":[{"message":{"tool_calls":[7]}}]}"#,
        r#"{"choices":{"0":{"message":{"content":"odd"}}}}"#,
        r#"{"model":"a","model":"b","choices":[]}"#,
    ];
    let t = plan(Endpoint::Messages, false, Protocol::Openai);
    for (i, answer) in answers.iter().enumerate() {
        for text in [Style::Compact, Style::Spaced, Style::Pretty].map(|s| s.json(answer)) {
            let whole = t.response(text.as_bytes()).expect("read as a tree");
            let report = Report::from_json(Wire::OpenaiChat, text.as_bytes());
            match t.response_and_report(text.as_bytes()) {
                Some((bytes, once)) => {
                    assert_eq!(bytes, whole, "{text}");
                    assert_eq!(once, report, "{text}");
                }
                // Only the last three are of a shape left to the tree.
                None => assert!(i >= 7, "{text}"),
            }
        }
    }
    assert!(t.response_and_report(answers[8].as_bytes()).is_none());
}

/// An Anthropic answer's block, as JSON: texts of any characters, thinking with or without a
/// signature, calls of a function tool and of a freeform one, and a kind no client shows.
fn block() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::json;
    let text = any::<String>();
    prop_oneof![
        text.prop_map(|t| json!({ "type": "text", "text": t })),
        (text, "[a-zA-Z0-9+/=]{0,8}")
            .prop_map(|(t, s)| json!({ "type": "thinking", "thinking": t, "signature": s })),
        (text, prop_oneof![Just("read"), Just("apply_patch")], text).prop_map(
            |(id, name, arg)| json!({ "type": "tool_use", "id": id, "name": name,
                "input": { "input": arg, "n": [1, 2.5] } })
        ),
        Just(json!({ "type": "server_tool_use", "id": "srvtoolu_1" })),
    ]
}

proptest::proptest! {
    /// The Responses answer and the chat completion written by hand are serde's, byte for
    /// byte, for any answer.
    #[test]
    fn answers_written_by_hand_are_serde_s(
        blocks in proptest::collection::vec(block(), 0..5),
        stop in proptest::prop_oneof![
            proptest::strategy::Just("end_turn"),
            proptest::strategy::Just("max_tokens"),
            proptest::strategy::Just("tool_use"),
        ],
        usage in proptest::option::of((0i64..1 << 40, 0i64..1000, 0i64..1000, 0i64..1000)),
        model in "[ -~\u{e9}\u{1F600}]{0,12}",
    ) {
        let mut answer = serde_json::json!({ "type": "message", "content": blocks, "stop_reason": stop });
        if let Some((input, output, write, read)) = usage {
            answer["usage"] = serde_json::json!({ "input_tokens": input, "output_tokens": output,
                "cache_creation_input_tokens": write, "cache_read_input_tokens": read });
        }
        let text = answer.to_string();
        let a: pivot::Answer = serde_json::from_str(&text).unwrap();
        let mut t = plan(Endpoint::Responses, false, Protocol::Anthropic);
        t.custom_tools = vec!["apply_patch".into()];
        t.model = model;
        let x = responses::response_from_anthropic(&a, &t);
        proptest::prop_assert_eq!(
            String::from_utf8(responses::write::answer(&x, 0)).unwrap(),
            serde_json::to_string(&x).unwrap()
        );
        let t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
        let c = chat::response_from_anthropic(&a, &t);
        proptest::prop_assert_eq!(
            String::from_utf8(chat::write::completion(&c, 0)).unwrap(),
            serde_json::to_string(&c).unwrap()
        );
    }
}
