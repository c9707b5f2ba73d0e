//! Route rules: match, FHIRPath conditions, projections, and delivery planning. Pure.
#![forbid(unsafe_code)]
