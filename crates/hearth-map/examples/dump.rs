//! Writes, for every file given (HL7 v2 messages, batches split), the mapper's Bundle as serde_json writes it
//! (insertion order: what routing serialises), `hearth_fhir::bundle_to_json`'s bytes and the report, one line each:
//! `cargo run --release -p hearth-map --example dump -- FILE... > out.txt`. Two builds whose outputs are equal
//! produce the same bytes everywhere the engine writes a conversion.
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};

fn main() -> Result<(), String> {
    let mapper = Hl7v2Mapper::new(MapOptions::default());
    let now = time::macros::datetime!(2025-01-01 00:00:00 UTC);
    let mut files: Vec<String> = std::env::args().skip(1).collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        let Ok(batch) = hearth_hl7v2::split_batch(&bytes) else { continue };
        for m in batch.message_bytes(&bytes) {
            let line = match hearth_hl7v2::parse(m, &Default::default()) {
                Err(e) => format!("parse error: {e}"),
                Ok(msg) => match mapper.map(&msg, now) {
                    Err(e) => format!("map error: {e}"),
                    Ok(c) => {
                        let value = serde_json::to_string(&c.bundle).map_err(|e| e.to_string())?;
                        let fhir = hearth_fhir::bundle_to_json(&c.bundle).unwrap_or_else(|e| format!("invalid: {e}"));
                        let report = serde_json::to_string(&c.report).map_err(|e| e.to_string())?;
                        format!("{value}\n{fhir}\n{report}")
                    }
                },
            };
            println!("{path}\n{line}");
        }
    }
    Ok(())
}
