//! Challenge-response authentication of internal links with a shared secret (HMAC-SHA256).
//!
//! The connecting side sends `Hello{nonce_c}`; the accepting side answers
//! `Challenge{nonce_s, HMAC(secret, "devgate-accept" | nonce_c | nonce_s)}`, proving it knows the
//! secret; the connecting side checks that and answers `Auth{HMAC(secret, "devgate-connect" |
//! role | nonce_s | nonce_c)}`; the accepting side replies `AuthOk` or `Refused{reason}`.
//! Only nonces and MACs cross the wire. With no secret configured both sides use the empty key,
//! which authenticates nothing (the binary warns when such a link is not on loopback).
//!
//! Each side is a state machine ([`Connector`], [`Acceptor`]): a message in, a [`Step`] out,
//! with no I/O and no clock, so every path is testable without sockets. [`connect`] and
//! [`accept`] drive them over a framed stream and keep the per-message timeout.

use super::{Handshake, LinkCodec, LinkError, LinkMessage, Magic, Role, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

type HmacSha256 = Hmac<Sha256>;

/// How long each side waits for the other's next handshake message.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest peer name (bytes) sent in `Hello`: keeps every handshake frame under
/// [`super::HANDSHAKE_MAX_FRAME`], the limit the accepting side applies before authentication.
pub const MAX_NAME: usize = 1024;

const ACCEPT_LABEL: &[u8] = b"devgate-accept";
const CONNECT_LABEL: &[u8] = b"devgate-connect";

fn mac(secret: &[u8], label: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any size"),
    };
    m.update(label);
    for p in parts {
        m.update(p);
    }
    m
}

fn proof(secret: &[u8], label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac(secret, label, parts).finalize().into_bytes().into()
}

fn verify(secret: &[u8], label: &[u8], parts: &[&[u8]], claimed: &[u8; 32]) -> bool {
    mac(secret, label, parts).verify_slice(claimed).is_ok()
}

/// What a handshake side does after the peer's message.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<T> {
    /// Send this and wait for the peer's next message.
    Send(Handshake),
    /// Authenticated: send the last message, if any, and open the link.
    Done(Option<Handshake>, T),
    /// The handshake failed: send the message, if any (a `Refused` telling the peer why), and
    /// close. The reason is for the log.
    Fail(Option<Handshake>, String),
}

/// Refuses with `reason`, telling the peer.
fn refuse<T>(reason: String) -> Step<T> {
    Step::Fail(
        Some(Handshake::Refused {
            reason: reason.clone(),
        }),
        reason,
    )
}

fn unexpected<T>(expected: &str, got: &Handshake) -> Step<T> {
    Step::Fail(None, format!("expected {expected}, got {}", got.name()))
}

/// One side of the handshake as a state machine.
pub trait Side {
    /// What the side learns when the peer is authenticated.
    type Done;
    /// Takes the peer's next message.
    fn on_message(&mut self, msg: Handshake) -> Step<Self::Done>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectorState {
    AwaitChallenge,
    AwaitOk { nonce_s: [u8; 32] },
    Over,
}

/// The connecting side: sends `Hello`, checks the challenge's proof, proves the secret.
#[derive(Debug)]
pub struct Connector<'a> {
    secret: &'a [u8],
    role: Role,
    nonce_c: [u8; 32],
    state: ConnectorState,
}

impl<'a> Connector<'a> {
    /// Starts a handshake as `role` named `name` with the fresh random `nonce`; returns the
    /// machine and the `Hello` to send. A name over [`MAX_NAME`] is refused here, since the
    /// accepting side would drop the oversized frame without saying why.
    pub fn start(
        secret: &'a [u8],
        role: Role,
        name: &str,
        nonce: [u8; 32],
    ) -> Result<(Self, Handshake), String> {
        if name.len() > MAX_NAME {
            return Err(format!(
                "the name is {} bytes, the most is {MAX_NAME}",
                name.len()
            ));
        }
        let hello = Handshake::Hello {
            magic: Magic,
            version: PROTOCOL_VERSION,
            role,
            nonce,
            name: name.to_string(),
        };
        let me = Connector {
            secret,
            role,
            nonce_c: nonce,
            state: ConnectorState::AwaitChallenge,
        };
        Ok((me, hello))
    }
}

