//! The optional Prometheus endpoint (`[gateway] metrics_listen`): `GET /metrics` answers every
//! sample of the process's counter [`Registry`] (the gateway's, and the rules pipeline's and
//! the MQTT bridge's when a rules worker runs in the process) in the text exposition format
//! (version 0.0.4): `devgate_<name>_total` for counters, `devgate_<name>` for gauges, with the
//! registry's help text.
//!
//! The page is written by hand rather than through a metrics crate: every number already
//! lives in an atomic where it is counted or is counted on demand, and `devgate status` reads
//! the very same samples. A metrics crate would keep a second copy of each counter that the
//! hot paths would have to update too; rendering costs nothing until someone scrapes.
//!
//! The server is deliberately small and bounded: HTTP/1 only, one request per connection,
//! a header read timeout and an overall deadline per connection (a silent or slow client
//! cannot hold a task), and at most [`MAX_CONNECTIONS`] connections at once (over it, new
//! connections are closed at once).

use crate::counters::{Kind, Registry, Sample};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Metric connections served at once; a scraper needs one, so this is generous.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most one connection may live, whatever the client does (reads slowly, never reads).
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);
/// The content type of the text exposition format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4";

/// Accepts metric connections forever, answering `registry`'s samples; `labels` are put on
/// every sample (`gateway="ip:port"`, or `worker="name"` in a worker process).
pub async fn run(registry: Arc<Registry>, labels: String, listener: TcpListener) {
    let labels: Arc<str> = labels.into();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    // One request per connection: with keep-alive an idle scraper would hold a slot between
    // scrapes, and reconnecting on loopback every scrape interval costs nothing.
    http.keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("metrics accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "metrics: {MAX_CONNECTIONS} connections busy, closing a new one");
            drop(tcp);
            continue;
        };
        let (registry, labels) = (registry.clone(), labels.clone());
        let conn = http.serve_connection(
            TokioIo::new(tcp),
            hyper::service::service_fn(move |req| {
                let page = || render(&labels, &registry.samples());
                let r = respond(page, &req);
                async move { Ok::<_, Infallible>(r) }
            }),
        );
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECTION_DEADLINE, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, "metrics connection: {e}"),
                Err(_) => tracing::debug!(%peer, "metrics connection past its deadline: closed"),
            }
            drop(permit);
        });
    }
}

fn respond(page: impl FnOnce() -> String, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = if req.uri().path() != "/metrics" {
        (StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n"))
    } else if req.method() != Method::GET {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"method not allowed\n"),
        )
    } else {
        let mut ok = Response::new(Full::new(Bytes::from(page())));
        ok.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
        return ok;
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
    }
    r
}

