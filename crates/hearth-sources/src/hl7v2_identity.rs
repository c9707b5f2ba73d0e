//! What every HL7 v2 source (MLLP, HTTP, AMQP) journals about a message besides its bytes: the header facts
//! (message code, trigger, structure, control id, sender) and the dedup key, computed the same way everywhere so
//! that a message arriving over two paths is stored once.

use hearth_core::{MessageMeta, dedup_key_hl7v2};
use hearth_hl7v2::{Header, PartialHeader};

/// The metadata and dedup key (MSH-3, MSH-4, MSH-10 and the SHA-256 of the bytes) of a parsed message.
pub(crate) fn accepted(h: &Header, raw: &[u8]) -> (MessageMeta, String) {
    let meta = MessageMeta {
        message_code: non_empty(&h.message_code),
        trigger_event: non_empty(&h.trigger_event),
        structure: non_empty(&h.structure),
        control_id: non_empty(&h.control_id),
        sending_application: non_empty(&h.sending_application.namespace_id),
        sending_facility: non_empty(&h.sending_facility.namespace_id),
    };
    (meta, dedup_key_hl7v2(&h.sending_application.raw, &h.sending_facility.raw, &h.control_id, raw))
}

/// What can be read from the header of a message that failed to parse (for the operator's copy).
pub(crate) fn from_peek(p: &PartialHeader) -> MessageMeta {
    MessageMeta {
        message_code: non_empty(&p.message_code),
        trigger_event: non_empty(&p.trigger_event),
        structure: None,
        control_id: non_empty(&p.control_id),
        sending_application: non_empty(&p.sending_application.namespace_id),
        sending_facility: non_empty(&p.sending_facility.namespace_id),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}
