//! Results: what a run (or one shard of it) measured, how shards' results merge, and the final
//! report, as text for people and JSON for scripts.
//!
//! [`RunResult`] is exact and mergeable (counts add, histograms add); it is what a shard sends
//! its parent, histograms in HdrHistogram's V2 format, hex-encoded. [`Report`] is derived from it:
//! rates and percentiles, the same fields in the text and the JSON.

use crate::rss::RssResult;
use crate::stats::{new_histogram, FamilyCounts, Snapshot};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What one group of devices measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupResult {
    /// The group's name.
    pub name: String,
    /// Its protocol.
    pub proto: String,
    /// Its behaviour and load, described.
    pub behaviour: String,
    /// Whether replies are checked (echo replies, device-family acks) or not (idle).
    pub echo: bool,
    /// Whether the devices are trackers of a device family (replies are their server's acks).
    #[serde(default)]
    pub family: bool,
    /// Devices run.
    pub devices: u64,
    /// Final counters.
    pub totals: Snapshot,
    /// Most connections open at once (seen at one-second ticks and at the end).
    pub max_connected: u64,
    /// Round-trip latencies in nanoseconds.
    #[serde(with = "hex_histogram")]
    pub latency: Histogram<u64>,
    /// Length of the steady window (after ramp-up, until sending stopped), in seconds.
    pub steady_secs: f64,
    /// Fresh replies received within the steady window.
    pub steady_received: u64,
    /// Replies per second within the steady window.
    pub throughput: f64,
    /// Counters at each whole second of the run.
    pub timeline: Vec<Snapshot>,
}

/// What a run (or a shard) measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// One result per group, in plan order.
    pub groups: Vec<GroupResult>,
    /// Wall time of the whole run, grace included.
    pub elapsed_secs: f64,
    /// Processes the run was spread over.
    pub shards: u32,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
    /// The server's memory, when asked for.
    pub rss: Option<RssResult>,
}

impl RunResult {
    /// Merges the results of the shards of one plan.
    pub fn merge(parts: Vec<RunResult>) -> Option<RunResult> {
        let mut parts = parts.into_iter();
        let mut total = parts.next()?;
        let mut shards = total.shards;
        for part in parts {
            shards += part.shards;
            total.elapsed_secs = total.elapsed_secs.max(part.elapsed_secs);
            total.interrupted |= part.interrupted;
            total.rss = total.rss.or(part.rss);
            for (g, p) in total.groups.iter_mut().zip(part.groups) {
                g.add(&p);
            }
        }
        total.shards = shards;
        Some(total)
    }
}

impl GroupResult {
    /// Adds another shard's (or group's) result to this one.
    pub fn add(&mut self, other: &GroupResult) {
        self.devices += other.devices;
        self.totals.add(&other.totals);
        self.max_connected += other.max_connected;
        // Both histograms have the same bounds; a value above them was clamped when recorded.
        let _ = self.latency.add(&other.latency);
        self.steady_secs = self.steady_secs.max(other.steady_secs);
        self.steady_received += other.steady_received;
        self.throughput += other.throughput;
        // Counters are cumulative: a shorter timeline holds its last value.
        if self.timeline.len() < other.timeline.len() {
            let last = self.timeline.last().copied().unwrap_or_default();
            self.timeline.resize(other.timeline.len(), last);
        }
        for (i, s) in self.timeline.iter_mut().enumerate() {
            if let Some(theirs) = other.timeline.get(i).or(other.timeline.last()) {
                s.add(theirs);
            }
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// Replies measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest.
    pub max: f64,
}

/// One second of the timeline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelineRow {
    /// Seconds since the start.
    pub t: u32,
    /// Connections open.
    pub connected: u64,
    /// Messages sent during this second.
    pub sent_per_s: u64,
    /// Fresh replies during this second.
    pub received_per_s: u64,
    /// Failed connects so far.
    pub connect_errors: u64,
    /// Dropped connections so far.
    pub disconnects: u64,
}

/// The report of one group, or of all groups together.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// Group name (`total` for the sum).
    pub name: String,
    /// Protocol.
    pub proto: String,
    /// Behaviour and load.
    pub behaviour: String,
    /// Devices.
    pub devices: u64,
    /// Most connections open at once.
    pub max_connected: u64,
    /// Successful connects (reconnects included).
    pub connects: u64,
    /// Failed connect attempts.
    pub connect_errors: u64,
    /// Connections dropped before the end.
    pub disconnects: u64,
    /// Connects after a device's first.
    pub reconnects: u64,
    /// Messages sent.
    pub sent: u64,
    /// Fresh intact replies.
    pub received: u64,
    /// Replies per second after ramp-up.
    pub throughput_per_s: f64,
    /// The window `throughput_per_s` was measured over.
    pub steady_secs: f64,
    /// Messages never answered intact on a live connection. For trackers with memory, a
    /// location counts here only if it was never acked by the end of the run (or was dropped
    /// from a full memory), whichever connection its ack came on.
    pub lost: u64,
    /// Of which declared lost during the run by the loss timeout.
    pub timed_out: u64,
    /// Of which still unanswered after the grace period.
    pub unanswered: u64,
    /// Messages in flight on connections that dropped.
    pub lost_in_disconnect: u64,
    /// Replies after their message was declared lost.
    pub late: u64,
    /// Extra replies to answered messages.
    pub duplicated: u64,
    /// Fresh replies after a reply to a later message.
    pub out_of_order: u64,
    /// Replies that were not an intact payload of their device.
    pub corrupted: u64,
    /// Round-trip latency (echo groups with replies).
    pub latency_us: Option<Latency>,
    /// What device-family trackers did (family groups only). Their acks are the counts above:
    /// `received` acks accepted their frame, `lost` frames got none, `corrupted` acks were wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<FamilyCounts>,
    /// Per-second timeline, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineRow>>,
    #[serde(skip)]
    echo: bool,
}