impl Side for Connector<'_> {
    type Done = ();

    fn on_message(&mut self, msg: Handshake) -> Step<()> {
        let state = std::mem::replace(&mut self.state, ConnectorState::Over);
        match (state, msg) {
            (_, Handshake::Refused { reason }) => Step::Fail(None, reason),
            (ConnectorState::AwaitChallenge, Handshake::Challenge { nonce, proof: p }) => {
                if !verify(self.secret, ACCEPT_LABEL, &[&self.nonce_c, &nonce], &p) {
                    return refuse("authentication failed: the secrets differ".to_string());
                }
                self.state = ConnectorState::AwaitOk { nonce_s: nonce };
                let role = [self.role as u8];
                let proof = proof(self.secret, CONNECT_LABEL, &[&role, &nonce, &self.nonce_c]);
                Step::Send(Handshake::Auth { proof })
            }
            (ConnectorState::AwaitChallenge, other) => unexpected("a challenge", &other),
            (ConnectorState::AwaitOk { .. }, Handshake::AuthOk) => Step::Done(None, ()),
            (ConnectorState::AwaitOk { .. }, other) => unexpected("auth-ok", &other),
            (ConnectorState::Over, other) => unexpected("nothing more", &other),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AcceptorState {
    AwaitHello,
    AwaitAuth {
        role: Role,
        nonce_c: [u8; 32],
        name: String,
    },
    Over,
}

/// The accepting side: checks the version and role, challenges, checks the proof.
#[derive(Debug)]
pub struct Acceptor<'a> {
    secret: &'a [u8],
    allowed: &'a [Role],
    nonce_s: [u8; 32],
    state: AcceptorState,
}

impl<'a> Acceptor<'a> {
    /// Waits for a `Hello` from a role in `allowed`; `nonce` is fresh random bytes.
    pub fn new(secret: &'a [u8], allowed: &'a [Role], nonce: [u8; 32]) -> Self {
        Acceptor {
            secret,
            allowed,
            nonce_s: nonce,
            state: AcceptorState::AwaitHello,
        }
    }
}

impl Side for Acceptor<'_> {
    /// The peer's role and name.
    type Done = (Role, String);

    fn on_message(&mut self, msg: Handshake) -> Step<(Role, String)> {
        let state = std::mem::replace(&mut self.state, AcceptorState::Over);
        match (state, msg) {
            (
                AcceptorState::AwaitHello,
                Handshake::Hello {
                    version,
                    role,
                    nonce,
                    name,
                    ..
                },
            ) => {
                if version != PROTOCOL_VERSION {
                    return refuse(format!(
                        "protocol version {version} not supported (this side speaks {PROTOCOL_VERSION})"
                    ));
                }
                if !self.allowed.contains(&role) {
                    return refuse(format!("a {role:?} may not connect here"));
                }
                if name.len() > MAX_NAME {
                    return refuse(format!(
                        "the name is {} bytes, the most is {MAX_NAME}",
                        name.len()
                    ));
                }
                let proof = proof(self.secret, ACCEPT_LABEL, &[&nonce, &self.nonce_s]);
                self.state = AcceptorState::AwaitAuth {
                    role,
                    nonce_c: nonce,
                    name,
                };
                Step::Send(Handshake::Challenge {
                    nonce: self.nonce_s,
                    proof,
                })
            }
            (AcceptorState::AwaitHello, other) => unexpected("hello", &other),
            (
                AcceptorState::AwaitAuth {
                    role,
                    nonce_c,
                    name,
                },
                Handshake::Auth { proof },
            ) => {
                let role_byte = [role as u8];
                let parts: [&[u8]; 3] = [&role_byte, &self.nonce_s, &nonce_c];
                if verify(self.secret, CONNECT_LABEL, &parts, &proof) {
                    Step::Done(Some(Handshake::AuthOk), (role, name))
                } else {
                    let reason = "authentication failed: wrong secret".to_string();
                    Step::Fail(
                        Some(Handshake::Refused {
                            reason: reason.clone(),
                        }),
                        format!("{name}: {reason}"),
                    )
                }
            }
            (AcceptorState::AwaitAuth { name, .. }, Handshake::Refused { reason }) => {
                Step::Fail(None, format!("{name}: {reason}"))
            }
            (AcceptorState::AwaitAuth { .. }, other) => unexpected("auth", &other),
            (AcceptorState::Over, other) => unexpected("nothing more", &other),
        }
    }
}

async fn next<S>(framed: &mut Framed<S, LinkCodec<Handshake>>) -> Result<Handshake, LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await {
        Err(_) => Err(LinkError::Timeout),
        Ok(None) => Err(LinkError::Closed),
        Ok(Some(msg)) => msg,
    }
}

/// Feeds the peer's messages to `side` and sends what it says until it is done or fails.
async fn drive<S, D: Side>(
    framed: &mut Framed<S, LinkCodec<Handshake>>,
    mut side: D,
) -> Result<D::Done, LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match side.on_message(next(framed).await?) {
            Step::Send(msg) => framed.send(msg).await?,
            Step::Done(last, done) => {
                if let Some(msg) = last {
                    framed.send(msg).await?;
                }
                return Ok(done);
            }
            Step::Fail(last, reason) => {
                if let Some(msg) = last {
                    // The peer may be gone already; the reason is logged either way.
                    let _ = framed.send(msg).await;
                }
                return Err(LinkError::Handshake(reason));
            }
        }
    }
}

