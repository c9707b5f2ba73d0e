//! The processing stage's CSV step: one journaled chunk (a header plus one row group of a billing file, as the
//! file inbox and `POST /ingest/{channel}` journal it) → one FHIR transaction Bundle and a report.
//!
//! What a CSV chunk carries in the journal (written by `hearth_sources::file`):
//! - `raw`: the chunk's UTF-8 bytes (the file's preamble and header lines, then the group's lines);
//! - `dedup_key`: `csv:<channel>:<sha256 of the whole file>:<chunk key>`; the file hash goes into resource ids
//!   (`ConvertContext::source`), so the same file gives the same ids whatever its name and however often it is
//!   reprocessed;
//! - `meta.message_code` `CSV`, `meta.trigger_event` the profile name (routes match on `CSV^charges`, routing keys
//!   use `{event}` = `charges`), `meta.control_id` `<file name>:<first physical line of the group>`.
//!
//! Row numbers in the report are physical lines of the original file (`line_offset = first_line - 1`).

use std::sync::Arc;

use hearth_csv::{ConvertContext, Converter, FileReport, Output, Profile};

/// What the journal says about one chunk, beside its bytes.
#[derive(Debug, Clone, Copy)]
pub struct ChunkMeta<'a> {
    /// The message's dedup key (`csv:<channel>:<file hash>:<chunk key>`).
    pub dedup_key: Option<&'a str>,
    /// `<file name>:<first line>`.
    pub control_id: Option<&'a str>,
    /// Used as the conversion's `now`, so that reprocessing gives the same Bundle.
    pub received_at: time::OffsetDateTime,
}

/// The file hash and chunk key out of a CSV dedup key.
pub fn parse_dedup_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("csv:")?;
    let (_channel, rest) = rest.split_once(':')?;
    let (hash, chunk) = rest.split_once(':')?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some((hash, chunk))
}

/// The file name and first physical line out of a control id `<file name>:<first line>` (the name may hold `:`).
pub fn parse_control_id(id: &str) -> Option<(&str, u64)> {
    let (file, line) = id.rsplit_once(':')?;
    Some((file, line.parse().ok()?))
}

/// Converts one chunk: the Bundle (several groups' entries merged into one transaction, in order) and the
/// report (JSON). `Err` with the row errors when no row converted.
pub fn convert_chunk(
    converter: Option<&Arc<Converter>>,
    raw: &[u8],
    meta: ChunkMeta<'_>,
) -> Result<(serde_json::Value, serde_json::Value), String> {
    let converter = converter.ok_or("the channel has no CSV profile (it is no longer configured as CSV)")?;
    let (hash, chunk_key) = meta.dedup_key.and_then(parse_dedup_key).ok_or("not a CSV chunk key")?;
    let (file, first_line) = meta.control_id.and_then(parse_control_id).ok_or("no <file>:<line> control id")?;
    let ctx = ConvertContext { source: hash, line_offset: first_line.saturating_sub(1), now: meta.received_at };
    let mut outputs: Vec<Output> = Vec::new();
    let report = converter.convert(raw, &ctx, |out| outputs.push(out)).map_err(|e| format!("{file}: {e}"))?;
    if outputs.is_empty() {
        return Err(rejected_reason(file, &report));
    }
    let report_json = chunk_report(converter.profile(), file, chunk_key, &report);
    Ok((merge(outputs), report_json))
}

/// Every row rejected: the row errors, one per `; `, naming file, line and column.
fn rejected_reason(file: &str, report: &FileReport) -> String {
    let mut reason = format!("{file}: {} of {} rows rejected:", report.rows_rejected, report.rows_read);
    for e in &report.errors {
        reason.push_str(&format!(" {e};"));
    }
    if report.rows_read == 0 {
        reason.push_str(" the chunk holds no row");
    }
    reason
}

