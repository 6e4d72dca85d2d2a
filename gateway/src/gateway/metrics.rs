//! The optional Prometheus endpoint (`[gateway] metrics_listen`): `GET /metrics` answers the
//! gateway's counters and gauges in the text exposition format (version 0.0.4).
//!
//! The page is written by hand rather than through a metrics registry crate: every number
//! already lives in an atomic (`Stats`, the router's `held_overflows`) or is counted on demand
//! (clients, uids, groups, workers), and `devgate status` reads the very same values through
//! [`GatewayState::snapshot`]. A registry would keep a second copy of each counter that the hot
//! paths would have to update too; rendering the snapshot costs nothing until someone scrapes.
//!
//! The server is deliberately small and bounded: HTTP/1 only, one request per connection,
//! a header read timeout and an overall deadline per connection (a silent or slow client
//! cannot hold a task), and at most [`MAX_CONNECTIONS`] connections at once (over it, new
//! connections are closed at once).

use super::queries::StatusSnapshot;
use super::GatewayState;
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

/// Accepts metric connections forever.
pub async fn run(state: Arc<GatewayState>, listener: TcpListener) {
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
        let state = state.clone();
        let conn = http.serve_connection(
            TokioIo::new(tcp),
            hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &req)) }
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

fn respond(state: &GatewayState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = if req.uri().path() != "/metrics" {
        (StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n"))
    } else if req.method() != Method::GET {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"method not allowed\n"),
        )
    } else {
        let page = render(&state.key.to_string(), &state.snapshot());
        let mut ok = Response::new(Full::new(Bytes::from(page)));
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

/// The exposition page of one gateway; `gateway` is its `ip:port` key, the label of every
/// sample (it holds no `"` or `\`, so it needs no escaping).
pub fn render(gateway: &str, s: &StatusSnapshot) -> String {
    let counters: [(&str, &str, u64); 10] = [
        ("accepted", "Client connections accepted.", s.accepted),
        (
            "messages_in",
            "Messages decoded from clients.",
            s.messages_in,
        ),
        (
            "messages_out",
            "Messages queued to clients.",
            s.messages_out,
        ),
        (
            "protocol_errors",
            "Clients closed for bad input.",
            s.protocol_errors,
        ),
        (
            "skipped",
            "Bad messages skipped with the stream kept.",
            s.skipped,
        ),
        (
            "overflow_closes",
            "Clients closed because their send buffer overflowed.",
            s.overflow_closes,
        ),
        (
            "dropped_oldest",
            "Messages dropped under the drop_oldest overflow policy.",
            s.dropped_oldest,
        ),
        (
            "heartbeat_closes",
            "Clients closed by the heartbeat.",
            s.heartbeat_closes,
        ),
        (
            "refused_events",
            "Clients closed because the worker refused one of their data events.",
            s.refused_events,
        ),
        (
            "held_overflows",
            "Events refused because the hold queue was full.",
            s.held_overflows,
        ),
    ];
    let gauges: [(&str, &str, Option<u64>); 6] = [
        (
            "clients",
            "Live client connections.",
            Some(s.clients as u64),
        ),
        (
            "uids",
            "Distinct uids bound to live clients.",
            Some(s.uids as u64),
        ),
        (
            "groups",
            "Groups with at least one member.",
            Some(s.groups as u64),
        ),
        (
            "workers",
            "Workers linked to this gateway.",
            Some(s.workers.len() as u64),
        ),
        // Unknown while the hold queue is busy: no sample rather than a made-up one.
        (
            "held",
            "Events held while no worker is linked.",
            s.held.map(|h| h as u64),
        ),
        (
            "uptime_seconds",
            "Seconds since the gateway started.",
            Some(s.uptime_secs),
        ),
    ];
    let mut out = String::with_capacity(2048);
    // Writing to a String cannot fail, so the fmt results are ignored.
    for (name, help, value) in counters {
        let _ = write!(
            out,
            "# HELP devgate_{name}_total {help}\n# TYPE devgate_{name}_total counter\n\
             devgate_{name}_total{{gateway=\"{gateway}\"}} {value}\n"
        );
    }
    for (name, help, value) in gauges {
        let _ = write!(
            out,
            "# HELP devgate_{name} {help}\n# TYPE devgate_{name} gauge\n"
        );
        if let Some(v) = value {
            let _ = writeln!(out, "devgate_{name}{{gateway=\"{gateway}\"}} {v}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> StatusSnapshot {
        StatusSnapshot {
            uptime_secs: 7,
            clients: 2,
            uids: 1,
            groups: 0,
            accepted: 3,
            messages_in: 10,
            messages_out: 9,
            protocol_errors: 1,
            skipped: 0,
            overflow_closes: 0,
            dropped_oldest: 0,
            heartbeat_closes: 0,
            refused_events: 2,
            held: None,
            held_overflows: 0,
            workers: Vec::new(),
        }
    }

    #[test]
    fn every_metric_has_help_type_and_a_labelled_sample() {
        let page = render("127.0.0.1:2900", &snapshot());
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
        ] {
            assert!(page.contains(&format!("# HELP {name} ")), "{name}:\n{page}");
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
    fn an_unknown_hold_queue_length_has_no_sample() {
        let mut s = snapshot();
        let page = render("127.0.0.1:2900", &s);
        assert!(page.contains("# TYPE devgate_held gauge\n"));
        assert!(!page.contains("devgate_held{"), "{page}");
        s.held = Some(4);
        let page = render("127.0.0.1:2900", &s);
        assert!(page.contains("devgate_held{gateway=\"127.0.0.1:2900\"} 4\n"));
    }
}
