//! Answers translated whole and streamed, streams checked event by event against every split
//! of the upstream's bytes, and property tests that nothing any format sends can make
//! translation panic.

use serde_json::{Value, json};

use super::tests::{codex_request, gemini_endpoint, plan};
use super::*;

#[test]
fn whole_answers_translate_each_way_with_usage_and_stop_reasons() {
    // DeepSeek-shaped chat answer (reasoning beside the content, its cache counts) to Anthropic.
    let t = plan(Endpoint::Messages, false, Protocol::Openai);
    let chat = json!({
        "id": "c1", "object": "chat.completion", "model": "deepseek-chat",
        "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "", "reasoning_content": "hmm",
            "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "Bash", "arguments": "{\"command\": \"ls\"}" } }] } }],
        "usage": { "prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
                   "prompt_tokens_details": { "cached_tokens": 60 }, "prompt_cache_hit_tokens": 60 }
    });
    let m: Value =
        serde_json::from_slice(&t.response(chat.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(m["model"], "claude-sonnet-4-5");
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(
        m["content"][0],
        json!({ "type": "thinking", "thinking": "hmm", "signature": "" })
    );
    assert_eq!(
        m["content"][1],
        json!({ "type": "tool_use", "id": "call_1", "name": "Bash", "input": { "command": "ls" } })
    );
    assert_eq!(m["usage"]["input_tokens"], 40);
    assert_eq!(m["usage"]["cache_read_input_tokens"], 60);

    // An Anthropic answer to a chat client.
    let t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    let message = json!({ "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{ "type": "text", "text": "Hi" }], "stop_reason": "max_tokens",
        "usage": { "input_tokens": 3, "output_tokens": 2, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 1 } });
    let c: Value =
        serde_json::from_slice(&t.response(message.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(
        c["choices"][0]["message"],
        json!({ "role": "assistant", "content": "Hi" })
    );
    assert_eq!(c["choices"][0]["finish_reason"], "length");
    assert_eq!(c["usage"]["prompt_tokens"], 8);
    assert_eq!(c["usage"]["prompt_tokens_details"]["cached_tokens"], 4);

    // Gemini both ways.
    let t = plan(Endpoint::Messages, false, Protocol::Gemini);
    let g = json!({ "candidates": [{ "content": { "role": "model", "parts": [
            { "text": "plan", "thought": true }, { "functionCall": { "name": "Bash", "args": { "command": "ls" } } } ] },
            "finishReason": "STOP" }],
        "usageMetadata": { "promptTokenCount": 10, "candidatesTokenCount": 3, "thoughtsTokenCount": 2, "cachedContentTokenCount": 4 },
        "responseId": "r1" });
    let m: Value = serde_json::from_slice(&t.response(g.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(m["content"][0]["type"], "thinking");
    assert_eq!(m["content"][1]["name"], "Bash");
    assert_eq!(m["usage"]["output_tokens"], 5);
    assert_eq!(m["usage"]["input_tokens"], 6);
    let t = plan(
        gemini_endpoint(GeminiMethod::Generate),
        false,
        Protocol::Anthropic,
    );
    let back: Value =
        serde_json::from_slice(&t.response(m.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(
        back["candidates"][0]["content"]["parts"][1]["functionCall"]["name"],
        "Bash"
    );
    assert_eq!(back["candidates"][0]["finishReason"], "STOP");
    assert_eq!(back["usageMetadata"]["promptTokenCount"], 10);

    // Errors keep their status and take the client's shape.
    let t = plan(Endpoint::Messages, false, Protocol::Openai);
    let e: Value = serde_json::from_slice(&t.error(StatusCode::BAD_REQUEST, "bad tool")).unwrap();
    assert_eq!(
        e,
        json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "bad tool" } })
    );
}

/// A translation to a Responses-only account (ChatGPT's Codex backend).
fn responses_only(endpoint: Endpoint, stream: bool) -> Translation {
    let asked = Asked {
        endpoint: &endpoint,
        stream,
        model: "claude-sonnet-4-5",
        request_id: "req1",
        query: None,
        session: Some("sess-1"),
        started_at_ms: 1_700_000_000_000,
    };
    Translation::plan(&asked, Protocol::Openai, OpenaiApis::ResponsesOnly).expect("a translation")
}

/// A stream as ChatGPT's Codex backend writes it for a reasoning model asked to include its
/// sealed reasoning: reasoning summary, the sealed item, text, a function call with argument
/// deltas, the completed response with usage; Python-style spacing on some events.
const RESPONSES_STREAM: &str = concat!(
    "event: response.created\ndata: {\"type\": \"response.created\", \"sequence_number\": 0, \"response\": {\"id\": \"resp_9\", \"status\": \"in_progress\", \"output\": []}}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}}\n\n",
    "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"output_index\":0,\"summary_index\":0,\"delta\":\"plan\"}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"plan\"}],\"encrypted_content\":\"gAAA-sealed\"}}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"m1\",\"role\":\"assistant\",\"content\":[]}}\n\n",
    "event: response.output_text.delta\ndata: {\"type\": \"response.output_text.delta\", \"output_index\": 1, \"content_index\": 0, \"delta\": \"Hi\"}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_x\",\"name\":\"Bash\",\"arguments\":\"\"}}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":2,\"delta\":\"{\\\"command\\\":\"}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":2,\"delta\":\"\\\"ls\\\"}\"}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_x\",\"name\":\"Bash\",\"arguments\":\"{\\\"command\\\":\\\"ls\\\"}\"}}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_9\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":30,\"input_tokens_details\":{\"cached_tokens\":10},\"output_tokens\":8,\"total_tokens\":38}}}\n\n",
);

#[test]
fn a_responses_stream_becomes_anthropic_events_with_its_sealed_reasoning() {
    let t = responses_only(Endpoint::Messages, true);
    let out = same_at_every_cut(&t, RESPONSES_STREAM.as_bytes());
    let ev = events(&out);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ],
        "{ev:?}"
    );
    assert_eq!(ev[0].1["message"]["id"], "msg_resp_9");
    assert_eq!(ev[1].1["content_block"]["type"], "thinking");
    assert_eq!(
        ev[2].1["delta"],
        json!({ "type": "thinking_delta", "thinking": "plan" })
    );
    assert_eq!(
        ev[3].1["delta"],
        json!({ "type": "signature_delta", "signature": "gAAA-sealed" })
    );
    assert_eq!(ev[6].1["delta"]["text"], "Hi");
    assert_eq!(ev[8].1["content_block"]["id"], "call_x");
    let args: String = [9, 10]
        .iter()
        .map(|&i| {
            ev[i].1["delta"]["partial_json"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(args, r#"{"command":"ls"}"#);
    assert_eq!(ev[12].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(ev[12].1["usage"]["input_tokens"], 20);
    assert_eq!(ev[12].1["usage"]["cache_read_input_tokens"], 10);
    // A stream that ends before the response completed is an error, not a quiet end.
    let cut = &RESPONSES_STREAM.as_bytes()[..RESPONSES_STREAM.len() - 300];
    let broken = events(&run(&t, cut, &[]));
    assert_eq!(broken.last().unwrap().0, "error", "{broken:?}");
}

#[test]
fn requests_and_answers_go_to_a_responses_only_account_and_back() {
    let mut t = responses_only(Endpoint::Messages, false);
    t.for_account("https://chatgpt.com/backend-api/codex");
    let mut body = super::tests::claude_code_request();
    assert!(
        super::tests::translate(&mut t, body.clone()).is_err(),
        "stop sequences change the answer"
    );
    body.as_object_mut().unwrap().remove("stop_sequences");
    let out = super::tests::translate(&mut t, body).unwrap();
    assert_eq!(out["instructions"], "You are Claude Code.");
    assert_eq!(out["store"], false);
    assert_eq!(out["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(
        out["reasoning"],
        json!({ "effort": "medium", "summary": "auto" })
    );
    assert_eq!(out["prompt_cache_key"], "sess-1");
    assert_eq!(out["parallel_tool_calls"], false);
    assert_eq!(
        out["tools"],
        json!([{ "type": "function", "name": "Bash", "description": "Run a command", "strict": false,
                 "parameters": { "type": "object", "properties": { "command": { "type": "string" } } } }])
    );
    assert_eq!(
        out["input"],
        json!([
            { "type": "message", "role": "user", "content": [
                { "type": "input_text", "text": "what is in /tmp?" },
                { "type": "input_image", "image_url": "data:image/png;base64,iVBOR" } ] },
            { "type": "reasoning", "summary": [{ "type": "summary_text", "text": "let me look" }], "encrypted_content": "sig" },
            { "type": "message", "role": "assistant", "content": [{ "type": "output_text", "text": "Looking." }] },
            { "type": "function_call", "call_id": "toolu_1", "name": "Bash", "arguments": "{\"command\":\"ls /tmp\"}" },
            { "type": "function_call", "call_id": "toolu_2", "name": "Bash", "arguments": "{\"command\":\"pwd\"}" },
            { "type": "function_call_output", "call_id": "toolu_1", "output": "a.txt" },
            { "type": "function_call_output", "call_id": "toolu_2", "output": "Error: /root" },
            { "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "and?" }] }
        ])
    );
    // The whole answer the gateway gathered from the backend's stream, as Anthropic's.
    let answer = json!({ "id": "resp_2", "status": "incomplete", "incomplete_details": { "reason": "max_output_tokens" },
        "output": [
            { "type": "reasoning", "summary": [], "encrypted_content": "gAAA" },
            { "type": "message", "content": [{ "type": "output_text", "text": "Partial" }] } ],
        "usage": { "input_tokens": 9, "output_tokens": 4 } });
    let m: Value =
        serde_json::from_slice(&t.response(answer.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(
        m["content"][0],
        json!({ "type": "thinking", "thinking": "", "signature": "gAAA" })
    );
    assert_eq!(
        m["content"][1],
        json!({ "type": "text", "text": "Partial" })
    );
    assert_eq!(m["stop_reason"], "max_tokens");
    assert_eq!(m["usage"]["output_tokens"], 4);
    // A chat client's answer comes back as chat.
    let t = responses_only(Endpoint::ChatCompletions, false);
    let c: Value =
        serde_json::from_slice(&t.response(answer.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(c["choices"][0]["message"]["content"], "Partial");
    assert_eq!(c["choices"][0]["finish_reason"], "length");
}

/// Feeds `stream` to a fresh translator whole and cut at `cut`; both outputs.
fn run(t: &Translation, stream: &[u8], cut: &[usize]) -> Vec<u8> {
    let mut s = t.stream();
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cut.iter().chain(std::iter::once(&stream.len())) {
        out.extend_from_slice(&s.feed(&stream[at..c]));
        at = c;
    }
    out.extend_from_slice(&s.finish());
    out
}

/// The events of an SSE text, as (name, JSON data).
fn events(sse: &[u8]) -> Vec<(String, Value)> {
    let mut f = Framer::default();
    let mut out = Vec::new();
    f.push(sse, |raw| {
        let e = frame::parse(raw);
        let data = serde_json::from_slice(&e.data)
            .unwrap_or(Value::String(String::from_utf8_lossy(&e.data).into()));
        out.push((e.name, data));
    });
    out
}

fn same_at_every_cut(t: &Translation, stream: &[u8]) -> Vec<u8> {
    let whole = run(t, stream, &[]);
    for i in 1..stream.len() {
        assert_eq!(run(t, stream, &[i]), whole, "cut at {i}");
    }
    whole
}

/// A chat stream as DeepSeek writes it: reasoning, text, two tool calls with argument deltas,
/// the finish chunk, the usage chunk, `[DONE]`; Python-style spacing.
const CHAT_STREAM: &str = concat!(
    "data: {\"id\": \"c1\", \"choices\": [{\"index\": 0, \"delta\": {\"role\": \"assistant\", \"reasoning_content\": \"think\"}}]}\n\n",
    "data: {\"id\": \"c1\", \"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Hi\"}}]}\n\n",
    "data: {\"id\": \"c1\", \"choices\": [{\"index\": 0, \"delta\": {\"tool_calls\": [{\"index\": 0, \"id\": \"call_a\", \"type\": \"function\", \"function\": {\"name\": \"Bash\", \"arguments\": \"\"}}]}}]}\n\n",
    "data: {\"id\": \"c1\", \"choices\": [{\"index\": 0, \"delta\": {\"tool_calls\": [{\"index\": 0, \"function\": {\"arguments\": \"{\\\"command\\\":\"}}]}}]}\n\n",
    "data: {\"id\": \"c1\", \"choices\": [{\"index\": 0, \"delta\": {\"tool_calls\": [{\"index\": 0, \"function\": {\"arguments\": \" \\\"ls\\\"}\"}}]}}]}\n\n",
    "data: {\"id\": \"c1\", \"choices\": [{\"index\": 0, \"delta\": {\"tool_calls\": [{\"index\": 1, \"id\": \"call_b\", \"function\": {\"name\": \"Bash\", \"arguments\": \"{}\"}}]}}]}\n\n",
    "data: {\"id\": \"c1\", \"choices\": [{\"index\": 0, \"delta\": {}, \"finish_reason\": \"tool_calls\"}]}\n\n",
    "data: {\"id\": \"c1\", \"choices\": [], \"usage\": {\"prompt_tokens\": 20, \"completion_tokens\": 9, \"prompt_tokens_details\": {\"cached_tokens\": 5}}}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn a_chat_stream_becomes_anthropic_events_in_order() {
    let t = plan(Endpoint::Messages, true, Protocol::Openai);
    let out = same_at_every_cut(&t, CHAT_STREAM.as_bytes());
    let ev = events(&out);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(ev[1].1["content_block"]["type"], "thinking");
    assert_eq!(
        ev[5].1["delta"],
        json!({ "type": "text_delta", "text": "Hi" })
    );
    assert_eq!(
        ev[7].1["content_block"],
        json!({ "type": "tool_use", "id": "call_a", "name": "Bash", "input": {} })
    );
    let args: String = [8, 9]
        .iter()
        .map(|&i| ev[i].1["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({ "command": "ls" })
    );
    assert_eq!(ev[11].1["index"], 3);
    assert_eq!(ev[14].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(ev[14].1["usage"]["input_tokens"], 15);
    assert_eq!(ev[14].1["usage"]["cache_read_input_tokens"], 5);
    assert_eq!(ev[14].1["usage"]["output_tokens"], 9);
}

/// An Anthropic stream with text, a tool call and thinking, compact JSON.
const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":30,\"output_tokens\":1}}}\n\n",
    "event: ping\ndata: {\"type\":\"ping\"}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"plan\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"SIG\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":25}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

#[test]
fn an_anthropic_stream_becomes_chat_chunks() {
    let mut t = plan(Endpoint::ChatCompletions, true, Protocol::Anthropic);
    t.include_usage = true;
    let out = same_at_every_cut(&t, ANTHROPIC_STREAM.as_bytes());
    let ev = events(&out);
    assert_eq!(ev.last().unwrap().1, "[DONE]");
    let deltas: Vec<&Value> = ev
        .iter()
        .filter_map(|(_, d)| d.pointer("/choices/0/delta"))
        .collect();
    assert_eq!(deltas[0]["role"], "assistant");
    assert_eq!(deltas[1]["reasoning_content"], "plan");
    assert_eq!(deltas[2]["content"], "Hello");
    assert_eq!(
        deltas[3]["tool_calls"][0],
        json!({ "index": 0, "id": "toolu_1", "type": "function", "function": { "name": "weather", "arguments": "" } })
    );
    let args: String = deltas[4..6]
        .iter()
        .map(|d| {
            d["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(args, "{\"city\": \"Paris\"}");
    let finish = ev.iter().find_map(|(_, d)| {
        d.pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
    });
    assert_eq!(finish, Some("tool_calls"));
    let usage = &ev[ev.len() - 2].1["usage"];
    assert_eq!(usage["prompt_tokens"], 42);
    assert_eq!(usage["completion_tokens"], 25);
    assert!(
        ev.iter()
            .all(|(_, d)| d == "[DONE]" || d["model"] == "claude-sonnet-4-5")
    );
}

#[test]
fn an_anthropic_stream_becomes_responses_events() {
    let mut t = plan(Endpoint::Responses, true, Protocol::Anthropic);
    t.request(codex_request().to_string().as_bytes(), "m", None)
        .unwrap();
    let out = same_at_every_cut(&t, ANTHROPIC_STREAM.as_bytes());
    let ev = events(&out);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..2], ["response.created", "response.in_progress"]);
    assert!(names.contains(&"response.reasoning_summary_text.delta"));
    assert!(names.contains(&"response.output_text.delta"));
    assert!(names.contains(&"response.function_call_arguments.delta"));
    assert_eq!(names.last(), Some(&"response.completed"));
    let seq: Vec<u64> = ev
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..seq.len() as u64).collect::<Vec<_>>());
    let done = &ev.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][2]["arguments"], "{\"city\": \"Paris\"}");
    assert_eq!(done["output"][2]["call_id"], "toolu_1");
    assert!(
        done["output"][0]["encrypted_content"]
            .as_str()
            .unwrap()
            .starts_with("aicarpool.thinking.v1:")
    );
    assert_eq!(done["usage"]["input_tokens"], 42);
    let item_done: Vec<&Value> = ev
        .iter()
        .filter(|(n, _)| n == "response.output_item.done")
        .map(|(_, d)| &d["item"])
        .collect();
    assert_eq!(item_done.len(), 3);
    assert_eq!(item_done[1]["content"][0]["text"], "Hello");
}

/// A Gemini SSE stream: thoughts, text over two chunks, a call, the finish with usage.
const GEMINI_STREAM: &str = concat!(
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"hmm\", \"thought\": true}], \"role\": \"model\"}, \"index\": 0}], \"responseId\": \"g1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}], \"role\": \"model\"}, \"index\": 0}]}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo\"}, {\"functionCall\": {\"name\": \"Bash\", \"args\": {\"command\": \"ls\"}}}], \"role\": \"model\"}, \"finishReason\": \"STOP\", \"index\": 0}], \"usageMetadata\": {\"promptTokenCount\": 9, \"candidatesTokenCount\": 4, \"thoughtsTokenCount\": 3}}\r\n\r\n",
);

#[test]
fn a_gemini_stream_becomes_anthropic_events_and_back() {
    let t = plan(Endpoint::Messages, true, Protocol::Gemini);
    let out = same_at_every_cut(&t, GEMINI_STREAM.as_bytes());
    let ev = events(&out);
    let types: Vec<&str> = ev
        .iter()
        .map(|(_, d)| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(ev[9].1["delta"]["partial_json"], "{\"command\":\"ls\"}");
    assert_eq!(ev[11].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(ev[11].1["usage"]["output_tokens"], 7);

    // An Anthropic stream to a Gemini client: SSE when asked, else one JSON array.
    let sse = plan(
        gemini_endpoint(GeminiMethod::Stream),
        true,
        Protocol::Anthropic,
    );
    assert_eq!(sse.content_type(), "text/event-stream");
    let out = same_at_every_cut(&sse, ANTHROPIC_STREAM.as_bytes());
    let chunks: Vec<Value> = events(&out).into_iter().map(|(_, d)| d).collect();
    let mut array = sse.clone();
    array.gemini_sse = false;
    assert_eq!(array.content_type(), "application/json");
    let whole: Value =
        serde_json::from_slice(&same_at_every_cut(&array, ANTHROPIC_STREAM.as_bytes())).unwrap();
    assert_eq!(whole, Value::Array(chunks.clone()));
    let parts: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/candidates/0/content/parts/0"))
        .collect();
    assert_eq!(parts[0], &json!({ "text": "plan", "thought": true }));
    assert_eq!(parts[1], &json!({ "text": "Hello" }));
    assert_eq!(
        parts[2],
        &json!({ "functionCall": { "name": "weather", "args": { "city": "Paris" } } })
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 42);
}

#[test]
fn an_upstream_error_event_reaches_the_client_in_its_shape() {
    let t = plan(Endpoint::ChatCompletions, true, Protocol::Anthropic);
    let stream = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let ev = events(&run(&t, stream.as_bytes(), &[]));
    assert_eq!(ev[0].1["error"]["message"], "Overloaded");
}

mod properties;
