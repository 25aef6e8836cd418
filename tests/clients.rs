//! Real clients through the gateway against the fake upstream: the official Anthropic, OpenAI
//! and Google GenAI Python SDKs, Claude Code in print mode and Codex CLI's `exec`. They need
//! software from outside the Rust toolchain, so they are ignored by default; `.ci/run`
//! installs it and runs them with `--include-ignored`.

mod common;

use std::process::Command;

use common::env::Env;
use common::upstream::{self, Fake, Reply};

/// A gateway with an Anthropic, an OpenAI and a Gemini account on one fake upstream; returns
/// (env, fake, server, key).
fn gateway() -> (Env, Fake, common::Server, String) {
    let env = Env::new();
    let fake = Fake::start();
    fake.set(Reply::Auto);
    env.account("main", &fake.url(), "sk-ant-fake-upstream", &[]);
    // The fake stands in for OpenAI's own API, which serves Responses too.
    env.account_on(
        "openai",
        "oai",
        &format!("{}/v1", fake.url()),
        "sk-oai-upstream",
        &["--responses-api", "yes"],
    );
    env.account_on("gemini", "gem", &fake.url(), "AIza-upstream", &[]);
    let key = env.key("member");
    let server = env.serve(&[]);
    (env, fake, server, key)
}

/// Runs `script` with python3 against the gateway (BASE, KEY in its environment) after checking
/// `modules` import; returns its stdout, failing with the install hint or the script's output.
fn run_python(
    modules: &str,
    install: &str,
    script: &str,
    server: &common::Server,
    key: &str,
) -> String {
    common::require_tool("python3", "python3");
    let probe = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "this test needs Python packages: pip install {install}"
    );
    let out = Command::new("python3")
        .args(["-c", script])
        .env("BASE", format!("http://{}", server.addr))
        .env("KEY", key)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "script failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs Claude Code in print mode with `args` in `dir`, a fresh home, pointed at the gateway
/// with the member key; returns its stdout, failing with its output when it fails.
fn claude_print(
    server: &common::Server,
    key: &str,
    args: &[&str],
    dir: &std::path::Path,
) -> String {
    common::require_tool(
        "claude",
        "Claude Code: npm install -g @anthropic-ai/claude-code",
    );
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["180", "claude", "-p"])
        .args(args)
        .current_dir(dir)
        .env("HOME", home.path())
        .env("ANTHROPIC_BASE_URL", format!("http://{}", server.addr))
        .env("ANTHROPIC_AUTH_TOKEN", key)
        .env("ANTHROPIC_SMALL_FAST_MODEL", "claude-haiku-4-5")
        .env_remove("ANTHROPIC_API_KEY")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "claude -p failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs Codex CLI's `exec` with `prompt` in a fresh home whose config points it at the
/// gateway (Responses wire API, the member key from the environment), after `prepare` has
/// put files there; returns its stdout, failing with its output when it fails.
fn codex_exec(
    server: &common::Server,
    key: &str,
    prompt: &str,
    prepare: impl FnOnce(&std::path::Path),
) -> String {
    common::require_tool("codex", "Codex CLI: npm install -g @openai/codex");
    let home = tempfile::tempdir().unwrap();
    let codex_home = home.path().join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    prepare(home.path());
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"gpt-5-codex\"\nmodel_provider = \"aicarpool\"\n\n[model_providers.aicarpool]\nname = \"aicarpool\"\nbase_url = \"http://{}/v1\"\nenv_key = \"AICARPOOL_KEY\"\nwire_api = \"responses\"\n",
            server.addr
        ),
    )
    .unwrap();
    let out = Command::new("timeout")
        .args(["180", "codex", "exec", "--skip-git-repo-check", prompt])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("CODEX_HOME", &codex_home)
        .env("AICARPOOL_KEY", key)
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "codex exec failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const SDK_SCRIPT: &str = r#"
import os, anthropic
c = anthropic.Anthropic(base_url=os.environ["BASE"], api_key=os.environ["KEY"], max_retries=0)
m = c.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                      messages=[{"role": "user", "content": "hello"}])
print("plain", m.content[0].text, m.usage.input_tokens, m.usage.output_tokens)
with c.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                       messages=[{"role": "user", "content": "hello"}]) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
print("stream", text, final.usage.input_tokens, final.usage.output_tokens)
try:
    anthropic.Anthropic(base_url=os.environ["BASE"], api_key="acp_wrong", max_retries=0).messages.create(
        model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}])
except anthropic.AuthenticationError as e:
    print("denied", e.status_code)
