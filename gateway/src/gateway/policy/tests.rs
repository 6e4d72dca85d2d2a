//! The policy driven as a state machine: no socket, no runtime, a clock passed in.

use super::*;
use crate::config::AckMode;
use crate::config::OverflowPolicy;
use crate::gateway::Settings;
use bytes::Buf;
use codecs::{TextCodec, WebSocketCodec};
use std::net::Ipv4Addr;
use tokio_util::codec::{Decoder, Encoder};

fn gateway(send_buffer_max: usize, send_buffer_overflow: OverflowPolicy) -> Arc<GatewayState> {
    let settings = Settings {
        name: "test".into(),
        ping_interval: 0,
        ping_not_response_limit: 0,
        ping_data: Bytes::new(),
        send_buffer_max,
        send_buffer_overflow,
        max_message_size: 1024,
    };
    GatewayState::new(Ipv4Addr::LOCALHOST, 1, settings, 16, Vec::new())
}

/// An output bound no test reaches.
const ROOMY: (usize, OverflowPolicy) = (1 << 20, OverflowPolicy::Close);

/// Runs `test` on the policy of a new client of a gateway with this output bound.
fn with_policy<C: Codec>(
    (send_buffer_max, policy): (usize, OverflowPolicy),
    mut codec: C,
    test: impl FnOnce(&mut Policy<'_>, &GatewayState, &Arc<ClientHandle>),
) {
    let state = gateway(send_buffer_max, policy);
    let client = state.add_client();
    let mut s = Policy::new(
        &state,
        &client,
        &mut codec,
        AckMode::OnCommit,
        "test".into(),
    );
    test(&mut s, &state, &client);
}

/// Feeds one line as a data event (1) the worker has not accepted yet.
fn one_pending(s: &mut Policy<'_>) {
    let mut input = BytesMut::from("a\n");
    data_event(s, &mut input, 1);
    s.routed(1, Routed::Deferred).unwrap();
    end_of_pass(s, &mut input);
}

/// A device-family codec in miniature: each line is acked (`ack <line>\n`, yielded first, as
/// family codecs do) and handed on as a message; output is written as lines.
#[derive(Default)]
struct AckedLines {
    message: Option<Bytes>,
}

impl Decoder for AckedLines {
    type Item = Inbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        if let Some(data) = self.message.take() {
            return Ok(Some(Inbound::Message { data, fields: None }));
        }
        let Some(end) = src.iter().position(|b| *b == b'\n') else {
            return Ok(None);
        };
        let line = src.split_to(end + 1).freeze().slice(..end);
        let ack = [b"ack ", &line[..], b"\n"].concat();
        self.message = Some(line);
        Ok(Some(Inbound::Reply(Bytes::from(ack))))
    }
}

impl Encoder<Outbound> for AckedLines {
    type Error = CodecError;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        if let Outbound::Data(b) | Outbound::Binary(b) = item {
            dst.extend_from_slice(&b);
            dst.extend_from_slice(b"\n");
        }
        Ok(())
    }
}

impl Codec for AckedLines {
    fn name(&self) -> &'static str {
        "acked-lines"
    }
}

/// Decodes `input` up to the first event for a worker, which must be data event `seq`.
fn data_event(s: &mut Policy<'_>, input: &mut BytesMut, seq: u64) {
    match s.decode(input, false) {
        Ok(Step::Route(FromGateway::Data { .. }, n)) => assert_eq!(n, seq),
        other => panic!("expected data event {seq}, got {other:?}"),
    }
}

/// Decodes the rest of `input`; nothing in it is for a worker.
fn end_of_pass(s: &mut Policy<'_>, input: &mut BytesMut) {
    assert!(matches!(s.decode(input, false), Ok(Step::Read)));
}

