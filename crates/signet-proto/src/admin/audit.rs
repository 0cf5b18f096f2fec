//! `/audit`, `/audit/verify` and `/audit/checkpoint`: the trail as the admin
//! API shows it. An event here serializes exactly as it is chained, so an
//! export (`?format=jsonl`) carries the events as they were hashed.

use serde::{Deserialize, Serialize};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorView {
    /// `person`, `application` or `system`.
    pub kind: String,
    pub id: String,
    pub name: String,
    /// How the actor proved who it is: "password+totp", "client_secret", "console", …
    pub scheme: String,
    pub client_id: Option<String>,
}

/// The external provider side of a federated sign-on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamView {
    pub provider_id: String,
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// One recorded event: its fields in the order, and with the omissions,
/// of the event the chain hashed.
///
/// It mirrors `signet_core::audit::AuditEvent` on purpose instead of being
/// it: the chained event carries the domain's behaviour (an id drawn from the
/// CSPRNG, the typed action and outcome, the chain hash), which has no place
/// in this crate of wire types and which signet-core could not add to a type
/// of this crate. The two JSON forms are one contract, pinned byte for byte by
/// signet-core's `the_admin_apis_view_writes_the_chained_form` test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    pub actor: ActorView,
    /// `admin.account.create`, `signon`, …
    pub action: String,
    pub environment_id: Option<String>,
    pub target: String,
    /// SHA-256 (hex) of the change's canonical body; never the secrets themselves.
    pub digest: String,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One recorded event and its place in the chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditItem {
    pub seq: i64,
    /// Hex SHA-256 chaining this event to the one before.
    pub hash: String,
    /// Time, actor (kind, id, name, scheme), action, target, digest of the change, request id, source address.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub event: AuditEventView,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub items: Vec<AuditItem>,
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainStatus {
    pub events: i64,
    /// The first sequence number whose hash does not match, if any.
    pub broken_at: Option<i64>,
    /// The last event's hash: a monitor keeping it can detect a rewritten or truncated tail.
    pub head: Option<String>,
    /// The last event's sequence number: how many events were ever recorded.
    pub head_seq: i64,
    /// Events up to this sequence number were pruned by retention; the walk
    /// started from the hash recorded for the last of them.
    pub pruned_through: Option<i64>,
    /// The event that sealed the trail before it and from which every hash
    /// is an HMAC under a key the database does not hold.
    pub keyed_from: Option<i64>,
    pub intact: bool,
}

/// A signed statement of the trail's head (see `signet audit verify --checkpoint`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointBody {
    /// `signet.audit.checkpoint.v1`.
    pub format: String,
    /// Events recorded so far: the head's sequence number.
    pub seq: i64,
    /// The head's hash (hex).
    pub head: String,
    /// Unix seconds when it was signed.
    pub at: i64,
    /// RFC 7638 thumbprint of the signing key.
    pub key_id: String,
    /// Ed25519 public key, base64url.
    pub public_key: String,
    /// Ed25519 signature, base64url, over the format, seq, head, at and key_id, one per line.
    pub signature: String,
}

/// The key checkpoints are signed with, to keep beside them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointKeyBody {
    pub key_id: String,
    /// `Ed25519`.
    pub alg: String,
    /// base64url, 32 bytes.
    pub public_key: String,
}

/// `GET /audit`'s query: which events, from where.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// The sequence number after which to continue.
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
    /// The acting account or application (id or name).
    pub account: Option<String>,
    /// The resource acted on (target).
    pub resource: Option<String>,
    /// An action, or a prefix of one ending in `.`, e.g. `admin.account.`.
    pub action: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// `jsonl`: every matching event from `cursor` on, one JSON object per
    /// line (`{"seq","hash","event"}`), streamed; `limit` does not apply.
    pub format: Option<String>,
}