"#;

#[test]
#[ignore = "needs python3 with the anthropic SDK (pip install anthropic); .ci/run installs it"]
fn the_anthropic_python_sdk_works_streaming_and_not() {
    let (env, _fake, server, key) = gateway();
    let stdout = run_python("anthropic", "anthropic", SDK_SCRIPT, &server, &key);
    let expect = format!(
        "Hello from the fake upstream {} {}",
        upstream::INPUT,
        upstream::OUTPUT
    );
    assert!(stdout.contains(&format!("plain {expect}")), "{stdout}");
    assert!(stdout.contains(&format!("stream {expect}")), "{stdout}");
    assert!(stdout.contains("denied 401"), "{stdout}");
    let rows = env.rows(2);
    assert!(
        rows.iter()
            .all(|r| r["client"] == "sdk" && r["outcome"] == "ok"),
        "{rows:?}"
    );
}

#[test]
#[ignore = "needs Claude Code (npm install -g @anthropic-ai/claude-code); .ci/run installs it"]
fn claude_code_print_mode_works_through_the_gateway() {
    let (env, fake, server, key) = gateway();
    let dir = tempfile::tempdir().unwrap();
    let stdout = claude_print(&server, &key, &["hello"], dir.path());
    assert!(stdout.contains("Hello from the fake upstream"), "{stdout}");
    let rows = env.rows(1);
    assert!(
        rows.iter()
            .any(|r| r["client"] == "claude-code" && r["outcome"] == "ok"),
        "{rows:?}"
    );
    for seen in fake.seen() {
        assert_eq!(seen.header("x-api-key"), Some("sk-ant-fake-upstream"));
        assert_eq!(
            seen.header("authorization"),
            None,
            "the member's bearer token stays behind"
        );
    }
}

const OPENAI_GENAI_SCRIPT: &str = r#"
import os
from openai import OpenAI
from google import genai
base, key = os.environ["BASE"], os.environ["KEY"]
c = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
r = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
print("chat", r.choices[0].message.content)
s = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
print("chat-stream", "".join((ch.choices[0].delta.content or "") for ch in s if ch.choices))
r = c.responses.create(model="gpt-5-codex", input="hi")
print("responses", r.output_text)
with c.responses.stream(model="gpt-5-codex", input="hi") as st:
    for _ in st:
        pass
    print("responses-stream", st.get_final_response().output_text)