#[test]
fn a_reply_goes_out_once_the_worker_accepts_its_event_at_once() {
    with_policy(ROOMY, AckedLines::default(), |s, _, _| {
        let mut input = BytesMut::from("a\n");
        data_event(s, &mut input, 1);
        assert!(
            !s.reply_due(Instant::now(), Instant::now),
            "the reply waits for its event"
        );
        s.routed(1, Routed::Delivered).unwrap();
        end_of_pass(s, &mut input);
        assert_eq!(&s.unwritten()[..], b"ack a\n");
        assert!(s.is_settled());
    });
}

#[test]
fn a_reply_is_held_until_the_worker_accepts_its_event() {
    with_policy(ROOMY, AckedLines::default(), |s, _, client| {
        let mut input = BytesMut::from("a\nb\n");
        data_event(s, &mut input, 1);
        s.routed(1, Routed::Deferred).unwrap();
        data_event(s, &mut input, 2);
        s.routed(2, Routed::Delivered).unwrap();
        end_of_pass(s, &mut input);
        assert!(!s.wants_write(), "both acks wait: b's confirms a as well");
        assert!(!s.is_settled());
        client.event_done(1, true);
        s.woken().unwrap();
        assert_eq!(&s.unwritten()[..], b"ack a\nack b\n");
        assert!(s.is_settled());
    });
}

#[test]
fn a_refused_event_closes_the_connection_without_its_reply() {
    with_policy(ROOMY, AckedLines::default(), |s, _, client| {
        one_pending(s);
        client.event_done(1, false);
        let end = s.woken().unwrap_err();
        assert!(matches!(end, End::Refused(1)));
        assert!(s.close(&end, Instant::now()).is_some());
        assert!(
            !s.wants_write(),
            "the close writes no ack for the refused event"
        );
    });
}

#[test]
fn a_data_event_the_hold_queue_cannot_take_ends_the_connection_without_its_reply() {
    with_policy(ROOMY, AckedLines::default(), |s, _, _| {
        let mut input = BytesMut::from("a\n");
        data_event(s, &mut input, 1);
        let end = s.routed(1, Routed::Overflow).unwrap_err();
        assert!(matches!(end, End::HoldQueueFull));
        s.close(&end, Instant::now());
        assert!(!s.wants_write());
    });
}

#[test]
fn reading_pauses_while_too_many_events_wait_for_the_worker() {
    let max = super::super::acks::MAX_PENDING as u64;
    with_policy(ROOMY, TextCodec::default(), |s, _, client| {
        let mut input = BytesMut::from("x\n".repeat(max as usize).as_str());
        for seq in 1..=max {
            assert!(s.can_read());
            data_event(s, &mut input, seq);
            s.routed(seq, Routed::Deferred).unwrap();
        }
        end_of_pass(s, &mut input);
        assert!(!s.can_read());
        client.event_done(1, true);
        s.woken().unwrap();
        assert!(s.can_read());
    });
}

#[test]
fn a_closing_connection_gets_the_flush_deadline_unless_the_peer_is_gone() {
    let now = Instant::now();
    with_policy(ROOMY, TextCodec::default(), |s, _, _| {
        assert_eq!(s.close(&End::Closed, now), Some(now + CLOSE_FLUSH_TIMEOUT));
        assert!(s.is_closing());
    });
    with_policy(ROOMY, TextCodec::default(), |s, _, _| {
        assert_eq!(s.close(&End::PeerClosed, now), None);
        let io = End::Io(io::ErrorKind::ConnectionReset.into());
        assert_eq!(s.close(&io, now), None);
    });
}

#[test]
fn a_half_closed_peer_gets_the_flush_deadline_only_while_events_are_pending() {
    let now = Instant::now();
    with_policy(ROOMY, AckedLines::default(), |s, _, _| {
        assert_eq!(s.half_closed(now), None, "nothing pending: close at once");
        one_pending(s);
        assert_eq!(s.half_closed(now), Some(now + CLOSE_FLUSH_TIMEOUT));
    });
}

