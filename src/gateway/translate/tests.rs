//! Golden pairs per direction, written from each protocol's published formats, and stream
//! translation checked against every split of the upstream's bytes.

use serde_json::{Value, json};

use super::*;

pub(super) fn plan(endpoint: Endpoint, stream: bool, upstream: Protocol) -> Translation {
    let asked = Asked {
        endpoint: &endpoint,
        stream,
        model: "claude-sonnet-4-5",
        request_id: "req1",
        query: Some("alt=sse"),
        session: Some("sess-1"),
        started_at_ms: 1_700_000_000_000,
    };
    Translation::plan(&asked, upstream, OpenaiApis::Both).expect("a translation")
}

pub(super) fn translate(t: &mut Translation, body: Value) -> Result<Value, Refusal> {
    let out = t.request(body.to_string().as_bytes(), "upstream-model", None)?;
    Ok(serde_json::from_slice(&out).unwrap())
}

pub(super) fn gemini_endpoint(method: GeminiMethod) -> Endpoint {
    Endpoint::Gemini {
        model: "gemini-2.5-pro".into(),
        method,
        version: GeminiVersion::V1beta,
    }
}

/// A Claude Code-shaped request: attribution line, cache markers, a tool loop, an image.
pub(super) fn claude_code_request() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": [
            { "type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cch=abc123;" },
            { "type": "text", "text": "You are Claude Code.", "cache_control": { "type": "ephemeral" } }
        ],
        "messages": [
            { "role": "user", "content": [
                { "type": "text", "text": "what is in /tmp?" },
                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBOR" } }
            ] },
            { "role": "assistant", "content": [
                { "type": "thinking", "thinking": "let me look", "signature": "sig" },
                { "type": "text", "text": "Looking." },
                { "type": "tool_use", "id": "toolu_1", "name": "Bash", "input": { "command": "ls /tmp" } },
                { "type": "tool_use", "id": "toolu_2", "name": "Bash", "input": { "command": "pwd" } }
            ] },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt" },
                { "type": "tool_result", "tool_use_id": "toolu_2", "content": [{ "type": "text", "text": "/root" }], "is_error": true },
                { "type": "text", "text": "and?", "cache_control": { "type": "ephemeral" } }
            ] }
        ],
        "tools": [{ "name": "Bash", "description": "Run a command", "input_schema": { "type": "object", "properties": { "command": { "type": "string" } } } }],
        "tool_choice": { "type": "auto", "disable_parallel_tool_use": true },
        "thinking": { "type": "enabled", "budget_tokens": 10000 },
        "stop_sequences": ["END"],
        "metadata": { "user_id": "user_x_session_s" },
        "stream": true
    })
}