/// The final report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Processes the run was spread over.
    pub shards: u32,
    /// Wall time, grace included.
    pub elapsed_secs: f64,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
    /// One report per group.
    pub groups: Vec<GroupReport>,
    /// All groups together, when there are several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<GroupReport>,
    /// The server's memory, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss: Option<RssResult>,
}

impl Report {
    /// The report of `result`; `timeline` keeps the per-second rows.
    pub fn new(result: &RunResult, timeline: bool) -> Report {
        let groups: Vec<GroupReport> = result
            .groups
            .iter()
            .map(|g| GroupReport::new(g, timeline))
            .collect();
        let total = (result.groups.len() > 1).then(|| {
            let mut sum = result.groups[0].clone();
            for g in &result.groups[1..] {
                sum.add(g);
            }
            sum.name = "total".to_string();
            sum.proto = "mixed".to_string();
            sum.behaviour = "mixed".to_string();
            sum.echo = result.groups.iter().any(|g| g.echo);
            sum.family = result.groups.iter().any(|g| g.family);
            GroupReport::new(&sum, timeline)
        });
        Report {
            shards: result.shards,
            elapsed_secs: result.elapsed_secs,
            interrupted: result.interrupted,
            groups,
            total,
            server_rss: result.rss.clone(),
        }
    }

    /// The report as text for a terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let shards = if self.shards > 1 {
            format!(", {} processes", self.shards)
        } else {
            String::new()
        };
        let stopped = if self.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "device-sim: {:.1} s{shards}{stopped}",
            self.elapsed_secs
        );
        for g in self.groups.iter().chain(&self.total) {
            g.render(&mut out);
        }
        if let Some(rss) = &self.server_rss {
            let _ = writeln!(
                out,
                "server RSS    {} kB before, {} kB holding {} connections: {:.0} bytes per connection",
                group_digits(rss.before_kb),
                group_digits(rss.held_kb),
                group_digits(rss.connections),
                rss.bytes_per_connection
            );
        }
        out
    }
}

