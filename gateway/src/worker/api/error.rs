//! Why an API call failed.

use crate::client_id::GatewayKey;
use crate::proto::ReplyError;

/// Why an API call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// No live link to the gateway that owns this client.
    #[error("no link to gateway {0}")]
    NoGateway(GatewayKey),
    /// The link closed while sending.
    #[error("the link to gateway {0} closed")]
    LinkClosed(GatewayKey),
    /// The gateway did not answer within the query timeout.
    #[error("gateway {0} did not answer in time")]
    Timeout(GatewayKey),
    /// The gateway's reply was garbled or answered another question.
    #[error("gateway {0}: {1}")]
    BadReply(GatewayKey, ReplyError),
}