g = genai.Client(api_key=key, http_options={"base_url": base})
print("gemini", g.models.generate_content(model="gemini-2.5-pro", contents="hi").text)
print("gemini-stream", "".join(ch.text or "" for ch in g.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")))
"#;

#[test]
#[ignore = "needs python3 with the openai and google-genai SDKs (pip install openai google-genai); .ci/run installs them"]
fn the_openai_and_google_genai_python_sdks_work_streaming_and_not() {
    let (env, fake, server, key) = gateway();
    let stdout = run_python(
        "openai, google.genai",
        "openai google-genai",
        OPENAI_GENAI_SCRIPT,
        &server,
        &key,
    );
    for line in [
        "chat",
        "chat-stream",
        "responses",
        "responses-stream",
        "gemini",
        "gemini-stream",
    ] {
        assert!(
            stdout.contains(&format!("{line} Hello from the fake upstream")),
            "{line}: {stdout}"
        );
    }
    let rows = env.rows(6);
    assert!(
        rows.iter()
            .all(|r| r["outcome"] == "ok" && r["output_tokens"] == upstream::OUTPUT),
        "{rows:?}"
    );
    for seen in fake.seen() {
        for (_, v) in &seen.headers {
            assert!(!v.contains(&key), "the member key reached the upstream");
        }
    }
}

#[test]
#[ignore = "needs Codex CLI (npm install -g @openai/codex); .ci/run installs it"]
fn codex_exec_works_through_the_gateway_with_the_responses_api() {
    let (env, _fake, server, key) = gateway();
    let stdout = codex_exec(&server, &key, "hello", |_| {});
    assert!(stdout.contains("Hello from the fake upstream"), "{stdout}");
    let rows = env.rows(1);
    assert!(
        rows.iter()
            .any(|r| r["client"] == "codex" && r["outcome"] == "ok"),
        "{rows:?}"
    );
}

/// A gateway whose only account is `platform`'s, on a fake upstream running the scripted
/// model, naming the models `names` (mapped to the upstream's own); returns (env, fake,
/// server, key).
fn translating(platform: &str, map: &[&str]) -> (Env, Fake, common::Server, String) {
    let env = Env::new();
    let fake = Fake::start();
    fake.set(Reply::Model);
    let base = match platform {
        "openai" => format!("{}/v1", fake.url()),
        "codex-oauth" => format!("{}/backend-api/codex", fake.url()),
        _ => fake.url(),
    };
    let mut extra = Vec::new();
    for m in map {
        extra.extend(["--model-map", m]);
    }
    // A ChatGPT subscription's access token names its account; its backend is strict.
    let secret = if platform == "codex-oauth" {
        fake.codex();
        common::oauth::jwt(&serde_json::json!({
            "https://api.openai.com/auth": { "chatgpt_account_id": "acct-pool-2" } }))
    } else {
        "sk-upstream".to_owned()
    };
    env.account_on(platform, "other", &base, &secret, &extra);
    let key = env.key("member");
    let server = env.serve(&[]);
    (env, fake, server, key)
}

/// Claude Code 2.1.197 in print mode, asked to read a file in its working directory; the
/// upstream's model calls Read and answers with what it got. Returns (stdout, fake's bodies).
fn claude_code_reads_a_file(
    platform: &str,
    upstream_model: &str,
) -> (String, Vec<serde_json::Value>) {
    let map: Vec<String> = [
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-haiku-4-5-20251001",
    ]
    .iter()
    .map(|m| format!("{m}={upstream_model}"))
    .collect();
    let map: Vec<&str> = map.iter().map(String::as_str).collect();
    let (env, fake, server, key) = translating(platform, &map);
    let home = tempfile::tempdir().unwrap();
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let note = work.join("note.txt");
    std::fs::write(&note, "pineapple-42\n").unwrap();
    fake.set_tool(
        "Read",
        serde_json::json!({ "file_path": note.to_str().unwrap() }),
    );
    let stdout = claude_print(
        &server,
        &key,
        &["--model", "claude-sonnet-4-5", "What does note.txt say?"],
        &work,
    );
    let rows = env.rows(2);
    assert!(
        rows.iter()
            .all(|r| r["translated"] == true && r["outcome"] == "ok"),
        "{rows:?}"
    );
    let bodies: Vec<serde_json::Value> = fake
        .seen()
        .iter()
        .map(|s| serde_json::from_slice(&s.body).unwrap())
        .collect();
    if std::env::var_os("AICARPOOL_SHOW_BODIES").is_some() {
        for b in &bodies {
            let mut b = b.clone();
            b["messages"] = serde_json::json!("…");
            b["contents"] = serde_json::json!("…");
            b["instructions"] = serde_json::json!("…");
            if let Some(items) = b["input"].as_array() {
                let kinds: Vec<String> = items
                    .iter()
                    .map(|i| format!("{}/{}", i["type"], i["role"]))
                    .collect();
                b["input"] = serde_json::json!(kinds);
            }
            b["tools"] = serde_json::json!("…");
            b["systemInstruction"] = serde_json::json!("…");
            eprintln!("upstream got: {b}");
        }
    }
    (stdout, bodies)
}

#[test]
#[ignore = "needs Claude Code (npm install -g @anthropic-ai/claude-code); .ci/run installs it"]
fn claude_code_runs_a_tool_loop_on_an_openai_compatible_account() {
    let (stdout, bodies) = claude_code_reads_a_file("openai", "deepseek-chat");
    assert!(stdout.contains("pineapple-42"), "{stdout}");
    // The turn after the call carried the file's text back as a tool message.
    let tool_turn = bodies
        .iter()
        .find(|b| {
            b["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["role"] == "tool")
        })
        .expect("a request with the tool's result");
    let result = tool_turn["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert_eq!(result["tool_call_id"], "call_model_1");
    assert!(result["content"].as_str().unwrap().contains("pineapple-42"));
    for b in &bodies {
        assert_eq!(b["model"], "deepseek-chat");
        assert!(!b.to_string().contains("x-anthropic-billing-header"), "{b}");
    }
}

#[test]
#[ignore = "needs Claude Code (npm install -g @anthropic-ai/claude-code); .ci/run installs it"]
fn claude_code_runs_a_tool_loop_on_a_chatgpt_subscription() {
    let (stdout, bodies) = claude_code_reads_a_file("codex-oauth", "gpt-5.1-codex");
    assert!(stdout.contains("pineapple-42"), "{stdout}");
    // Every turn went as the backend takes it (the fake refuses anything else), and the
    // turn after the call carried the file's text back as the call's output.
    let outputs: Vec<&serde_json::Value> = bodies
        .iter()
        .flat_map(|b| b["input"].as_array().unwrap())
        .filter(|i| i["type"] == "function_call_output")
        .collect();
    assert!(!outputs.is_empty(), "{bodies:?}");
    assert_eq!(outputs[0]["call_id"], "call_model_1");
    assert!(
        outputs[0]["output"]
            .as_str()
            .unwrap()
            .contains("pineapple-42")
    );
    // Claude Code hands its thinking back in the loop: the backend gets its reasoning again.
    assert!(
        bodies.iter().any(|b| b["input"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["type"] == "reasoning")),
        "{bodies:?}"
    );
    for b in &bodies {
        assert_eq!(b["model"], "gpt-5.1-codex");
        assert_eq!(b["store"], false);
        assert!(b.get("max_output_tokens").is_none(), "{b}");
        // Reasoning handed back is the backend's own, sealed as it sent it.
        for r in b["input"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["type"] == "reasoning")
        {
            assert_eq!(r["encrypted_content"], common::model::SEALED, "{b}");
        }
    }
}

#[test]
#[ignore = "needs Claude Code (npm install -g @anthropic-ai/claude-code); .ci/run installs it"]
fn claude_code_runs_a_tool_loop_on_a_gemini_account() {
    let (stdout, bodies) = claude_code_reads_a_file("gemini", "gemini-2.5-pro");
    assert!(stdout.contains("pineapple-42"), "{stdout}");
    let responded = bodies.iter().any(|b| {
        b["contents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["parts"].as_array().unwrap())
            .any(|p| p["functionResponse"]["name"] == "Read")
    });
    assert!(responded, "{bodies:?}");
}

#[test]
#[ignore = "needs Codex CLI (npm install -g @openai/codex); .ci/run installs it"]
fn codex_exec_runs_a_function_call_on_an_anthropic_account() {
    let (env, fake, server, key) = translating("anthropic", &["gpt-5-codex=claude-sonnet-4-5"]);
    fake.set_tool("exec_command", serde_json::json!({ "cmd": "cat note.txt" }));
    let stdout = codex_exec(&server, &key, "what does note.txt say?", |home| {
        std::fs::write(home.join("note.txt"), "pineapple-42\n").unwrap();
    });
    assert!(stdout.contains("The tool said:"), "{stdout}");
    let bodies: Vec<serde_json::Value> = fake
        .seen()
        .iter()
        .map(|s| serde_json::from_slice(&s.body).unwrap())
        .collect();
    // Codex ran the call and sent its output back: a tool result for the call's id.
    let result = bodies
        .iter()
        .flat_map(|b| b["messages"].as_array().unwrap().clone())
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find(|c| c["type"] == "tool_result")
        .expect("the function call's output came back");
    assert_eq!(result["tool_use_id"], "toolu_model_1");
    for b in &bodies {
        assert_eq!(b["model"], "claude-sonnet-4-5");
    }
    let rows = env.rows(2);
    assert!(
        rows.iter()
            .all(|r| r["translated"] == true && r["outcome"] == "ok" && r["client"] == "codex"),
        "{rows:?}"
    );
}

/// Codex CLI 0.171.0 speaks only Responses; an OpenAI-compatible vendor that serves only chat
/// completions (its host is not OpenAI's) gets the conversation as chat, the function call's
/// output coming back as a `tool` message for the call's id.
#[test]
#[ignore = "needs Codex CLI (npm install -g @openai/codex); .ci/run installs it"]
fn codex_exec_runs_a_function_call_on_a_chat_only_account() {
    let (env, fake, server, key) = translating("openai", &["gpt-5-codex=deepseek-chat"]);
    fake.set_tool("exec_command", serde_json::json!({ "cmd": "cat note.txt" }));
    let stdout = codex_exec(&server, &key, "what does note.txt say?", |home| {
        std::fs::write(home.join("note.txt"), "pineapple-42\n").unwrap();
    });
    assert!(stdout.contains("The tool said:"), "{stdout}");
    let posts: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path != "/v1/models")
        .collect();
    assert!(
        posts.iter().all(|s| s.path == "/v1/chat/completions"),
        "{:?}",
        posts.iter().map(|s| &s.path).collect::<Vec<_>>()
    );
    let last: serde_json::Value = serde_json::from_slice(&posts.last().unwrap().body).unwrap();
    assert_eq!(last["model"], "deepseek-chat");
    let messages = last["messages"].as_array().unwrap();
    let call_id = messages
        .iter()
        .find_map(|m| m["tool_calls"][0]["id"].as_str())
        .expect("the assistant's function call");
    let output = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the function call's output came back");
    assert_eq!(output["tool_call_id"], call_id);
    let rows = env.rows(2);
    assert!(
        rows.iter()
            .all(|r| r["translated"] == true && r["outcome"] == "ok" && r["client"] == "codex"),
        "{rows:?}"
    );
}

const SDKS_ON_ANTHROPIC: &str = r#"
import os, json
from openai import OpenAI
from google import genai
from google.genai import types
base, key = os.environ["BASE"], os.environ["KEY"]
c = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
r = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
print("chat", r.choices[0].message.content, r.usage.prompt_tokens, r.usage.completion_tokens)
calls = {}
for ch in c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "weather?"}], tools=tools, stream=True):
    for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
        calls.setdefault(tc.index, {"id": tc.id, "args": ""})
        calls[tc.index]["args"] += tc.function.arguments or ""
print("chat-stream-call", calls[0]["id"], json.loads(calls[0]["args"])["city"])
r = c.responses.create(model="gpt-4o", input="hi")
print("responses", r.output_text, r.usage.input_tokens)
with c.responses.stream(model="gpt-4o", input="weather?", tools=[{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]) as st:
    for _ in st:
        pass
    final = st.get_final_response()
call = [o for o in final.output if o.type == "function_call"][0]
print("responses-stream-call", call.call_id, json.loads(call.arguments)["city"])
g = genai.Client(api_key=key, http_options={"base_url": base})
print("gemini", g.models.generate_content(model="gemini-2.5-pro", contents="hi").text)
print("gemini-stream", "".join(ch.text or "" for ch in g.models.generate_content_stream(model="gemini-2.5-pro", contents="hi")))
decl = types.FunctionDeclaration(name="weather", parameters={"type": "OBJECT", "properties": {"city": {"type": "STRING"}}})
r = g.models.generate_content(model="gemini-2.5-pro", contents="weather?", config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[decl])]))
print("gemini-call", r.function_calls[0].name, r.function_calls[0].args["city"])
"#;

