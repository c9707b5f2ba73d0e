//! `[channels.<name>] type = "mllp"`: HL7 v2 over MLLP/TCP.

use std::net::SocketAddr;
use std::time::Duration;

use hearth_core::config::{Problems, check_range, socket_addr};
use hearth_hl7v2::{AckPolicy, Charset};
use serde::Deserialize;

use crate::mapping::{self, MappingPlan, RawMapping};
use crate::tls::{self, RawTls, TlsPlan};

/// Default maximum MLLP frame: 10 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 10 * 1024 * 1024;

/// The raw table, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMllp {
    pub listen: String,
    pub max_frame_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub idle_timeout_ms: Option<u64>,
    pub default_charset: Option<String>,
    pub ack_sending_application: Option<String>,
    pub ack_sending_facility: Option<String>,
    pub ack_policy: Option<String>,
    pub require_control_id: Option<bool>,
    pub mapping: Option<RawMapping>,
    /// MLLP over TLS (docs/security.md).
    pub tls: Option<RawTls>,
}

/// A validated MLLP channel.
#[derive(Debug, Clone, PartialEq)]
pub struct MllpPlan {
    pub listen: SocketAddr,
    pub max_frame_bytes: usize,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    /// MSH-18 value assumed when a message names none.
    pub default_charset: Charset,
    /// Our own MSH-3/MSH-4 on ACKs when the sender named no receiver.
    pub ack_sending_application: String,
    pub ack_sending_facility: String,
    /// When to answer: every message (default), or as MSH-15/MSH-16 ask.
    pub ack_policy: AckPolicy,
    /// Refuse a message whose MSH-10 (control id) is empty (default): an ACK echoes it in MSA-2 and duplicate
    /// detection keys on it. `false` accepts such a message (MSA-2 empty; its duplicates are told apart by a digest
    /// of its bytes). The processing stage never refuses a journaled message for this.
    pub require_control_id: bool,
    /// How the processing stage converts this channel's messages to FHIR.
    pub mapping: MappingPlan,
    /// MLLP over TLS; `None`: plaintext TCP.
    pub tls: Option<TlsPlan>,
}

/// Validates one MLLP channel; problems are named under `key`.
pub fn validate(m: RawMllp, key: &str, problems: &mut Problems) -> MllpPlan {
    let listen = socket_addr(&m.listen, &format!("{key}.listen"), problems);
    let max_frame_bytes = m.max_frame_bytes.unwrap_or(DEFAULT_MAX_FRAME_BYTES);
    check_range(max_frame_bytes, 1024..=1024 * 1024 * 1024, &format!("{key}.max_frame_bytes"), problems);
    let max_connections = m.max_connections.unwrap_or(1024);
    check_range(max_connections, 1..=65_536, &format!("{key}.max_connections"), problems);
    let ack_policy = match m.ack_policy.as_deref().unwrap_or("always") {
        "always" => AckPolicy::Always,
        "msh15" => AckPolicy::Msh15,
        other => {
            problems.add(format!("{key}.ack_policy"), format!("{other:?} is not one of \"always\", \"msh15\""));
            AckPolicy::Always
        }
    };
    MllpPlan {
        listen,
        max_frame_bytes,
        max_connections,
        idle_timeout: Duration::from_millis(m.idle_timeout_ms.unwrap_or(300_000)),
        default_charset: mapping::validate_charset(m.default_charset, key, problems),
        ack_sending_application: m.ack_sending_application.unwrap_or_else(|| "HEARTH".into()),
        ack_sending_facility: m.ack_sending_facility.unwrap_or_default(),
        ack_policy,
        require_control_id: m.require_control_id.unwrap_or(true),
        mapping: mapping::validate(m.mapping.unwrap_or_default(), &format!("{key}.mapping"), problems),
        tls: m.tls.map(|t| tls::validate(t, &format!("{key}.tls"), problems)),
    }
}

/// The topology line (`hearth check`).
pub fn describe(m: &MllpPlan) -> String {
    format!(
        "mllp {} {}(max frame {} bytes, max {} connections, charset {}, acks {:?}{})",
        m.listen,
        m.tls.as_ref().map(|t| format!("[{}] ", tls::mode(Some(t)))).unwrap_or_default(),
        m.max_frame_bytes,
        m.max_connections,
        m.default_charset.hl7_name(),
        m.ack_policy,
        if m.require_control_id { "" } else { ", empty MSH-10 accepted" }
    )
}
