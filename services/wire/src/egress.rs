//! The contract between launchers and `moat-egress`, over NATS: a launcher
//! publishes an [`EgressRequest`] on [`EGRESS_SUBJECT`] with a reply inbox;
//! one egress instance of the [`EGRESS_QUEUE_GROUP`] takes it and publishes
//! [`EgressReply`] messages to the inbox: the body's chunks in order, then
//! one final `fetched` or `failed`, numbered so a lost message is detected
//! (the call then fails) rather than a body silently cut short.
//!
//! A request body over [`INLINE_BODY_BYTES`] does not travel in the request:
//! the request names an [`Upload`] inbox instead, and the egress instance
//! that took it asks the launcher for the body part by part (NATS requests
//! carrying the part's number, answered with its raw bytes), so no message
//! either way comes near NATS's payload limit.

use serde::{Deserialize, Serialize};

use crate::frames::PROTOCOL_VERSION;
use crate::hostcall::{FetchCall, Reply, REPLY_CHUNK_BYTES};

/// Where fetches are published.
pub const EGRESS_SUBJECT: &str = "moat.egress.fetch";
/// The queue group egress instances share the work in.
pub const EGRESS_QUEUE_GROUP: &str = "moat-egress";

/// Where launchers serve uploaded bodies: each upload's subject is one
/// token under it. Egress may publish only here (and answer what it is
/// asked), so an upload subject anywhere else is refused.
pub const UPLOAD_SUBJECTS: &str = "moat.egress.upload";

/// The subject of upload `id` (one subject token).
pub fn upload_subject(id: &str) -> String {
    format!("{UPLOAD_SUBJECTS}.{id}")
}

/// Whether `subject` is an upload subject.
pub fn is_upload_subject(subject: &str) -> bool {
    subject
        .strip_prefix(UPLOAD_SUBJECTS)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(crate::valid_token)
}

/// Largest request body sent inside the request; larger ones are uploaded.
pub const INLINE_BODY_BYTES: usize = REPLY_CHUNK_BYTES;
/// Largest part of an uploaded body.
pub const UPLOAD_PART_BYTES: usize = REPLY_CHUNK_BYTES;

/// A request body the egress instance fetches from the launcher in parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// Where to ask for part `n` (payload: `n` in decimal).
    pub subject: String,
    /// How many parts, each [`UPLOAD_PART_BYTES`] but the last.
    pub parts: u32,
    /// The body's length.
    pub bytes: u64,
}

impl Upload {
    /// The parts a body of `bytes` is cut into.
    pub fn parts_for(bytes: u64) -> u32 {
        bytes.div_ceil(UPLOAD_PART_BYTES as u64) as u32
    }
}

/// Where egress instances announce themselves, so each knows how many
/// share the fleet's per-host rate.
pub const EGRESS_PEERS_SUBJECT: &str = "moat.egress.peers";

/// An egress instance's announcement, sent every second, and once more
/// with `leaving` set when it stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressPeer {
    /// Protocol version.
    pub v: u32,
    /// The instance's id, unique per process.
    pub id: String,
    /// Whether the instance is stopping.
    #[serde(default)]
    pub leaving: bool,
}

/// A tenant's own destination rules: they narrow the operator's policy
/// (refuse more, never allow more). Nets and domains as text, as `moat keys
/// egress` stored them; the egress service parses them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRules {
    /// When not empty (with `only_nets`), the only domains reachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_domains: Vec<String>,
    /// When not empty (with `only_domains`), the only nets reachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_nets: Vec<String>,
    /// Domains never reachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_domains: Vec<String>,
    /// Nets never reachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_nets: Vec<String>,
}

impl EgressRules {
    /// Whether the rules narrow nothing.
    pub fn is_empty(&self) -> bool {
        self.only_domains.is_empty()
            && self.only_nets.is_empty()
            && self.deny_domains.is_empty()
            && self.deny_nets.is_empty()
    }
}

/// The plan a run was queued under, for the operator's per-plan rules.
/// A request that names none is anonymous: the stricter reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EgressPlan {
    /// A run without an API key.
    #[default]
    #[serde(rename = "anon")]
    Anonymous,
    /// A run with a tenant's key.
    #[serde(rename = "tenant")]
    Tenant,
}

/// One request, with the limits the run has left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRequest {
    /// Protocol version.
    pub v: u32,
    /// The run that asks (for logs and the per-destination limit).
    pub run: String,
    /// The tenant that submitted the run (`anon` for anonymous clients).
    pub tenant: String,
    /// The run's plan, whose rules apply on top of the operator's.
    #[serde(default)]
    pub plan: EgressPlan,
    /// The request.
    pub call: FetchCall,
    /// Most decoded response bytes this request may bring back.
    pub max_bytes: u64,
    /// How long the whole request may take, redirects and body included.
    pub timeout_ms: u64,
    /// The tenant's own rules, applied on top of the operator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<EgressRules>,
    /// Where the body is to be fetched from, when it is not in `call`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<Upload>,
}

impl EgressRequest {
    /// A request of this build's version, under no rules of the tenant's.
    pub fn new(run: &str, tenant: &str, call: FetchCall, max_bytes: u64, timeout_ms: u64) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            run: run.to_owned(),
            tenant: tenant.to_owned(),
            plan: EgressPlan::default(),
            call,
            max_bytes,
            timeout_ms,
            rules: None,
            upload: None,
        }
    }
}

/// One message of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressReply {
    /// Protocol version.
    pub v: u32,
    /// 0, 1, 2, ... within one answer.
    pub seq: u32,
    /// A chunk of the body, or the end.
    #[serde(flatten)]
    pub reply: Reply,
}

impl EgressReply {
    /// A reply message of this build's version.
    pub fn new(seq: u32, reply: Reply) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            seq,
            reply,
        }
    }

    /// Whether this message ends the answer.
    pub fn is_final(&self) -> bool {
        !matches!(self.reply, Reply::Chunk { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostcall::HostError;

    #[test]
    fn requests_and_replies_round_trip() {
        let call = FetchCall::get("http://127.0.0.1:1/");
        let req = EgressRequest::new("r1", "anon", call, 10, 20);
        let back: EgressRequest =
            serde_json::from_slice(&serde_json::to_vec(&req).unwrap()).unwrap();
        assert_eq!(back, req);
        let end = EgressReply::new(3, Reply::Failed(HostError::new("ETIMEDOUT", "timed out")));
        let back: EgressReply = serde_json::from_slice(&serde_json::to_vec(&end).unwrap()).unwrap();
        assert_eq!(back, end);
        assert!(back.is_final());
        // An older request without a plan is read as anonymous.
        let mut bare = serde_json::to_value(&req).unwrap();
        bare.as_object_mut().unwrap().remove("plan");
        let back: EgressRequest = serde_json::from_value(bare).unwrap();
        assert_eq!(back.plan, EgressPlan::Anonymous);
        assert!(!EgressReply::new(
            0,
            Reply::Chunk {
                data: String::new()
            }
        )
        .is_final());
    }
}
