//! OpenAI Chat Completions' whole answers to and from the pivot (requests are read in
//! `chat_request` and written in `chat_upstream`; streams are `chat_stream`).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::pivot::Answer;
use super::{
    Counts, Translation, Usage, args_object, openai_finish, prompt_tokens, stop_from_openai,
    str_of, text_of,
};

/// An Anthropic answer block, borrowing the chat answer's texts.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'static str,
    },
    Text {
        text: Cow<'a, str>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: &'a str,
        input: Value,
    },
}

/// A chat completion as an Anthropic message.
pub fn response_to_anthropic<'a>(
    v: &'a Value,
    t: &'a Translation,
) -> super::util::Message<'a, Block<'a>> {
    let choice = v.pointer("/choices/0").unwrap_or(&Value::Null);
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    if let Some(r) = reasoning(msg).filter(|r| !r.is_empty()) {
        content.push(Block::Thinking {
            thinking: r,
            signature: "",
        });
    }
    let text = match msg.get("content") {
        Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
        other => Cow::Owned(text_of(other.unwrap_or(&Value::Null))),
    };
    if !text.is_empty() {
        content.push(Block::Text { text });
    }
    if let Some(r) = str_of(msg, "refusal") {
        content.push(Block::Text {
            text: Cow::Borrowed(r),
        });
    }
    for tc in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = tc.get("function").unwrap_or(&Value::Null);
        content.push(Block::ToolUse {
            id: str_of(tc, "id")
                .map_or_else(|| Cow::Owned(format!("call_{}", t.id)), Cow::Borrowed),
            name: str_of(f, "name").unwrap_or(""),
            input: args_object(str_of(f, "arguments").unwrap_or("")),
        });
    }
    let usage = v
        .get("usage")
        .filter(|u| u.is_object())
        .map(|u| Usage::from_openai(&Counts::of(u)))
        .unwrap_or_default();
    let stop = stop_from_openai(str_of(choice, "finish_reason").unwrap_or("stop"));
    super::anthropic_message(str_of(v, "id"), t, content, stop, &usage)
}

/// Reasoning text as DeepSeek and others return it beside the answer.
pub(super) fn reasoning(msg: &Value) -> Option<&str> {
    str_of(msg, "reasoning_content").or_else(|| str_of(msg, "reasoning"))
}

/// A chat completion, written from an answer's borrowed parts.
#[derive(Serialize)]
pub struct Completion<'a> {
    id: String,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: ChatUsage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AnswerMessage<'a>,
    finish_reason: &'static str,
    logprobs: Option<()>,
}

#[derive(Serialize)]
struct AnswerMessage<'a> {
    role: &'static str,
    content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<Call<'a>>,
}

#[derive(Serialize)]
struct Call<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CallFunction<'a>,
}

#[derive(Serialize)]
struct CallFunction<'a> {
    name: &'a str,
    arguments: String,
}

/// An Anthropic message as a chat completion.
pub fn response_from_anthropic<'a>(m: &'a Answer, t: &'a Translation) -> Completion<'a> {
    let text = m.joined("text", |b| b.text.as_deref());
    let thinking = m.joined("thinking", |b| b.thinking.as_deref());
    let tool_calls: Vec<Call> = m
        .content
        .iter()
        .filter(|b| b.kind == "tool_use")
        .map(|b| Call {
            id: b.id.as_deref().unwrap_or(""),
            kind: "function",
            function: CallFunction {
                name: b.name.as_deref().unwrap_or(""),
                arguments: b
                    .input
                    .as_ref()
                    .map_or_else(|| "{}".into(), Value::to_string),
            },
        })
        .collect();
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    let message = AnswerMessage {
        role: "assistant",
        content,
        reasoning_content: (!thinking.is_empty()).then_some(thinking),
        tool_calls,
    };
    Completion {
        id: format!("chatcmpl-{}", t.id),
        object: "chat.completion",
        created: t.created,
        model: &t.model,
        choices: [Choice {
            index: 0,
            message,
            finish_reason: openai_finish(m.stop_reason.as_deref().unwrap_or("end_turn")),
            logprobs: None,
        }],
        usage: usage_json(&m.usage()),
    }
}

/// Chat usage.
#[derive(Serialize)]
pub(super) struct ChatUsage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    prompt_tokens_details: Cached,
}

#[derive(Serialize)]
struct Cached {
    cached_tokens: i64,
}

pub(super) fn usage_json(u: &Usage) -> ChatUsage {
    let prompt = prompt_tokens(u);
    ChatUsage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt.saturating_add(u.output_tokens),
        prompt_tokens_details: Cached {
            cached_tokens: u.cache_read_input_tokens,
        },
    }
}