/// One label, `key="value"`, its value escaped as the exposition format asks.
pub fn label(key: &str, value: &str) -> String {
    let mut out = format!("{key}=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The exposition page of `samples`; `labels` (`gateway="ip:port"`, made by [`label`]) go on
/// every sample line. A sample whose
/// value is unknown gets its HELP and TYPE but no line, rather than a made-up number.
pub fn render(labels: &str, samples: &[Sample]) -> String {
    let mut out = String::with_capacity(64 * samples.len());
    // Writing to a String cannot fail, so the fmt results are ignored.
    for s in samples {
        let (name, kind, suffix) = match s.kind {
            Kind::Counter => (s.name, "counter", "_total"),
            Kind::Gauge => (s.name, "gauge", ""),
        };
        let help = s.help;
        let _ = write!(
            out,
            "# HELP devgate_{name}{suffix} {help}\n# TYPE devgate_{name}{suffix} {kind}\n"
        );
        if let Some(v) = s.value {
            let _ = writeln!(out, "devgate_{name}{suffix}{{{labels}}} {v}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: &str = "gateway=\"127.0.0.1:2900\"";

    fn sample(name: &'static str, kind: Kind, value: Option<u64>) -> Sample {
        Sample {
            name,
            kind,
            help: "What it counts.",
            value,
        }
    }

    fn samples() -> Vec<Sample> {
        [
            ("accepted", Kind::Counter, 3),
            ("messages_in", Kind::Counter, 10),
            ("messages_out", Kind::Counter, 9),
            ("protocol_errors", Kind::Counter, 1),
            ("held_overflows", Kind::Counter, 0),
            ("refused_events", Kind::Counter, 2),
            ("rules_events", Kind::Counter, 5),
            ("mqtt_outbox_len", Kind::Gauge, 4),
            ("clients", Kind::Gauge, 2),
            ("uids", Kind::Gauge, 1),
            ("workers", Kind::Gauge, 0),
            ("uptime_seconds", Kind::Gauge, 7),
        ]
        .into_iter()
        .map(|(n, k, v)| sample(n, k, Some(v)))
        .chain([sample("held", Kind::Gauge, None)])
        .collect()
    }

    #[test]
    fn every_metric_has_help_type_and_a_labelled_sample() {
        let page = render(LABELS, &samples());
        for (name, kind, value) in [
            ("devgate_accepted_total", "counter", "3"),
            ("devgate_messages_in_total", "counter", "10"),
            ("devgate_messages_out_total", "counter", "9"),
            ("devgate_protocol_errors_total", "counter", "1"),
            ("devgate_held_overflows_total", "counter", "0"),
            ("devgate_refused_events_total", "counter", "2"),
            ("devgate_clients", "gauge", "2"),
            ("devgate_uids", "gauge", "1"),
            ("devgate_workers", "gauge", "0"),
            ("devgate_uptime_seconds", "gauge", "7"),
            ("devgate_rules_events_total", "counter", "5"),
            ("devgate_mqtt_outbox_len", "gauge", "4"),
        ] {
            assert!(
                page.contains(&format!("# HELP {name} What it counts.\n")),
                "{name}:\n{page}"
            );
            assert!(
                page.contains(&format!("# TYPE {name} {kind}\n")),
                "{name}:\n{page}"
            );
            let sample = format!("{name}{{gateway=\"127.0.0.1:2900\"}} {value}\n");
            assert!(page.contains(&sample), "{sample}:\n{page}");
        }
        assert!(page.ends_with('\n'));
    }

    #[test]
    fn a_label_value_is_escaped() {
        assert_eq!(label("worker", "a\"b\\c\nd"), r#"worker="a\"b\\c\nd""#);
    }

    #[test]
    fn an_unknown_value_has_help_and_type_but_no_sample() {
        let mut s = samples();
        let page = render(LABELS, &s);
        assert!(page.contains("# TYPE devgate_held gauge\n"));
        assert!(!page.contains("devgate_held{"), "{page}");
        if let Some(held) = s.iter_mut().find(|s| s.name == "held") {
            held.value = Some(4);
        }
        let page = render(LABELS, &s);
        assert!(page.contains("devgate_held{gateway=\"127.0.0.1:2900\"} 4\n"));
    }

    #[test]
    fn every_sample_of_a_live_gateway_is_rendered_once_with_its_help() {
        let state = crate::gateway::GatewayState::new(
            std::net::Ipv4Addr::LOCALHOST,
            2900,
            crate::gateway::Settings {
                name: "g".into(),
                ping_interval: 0,
                ping_not_response_limit: 0,
                ping_data: Bytes::new(),
                send_buffer_max: 1024,
                send_buffer_overflow: crate::config::OverflowPolicy::Close,
                max_message_size: 1024,
            },
            10,
            Vec::new(),
        );
        let samples = state.counters.samples();
        let page = render(LABELS, &samples);
        for s in &samples {
            let suffix = if s.kind == Kind::Counter {
                "_total"
            } else {
                ""
            };
            let help = format!("# HELP devgate_{}{suffix} {}\n", s.name, s.help);
            assert_eq!(page.matches(&help).count(), 1, "{help}{page}");
            assert!(!s.help.is_empty() && !s.help.starts_with(' '), "{}", s.name);
        }
        assert!(page.contains("devgate_accepted_total{gateway=\"127.0.0.1:2900\"} 0\n"));
    }
}
