//! A record as its journal line, written by hand: every request writes one before its answer
//! may finish, and through serde each of its 25 keys was escaped byte by byte (about 6 000
//! instructions a request under `benches/instructions.sh`). The bytes are serde_json's for
//! `Record`, which replay reads; a property test holds the two together.

use super::Record;

impl Record {
    /// The record as one line of JSON, without the newline.
    pub fn journal_line(&self) -> Vec<u8> {
        // Room for a usual record and the journal's newline, so that neither grows it.
        let mut w = Line(Vec::with_capacity(768));
        w.key("{\"request_id\":");
        w.string(&self.request_id);
        w.key(",\"api_key_id\":");
        w.int(self.api_key_id);
        w.key(",\"group_id\":");
        w.int(self.group_id);
        w.key(",\"account_id\":");
        w.opt_int(self.account_id);
        w.key(",\"protocol\":");
        w.string(&self.protocol);
        w.key(",\"endpoint\":");
        w.string(&self.endpoint);
        w.key(",\"model\":");
        w.opt_string(self.model.as_deref());
        w.key(",\"upstream_model\":");
        w.opt_string(self.upstream_model.as_deref());
        w.key(",\"stream\":");
        w.bool(self.stream);
        w.key(",\"status_code\":");
        w.int(self.status_code.into());
        w.key(",\"outcome\":");
        w.string(self.outcome.as_str());
        w.key(",\"error_message\":");
        w.opt_string(self.error_message.as_deref());
        w.key(",\"input_tokens\":");
        w.int(self.input_tokens);
        w.key(",\"output_tokens\":");
        w.int(self.output_tokens);
        w.key(",\"cache_creation_input_tokens\":");
        w.int(self.cache_creation_input_tokens);
        w.key(",\"cache_read_input_tokens\":");
        w.int(self.cache_read_input_tokens);
        w.key(",\"cost_nanos\":");
        w.opt_int(self.cost_nanos);
        w.key(",\"attempts\":");
        w.int(self.attempts.into());
        w.key(",\"client\":");
        w.string(&self.client);
        w.key(",\"user_agent\":");
        w.opt_string(self.user_agent.as_deref());
        w.key(",\"started_at\":");
        w.int(self.started_at);
        w.key(",\"duration_ms\":");
        w.int(self.duration_ms);
        w.key(",\"first_byte_ms\":");
        w.opt_int(self.first_byte_ms);
        w.key(",\"day\":");
        w.string(&self.day);
        w.key(",\"translated\":");
        w.bool(self.translated);
        if !self.tried.is_empty() {
            w.key(",\"tried\":");
            serde_json::to_writer(&mut w.0, &self.tried).expect("attempts serialize");
        }
        w.key("}");
        w.0
    }
}

struct Line(Vec<u8>);

impl Line {
    fn key(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, n: i64) {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    fn opt_int(&mut self, n: Option<i64>) {
        match n {
            Some(n) => self.int(n),
            None => self.key("null"),
        }
    }

    fn bool(&mut self, b: bool) {
        self.key(if b { "true" } else { "false" });
    }

    /// A string, escaped as serde_json escapes it.
    fn string(&mut self, s: &str) {
        serde_json::to_writer(&mut self.0, s).expect("strings serialize");
    }

    fn opt_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.key("null"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Tried;
    use super::*;
    use crate::domain::Outcome;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Plain ids and names, and texts with quotes, escapes, controls and non-ASCII.
        prop_oneof!["[a-z0-9_-]{0,12}", any::<String>()]
    }

    fn record() -> impl Strategy<Value = Record> {
        let outcome = prop_oneof![
            Just(Outcome::Ok),
            Just(Outcome::UpstreamError),
            Just(Outcome::ClientError),
            Just(Outcome::Refused),
            Just(Outcome::Aborted),
        ];
        let tried = prop::collection::vec(
            (any::<i64>(), any::<Option<u16>>(), text()).prop_map(|(account_id, status, error)| {
                Tried {
                    account_id,
                    status,
                    error,
                }
            }),
            0..3,
        );
        (
            (
                text(),
                any::<i64>(),
                any::<i64>(),
                any::<Option<i64>>(),
                text(),
                text(),
            ),
            (
                prop::option::of(text()),
                prop::option::of(text()),
                any::<bool>(),
                any::<u16>(),
                outcome,
                prop::option::of(text()),
            ),
            (
                any::<[i64; 4]>(),
                any::<Option<i64>>(),
                any::<u32>(),
                text(),
            ),
            (
                prop::option::of(text()),
                any::<[i64; 2]>(),
                any::<Option<i64>>(),
                text(),
            ),
            (any::<bool>(), tried),
        )
            .prop_map(|(a, b, c, d, e)| Record {
                request_id: a.0,
                api_key_id: a.1,
                group_id: a.2,
                account_id: a.3,
                protocol: a.4.into(),
                endpoint: a.5.into(),
                model: b.0,
                upstream_model: b.1,
                stream: b.2,
                status_code: b.3,
                outcome: b.4,
                error_message: b.5,
                input_tokens: c.0[0],
                output_tokens: c.0[1],
                cache_creation_input_tokens: c.0[2],
                cache_read_input_tokens: c.0[3],
                cost_nanos: c.1,
                attempts: c.2,
                client: c.3.into(),
                user_agent: d.0,
                started_at: d.1[0],
                duration_ms: d.1[1],
                first_byte_ms: d.2,
                day: d.3,
                translated: e.0,
                tried: e.1,
            })
    }

    proptest! {
        /// Any record's line is serde_json's, byte for byte, so replay reads it as it always has.
        #[test]
        fn a_journal_line_is_what_serde_writes(r in record()) {
            let line = r.journal_line();
            prop_assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(serde_json::to_vec(&r).unwrap()).unwrap()
            );
        }
    }
}