fn chunk_report(profile: &Profile, file: &str, chunk_key: &str, report: &FileReport) -> serde_json::Value {
    serde_json::json!({
        "source": "csv",
        "profile": profile.name(),
        "mapping": profile.mapping_tag(),
        "file": file,
        "chunk": chunk_key,
        "rows_read": report.rows_read,
        "rows_converted": report.rows_converted,
        "rows_rejected": report.rows_rejected,
        "errors": report.errors,
        "errors_omitted": report.errors_omitted,
    })
}

/// One Bundle for the chunk. A chunk is one row group, so one Output is the rule; should a profile ever give
/// several, their entries go into the first Bundle in order (ids stay the converter's, so deterministic).
fn merge(mut outputs: Vec<Output>) -> serde_json::Value {
    let mut first = outputs.remove(0).bundle;
    for out in outputs {
        let entries = out.bundle.get("entry").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
        if let Some(list) = first.get_mut("entry").and_then(serde_json::Value::as_array_mut) {
            list.extend(entries);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const HEADER: &str = "charge_id,mrn,visit_number,account_number,service_date,cpt_hcpcs,modifier_1,modifier_2,\
                          revenue_code,units,unit_price,amount,performing_npi,payer\n";
    const HASH: &str = "ab12000000000000000000000000000000000000000000000000000000000000";

    fn meta<'a>(key: &'a str, control: &'a str) -> ChunkMeta<'a> {
        ChunkMeta { dedup_key: Some(key), control_id: Some(control), received_at: time::OffsetDateTime::UNIX_EPOCH }
    }

    fn charges() -> Arc<Converter> {
        hearth_sources::file::CsvProfileRef::Builtin("charges".into()).converter().unwrap()
    }

    #[test]
    fn keys_parse() {
        assert_eq!(parse_dedup_key(&format!("csv:billing:{HASH}:7:C1|x")), Some((HASH, "7:C1|x")));
        assert_eq!(parse_dedup_key("csv:billing:short:7"), None);
        assert_eq!(parse_dedup_key("hl7v2:x"), None);
        assert_eq!(parse_control_id("a:b.csv:12"), Some(("a:b.csv", 12)));
        assert_eq!(parse_control_id("a.csv"), None);
    }

    #[test]
    fn a_chunk_converts_with_file_line_numbers_and_stable_ids() {
        let raw = format!("{HEADER}C9,MRN9,V9,A9,2025-03-04,99213,,,0510,2,10.00,20.00,1234567893,P1\n");
        let key = format!("csv:billing:{HASH}:9");
        let (bundle, report) = convert_chunk(Some(&charges()), raw.as_bytes(), meta(&key, "feb.csv:9")).unwrap();
        assert_eq!(bundle["entry"][0]["resource"]["resourceType"], "ChargeItem");
        assert_eq!((report["rows_read"].as_u64(), report["file"].as_str()), (Some(1), Some("feb.csv")));
        let (again, _) = convert_chunk(Some(&charges()), raw.as_bytes(), meta(&key, "renamed.csv:9")).unwrap();
        assert_eq!(bundle, again, "ids come from the file hash, not its name");
    }

    #[test]
    fn a_chunk_with_no_good_row_is_an_error_naming_line_and_column() {
        let raw = format!("{HEADER}C9,MRN9,V9,A9,2025-13-45,99213,,,0510,2,10.00,20.00,1234567893,P1\n");
        let key = format!("csv:billing:{HASH}:9");
        let err = convert_chunk(Some(&charges()), raw.as_bytes(), meta(&key, "feb.csv:9")).unwrap_err();
        assert!(err.starts_with("feb.csv: 1 of 1 rows rejected: line 9, column 5 (service_date)"), "{err}");
        assert!(convert_chunk(None, raw.as_bytes(), meta(&key, "feb.csv:9")).is_err());
        assert!(convert_chunk(Some(&charges()), raw.as_bytes(), meta("x", "feb.csv:9")).is_err());
    }
}
