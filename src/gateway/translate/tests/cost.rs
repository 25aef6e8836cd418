//! What translation costs, measured (run by hand, not a check).

use serde_json::json;

use super::*;

/// Unit tests run on the allocator the binary uses, so the measurement below is the gateway's.
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
    let request = time(&mut || {
        let mut t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
        std::hint::black_box(t.request(body.as_bytes(), "claude-sonnet-4-5").unwrap());
    });
    let t = plan(Endpoint::ChatCompletions, false, Protocol::Anthropic);
    let response = time(&mut || {
        std::hint::black_box(t.response(answer.as_bytes()).unwrap());
    });
    let read = time(&mut || {
        std::hint::black_box(chat_request::to_pivot(&body).unwrap());
    });
    let pivot = chat_request::to_pivot(&body).unwrap().request;
    let write = time(&mut || {
        std::hint::black_box(super::to_bytes(&pivot, body.len()));
    });
    println!(
        "{} bytes: request {request:?} (read {read:?}, write {write:?}), answer {response:?}",
        body.len(),
    );
}
