/// Where a message stands in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Journaled and acknowledged; waiting for (or in) mapping and routing.
    Received,
    /// Refused at the door (negative ACK / 4xx); raw bytes and reason kept for the operator.
    Rejected,
    /// Converted to FHIR and routed (the Bundle, the conversion report and the deliveries are written in one
    /// journal transaction): deliveries exist in the outbox for every matching destination.
    Processed,
    /// Matched no route; kept, not delivered.
    Filtered,
    /// Could not be mapped; reason kept; can be reprocessed from the raw bytes.
    Error,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Received,
        MessageStatus::Rejected,
        MessageStatus::Processed,
        MessageStatus::Filtered,
        MessageStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Received => "received",
            MessageStatus::Rejected => "rejected",
            MessageStatus::Processed => "processed",
            MessageStatus::Filtered => "filtered",
            MessageStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a failure is worth retrying. Every runtime error in Hearth answers this question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The same operation may succeed later (network, broker down, database busy): retry with backoff.
    Transient,
    /// Retrying cannot help (rejected by the destination, a configuration that cannot work): dead-letter and
    /// tell the operator.
    Permanent,
    /// The input itself is wrong (cannot be parsed or mapped): it is kept with its reason, and reprocessed once
    /// the mapping or the sender is fixed.
    BadInput,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_strings_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MessageStatus::parse("nope"), None);
    }
}