#[test]
fn anthropic_to_chat_keeps_the_conversation_and_drops_only_hints() {
    let mut t = plan(Endpoint::Messages, true, Protocol::Openai);
    let out = translate(&mut t, claude_code_request()).unwrap();
    assert_eq!(
        out,
        json!({
            "model": "upstream-model",
            "messages": [
                { "role": "system", "content": "You are Claude Code." },
                { "role": "user", "content": [
                    { "type": "text", "text": "what is in /tmp?" },
                    { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBOR" } }
                ] },
                { "role": "assistant", "content": "Looking.", "tool_calls": [
                    { "id": "toolu_1", "type": "function", "function": { "name": "Bash", "arguments": "{\"command\":\"ls /tmp\"}" } },
                    { "id": "toolu_2", "type": "function", "function": { "name": "Bash", "arguments": "{\"command\":\"pwd\"}" } }
                ] },
                { "role": "tool", "tool_call_id": "toolu_1", "content": "a.txt" },
                { "role": "tool", "tool_call_id": "toolu_2", "content": "Error: /root" },
                { "role": "user", "content": "and?" }
            ],
            "max_tokens": 32000,
            "stop": ["END"],
            "tools": [{ "type": "function", "function": { "name": "Bash", "description": "Run a command", "parameters": { "type": "object", "properties": { "command": { "type": "string" } } } } }],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "reasoning_effort": "medium",
            "stream": true,
            "stream_options": { "include_usage": true },
            "prompt_cache_key": "sess-1"
        })
    );
}

#[test]
fn only_openai_s_own_api_gets_the_prompt_cache_key() {
    for (base, kept) in [
        ("https://api.openai.com/v1", true),
        ("https://api.deepseek.com", false),
        ("https://api.openai.com.example.net/v1", false),
    ] {
        let mut t = plan(Endpoint::Messages, false, Protocol::Openai);
        t.for_account(base);
        let out = translate(&mut t, claude_code_request()).unwrap();
        assert_eq!(out.get("prompt_cache_key").is_some(), kept, "{base}");
    }
}

#[test]
fn server_tools_are_refused_where_they_cannot_run() {
    let mut body = claude_code_request();
    body["tools"] = json!([{ "type": "web_search_20250305", "name": "web_search" }]);
    for upstream in [Protocol::Openai, Protocol::Gemini] {
        let mut t = plan(Endpoint::Messages, false, upstream);
        let e = translate(&mut t, body.clone()).unwrap_err();
        assert!(e.0.contains("web_search_20250305"), "{}", e.0);
    }
    let mut doc = claude_code_request();
    doc["messages"][0]["content"][1] = json!({ "type": "document", "source": { "type": "base64", "media_type": "application/pdf", "data": "JVBER" } });
    let mut t = plan(Endpoint::Messages, false, Protocol::Openai);
    assert!(
        translate(&mut t, doc.clone())
            .unwrap_err()
            .0
            .contains("document")
    );
    // Gemini reads PDFs.
    let mut t = plan(Endpoint::Messages, false, Protocol::Gemini);
    let out = translate(&mut t, doc).unwrap();
    assert_eq!(
        out["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "application/pdf"
    );
}

#[test]
fn chat_to_anthropic_merges_tool_results_and_refuses_what_changes_the_answer() {
    let mut t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    let body = json!({
        "model": "gpt-4o",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "developer", "content": [{ "type": "text", "text": "Use tools." }] },
            { "role": "user", "content": [
                { "type": "text", "text": "weather?" },
                { "type": "image_url", "image_url": { "url": "https://img.example/a.png" } }
            ] },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_a", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } },
                { "id": "call_b", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } }
            ] },
            { "role": "tool", "tool_call_id": "call_a", "content": "sunny" },
            { "role": "tool", "tool_call_id": "call_b", "content": "rain" }
        ],
        "tools": [{ "type": "function", "function": { "name": "weather", "parameters": { "type": "object" } } }],
        "tool_choice": { "type": "function", "function": { "name": "weather" } },
        "max_completion_tokens": 500,
        "temperature": 1.5,
        "stop": "STOP",
        "seed": 7,
        "user": "u1"
    });
    let out = translate(&mut t, body.clone()).unwrap();
    assert_eq!(
        out,
        json!({
            "model": "upstream-model",
            "messages": [
                { "role": "user", "content": [
                    { "type": "text", "text": "weather?" },
                    { "type": "image", "source": { "type": "url", "url": "https://img.example/a.png" } }
                ] },
                { "role": "assistant", "content": [
                    { "type": "tool_use", "id": "call_a", "name": "weather", "input": { "city": "Paris" } },
                    { "type": "tool_use", "id": "call_b", "name": "weather", "input": { "city": "Rome" } }
                ] },
                { "role": "user", "content": [
                    { "type": "tool_result", "tool_use_id": "call_a", "content": "sunny" },
                    { "type": "tool_result", "tool_use_id": "call_b", "content": "rain" }
                ] }
            ],
            "system": "Be brief.\n\nUse tools.",
            "max_tokens": 500,
            "temperature": 1.0,
            "stop_sequences": ["STOP"],
            "tools": [{ "name": "weather", "input_schema": { "type": "object" } }],
            "tool_choice": { "type": "tool", "name": "weather" },
            "metadata": { "user_id": "u1" },
            "stream": false
        })
    );
    for (field, value, named) in [
        ("n", json!(2), "`n`"),
        (
            "response_format",
            json!({ "type": "json_object" }),
            "response_format",
        ),
        ("logprobs", json!(true), "logprobs"),
    ] {
        let mut b = body.clone();
        b[field] = value;
        let mut t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
        let e = translate(&mut t, b).unwrap_err();
        assert!(e.0.contains(named), "{field}: {}", e.0);
    }
}

