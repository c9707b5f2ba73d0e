//! CSV billing exports to FHIR R4: declarative column maps (profiles), streaming, header drift and row errors.
#![forbid(unsafe_code)]
