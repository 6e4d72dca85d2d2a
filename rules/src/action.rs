//! What the rules ask for: actions, in the order the rules produced them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One thing to do, produced by [`crate::RuleSet::evaluate`].
///
/// `SetState` and `Publish` are carried out by [`crate::Pipeline`] (state store and outbox);
/// the others are for the gateway's API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Send to the client that sent the event.
    Reply {
        /// The rendered text.
        data: String,
    },
    /// Send to every connection bound to a uid.
    SendToUid {
        /// The receiving uid.
        uid: String,
        /// The rendered text.
        data: String,
    },
    /// Send to every member of a group.
    SendToGroup {
        /// The group.
        group: String,
        /// The rendered text.
        data: String,
    },
    /// Bind the event's client to a uid.
    BindUid {
        /// The uid to bind.
        uid: String,
    },
    /// Put the event's client into a group.
    JoinGroup {
        /// The group.
        group: String,
    },
    /// Merge fields into a device's persisted state (`null` removes a key).
    SetState {
        /// Whose state.
        uid: String,
        /// The patch to merge.
        state: Map<String, Value>,
    },
    /// Publish to MQTT through the durable outbox.
    Publish {
        /// The rendered topic.
        topic: String,
        /// 0 or 1.
        qos: u8,
        /// MQTT retain flag.
        retain: bool,
        /// A JSON object; the outbox adds the message id to it.
        payload: Value,
    },
    /// An action that could not be built for this event (a template field was missing, ...).
    Skipped {
        /// The rule's name.
        rule: String,
        /// The action's index in the rule, from 0.
        action: usize,
        /// Why.
        reason: String,
    },
}

impl Action {
    /// The action's name as written in rules files (`reply`, `publish`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Reply { .. } => "reply",
            Action::SendToUid { .. } => "send_to_uid",
            Action::SendToGroup { .. } => "send_to_group",
            Action::BindUid { .. } => "bind_uid",
            Action::JoinGroup { .. } => "join_group",
            Action::SetState { .. } => "set_state",
            Action::Publish { .. } => "publish",
            Action::Skipped { .. } => "skipped",
        }
    }
}