/// Runs the connecting side of the handshake. `Err(Handshake)` carries a reason fit for a log.
pub async fn connect<S>(
    framed: &mut Framed<S, LinkCodec<Handshake>>,
    secret: &[u8],
    role: Role,
    name: &str,
) -> Result<(), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (side, hello) =
        Connector::start(secret, role, name, rand::random()).map_err(LinkError::Handshake)?;
    framed.send(hello).await?;
    drive(framed, side).await
}

/// Runs the accepting side; returns the peer's role and name when it proved the secret.
/// Roles outside `allowed` are refused with a reason the peer logs.
pub async fn accept<S>(
    framed: &mut Framed<S, LinkCodec<Handshake>>,
    secret: &[u8],
    allowed: &[Role],
) -> Result<(Role, String), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    drive(framed, Acceptor::new(secret, allowed, rand::random())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    const C_NONCE: [u8; 32] = [1; 32];
    const S_NONCE: [u8; 32] = [2; 32];
    const WORKERS: &[Role] = &[Role::Worker];

    fn refused_with<T: std::fmt::Debug>(step: Step<T>, needle: &str) -> String {
        match step {
            Step::Fail(Some(Handshake::Refused { reason }), log) => {
                assert!(reason.contains(needle), "{reason}");
                log
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Runs both machines against each other; the connector's and acceptor's last steps.
    fn run(
        connect_secret: &[u8],
        accept_secret: &[u8],
        role: Role,
    ) -> (Step<()>, Step<(Role, String)>) {
        let (mut c, hello) = Connector::start(connect_secret, role, "w1", C_NONCE).unwrap();
        let mut a = Acceptor::new(accept_secret, WORKERS, S_NONCE);
        let challenge = match a.on_message(hello) {
            Step::Send(m) => m,
            last => return (Step::Fail(None, "not reached".into()), last),
        };
        let auth = match c.on_message(challenge) {
            Step::Send(m) => m,
            Step::Fail(Some(refusal), log) => {
                return (Step::Fail(None, log), a.on_message(refusal));
            }
            last => return (last, Step::Fail(None, "not reached".into())),
        };
        match a.on_message(auth) {
            Step::Done(Some(ok), done) => (c.on_message(ok), Step::Done(None, done)),
            Step::Fail(Some(refusal), log) => (c.on_message(refusal), Step::Fail(None, log)),
            last => (Step::Fail(None, "not reached".into()), last),
        }
    }

    #[test]
    fn the_same_secret_authenticates_both_sides() {
        let (c, a) = run(b"s3cret", b"s3cret", Role::Worker);
        assert_eq!(c, Step::Done(None, ()));
        assert_eq!(a, Step::Done(None, (Role::Worker, "w1".to_string())));
    }

    #[test]
    fn the_connector_finds_a_wrong_secret_in_the_challenge_and_both_logs_say_why() {
        let (c, a) = run(b"wrong", b"right", Role::Worker);
        match (c, a) {
            (Step::Fail(None, c), Step::Fail(None, a)) => {
                assert!(c.contains("secrets differ"), "{c}");
                assert!(a.contains("w1") && a.contains("secrets differ"), "{a}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_acceptor_refuses_an_auth_proof_made_with_another_secret() {
        let mut a = Acceptor::new(b"right", WORKERS, S_NONCE);
        let (_, hello) = Connector::start(b"right", Role::Worker, "w1", C_NONCE).unwrap();
        assert!(matches!(
            a.on_message(hello),
            Step::Send(Handshake::Challenge { .. })
        ));
        let forged = proof(
            b"wrong",
            CONNECT_LABEL,
            &[&[Role::Worker as u8], &S_NONCE, &C_NONCE],
        );
        let log = refused_with(
            a.on_message(Handshake::Auth { proof: forged }),
            "wrong secret",
        );
        assert!(log.starts_with("w1: "), "{log}");
    }

    #[test]
    fn a_proof_made_for_another_role_is_refused() {
        let mut a = Acceptor::new(b"s", &[Role::Worker, Role::Api], S_NONCE);
        let (_, hello) = Connector::start(b"s", Role::Worker, "w1", C_NONCE).unwrap();
        assert!(matches!(a.on_message(hello), Step::Send(_)));
        let as_client = proof(
            b"s",
            CONNECT_LABEL,
            &[&[Role::Api as u8], &S_NONCE, &C_NONCE],
        );
        refused_with(
            a.on_message(Handshake::Auth { proof: as_client }),
            "wrong secret",
        );
    }

    #[test]
    fn another_protocol_version_is_refused_with_both_versions_named() {
        let mut a = Acceptor::new(b"s", WORKERS, S_NONCE);
        let hello = Handshake::Hello {
            magic: Magic,
            version: PROTOCOL_VERSION + 1,
            role: Role::Worker,
            nonce: C_NONCE,
            name: "w1".into(),
        };
        let log = refused_with(a.on_message(hello), "not supported");
        assert!(log.contains(&format!("{}", PROTOCOL_VERSION + 1)), "{log}");
    }

    #[test]
    fn a_role_the_acceptor_does_not_take_is_refused() {
        let mut a = Acceptor::new(b"s", WORKERS, S_NONCE);
        let (_, hello) = Connector::start(b"s", Role::Gateway, "g1", C_NONCE).unwrap();
        refused_with(a.on_message(hello), "Gateway may not connect here");
    }

    #[test]
    fn a_name_over_the_limit_is_refused_on_both_sides() {
        let long = "n".repeat(MAX_NAME + 1);
        let err = Connector::start(b"s", Role::Worker, &long, C_NONCE).unwrap_err();
        assert!(err.contains("the most is"), "{err}");
        assert!(Connector::start(b"s", Role::Worker, &long[1..], C_NONCE).is_ok());
        let mut a = Acceptor::new(b"s", WORKERS, S_NONCE);
        let hello = Handshake::Hello {
            magic: Magic,
            version: PROTOCOL_VERSION,
            role: Role::Worker,
            nonce: C_NONCE,
            name: long,
        };
        refused_with(a.on_message(hello), "the most is");
    }

    #[test]
    fn an_unexpected_message_fails_each_step_without_a_reply() {
        let mut a = Acceptor::new(b"s", WORKERS, S_NONCE);
        assert_eq!(
            a.on_message(Handshake::AuthOk),
            Step::Fail(None, "expected hello, got AuthOk".into())
        );
        let mut a = Acceptor::new(b"s", WORKERS, S_NONCE);
        let (mut c, hello) = Connector::start(b"s", Role::Worker, "w1", C_NONCE).unwrap();
        assert!(matches!(a.on_message(hello.clone()), Step::Send(_)));
        assert!(matches!(a.on_message(hello.clone()), Step::Fail(None, _)));
        assert!(matches!(c.on_message(hello), Step::Fail(None, _)));
        let (mut c, _) = Connector::start(b"s", Role::Worker, "w1", C_NONCE).unwrap();
        let mut a = Acceptor::new(b"s", WORKERS, S_NONCE);
        let (_, hello) = Connector::start(b"s", Role::Worker, "w1", C_NONCE).unwrap();
        let Step::Send(challenge) = a.on_message(hello) else {
            panic!("no challenge")
        };
        assert!(matches!(c.on_message(challenge.clone()), Step::Send(_)));
        assert_eq!(
            c.on_message(challenge),
            Step::Fail(None, "expected auth-ok, got Challenge".into())
        );
    }

    #[test]
    fn a_refusal_at_any_step_fails_with_the_peers_reason() {
        let refused = || Handshake::Refused {
            reason: "go away".into(),
        };
        let (mut c, _) = Connector::start(b"s", Role::Worker, "w1", C_NONCE).unwrap();
        assert_eq!(c.on_message(refused()), Step::Fail(None, "go away".into()));
        let mut a = Acceptor::new(b"s", WORKERS, S_NONCE);
        let (_, hello) = Connector::start(b"s", Role::Worker, "w1", C_NONCE).unwrap();
        assert!(matches!(a.on_message(hello), Step::Send(_)));
        assert_eq!(
            a.on_message(refused()),
            Step::Fail(None, "w1: go away".into())
        );
    }

    async fn pair(
        accept_secret: &'static [u8],
        connect_secret: &'static [u8],
    ) -> (Result<(Role, String), LinkError>, Result<(), LinkError>) {
        let (a, b) = duplex(4096);
        let mut fa = Framed::new(a, LinkCodec::handshake());
        let mut fb = Framed::new(b, LinkCodec::handshake());
        let acc =
            tokio::spawn(async move { accept(&mut fa, accept_secret, &[Role::Worker]).await });
        let con = connect(&mut fb, connect_secret, Role::Worker, "w1").await;
        (acc.await.unwrap(), con)
    }

    #[tokio::test]
    async fn peers_with_the_same_secret_authenticate() {
        let (acc, con) = pair(b"s3cret", b"s3cret").await;
        assert_eq!(acc.unwrap(), (Role::Worker, "w1".to_string()));
        assert!(con.is_ok());
    }

    #[tokio::test]
    async fn a_connecting_peer_with_another_secret_is_refused_and_told_why() {
        let (acc, con) = pair(b"right", b"wrong").await;
        assert!(matches!(
            acc,
            Err(LinkError::Handshake(_)) | Err(LinkError::Closed)
        ));
        let err = con.unwrap_err().to_string();
        assert!(err.contains("secrets differ"), "{err}");
    }
}
