//! `hearth convert --from csv --profile NAME FILE|-`: a CSV billing export to NDJSON, one FHIR transaction Bundle
//! per row group, streamed (a file of any size converts in constant memory).
//!
//! Unlike HL7 v2 conversion this is **not** all or nothing: every good row's Bundle is on stdout, and each
//! rejected row is one line on stderr (`FILE: line 7, column 2 (mrn): required value is empty`), followed by the
//! totals. The exit code is 2 when any row was rejected or the header differs from the profile (then nothing is
//! converted), so a script can tell a clean file from a partly converted one.
//!
//! `NAME` is a built-in profile (`charges`, `claims`, `price-transparency`) or a path to a profile TOML. Resource
//! ids derive from the file's SHA-256 (as in the engine, so the CLI and a file inbox give the same ids); for
//! standard input, which cannot be read twice, they derive from the name `stdin`.

use std::io::{Read, Write};
use std::path::Path;

use hearth_csv::{ConvertContext, Converter, Profile};
use sha2::{Digest, Sha256};

/// Converts and prints. `Err` (exit 2) for bad arguments, an unreadable file, header drift, or rejected rows.
pub fn convert(profile: Option<&str>, mapping: Option<&Path>, input: &str) -> Result<(), String> {
    if mapping.is_some() {
        return Err("--mapping does not apply to csv (give the profile with --profile)".into());
    }
    let profile = load_profile(
        profile.ok_or("--from csv needs --profile NAME (charges, claims, price-transparency, or a .toml file)")?,
    )?;
    let converter = Converter::new(&profile);
    let (label, source) =
        if input == "-" { ("stdin".to_owned(), "stdin".to_owned()) } else { (input.to_owned(), file_hash(input)?) };
    let reader: Box<dyn Read> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(input).map_err(|e| format!("{input}: {e}"))?)
    };
    let ctx = ConvertContext { source: &source, line_offset: 0, now: time::OffsetDateTime::now_utc() };
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let mut write_error = None;
    let report = converter
        .convert(std::io::BufReader::with_capacity(256 * 1024, reader), &ctx, |o| {
            if write_error.is_none()
                && let Err(e) = write_line(&mut out, &o.bundle)
            {
                write_error = Some(e);
            }
        })
        .map_err(|e| format!("{label}: {e}"))?;
    out.flush().map_err(|e| format!("cannot write the output: {e}"))?;
    if let Some(e) = write_error {
        return Err(format!("cannot write the output: {e}"));
    }
    let mut err = std::io::stderr().lock();
    for e in &report.errors {
        let _ = writeln!(err, "{label}: {e}");
    }
    if report.errors_omitted > 0 {
        let _ = writeln!(err, "{label}: {} more row errors not listed", report.errors_omitted);
    }
    if report.rows_rejected > 0 {
        return Err(format!(
            "{label}: {} rows read, {} converted, {} rejected",
            report.rows_read, report.rows_converted, report.rows_rejected
        ));
    }
    Ok(())
}

fn write_line(out: &mut impl Write, bundle: &serde_json::Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, bundle)?;
    out.write_all(b"\n")
}

fn load_profile(name: &str) -> Result<Profile, String> {
    if name.ends_with(".toml") {
        let text = std::fs::read_to_string(name).map_err(|e| format!("--profile {name}: {e}"))?;
        return Profile::from_toml(&text).map_err(|e| format!("--profile {name}: {e}"));
    }
    Profile::builtin(name).map_err(|e| format!("--profile: {e}"))
}

/// Hex SHA-256 of a file, streamed.
fn file_hash(path: &str) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| format!("{path}: {e}"))?;
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}
