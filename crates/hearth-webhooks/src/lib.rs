//! Contact-center webhooks: signature checks, vendor profiles, event identity, and mapping to FHIR R4.
#![forbid(unsafe_code)]
