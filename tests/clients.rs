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
    env.account_on(
        "openai",
        "oai",
        &format!("{}/v1", fake.url()),
        "sk-oai-upstream",
        &[],
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
    common::require_tool(
        "claude",
        "Claude Code: npm install -g @anthropic-ai/claude-code",
    );
    let (env, fake, server, key) = gateway();
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["120", "claude", "-p", "hello"])
        .env("HOME", home.path())
        .env("ANTHROPIC_BASE_URL", format!("http://{}", server.addr))
        .env("ANTHROPIC_AUTH_TOKEN", &key)
        .env_remove("ANTHROPIC_API_KEY")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "claude -p failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    common::require_tool("codex", "Codex CLI: npm install -g @openai/codex");
    let (env, _fake, server, key) = gateway();
    let home = tempfile::tempdir().unwrap();
    let codex_home = home.path().join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"gpt-5-codex\"\nmodel_provider = \"aicarpool\"\n\n[model_providers.aicarpool]\nname = \"aicarpool\"\nbase_url = \"http://{}/v1\"\nenv_key = \"AICARPOOL_KEY\"\nwire_api = \"responses\"\n",
            server.addr
        ),
    )
    .unwrap();
    let out = Command::new("timeout")
        .args(["120", "codex", "exec", "--skip-git-repo-check", "hello"])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("CODEX_HOME", &codex_home)
        .env("AICARPOOL_KEY", &key)
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "codex exec failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Hello from the fake upstream"), "{stdout}");
    let rows = env.rows(1);
    assert!(
        rows.iter()
            .any(|r| r["client"] == "codex" && r["outcome"] == "ok"),
        "{rows:?}"
    );
}