#[test]
#[ignore = "needs python3 with the openai and google-genai SDKs (pip install openai google-genai); .ci/run installs them"]
fn the_openai_and_google_sdks_are_served_by_an_anthropic_account() {
    let (env, fake, server, key) = translating(
        "anthropic",
        &[
            "gpt-4o=claude-sonnet-4-5",
            "gemini-2.5-pro=claude-sonnet-4-5",
        ],
    );
    fake.set_tool("weather", serde_json::json!({ "city": "Paris" }));
    let stdout = run_python(
        "openai, google.genai",
        "openai google-genai",
        SDKS_ON_ANTHROPIC,
        &server,
        &key,
    );
    let prompt = upstream::INPUT + upstream::CACHE_READ;
    for line in [
        format!("chat Hello from the model {prompt} {}", upstream::OUTPUT),
        "chat-stream-call toolu_model_1 Paris".to_owned(),
        format!("responses Hello from the model {prompt}"),
        "responses-stream-call toolu_model_1 Paris".to_owned(),
        "gemini Hello from the model".to_owned(),
        "gemini-stream Hello from the model".to_owned(),
        "gemini-call weather Paris".to_owned(),
    ] {
        assert!(stdout.contains(&line), "{line}: {stdout}");
    }
    assert!(fake.seen().iter().all(|s| s.path == "/v1/messages"));
    let rows = env.rows(7);
    assert!(
        rows.iter().all(|r| r["translated"] == true
            && r["outcome"] == "ok"
            && r["output_tokens"] == upstream::OUTPUT),
        "{rows:?}"
    );
}

