//! The stream pump: reads an SSE stream from the upstream and hands each chunk to the client at
//! once, reading usage as it passes; the chunk that ends the stream is held until its row is
//! committed, and a client that leaves does not stop the reading.

use super::deliver::Pending;
use super::*;

/// A client that leaves does not stop the reading: the upstream is drained (bounded) so the
/// request is charged for what it produced.
#[allow(clippy::too_many_arguments)]
pub(super) async fn pump(
    mut body: Incoming,
    mut decoder: Option<decode::StreamDecoder>,
    mut unwrap: Option<crate::gateway::code_assist::Unwrap>,
    tx: mpsc::Sender<Bytes>,
    mut pending: Pending,
    account: Arc<Upstream>,
    idle: Duration,
) {
    // Usage is read from what the upstream sent; the client gets its own format.
    let wire = pending.call.endpoint.wire();
    let mut scanner = SseScanner::new(pending.wire());
    let mut translator = pending.translation.as_ref().map(Translation::stream);
    let mut reframe =
        (pending.call.strip_usage_chunk && translator.is_none()).then(Framer::default);
    let mut client_gone = false;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let mut broke: Option<String> = None;
    let mut logged = false;
    loop {
        let wait = match drain_deadline {
            Some(d) => idle.min(d.saturating_duration_since(tokio::time::Instant::now())),
            None => idle,
        };
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Ok(Some(Ok(f))) => f,
            Ok(None) => {
                // An event the upstream left without its blank line still counts.
                if let Some(rest) = unwrap.as_mut().map(|u| u.finish())
                    && !rest.is_empty()
                {
                    scanner.feed(&rest);
                    let rest = match translator.as_mut() {
                        Some(t) => t.feed(&rest),
                        None => rest,
                    };
                    if !client_gone && !rest.is_empty() {
                        let _ = tx.send(rest).await;
                    }
                }
                scanner.finish();
                break;
            }
            Ok(Some(Err(_))) => {
                broke = Some("upstream connection broke mid-stream".into());
                break;
            }
            Err(_) => {
                if drain_deadline.is_none() || !client_gone {
                    broke = Some(format!("upstream stream idle for {}s", idle.as_secs()));
                }
                break;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let data = match decoder.as_mut().map(|d| d.feed(&data)) {
            None => data,
            Some(Ok(plain)) => plain,
            Some(Err(error)) => {
                broke = Some(error.to_string());
                break;
            }
        };
        // Code Assist's events come out of their envelope before anything reads them.
        let data = match unwrap.as_mut() {
            Some(u) => u.feed(&data),
            None => data,
        };
        let last = scanner.feed(&data);
        if last && !logged {
            // Durable first, then the bytes that tell the client it is complete.
            let outcome = if client_gone {
                Outcome::Aborted
            } else {
                Outcome::Ok
            };
            pending
                .finish(outcome, &scanner.report, scanner.report.error.clone())
                .await;
            logged = true;
        }
        // When the gateway asked for a usage chunk the client did not, events are passed whole
        // so that one can be left out.
        let data = match (translator.as_mut(), reframe.as_mut()) {
            (Some(t), _) => t.feed(&data),
            (None, Some(framer)) => Bytes::from(events_without_usage_chunk(framer, &data)),
            (None, None) => data,
        };
        if !client_gone && !data.is_empty() && tx.send(data).await.is_err() {
            client_gone = true;
            // The member's slot is free again; draining for usage is the gateway's business.
            pending.call.admission.release();
            drain_deadline = Some(tokio::time::Instant::now() + DISCONNECT_DRAIN);
            debug!(request = %pending.call.request_id, "client left mid-stream; draining upstream for usage");
        }
        if client_gone && (scanner.report.usage_final || logged) {
            break;
        }
    }
    if let Some(rest) = reframe.and_then(|mut f| f.finish())
        && !client_gone
    {
        let _ = tx.send(Bytes::from(rest)).await;
    }
    if let Some(msg) = &broke {
        pending
            .gw
            .health
            .failed(&account, Failure::Server(msg.clone()))
            .await;
    } else if scanner.report.complete && scanner.report.error.is_none() {
        pending.gw.health.succeeded(&account).await;
    } else if let Some(msg) = &scanner.report.error {
        pending
            .gw
            .health
            .failed(
                &account,
                Failure::Server(format!("error event mid-stream: {msg}")),
            )
            .await;
    }
    if !logged {
        let outcome = if client_gone {
            Outcome::Aborted
        } else if scanner.report.complete {
            Outcome::Ok
        } else {
            Outcome::UpstreamError
        };
        let error = broke
            .clone()
            .or_else(|| scanner.report.error.clone())
            .or_else(|| {
                (outcome == Outcome::UpstreamError)
                    .then(|| "stream ended before message_stop".to_owned())
            })
            .or_else(|| client_gone.then(|| "client disconnected mid-stream".to_owned()));
        pending.finish(outcome, &scanner.report, error).await;
    }
    // A translated stream's last events, once its row is written (a broken one gets the
    // error below instead).
    if let Some(mut t) = translator
        && broke.is_none()
        && !client_gone
    {
        let rest = t.finish();
        if !rest.is_empty() {
            let _ = tx.send(rest).await;
        }
    }
    if broke.is_some() && !client_gone {
        let public = format!(
            "the upstream stream broke off; request id {}",
            pending.call.request_id
        );
        let _ = tx
            .send(stream_error(wire, Kind::UpstreamFailed, &public))
            .await;
    }
}
