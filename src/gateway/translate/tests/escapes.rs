//! Texts, ids and tool inputs cross a typed translation as the client escaped them.

use serde_json::{Value, json};

use super::*;

#[test]
fn anthropic_texts_and_tool_inputs_reach_chat_as_written() {
    // Spaced as Python's json module writes, with escapes in every text.
    let body = r#"{"model": "claude-sonnet-4-5", "max_tokens": 100,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cch=1;"},
                   {"type": "text", "text": "Be \"brief\".\nAlways."}],
        "messages": [
            {"role": "user", "content": "list\t/tmp"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls \"/tmp\""}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a\nb"}]}]}"#;
    let mut t = plan(Endpoint::Messages, false, Protocol::Openai);
    let out = t.request(body.as_bytes(), "deepseek-chat", None).unwrap();
    let text = std::str::from_utf8(&out).unwrap();
    for raw in [
        r#""Be \"brief\".\nAlways.""#,
        r#""list\t/tmp""#,
        r#""a\nb""#,
    ] {
        assert!(text.contains(raw), "{raw} not copied as written: {text}");
    }
    let out: Value = serde_json::from_str(text).unwrap();
    assert_eq!(out["model"], "deepseek-chat");
    assert_eq!(out["max_tokens"], 100);
    assert_eq!(
        out["messages"][0],
        json!({ "role": "system", "content": "Be \"brief\".\nAlways." }),
        "the attribution line is left out"
    );
    let call = &out["messages"][2]["tool_calls"][0];
    assert_eq!(
        call["function"]["arguments"],
        r#"{"command": "ls \"/tmp\""}"#
    );
    let input: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({ "command": "ls \"/tmp\"" }));
    assert_eq!(
        out["messages"][3],
        json!({ "role": "tool", "tool_call_id": "toolu_1", "content": "a\nb" })
    );
}

#[test]
fn chat_texts_are_copied_as_the_client_escaped_them() {
    // Escapes of every kind, written as a client's serializer may (`\/`, `\u00e9`).
    let body = r#"{"model":"gpt-4o","messages":[
        {"role":"system","content":"Line one\nline \"two\" \/ caf\u00e9 \ud83d\ude00"},
        {"role":"user","content":"a\tb"},
        {"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"run","arguments":"{\"cmd\": \"ls\\n\"}"}},
            {"id":"call_2","type":"function","function":{"name":"run","arguments":"not json"}},
            {"id":"call_3","type":"function","function":{"name":"run","arguments":""}},
            {"id":"call_4","type":"function","function":{"name":"run","arguments":{"cmd":"pwd"}}}]},
        {"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"x\ny"}]}],
        "tools":[{"type":"function","function":{"name":"run","parameters":{"type":"object","properties":{"cmd":{"type":"string","description":"a \"shell\" line"}}}}}]}"#;
    let mut t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    let out = t
        .request(body.as_bytes(), "claude-sonnet-4-5", None)
        .unwrap();
    let text = std::str::from_utf8(&out).unwrap();
    for raw in [
        r#""Line one\nline \"two\" \/ caf\u00e9 \ud83d\ude00""#,
        r#""a\tb""#,
        r#""description":"a \"shell\" line""#,
    ] {
        assert!(text.contains(raw), "{raw} not copied as written: {text}");
    }
    let out: Value = serde_json::from_str(text).unwrap();
    assert_eq!(out["system"], "Line one\nline \"two\" / café 😀");
    let calls = &out["messages"][1]["content"];
    assert_eq!(calls[0]["input"], json!({ "cmd": "ls\n" }));
    assert_eq!(calls[1]["input"], json!({ "_raw": "not json" }));
    assert_eq!(calls[2]["input"], json!({}));
    assert_eq!(
        calls[3]["input"],
        json!({ "cmd": "pwd" }),
        "an object taken as it is"
    );
    assert_eq!(
        out["messages"][2]["content"][0]["content"],
        json!([{ "type": "text", "text": "x\ny" }])
    );
    // A body of the wrong shape is refused with the parser's reason.
    let mut t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    let e = t
        .request(br#"{"model":"m","messages":{"role":"user"}}"#, "m", None)
        .unwrap_err();
    assert!(e.0.contains("not a valid chat request"), "{}", e.0);
}

