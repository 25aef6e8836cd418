//! An Anthropic answer translated for a chat or Responses client is read once for both the
//! client's answer and the request's usage report, with the results of reading it twice.

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
    let t = plan(Endpoint::Messages, false, Protocol::Openai);
    assert!(t.response_and_report(answers[0].as_bytes()).is_none());
}
