//! Per-sample conversion time (release): `cargo run --release -p hearth-map --example timing DIR`.
use hearth_map::hl7v2::{Hl7v2Mapper, MapOptions};

fn main() -> Result<(), String> {
    let dir = std::env::args().nth(1).ok_or("usage: timing DIR")?;
    let mapper = Hl7v2Mapper::new(MapOptions::default());
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let mut rows = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
        let Ok(bytes) = std::fs::read(e.path()) else { continue };
        let Ok(m) = hearth_hl7v2::parse(&bytes, &Default::default()) else { continue };
        if mapper.map(&m, now).is_err() {
            continue;
        }
        let n = 200;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = std::hint::black_box(mapper.map(&m, now));
        }
        rows.push((t.elapsed().as_micros() / n, e.file_name().to_string_lossy().into_owned()));
    }
    rows.sort();
    let total: u128 = rows.iter().map(|r| r.0).sum();
    for r in rows.iter().rev().take(12) {
        println!("{:>6} us  {}", r.0, r.1);
    }
    println!("mean {} us over {} messages", total / rows.len().max(1) as u128, rows.len());
    Ok(())
}