/// Runs Gemini CLI 0.61.0 headless (`gemini -p`) in a fresh home, in API-key mode pointed at
/// the gateway with the member key (`GOOGLE_GEMINI_BASE_URL`, `GEMINI_API_KEY`, the
/// `gemini-api-key` auth type in its settings, the working directory trusted); returns its
/// stdout, failing with its output when it fails.
fn gemini_print(server: &common::Server, key: &str, prompt: &str) -> String {
    common::require_tool("gemini", "Gemini CLI: npm install -g @google/gemini-cli");
    let home = tempfile::tempdir().unwrap();
    let settings = home.path().join(".gemini");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(
        settings.join("settings.json"),
        r#"{"security":{"auth":{"selectedType":"gemini-api-key"}}}"#,
    )
    .unwrap();
    let out = Command::new("timeout")
        // A model named, so no routing request is made first (0.61.0 classifies an `auto`
        // turn with a whole request it retries, with backoff, when the answer is not its own).
        .args(["180", "gemini", "-m", "gemini-2.5-pro", "-p", prompt])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("GEMINI_CLI_TRUST_WORKSPACE", "true")
        .env("GEMINI_API_KEY", key)
        .env("GOOGLE_GEMINI_BASE_URL", format!("http://{}", server.addr))
        .env_remove("GOOGLE_API_KEY")
        .env_remove("GOOGLE_GENAI_USE_GCA")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "gemini -p failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
#[ignore = "needs Gemini CLI (npm install -g @google/gemini-cli); .ci/run installs it"]
fn gemini_cli_works_through_the_gateway_on_a_google_account() {
    let env = Env::new();
    let fake = Fake::start();
    fake.set(Reply::Auto);
    fake.code_assist(upstream::CodeAssistState {
        project: Some("pooled-proj-1".into()),
        ..Default::default()
    });
    let id = env.data.json(
        &[
            "account",
            "create",
            "--platform",
            "gemini-oauth",
            "--name",
            "google",
            "--group",
            "team",
            "--base-url",
            &fake.url(),
            "--refresh-token-stdin",
        ],
        "ya29.fake-access\n1//fake-refresh\n",
    )["id"]
        .as_i64()
        .unwrap();
    assert_eq!(env.account_json(id)["workspace"], "pooled-proj-1");
    let key = env.key("member");
    let server = env.serve(&[]);
    let stdout = gemini_print(&server, &key, "say hello");
    assert!(stdout.contains("Hello from the fake upstream"), "{stdout}");
    // Gemini CLI 0.61.0 streams its turn: it reached Code Assist in its envelope, naming the
    // account's project.
    let seen = fake.seen();
    let stream = seen
        .iter()
        .find(|s| s.path == "/v1internal:streamGenerateContent?alt=sse")
        .expect("the turn was streamed to Code Assist");
    let body: serde_json::Value = serde_json::from_slice(&stream.body).unwrap();
    assert_eq!(body["project"], "pooled-proj-1");
    assert!(body["request"]["contents"].is_array(), "{body}");
    assert_eq!(
        stream.header("authorization"),
        Some("Bearer ya29.fake-access")
    );
    assert_eq!(stream.header("x-gemini-api-privileged-user-id"), None);
    let rows = env.rows(seen.len());
    assert!(
        rows.iter().all(|r| r["client"] == "gemini-cli"
            && r["outcome"] == "ok"
            && r["input_tokens"] == upstream::INPUT),
        "{rows:?}"
    );
}

#[test]
#[ignore = "needs Codex CLI (npm install -g @openai/codex); .ci/run installs it"]
fn codex_exec_works_through_the_gateway_on_a_chatgpt_subscription() {
    let env = Env::new();
    let fake = Fake::start();
    fake.codex();
    fake.set(Reply::Auto);
    let claims = serde_json::json!({ "exp": 4_102_444_800i64,
        "https://api.openai.com/auth": { "chatgpt_account_id": "acct-pool-1" } });
    let access = common::oauth::jwt(&claims);
    env.data.json(
        &[
            "account",
            "create",
            "--platform",
            "codex-oauth",
            "--name",
            "chatgpt",
            "--group",
            "team",
            "--base-url",
            &format!("{}/backend-api/codex", fake.url()),
            "--refresh-token-stdin",
        ],
        &format!("{access}\nrt-fake\n"),
    );
    let key = env.key("member");
    let server = env.serve(&[]);
    let stdout = codex_exec(&server, &key, "hello", |_| {});
    assert!(stdout.contains("Hello from the fake upstream"), "{stdout}");
    let seen = fake.seen();
    let turn = seen.last().expect("the turn reached the backend");
    assert_eq!(turn.path, "/backend-api/codex/responses");
    assert_eq!(turn.header("chatgpt-account-id"), Some("acct-pool-1"));
    assert_eq!(
        turn.header("authorization"),
        Some(format!("Bearer {access}").as_str())
    );
    // Codex CLI 0.171.0's own conversation headers pass through.
    assert!(turn.header("session-id").is_some(), "{:?}", turn.headers);
    let rows = env.rows(1);
    assert!(
        rows.iter().any(|r| r["client"] == "codex"
            && r["outcome"] == "ok"
            && r["output_tokens"] == upstream::OUTPUT),
        "{rows:?}"
    );
}
