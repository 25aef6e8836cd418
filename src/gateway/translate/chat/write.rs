//! A whole chat completion written by hand: serde's bytes for [`Completion`] (a property test
//! holds the two together), without serde's work for every key and every name of the
//! gateway's own (about 5 500 instructions for a short answer through serde,
//! `benches/instructions.sh --form chat`).

use super::{ChatUsage, Completion};
use crate::gateway::translate::write::Writer;

/// `c` as JSON, in a buffer sized for about `size_hint` bytes.
pub fn completion(c: &Completion<'_>, size_hint: usize) -> Vec<u8> {
    let mut w = Writer::new(size_hint);
    w.raw("{\"id\":");
    w.serde(c.id.as_str());
    w.raw(",\"object\":");
    w.name(c.object);
    w.raw(",\"created\":");
    w.serde(&c.created);
    w.raw(",\"model\":");
    w.serde(c.model);
    w.raw(",\"choices\":");
    w.list(&c.choices, |w, choice| {
        w.raw("{\"index\":");
        w.serde(&choice.index);
        let m = &choice.message;
        w.raw(",\"message\":{\"role\":");
        w.name(m.role);
        w.raw(",\"content\":");
        match &m.content {
            Some(text) => w.serde(text.as_ref()),
            None => w.raw("null"),
        }
        if let Some(thinking) = &m.reasoning_content {
            w.raw(",\"reasoning_content\":");
            w.serde(thinking.as_ref());
        }
        if !m.tool_calls.is_empty() {
            w.raw(",\"tool_calls\":");
            w.list(&m.tool_calls, |w, call| {
                w.raw("{\"id\":");
                w.serde(call.id);
                w.raw(",\"type\":");
                w.name(call.kind);
                w.raw(",\"function\":{\"name\":");
                w.serde(call.function.name);
                w.raw(",\"arguments\":");
                w.serde(call.function.arguments.as_str());
                w.raw("}}");
            });
        }
        w.raw("},\"finish_reason\":");
        w.name(choice.finish_reason);
        // `logprobs` is never given.
        w.raw(",\"logprobs\":null}");
    });
    w.raw(",\"usage\":");
    usage(&mut w, &c.usage);
    w.raw("}");
    w.into_bytes()
}

fn usage(w: &mut Writer, u: &ChatUsage) {
    w.raw("{\"prompt_tokens\":");
    w.serde(&u.prompt_tokens);
    w.raw(",\"completion_tokens\":");
    w.serde(&u.completion_tokens);
    w.raw(",\"total_tokens\":");
    w.serde(&u.total_tokens);
    w.raw(",\"prompt_tokens_details\":{\"cached_tokens\":");
    w.serde(&u.prompt_tokens_details.cached_tokens);
    w.raw("}}");
}
