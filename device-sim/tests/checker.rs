//! The reply checker, driven directly: every kind of bad reply is told apart and counted once.

use device_sim::checker::{Checker, End, Verdict};
use device_sim::payload::{PayloadFormat, Stamp};

const MS: u64 = 1_000_000;

fn setup() -> (Checker, PayloadFormat) {
    (Checker::new(7, 0, 64), PayloadFormat::new(64).unwrap())
}

/// Sends `n` messages at time `t` and returns their payloads.
fn send(c: &mut Checker, f: &PayloadFormat, n: usize, t: u64) -> Vec<Vec<u8>> {
    (0..n).map(|_| f.to_vec(c.send(t))).collect()
}

#[test]
fn replies_in_order_are_fresh_with_their_latency() {
    let (mut c, f) = setup();
    let msgs = send(&mut c, &f, 3, 10 * MS);
    for (i, m) in msgs.iter().enumerate() {
        let v = c.reply(&f, m, 10 * MS + (i as u64 + 1) * MS);
        assert_eq!(
            v,
            Verdict::Fresh {
                latency_ns: (i as u64 + 1) * MS,
                out_of_order: false
            }
        );
    }
    let n = c.counts();
    assert_eq!((n.sent, n.received, n.lost(), n.out_of_order), (3, 3, 0, 0));
    assert_eq!(c.pending(), 0);
}

#[test]
fn a_second_reply_to_the_same_message_is_a_duplicate_wherever_the_window_is() {
    let (mut c, f) = setup();
    let msgs = send(&mut c, &f, 3, 0);
    c.reply(&f, &msgs[1], MS);
    // Message 1 is answered but still inside the window (0 is pending).
    assert_eq!(c.reply(&f, &msgs[1], MS), Verdict::Duplicate);
    c.reply(&f, &msgs[0], MS);
    // Now the window has moved past 0 and 1.
    assert_eq!(c.reply(&f, &msgs[0], MS), Verdict::Duplicate);
    assert_eq!(c.reply(&f, &msgs[1], MS), Verdict::Duplicate);
    assert_eq!(c.counts().duplicated, 3);
    assert_eq!(c.counts().received, 2);
}

#[test]
fn a_reply_after_a_later_one_is_out_of_order_and_still_fresh() {
    let (mut c, f) = setup();
    let msgs = send(&mut c, &f, 4, 0);
    c.reply(&f, &msgs[0], MS);
    c.reply(&f, &msgs[2], MS);
    assert_eq!(
        c.reply(&f, &msgs[1], MS),
        Verdict::Fresh {
            latency_ns: MS,
            out_of_order: true
        }
    );
    c.reply(&f, &msgs[3], MS);
    let n = c.counts();
    assert_eq!((n.received, n.out_of_order, n.duplicated), (4, 1, 0));
}

#[test]
fn a_dropped_message_is_not_counted_out_of_order_for_the_ones_after_it() {
    let (mut c, f) = setup();
    let msgs = send(&mut c, &f, 3, 0);
    c.reply(&f, &msgs[0], MS);
    c.reply(&f, &msgs[2], MS);
    c.finish(End::RunOver);
    let n = c.counts();
    assert_eq!((n.out_of_order, n.lost(), n.unanswered), (0, 1, 1));
}

#[test]
fn messages_past_the_loss_timeout_are_lost_and_a_late_reply_takes_that_back() {
    let (mut c, f) = setup();
    let early = send(&mut c, &f, 2, 0);
    let later = send(&mut c, &f, 1, 50 * MS);
    assert_eq!(c.expire(10 * MS), 2);
    assert_eq!(c.pending(), 1);
    assert_eq!(c.counts().lost(), 2);
    assert_eq!(
        c.reply(&f, &early[1], 60 * MS),
        Verdict::Late {
            latency_ns: 60 * MS
        }
    );
    // A second copy of the late one is a plain duplicate.
    assert_eq!(c.reply(&f, &early[1], 61 * MS), Verdict::Duplicate);
    c.reply(&f, &later[0], 61 * MS);
    let n = c.counts();
    assert_eq!((n.timed_out, n.late, n.lost(), n.duplicated), (2, 1, 1, 1));
}

#[test]
fn replies_that_are_not_intact_payloads_of_this_device_are_corrupted() {
    let (mut c, f) = setup();
    let msgs = send(&mut c, &f, 1, 0);
    let mut flipped = msgs[0].clone();
    flipped[60] = b'#';
    let other_device = f.to_vec(Stamp {
        device: 8,
        seq: 0,
        ts_ns: 0,
    });
    let never_sent = f.to_vec(Stamp {
        device: 7,
        seq: 5,
        ts_ns: 0,
    });
    let wrong_time = f.to_vec(Stamp {
        device: 7,
        seq: 0,
        ts_ns: 3,
    });
    for bad in [
        &flipped[..],
        &other_device,
        &never_sent,
        &wrong_time,
        b"hello",
    ] {
        assert_eq!(c.reply(&f, bad, MS), Verdict::Corrupted);
    }
    assert_eq!(c.counts().corrupted, 5);
    assert_eq!(c.pending(), 1, "the message itself is still waiting");
    c.finish(End::RunOver);
    assert_eq!(c.counts().lost(), 1);
}

#[test]
fn messages_in_flight_when_the_connection_drops_are_counted_apart() {
    let (mut c, f) = setup();
    send(&mut c, &f, 5, 0);
    c.finish(End::Disconnected);
    let n = c.counts();
    assert_eq!((n.lost_in_disconnect, n.lost()), (5, 0));
    // Sequence numbers go on after a reconnect.
    let mut next = Checker::new(7, c.next_seq(), 64);
    assert_eq!(next.send(0).seq, 5);
}

#[test]
fn a_full_window_declares_its_oldest_message_lost_so_memory_stays_bounded() {
    let f = PayloadFormat::new(64).unwrap();
    let mut c = Checker::new(1, 0, 4);
    let msgs = send(&mut c, &f, 10, 0);
    assert_eq!(c.pending(), 4);
    assert_eq!(c.counts().timed_out, 6);
    // The newest four are still tracked; a reply to an evicted one is late, not a duplicate.
    assert!(matches!(c.reply(&f, &msgs[9], MS), Verdict::Fresh { .. }));
    assert!(matches!(c.reply(&f, &msgs[0], MS), Verdict::Late { .. }));
}