#[test]
fn a_close_asked_by_another_task_stops_the_connection() {
    with_policy(ROOMY, TextCodec::default(), |s, _, client| {
        client.close(Some(Bytes::from_static(b"bye")));
        s.woken().unwrap();
        assert!(s.is_closing());
        assert_eq!(
            &s.unwritten()[..],
            b"bye\n",
            "the last message goes out with the close"
        );
    });
}

fn push(state: &GatewayState, client: &ClientHandle, data: &'static [u8]) {
    state.push(client, Out::Send(Outbound::Data(Bytes::from_static(data))));
}

#[test]
fn output_past_the_bound_closes_the_client_under_the_close_policy() {
    with_policy(
        (8, OverflowPolicy::Close),
        AckedLines::default(),
        |s, state, client| {
            push(state, client, b"12345");
            s.woken().unwrap();
            assert!(!s.is_closing(), "6 encoded bytes fit in 8");
            // A codec reply counts as well: 6 + 11 bytes are over the bound.
            let mut input = BytesMut::from("abcdef\n");
            data_event(s, &mut input, 1);
            s.routed(1, Routed::Delivered).unwrap();
            end_of_pass(s, &mut input);
            s.account_changed();
            assert!(s.is_closing());
            assert_eq!(state.stats.overflow_closes.load(Ordering::Relaxed), 1);
        },
    );
}

#[test]
fn output_past_the_bound_drops_queued_messages_then_pauses_reading_under_drop_oldest() {
    with_policy(
        (8, OverflowPolicy::DropOldest),
        AckedLines::default(),
        |s, state, client| {
            let mut input = BytesMut::from("abcdef\n");
            data_event(s, &mut input, 1);
            s.routed(1, Routed::Delivered).unwrap();
            end_of_pass(s, &mut input);
            push(state, client, b"1");
            s.account_changed();
            assert!(!s.is_closing(), "drop-oldest never closes");
            assert!(!s.can_read(), "11 unwritten bytes over 8: no more replies");
            assert_eq!(state.stats.dropped_oldest.load(Ordering::Relaxed), 1);
            assert_eq!(client.held_bytes(), 11, "the queued message is dropped");
            // The socket takes all but 3 bytes: room again.
            let n = s.unwritten().len() - 3;
            s.unwritten().advance(n);
            s.written();
            s.account_changed();
            assert!(s.can_read());
        },
    );
}

#[test]
fn a_codec_with_a_handshake_must_finish_it_by_the_deadline_and_is_answered_once() {
    let now = Instant::now();
    with_policy(ROOMY, TextCodec::default(), |s, _, _| {
        assert_eq!(s.handshake_deadline(now), None);
    });
    with_policy(ROOMY, WebSocketCodec::default(), |s, _, _| {
        assert_eq!(s.handshake_deadline(now), Some(now + HANDSHAKE_TIMEOUT));
        let mut input = BytesMut::from(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        assert!(matches!(
            s.decode(&mut input, false),
            Ok(Step::Opened(FromGateway::WebSocketConnect { .. }))
        ));
        assert!(s.unwritten().starts_with(b"HTTP/1.1 101"));
        assert_eq!(
            s.handshake_deadline(now),
            None,
            "answered: no deadline any more"
        );
    });
}

#[test]
fn inbound_data_resets_the_silence_count() {
    with_policy(ROOMY, TextCodec::default(), |s, _, client| {
        client.silent_intervals.store(3, Ordering::Relaxed);
        let mut input = BytesMut::from("a\n");
        data_event(s, &mut input, 1);
        assert_eq!(client.silent_intervals.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn replies_of_a_long_pass_are_due_after_the_reply_latency() {
    with_policy(ROOMY, TextCodec::default(), |s, state, client| {
        let since = Instant::now();
        let mut asked = false;
        assert!(!s.reply_due(since, || {
            asked = true;
            since
        }));
        assert!(!asked, "nothing queued: the clock is not read");
        push(state, client, b"x");
        assert!(!s.reply_due(since, || since + REPLY_LATENCY / 2));
        assert!(s.reply_due(since, || since + REPLY_LATENCY));
    });
}
