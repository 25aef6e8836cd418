//! A whole Responses answer written by hand: serde's bytes for [`Answer`] (a property test
//! holds the two together), without serde's work for every key and every name of the
//! gateway's own (about 9 600 instructions for a short answer through serde,
//! `benches/instructions.sh --form responses`).

use super::{Answer, Item, Part};
use crate::gateway::translate::write::Writer;

/// `a` as JSON, in a buffer sized for about `size_hint` bytes.
pub fn answer(a: &Answer<'_, Item<'_>>, size_hint: usize) -> Vec<u8> {
    let mut w = Writer::new(size_hint);
    w.raw("{\"id\":");
    w.serde(a.id.as_str());
    w.raw(",\"object\":");
    w.name(a.object);
    w.raw(",\"created_at\":");
    w.serde(&a.created_at);
    w.raw(",\"status\":");
    w.name(a.status);
    w.raw(",\"model\":");
    w.serde(a.model);
    w.raw(",\"output\":");
    w.list(&a.output, item);
    w.raw(",\"usage\":");
    match &a.usage {
        None => w.raw("null"),
        Some(u) => {
            w.raw("{\"input_tokens\":");
            w.serde(&u.input_tokens);
            w.raw(",\"input_tokens_details\":{\"cached_tokens\":");
            w.serde(&u.input_tokens_details.cached_tokens);
            w.raw("},\"output_tokens\":");
            w.serde(&u.output_tokens);
            w.raw(",\"output_tokens_details\":{\"reasoning_tokens\":");
            w.serde(&u.output_tokens_details.reasoning_tokens);
            w.raw("},\"total_tokens\":");
            w.serde(&u.total_tokens);
            w.raw("}");
        }
    }
    w.raw(",\"incomplete_details\":");
    match &a.incomplete_details {
        None => w.raw("null"),
        Some(i) => {
            w.raw("{\"reason\":");
            w.name(i.reason);
            w.raw("}");
        }
    }
    // `error` is never set on a whole answer, nor are `tools` echoed.
    w.raw(",\"error\":null,\"parallel_tool_calls\":");
    w.serde(&a.parallel_tool_calls);
    w.raw(",\"tool_choice\":");
    w.name(a.tool_choice);
    w.raw(",\"tools\":[]}");
    w.into_bytes()
}

fn item(w: &mut Writer, i: &Item) {
    match i {
        Item::Message {
            id,
            status,
            role,
            content,
        } => {
            w.raw("{\"type\":\"message\",\"id\":");
            w.serde(id.as_str());
            w.raw(",\"status\":");
            w.name(status);
            w.raw(",\"role\":");
            w.name(role);
            w.raw(",\"content\":");
            w.list(content, part);
        }
        Item::Reasoning {
            id,
            summary,
            encrypted_content,
        } => {
            w.raw("{\"type\":\"reasoning\",\"id\":");
            w.serde(id.as_str());
            w.raw(",\"summary\":");
            w.list(summary, part);
            if let Some(sealed) = encrypted_content {
                w.raw(",\"encrypted_content\":");
                w.serde(sealed.as_str());
            }
        }
        Item::CustomToolCall {
            id,
            status,
            call_id,
            name,
            input,
        } => call(
            w,
            "custom_tool_call",
            id,
            status,
            call_id,
            name,
            ("input", input),
        ),
        Item::FunctionCall {
            id,
            status,
            call_id,
            name,
            arguments,
        } => call(
            w,
            "function_call",
            id,
            status,
            call_id,
            name,
            ("arguments", arguments),
        ),
    }
    w.raw("}");
}

/// A call item's fields, the same for both kinds but the last: a freeform tool's `input`, a
/// function's `arguments`.
fn call(
    w: &mut Writer,
    kind: &'static str,
    id: &str,
    status: &'static str,
    call_id: &str,
    name: &str,
    (last, value): (&'static str, &str),
) {
    w.raw("{\"type\":");
    w.name(kind);
    w.raw(",\"id\":");
    w.serde(id);
    w.raw(",\"status\":");
    w.name(status);
    w.raw(",\"call_id\":");
    w.serde(call_id);
    w.raw(",\"name\":");
    w.serde(name);
    w.raw(",\"");
    w.raw(last);
    w.raw("\":");
    w.serde(value);
}

fn part(w: &mut Writer, p: &Part) {
    match p {
        Part::OutputText { text, .. } => {
            w.raw("{\"type\":\"output_text\",\"text\":");
            w.serde(*text);
            w.raw(",\"annotations\":[]}");
        }
        Part::SummaryText { text } => {
            w.raw("{\"type\":\"summary_text\",\"text\":");
            w.serde(*text);
            w.raw("}");
        }
    }
}