impl GroupReport {
    fn new(g: &GroupResult, timeline: bool) -> GroupReport {
        let c = &g.totals.counts;
        let latency_us = (g.echo && !g.latency.is_empty()).then(|| {
            let us = |ns: u64| ns as f64 / 1000.0;
            Latency {
                count: g.latency.len(),
                mean: g.latency.mean() / 1000.0,
                p50: us(g.latency.value_at_quantile(0.50)),
                p90: us(g.latency.value_at_quantile(0.90)),
                p99: us(g.latency.value_at_quantile(0.99)),
                p99_9: us(g.latency.value_at_quantile(0.999)),
                max: us(g.latency.max()),
            }
        });
        let timeline = timeline.then(|| {
            let mut prev = Snapshot::default();
            g.timeline
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let row = TimelineRow {
                        t: i as u32 + 1,
                        connected: s.connected,
                        sent_per_s: s.counts.sent.saturating_sub(prev.counts.sent),
                        received_per_s: s.counts.received.saturating_sub(prev.counts.received),
                        connect_errors: s.connect_errors,
                        disconnects: s.disconnects,
                    };
                    prev = *s;
                    row
                })
                .collect()
        });
        GroupReport {
            name: g.name.clone(),
            proto: g.proto.clone(),
            behaviour: g.behaviour.clone(),
            devices: g.devices,
            max_connected: g.max_connected,
            connects: g.totals.connects,
            connect_errors: g.totals.connect_errors,
            disconnects: g.totals.disconnects,
            reconnects: g.totals.reconnects,
            sent: c.sent,
            received: c.received,
            throughput_per_s: g.throughput,
            steady_secs: g.steady_secs,
            lost: c.lost() + g.totals.family.unacked(),
            timed_out: c.timed_out,
            unanswered: c.unanswered,
            lost_in_disconnect: c.lost_in_disconnect,
            late: c.late,
            duplicated: c.duplicated,
            out_of_order: c.out_of_order,
            corrupted: c.corrupted,
            latency_us,
            family: g.family.then_some(g.totals.family),
            timeline,
            echo: g.echo,
        }
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "{}: {} devices, {}, {}",
            self.name,
            group_digits(self.devices),
            self.proto,
            self.behaviour
        );
        let _ = writeln!(
            out,
            "  connections {} max open, {} connects, {} connect errors, {} disconnects, {} reconnects",
            group_digits(self.max_connected),
            group_digits(self.connects),
            group_digits(self.connect_errors),
            group_digits(self.disconnects),
            group_digits(self.reconnects)
        );
        match &self.family {
            Some(family) => self.render_family(family, out),
            None if self.echo => self.render_echo(out),
            None => {}
        }
        if let Some(rows) = &self.timeline {
            let _ = writeln!(
                out,
                "  {:>5} {:>10} {:>12} {:>12} {:>8} {:>8}",
                "t", "connected", "sent/s", "received/s", "conn err", "drops"
            );
            for r in rows {
                let _ = writeln!(
                    out,
                    "  {:>5} {:>10} {:>12} {:>12} {:>8} {:>8}",
                    r.t,
                    r.connected,
                    r.sent_per_s,
                    r.received_per_s,
                    r.connect_errors,
                    r.disconnects
                );
            }
        }
    }

    fn render_family(&self, family: &FamilyCounts, out: &mut String) {
        let _ = writeln!(
            out,
            "  trackers    {} logins, {} locations, {} heartbeats, {} downlinks answered",
            group_digits(family.logins),
            group_digits(family.locations),
            group_digits(family.heartbeats),
            group_digits(family.downlinks)
        );
        let _ = writeln!(
            out,
            "  memory      {} resent, {} locations acked, {} never acked, {} dropped from memory",
            group_digits(family.resent),
            group_digits(family.locations_acked),
            group_digits(family.never_acked),
            group_digits(family.dropped_from_memory)
        );
        if family.without_ack > 0 {
            // Such locations wait for nothing: they are in none of the counts above or below.
            let _ = writeln!(
                out,
                "  no ack      {} locations sent to a server that does not ack them (not checked)",
                group_digits(family.without_ack)
            );
        }
        self.render_rates("acks", out);
        let _ = writeln!(
            out,
            "  acks        ok {}, missing {}, wrong {}, duplicated {}, out of order {}, late {}, lost in disconnects {}",
            group_digits(self.received),
            group_digits(self.lost),
            group_digits(self.corrupted),
            group_digits(self.duplicated),
            group_digits(self.out_of_order),
            group_digits(self.late),
            group_digits(self.lost_in_disconnect)
        );
    }

    fn render_echo(&self, out: &mut String) {
        self.render_rates("replies", out);
        let _ = writeln!(
            out,
            "  checks      lost {}, duplicated {}, out of order {}, corrupted {}, late {}, lost in disconnects {}",
            group_digits(self.lost),
            group_digits(self.duplicated),
            group_digits(self.out_of_order),
            group_digits(self.corrupted),
            group_digits(self.late),
            group_digits(self.lost_in_disconnect)
        );
    }

    /// Throughput and latency of `what` (replies, acks).
    fn render_rates(&self, what: &str, out: &mut String) {
        let _ = writeln!(
            out,
            "  throughput  {} {what}/s over {:.1} s (sent {}, received {})",
            group_digits(self.throughput_per_s.round() as u64),
            self.steady_secs,
            group_digits(self.sent),
            group_digits(self.received)
        );
        if let Some(l) = &self.latency_us {
            let ms = |us: f64| us / 1000.0;
            let _ = writeln!(
                out,
                "  latency     p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p99_9),
                ms(l.max)
            );
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Histograms as hex of HdrHistogram's V2 serialisation, to cross process boundaries in JSON.
mod hex_histogram {
    use super::*;
    use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
    use serde::de::Error as _;
    use serde::ser::Error as _;

    pub fn serialize<S: serde::Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(h, &mut bytes)
            .map_err(|e| S::Error::custom(format!("histogram: {e:?}")))?;
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text).map_err(D::Error::custom)?;
        let decoded: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| D::Error::custom(format!("histogram: {e:?}")))?;
        // Re-home the values in a histogram with the usual bounds, so shards add up.
        let mut h = new_histogram();
        h.add(&decoded)
            .map_err(|e| D::Error::custom(format!("histogram: {e:?}")))?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_thousands() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(1234567), "1,234,567");
    }
}