#[test]
fn a_chat_client_s_reasoning_effort_is_thinking_unless_a_tool_turn_cannot_open_with_it() {
    let ask = json!({ "role": "user", "content": "list files" });
    let call = json!({ "role": "assistant", "content": null, "tool_calls": [
        { "id": "call_1", "type": "function", "function": { "name": "ls", "arguments": "{}" } }] });
    let result = json!({ "role": "tool", "tool_call_id": "call_1", "content": "a.txt" });
    let tools = json!([{ "type": "function", "function": { "name": "ls" } }]);
    let body = |messages: Value| {
        json!({ "model": "gpt-4o", "messages": messages, "tools": tools, "reasoning_effort": "medium",
                "temperature": 0.5, "max_tokens": 20000 })
    };
    let mut t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    let first = translate(&mut t, body(json!([ask]))).unwrap();
    assert_eq!(
        first["thinking"],
        json!({ "type": "enabled", "budget_tokens": 8192 })
    );
    assert!(
        first.get("temperature").is_none(),
        "Anthropic refuses sampling settings with thinking"
    );
    // Chat kept no thinking block for the earlier tool call, which Anthropic would refuse.
    let mut t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    let later = translate(&mut t, body(json!([ask, call, result]))).unwrap();
    assert!(later.get("thinking").is_none(), "{later}");
}

#[test]
fn anthropic_to_gemini_names_results_by_their_call_and_back() {
    let mut t = plan(Endpoint::Messages, false, Protocol::Gemini);
    let out = translate(&mut t, claude_code_request()).unwrap();
    assert_eq!(
        out["systemInstruction"],
        json!({ "parts": [{ "text": "You are Claude Code." }] })
    );
    let contents = out["contents"].as_array().unwrap();
    assert_eq!(contents[1]["role"], "model");
    assert_eq!(
        contents[1]["parts"],
        json!([
            { "text": "Looking." },
            { "functionCall": { "name": "Bash", "args": { "command": "ls /tmp" } } },
            { "functionCall": { "name": "Bash", "args": { "command": "pwd" } } }
        ])
    );
    assert_eq!(
        contents[2]["parts"][0],
        json!({ "functionResponse": { "name": "Bash", "response": { "content": "a.txt" } } })
    );
    assert_eq!(
        contents[2]["parts"][1],
        json!({ "functionResponse": { "name": "Bash", "response": { "error": "/root" } } })
    );
    assert_eq!(
        out["generationConfig"],
        json!({ "maxOutputTokens": 32000, "stopSequences": ["END"],
                "thinkingConfig": { "thinkingBudget": 10000, "includeThoughts": true } })
    );
    // Claude Code asks for up to 31 999 thinking tokens; Gemini Flash takes 24 576 at most.
    let mut big = claude_code_request();
    big["thinking"]["budget_tokens"] = json!(31999);
    let mut t = plan(Endpoint::Messages, false, Protocol::Gemini);
    assert_eq!(
        translate(&mut t, big).unwrap()["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        24576
    );
    assert_eq!(out["tools"][0]["functionDeclarations"][0]["name"], "Bash");
    assert_eq!(t.query(), None);
    assert_eq!(
        plan(Endpoint::Messages, true, Protocol::Gemini).query(),
        Some("alt=sse")
    );

    // The same conversation from a Gemini client: ids made up in order, results matched.
    let mut back = plan(
        gemini_endpoint(GeminiMethod::Generate),
        false,
        Protocol::Anthropic,
    );
    let pivot = translate(&mut back, out).unwrap();
    let calls: Vec<&str> = pivot["messages"][1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    let results: Vec<&str> = pivot["messages"][2]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["tool_use_id"].as_str())
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls, results);
    assert_eq!(pivot["messages"][2]["content"][1]["is_error"], true);
    // Gemini's thoughts carry Gemini's signatures: the tool turn has no Anthropic thinking
    // block to open with, so thinking is left off instead of refused upstream.
    assert!(pivot.get("thinking").is_none());
    let mut first = back.clone();
    let fresh = json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }],
        "generationConfig": { "maxOutputTokens": 20000, "thinkingConfig": { "thinkingBudget": 10000 } } });
    assert_eq!(
        translate(&mut first, fresh).unwrap()["thinking"]["budget_tokens"],
        10000
    );
}

