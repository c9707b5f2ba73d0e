//! Converts one HL7 v2 file and prints the Bundle and the report: `cargo run -p hearth-map --example convert FILE`.
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};

fn main() -> Result<(), String> {
    let path = std::env::args().nth(1).ok_or("usage: convert FILE")?;
    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
    let msg = hearth_hl7v2::parse(&bytes, &Default::default()).map_err(|e| e.to_string())?;
    let conv = Hl7v2Mapper::new(MapOptions::default())
        .map(&msg, time::OffsetDateTime::UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    println!("{}", serde_json::to_string_pretty(&conv.bundle).map_err(|e| e.to_string())?);
    eprintln!("{}", serde_json::to_string_pretty(&conv.report).map_err(|e| e.to_string())?);
    Ok(())
}
