//! What translation costs, measured (run by hand, not a check).

use serde_json::json;

use super::*;

/// Unit tests run on mimalloc, as the binary does, so the measurement below is near the
/// gateway's. The binary asks mimalloc's plain entry for ordinary blocks (`src/main.rs`); the
/// library keeps no `unsafe`, so here every block takes the crate's aligned entry, a little
/// slower for blocks over 1 KiB.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long translating the benchmark's 10 kB conversation with tools takes, request and
/// answer, stage by stage
/// (`cargo test --release --lib translation_cost -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check"]
fn translation_cost() {
    let filler = "The repository holds a Rust service with a router, a relay and a store;\n         the change touches the relay's \"failover\" loop and its tests. ";
    let mut messages = vec![json!({ "role": "system", "content": filler.repeat(12) })];
    for turn in 0..4 {
        let id = format!("call_{turn}");
        let args = json!({ "path": format!("/work/src/file_{turn}.rs") }).to_string();
        messages.push(json!({ "role": "user", "content": format!("step {turn}: {filler}") }));
        messages.push(json!({ "role": "assistant", "content": "Reading it.", "tool_calls": [
            { "id": id, "type": "function", "function": { "name": "read_file", "arguments": args } }] }));
        messages.push(json!({ "role": "tool", "tool_call_id": id, "content": filler.repeat(6) }));
    }
    let schema = json!({ "type": "object", "properties": {
        "path": { "type": "string", "description": "An absolute path to the file to read or write." },
        "content": { "type": "string", "description": "What to write, whole." } }, "required": ["path"] });
    let tools: Vec<_> = ["read_file", "write_file", "run_command"]
        .iter()
        .map(|n| json!({ "type": "function", "function": { "name": n, "description": "A tool.", "parameters": schema } }))
        .collect();
    let body =
        json!({ "model": "gpt-4o", "messages": messages, "tools": tools, "max_tokens": 1024 })
            .to_string();
    let answer = json!({ "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{ "type": "text", "text": "Done." }], "stop_reason": "end_turn",
        "usage": { "input_tokens": 3000, "output_tokens": 20 } }).to_string();
    let n = 20_000;
    let time = |f: &mut dyn FnMut()| {
        let started = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        started.elapsed() / n
    };
    // Noted as the routing read notes it, before any translation.
    let notes = crate::gateway::skim::note(body.as_bytes()).unwrap().1;
    let request = time(&mut || {
        let mut t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
        let out = t.request(body.as_bytes(), "claude-sonnet-4-5", Some(&notes));
        std::hint::black_box(out.unwrap());
    });
    let t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    let response = time(&mut || {
        std::hint::black_box(t.response(answer.as_bytes()).unwrap());
    });
    let read = time(&mut || {
        std::hint::black_box(chat_request::to_pivot(&body, &notes).unwrap());
    });
    let pivot = chat_request::to_pivot(&body, &notes).unwrap().request;
    let write = time(&mut || {
        std::hint::black_box(super::write::request(&pivot, body.len()));
    });
    println!(
        "chat → Anthropic, {} bytes: request {request:?} (read {read:?}, write {write:?}), answer {response:?}",
        body.len(),
    );
    // The same conversation from the other clients, still read as a tree.
    let mut input = Vec::new();
    let mut anthropic = Vec::new();
    for turn in 0..4 {
        let id = format!("call_{turn}");
        let args = json!({ "path": format!("/work/src/file_{turn}.rs") });
        let text = format!("step {turn}: {filler}");
        input.push(json!({ "type": "message", "role": "user", "content": [{ "type": "input_text", "text": text }] }));
        input.push(json!({ "type": "function_call", "call_id": id, "name": "read_file", "arguments": args.to_string() }));
        input.push(
            json!({ "type": "function_call_output", "call_id": id, "output": filler.repeat(6) }),
        );
        anthropic.push(json!({ "role": "user", "content": text }));
        anthropic.push(
            json!({ "role": "assistant", "content": [{ "type": "text", "text": "Reading it." },
            { "type": "tool_use", "id": id, "name": "read_file", "input": args }] }),
        );
        anthropic.push(json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": id, "content": filler.repeat(6) }] }));
    }
    let flat: Vec<_> = ["read_file", "write_file", "run_command"]
        .iter()
        .map(|n| json!({ "type": "function", "name": n, "description": "A tool.", "parameters": schema }))
        .collect();
    let responses = json!({ "model": "gpt-5", "instructions": filler.repeat(12), "input": input, "tools": flat }).to_string();
    let claude_tools: Vec<_> = ["read_file", "write_file", "run_command"]
        .iter()
        .map(|n| json!({ "name": n, "description": "A tool.", "input_schema": schema }))
        .collect();
    let messages =
        json!({ "model": "claude-sonnet-4-5", "system": filler.repeat(12), "messages": anthropic,
        "tools": claude_tools, "max_tokens": 1024 })
        .to_string();
    let completion = json!({ "id": "c1", "object": "chat.completion", "choices": [{ "index": 0,
        "message": { "role": "assistant", "content": "Done." }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 3000, "completion_tokens": 20 } })
    .to_string();
    for (name, endpoint, upstream, body, answer) in [
        (
            "Responses → Anthropic",
            Endpoint::Responses,
            Protocol::Anthropic,
            &responses,
            &answer,
        ),
        (
            "Anthropic → chat",
            Endpoint::Messages,
            Protocol::Openai,
            &messages,
            &completion,
        ),
    ] {
        let notes = crate::gateway::skim::note(body.as_bytes()).unwrap().1;
        let request = time(&mut || {
            let mut t = plan(endpoint.clone(), false, upstream);
            std::hint::black_box(t.request(body.as_bytes(), "m", Some(&notes)).unwrap());
        });
        let t = plan(endpoint.clone(), false, upstream);
        let response = time(&mut || {
            std::hint::black_box(t.response(answer.as_bytes()).unwrap());
        });
        println!(
            "{name}, {} bytes: request {request:?}, answer {response:?}",
            body.len()
        );
    }
}