#[test]
fn gemini_schemas_and_count_requests_translate() {
    let mut t = plan(
        gemini_endpoint(GeminiMethod::CountTokens),
        false,
        Protocol::Anthropic,
    );
    assert_eq!(t.endpoint, Endpoint::CountTokens);
    let body = json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }],
        "tools": [{ "functionDeclarations": [{ "name": "f", "parameters": { "type": "OBJECT", "properties": { "a": { "type": "STRING" } } } }] }] });
    let out = translate(&mut t, body).unwrap();
    assert_eq!(
        out["tools"][0]["input_schema"]["properties"]["a"]["type"],
        "string"
    );
    assert!(out.get("max_tokens").is_none() && out.get("stream").is_none());
    let answer = t.response(br#"{"input_tokens": 12}"#).unwrap();
    assert_eq!(answer, r#"{"totalTokens":12}"#);

    let mut t = plan(Endpoint::CountTokens, false, Protocol::Gemini);
    let out = translate(
        &mut t,
        json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }),
    )
    .unwrap();
    assert_eq!(
        out["generateContentRequest"]["model"],
        "models/upstream-model"
    );
    assert_eq!(
        t.response(br#"{"totalTokens": 5}"#).unwrap(),
        r#"{"input_tokens":5}"#
    );
    assert_eq!(
        estimated_count(&Endpoint::CountTokens, &[b'x'; 400]),
        r#"{"input_tokens":100}"#
    );
}