#[test]
fn string_contents_read_in_passing_keep_their_text() {
    // A message's content may be a string or an array; both are read in the body's one pass,
    // a string as its text (escapes of every kind, and none).
    let escaped = r#""say \"hi\" \/ caf\u00e9\n\ud83d\ude00""#;
    let text: String = serde_json::from_str(escaped).unwrap();
    let anthropic = format!(
        r#"{{"model":"m","max_tokens":10,"messages":[
            {{"role":"user","content":{escaped}}},
            {{"role":"assistant","content":"plain"}},
            {{"role":"assistant","content":null}},
            {{"role":"user","content":{{"not":"text"}}}},
            {{"role":"user","content":[{{"type":"text","text":{escaped}}}]}}]}}"#
    );
    let mut t = plan(Endpoint::Messages, false, Protocol::Openai);
    let sent = t.request(anthropic.as_bytes(), "glm-4.6", None).unwrap();
    // Copied as the client escaped it, never decoded and escaped again.
    let written = std::str::from_utf8(&sent).unwrap();
    assert!(
        written.contains(&format!(r#""content":{escaped}"#)),
        "{written}"
    );
    let out: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(
        out["messages"],
        json!([
            { "role": "user", "content": text },
            { "role": "assistant", "content": "plain" },
            { "role": "assistant", "content": null },
            { "role": "user", "content": text },
        ]),
        "{out}"
    );
    let responses = format!(
        r#"{{"model":"m","input":[
            {{"type":"message","role":"developer","content":{escaped}}},
            {{"type":"message","role":"user","content":{escaped}}},
            {{"type":"message","role":"user","content":[{{"type":"input_text","text":"a"}},{{"type":"input_text","text":{escaped}}}]}}]}}"#
    );
    let mut t = plan(Endpoint::Responses, false, Protocol::Anthropic);
    let out: Value =
        serde_json::from_slice(&t.request(responses.as_bytes(), "claude", None).unwrap()).unwrap();
    assert_eq!(out["system"], text);
    assert_eq!(
        out["messages"],
        json!([{ "role": "user", "content": [
            { "type": "text", "text": text },
            { "type": "text", "text": "a" },
            { "type": "text", "text": text },
        ] }]),
        "{out}"
    );
    // A whole input given as one string is the user's message.
    let mut t = plan(Endpoint::Responses, false, Protocol::Anthropic);
    let one = format!(r#"{{"model":"m","input":{escaped}}}"#);
    let sent = t.request(one.as_bytes(), "claude", None).unwrap();
    let written = std::str::from_utf8(&sent).unwrap();
    assert!(
        written.contains(&format!(r#""text":{escaped}"#)),
        "{written}"
    );
    let out: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(
        out["messages"],
        json!([{ "role": "user", "content": [{ "type": "text", "text": text }] }])
    );
}

#[test]
fn a_content_object_cannot_pass_itself_off_as_a_text_written_raw() {
    // The key serde_json's raw values travel under, sent by a client as content: read as no
    // content, never copied into the upstream body as JSON text of the client's choosing.
    let body = r#"{"model":"m","max_tokens":10,"messages":[
        {"role":"user","content":{"$serde_json::private::RawValue":"1]}],\u0022x"}},
        {"role":"user","content":{"$serde_json::private::RawValue":"2]}"}},
        {"role":"user","content":"hi"}]}"#;
    let mut t = plan(Endpoint::Messages, false, Protocol::Openai);
    let sent = t.request(body.as_bytes(), "glm-4.6", None).unwrap();
    let out: Value = serde_json::from_slice(&sent).expect("the upstream body is JSON");
    assert_eq!(
        out["messages"],
        json!([{ "role": "user", "content": "hi" }])
    );
}
