//! OpenAI Chat Completions' whole answers to and from the pivot (requests are read in
//! `chat_request` and written in `chat_upstream`; streams are `chat_stream`).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::pivot::Answer;

pub(super) mod write;
use super::{
    Counts, Translation, Usage, args_object, openai_finish, prompt_tokens, stop_from_openai,
    str_of, text_of,
};

/// An Anthropic answer block, borrowing the chat answer's texts.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Thinking {
        thinking: Cow<'a, str>,
        signature: &'static str,
    },
    Text {
        text: Cow<'a, str>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: Cow<'a, str>,
        input: Value,
    },
}

/// What an Anthropic message is made of from a chat completion, however it was read (from
/// its text in `chat_answer`, or from a tree here): each field as the completion's first
/// choice has it, when it is a string.
#[derive(Default)]
pub struct Parts<'a> {
    pub id: Option<Cow<'a, str>>,
    pub reasoning: Option<Cow<'a, str>>,
    pub text: Cow<'a, str>,
    pub refusal: Option<Cow<'a, str>>,
    pub calls: Vec<CallParts<'a>>,
    pub usage: Usage,
    pub finish: Option<Cow<'a, str>>,
}

/// A tool call's id, function name and arguments.
pub struct CallParts<'a> {
    pub id: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub arguments: Option<Cow<'a, str>>,
}

/// A chat completion (a tree) as an Anthropic message.
pub fn response_to_anthropic<'a>(
    v: &'a Value,
    t: &'a Translation,
) -> super::util::Message<'a, Block<'a>> {
    let choice = crate::json::at(v, &["choices", "0"]).unwrap_or(&Value::Null);
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let text = |v: &'a Value, k: &str| str_of(v, k).map(Cow::Borrowed);
    let parts = Parts {
        id: text(v, "id"),
        reasoning: reasoning(msg).map(Cow::Borrowed),
        text: match msg.get("content") {
            Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(text_of(other.unwrap_or(&Value::Null))),
        },
        refusal: text(msg, "refusal"),
        calls: msg
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|tc| {
                let f = tc.get("function").unwrap_or(&Value::Null);
                CallParts {
                    id: text(tc, "id"),
                    name: text(f, "name"),
                    arguments: text(f, "arguments"),
                }
            })
            .collect(),
        usage: v
            .get("usage")
            .filter(|u| u.is_object())
            .map(|u| Usage::from_openai(&Counts::of(u)))
            .unwrap_or_default(),
        finish: text(choice, "finish_reason"),
    };
    message_of(parts, t)
}

/// The Anthropic message a chat completion's parts make.
pub fn message_of<'a>(p: Parts<'a>, t: &'a Translation) -> super::util::Message<'a, Block<'a>> {
    let mut content = Vec::new();
    if let Some(r) = p.reasoning.filter(|r| !r.is_empty()) {
        content.push(Block::Thinking {
            thinking: r,
            signature: "",
        });
    }
    if !p.text.is_empty() {
        content.push(Block::Text { text: p.text });
    }
    if let Some(r) = p.refusal {
        content.push(Block::Text { text: r });
    }
    for c in p.calls {
        content.push(Block::ToolUse {
            id: c.id.unwrap_or_else(|| Cow::Owned(format!("call_{}", t.id))),
            name: c.name.unwrap_or_default(),
            input: args_object(c.arguments.as_deref().unwrap_or("")),
        });
    }
    let stop = stop_from_openai(p.finish.as_deref().unwrap_or("stop"));
    super::anthropic_message(p.id.as_deref(), t, content, stop, &p.usage)
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