/// What Codex CLI 0.171.0 sent to a local listener (`codex exec "list files"`, a custom
/// responses provider), cut down: developer messages, its tools (functions, a namespace,
/// cached web search), a turn that called a tool and a freeform tool.
pub(super) fn codex_request() -> Value {
    json!({
        "model": "gpt-5",
        "stream": true,
        "input": [
            { "type": "message", "id": "msg_1", "role": "developer", "content": [{ "type": "input_text", "text": "You are a coding agent running in the Codex CLI." }] },
            { "type": "message", "id": "msg_2", "role": "user", "content": [{ "type": "input_text", "text": "list files" }] },
            { "type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-sealed-by-openai" },
            { "type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}" },
            { "type": "function_call_output", "call_id": "call_1", "output": "a.txt\n" },
            { "type": "custom_tool_call", "id": "ctc_1", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch" },
            { "type": "custom_tool_call_output", "call_id": "call_2", "output": "Done" }
        ],
        "tools": [
            { "type": "function", "name": "exec_command", "description": "Runs a command", "strict": false, "parameters": { "type": "object", "properties": { "cmd": { "type": "string" } } } },
            { "type": "namespace", "name": "multi_agent_v1", "description": "Agents", "tools": [
                { "type": "function", "name": "close_agent", "parameters": { "type": "object", "properties": {} } }
            ] },
            { "type": "custom", "name": "apply_patch", "description": "Patch files", "format": { "type": "grammar" } },
            { "type": "web_search", "external_web_access": false }
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "reasoning": { "effort": "high", "summary": "auto" },
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "01a233d2"
    })
}

#[test]
fn a_codex_request_reaches_an_anthropic_account_whole() {
    let mut t = plan(Endpoint::Responses, true, Protocol::Anthropic);
    let out = translate(&mut t, codex_request()).unwrap();
    assert_eq!(
        out["system"],
        "You are a coding agent running in the Codex CLI."
    );
    let names: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["exec_command", "close_agent", "apply_patch"]);
    assert_eq!(
        out["tools"][2]["input_schema"]["required"],
        json!(["input"])
    );
    let m = out["messages"].as_array().unwrap();
    assert_eq!(m.len(), 5, "{m:?}");
    assert_eq!(
        m[1]["content"][0],
        json!({ "type": "tool_use", "id": "call_1", "name": "exec_command", "input": { "cmd": "ls" } })
    );
    assert_eq!(m[2]["content"][0]["tool_use_id"], "call_1");
    assert_eq!(
        m[3]["content"][0]["input"],
        json!({ "input": "*** Begin Patch" })
    );
    // OpenAI's sealed reasoning cannot go to Anthropic; without a thinking block before the
    // tool call, thinking is left off rather than refused upstream.
    assert!(out.get("thinking").is_none(), "{out}");
    assert_eq!(t.custom_tools, ["apply_patch"]);

    let mut live = codex_request();
    live["tools"] = json!([{ "type": "file_search" }]);
    let mut t = plan(Endpoint::Responses, true, Protocol::Anthropic);
    assert!(
        translate(&mut t, live)
            .unwrap_err()
            .0
            .contains("file_search")
    );
    let mut stored = codex_request();
    stored["previous_response_id"] = json!("resp_1");
    let mut t = plan(Endpoint::Responses, true, Protocol::Anthropic);
    assert!(
        translate(&mut t, stored)
            .unwrap_err()
            .0
            .contains("previous_response_id")
    );
}

#[test]
fn reasoning_goes_back_to_anthropic_through_encrypted_content() {
    let mut t = plan(Endpoint::Responses, false, Protocol::Anthropic);
    let message = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            { "type": "thinking", "thinking": "I should list.", "signature": "SIG" },
            { "type": "tool_use", "id": "toolu_9", "name": "exec_command", "input": { "cmd": "ls" } },
            { "type": "tool_use", "id": "toolu_10", "name": "apply_patch", "input": { "input": "*** Begin" } }
        ],
        "stop_reason": "tool_use",
        "usage": { "input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5 }
    });
    translate(&mut t, codex_request()).unwrap();
    let answer: Value =
        serde_json::from_slice(&t.response(message.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["model"], "claude-sonnet-4-5");
    let out = answer["output"].as_array().unwrap();
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(out[0]["summary"][0]["text"], "I should list.");
    assert_eq!(
        out[1],
        json!({ "type": "function_call", "id": "fc_req1_1", "status": "completed", "call_id": "toolu_9", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}" })
    );
    assert_eq!(out[2]["type"], "custom_tool_call");
    assert_eq!(out[2]["input"], "*** Begin");
    assert_eq!(
        answer["usage"],
        json!({ "input_tokens": 100, "input_tokens_details": { "cached_tokens": 90 }, "output_tokens": 5,
                "output_tokens_details": { "reasoning_tokens": 0 }, "total_tokens": 105 })
    );
    // The next turn hands the reasoning item back: it becomes the thinking block again.
    let mut next = codex_request();
    let items = next["input"].as_array_mut().unwrap();
    items.truncate(2);
    items.extend(out.iter().cloned());
    items.push(json!({ "type": "function_call_output", "call_id": "toolu_9", "output": "a.txt" }));
    items.push(json!({ "type": "custom_tool_call_output", "call_id": "toolu_10", "output": "ok" }));
    let mut t = plan(Endpoint::Responses, false, Protocol::Anthropic);
    let pivot = translate(&mut t, next).unwrap();
    let turn = &pivot["messages"][1]["content"];
    assert_eq!(
        turn[0],
        json!({ "type": "thinking", "thinking": "I should list.", "signature": "SIG" })
    );
    assert_eq!(turn[1]["type"], "tool_use");
    assert_eq!(
        pivot["thinking"]["type"], "enabled",
        "kept: the tool turn opens with thinking"
    );
}

#[test]
fn a_responses_client_goes_to_chat_only_where_the_account_does_not_serve_responses() {
    let asked = Asked {
        endpoint: &Endpoint::Responses,
        stream: false,
        model: "deepseek-chat",
        request_id: "req1",
        query: None,
        session: None,
        started_at_ms: 0,
    };
    assert!(Translation::plan(&asked, Protocol::Openai, OpenaiApis::Both).is_none());
    assert!(Translation::plan(&asked, Protocol::Openai, OpenaiApis::ResponsesOnly).is_none());
    let mut t = Translation::plan(&asked, Protocol::Openai, OpenaiApis::ChatOnly).unwrap();
    assert_eq!(t.upstream, Format::Chat);
    assert_eq!(t.endpoint, Endpoint::ChatCompletions);
    let sent: Value = serde_json::from_slice(
        &t.request(
            json!({ "model": "m", "instructions": "Be brief.", "input": "hi" })
                .to_string()
                .as_bytes(),
            "deepseek-chat",
            None,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        sent["messages"][0],
        json!({ "role": "system", "content": "Be brief." })
    );
    assert_eq!(sent["messages"][1]["role"], "user");
    // Live web search has no chat form: refused, not dropped.
    let mut t = Translation::plan(&asked, Protocol::Openai, OpenaiApis::ChatOnly).unwrap();
    let refused = t.request(
        json!({ "model": "m", "input": "news?", "tools": [{ "type": "web_search" }] })
            .to_string()
            .as_bytes(),
        "deepseek-chat",
        None,
    );
    assert!(refused.is_err(), "{refused:?}");
}

mod answers;
mod cost;
mod escapes;
