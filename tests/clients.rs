//! Real clients through the gateway against the fake upstream: the official Anthropic Python SDK
//! and Claude Code in print mode. Both need software from outside the Rust toolchain, so they
//! are ignored by default; `.ci/run` installs it and runs them with `--include-ignored`.

mod common;

use std::process::Command;

use common::env::Env;
use common::upstream::{self, Fake, Reply};

/// A gateway with one account on a fake upstream; returns (env, fake, server, key).
fn gateway() -> (Env, Fake, common::Server, String) {
    let env = Env::new();
    let fake = Fake::start();
    fake.set(Reply::Auto);
    env.account("main", &fake.url(), "sk-ant-fake-upstream", &[]);
    let key = env.key("member");
    let server = env.serve(&[]);
    (env, fake, server, key)
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
    common::require_tool("python3", "python3");
    let probe = Command::new("python3")
        .args(["-c", "import anthropic"])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "this test needs the Anthropic SDK: pip install anthropic"
    );
    let (env, _fake, server, key) = gateway();
    let out = Command::new("python3")
        .args(["-c", SDK_SCRIPT])
        .env("BASE", format!("http://{}", server.addr))
        .env("KEY", &key)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK script failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
