//! Challenge-response authentication of internal links with a shared secret (HMAC-SHA256).
//!
//! The connecting side sends `Hello{nonce_c}`; the accepting side answers
//! `Challenge{nonce_s, HMAC(secret, "devgate-accept" | nonce_c | nonce_s)}`, proving it knows the
//! secret; the connecting side checks that and answers `Auth{HMAC(secret, "devgate-connect" |
//! role | nonce_s | nonce_c)}`; the accepting side replies `AuthOk` or `Refused{reason}`.
//! Only nonces and MACs cross the wire. With no secret configured both sides use the empty key,
//! which authenticates nothing (the binary warns when such a link is not on loopback).

use super::{LinkCodec, LinkError, Message, Role, PROTOCOL_VERSION};
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

async fn next<S>(framed: &mut Framed<S, LinkCodec>) -> Result<Message, LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await {
        Err(_) => Err(LinkError::Timeout),
        Ok(None) => Err(LinkError::Closed),
        Ok(Some(msg)) => msg,
    }
}

/// Runs the connecting side of the handshake. `Err(Handshake)` carries a reason fit for a log.
pub async fn connect<S>(
    framed: &mut Framed<S, LinkCodec>,
    secret: &[u8],
    role: Role,
    name: &str,
) -> Result<(), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if name.len() > MAX_NAME {
        // The accepting side would refuse the oversized Hello frame without saying why.
        return Err(LinkError::Handshake(format!(
            "the name is {} bytes, the most is {MAX_NAME}",
            name.len()
        )));
    }
    let nonce_c: [u8; 32] = rand::random();
    framed
        .send(Message::Hello {
            version: PROTOCOL_VERSION,
            role,
            nonce: nonce_c,
            name: name.to_string(),
        })
        .await?;
    let nonce_s = match next(framed).await? {
        Message::Challenge { nonce, proof } => {
            if !verify(secret, b"devgate-accept", &[&nonce_c, &nonce], &proof) {
                let reason = "authentication failed: the secrets differ".to_string();
                let _ = framed
                    .send(Message::Refused {
                        reason: reason.clone(),
                    })
                    .await;
                return Err(LinkError::Handshake(reason));
            }
            nonce
        }
        Message::Refused { reason } => return Err(LinkError::Handshake(reason)),
        other => {
            return Err(LinkError::Handshake(format!(
                "expected a challenge, got {}",
                kind_name(&other)
            )))
        }
    };
    let proof = proof(
        secret,
        b"devgate-connect",
        &[&[role as u8], &nonce_s, &nonce_c],
    );
    framed.send(Message::Auth { proof }).await?;
    match next(framed).await? {
        Message::AuthOk => Ok(()),
        Message::Refused { reason } => Err(LinkError::Handshake(reason)),
        other => Err(LinkError::Handshake(format!(
            "expected auth-ok, got {}",
            kind_name(&other)
        ))),
    }
}

/// Runs the accepting side; returns the peer's role and name when it proved the secret.
/// Roles outside `allowed` are refused with a reason the peer logs.
pub async fn accept<S>(
    framed: &mut Framed<S, LinkCodec>,
    secret: &[u8],
    allowed: &[Role],
) -> Result<(Role, String), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (role, nonce_c, name) = match next(framed).await? {
        Message::Hello {
            version,
            role,
            nonce,
            name,
        } => {
            if version != PROTOCOL_VERSION {
                let reason = format!(
                    "protocol version {version} not supported (this side speaks {PROTOCOL_VERSION})"
                );
                let _ = framed
                    .send(Message::Refused {
                        reason: reason.clone(),
                    })
                    .await;
                return Err(LinkError::Handshake(reason));
            }
            (role, nonce, name)
        }
        other => {
            return Err(LinkError::Handshake(format!(
                "expected hello, got {}",
                kind_name(&other)
            )))
        }
    };
    if !allowed.contains(&role) {
        let reason = format!("a {role:?} may not connect here");
        let _ = framed
            .send(Message::Refused {
                reason: reason.clone(),
            })
            .await;
        return Err(LinkError::Handshake(reason));
    }
    let nonce_s: [u8; 32] = rand::random();
    let proof_s = proof(secret, b"devgate-accept", &[&nonce_c, &nonce_s]);
    framed
        .send(Message::Challenge {
            nonce: nonce_s,
            proof: proof_s,
        })
        .await?;
    match next(framed).await? {
        Message::Auth { proof } => {
            if verify(
                secret,
                b"devgate-connect",
                &[&[role as u8], &nonce_s, &nonce_c],
                &proof,
            ) {
                framed.send(Message::AuthOk).await?;
                Ok((role, name))
            } else {
                let reason = "authentication failed: wrong secret".to_string();
                let _ = framed
                    .send(Message::Refused {
                        reason: reason.clone(),
                    })
                    .await;
                Err(LinkError::Handshake(format!("{name}: {reason}")))
            }
        }
        Message::Refused { reason } => Err(LinkError::Handshake(format!("{name}: {reason}"))),
        other => Err(LinkError::Handshake(format!(
            "expected auth, got {}",
            kind_name(&other)
        ))),
    }
}

/// A short name of a message's kind, for handshake errors.
fn kind_name(m: &Message) -> &'static str {
    match m {
        Message::Hello { .. } => "hello",
        Message::Challenge { .. } => "challenge",
        Message::Auth { .. } => "auth",
        Message::AuthOk => "auth-ok",
        Message::Refused { .. } => "refused",
        _ => "a non-handshake message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

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
