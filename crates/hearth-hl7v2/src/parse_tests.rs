//! Unit tests for [`super::parse`]: one per refused kind, one per accepted sloppiness.
//! Every fixture is synthetic.

use super::*;
use crate::ErrorCode;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MSH: &str = "MSH|^~\\&|SENDAPP|SENDFAC^1.2.3^ISO|RECVAPP|RECVFAC|20240102030405||ADT^A04|CTRL-1|P|2.5.1";
const BODY: &str = "EVN|A04|20240102030405\rPID|1||MRN123^^^HOSP^MR~ALT9^^^OTHER^PI||DOE^JANE^Q||19800101|F\rPV1|1|O";

fn adt() -> String {
    format!("{MSH}\r{BODY}\r")
}

fn ok(bytes: impl AsRef<[u8]>) -> Result<Message, Hl7Error> {
    parse(bytes.as_ref(), &ParseOptions::default())
}

fn refused(bytes: impl AsRef<[u8]>) -> Hl7Error {
    match parse(bytes.as_ref(), &ParseOptions::default()) {
        Ok(m) => panic!("accepted: {:?}", m.text().get(..60)),
        Err(e) => e,
    }
}

#[test]
fn well_formed_message() -> TestResult {
    let m = ok(adt())?;
    let h = m.header();
    assert_eq!(h.sending_application.namespace_id, "SENDAPP");
    assert_eq!(h.sending_facility.universal_id, "1.2.3");
    assert_eq!(h.sending_facility.universal_id_type, "ISO");
    assert_eq!(h.sending_facility.raw, "SENDFAC^1.2.3^ISO");
    assert_eq!(h.receiving_application.namespace_id, "RECVAPP");
    assert_eq!(h.receiving_facility.namespace_id, "RECVFAC");
    assert_eq!(h.datetime, "20240102030405");
    assert_eq!((h.message_code.as_str(), h.trigger_event.as_str()), ("ADT", "A04"));
    assert_eq!((h.structure.as_str(), h.structure_derived), ("ADT_A01", true));
    assert_eq!(h.control_id, "CTRL-1");
    assert_eq!((h.processing_id.as_str(), h.version.as_str()), ("P", "2.5.1"));
    assert!(h.accept_ack_type.is_empty() && h.charset.is_empty());
    assert_eq!(m.segment_count(), 4);
    assert_eq!(m.segments().map(|s| s.name()).collect::<Vec<_>>(), ["MSH", "EVN", "PID", "PV1"]);
    assert!(m.warnings().is_empty());
    assert_eq!(m.text(), adt());
    assert_eq!(m.charset(), Charset::Utf8);
    Ok(())
}

#[test]
fn field_access_by_position_and_path() -> TestResult {
    let m = ok(adt())?;
    let msh = m.segment("MSH").ok_or("no MSH")?;
    assert_eq!(msh.field(1).map(|f| f.raw()), Some("|"));
    assert_eq!(msh.field(2).map(|f| f.raw()), Some("^~\\&"));
    assert_eq!(msh.field(2).and_then(|f| f.component(1)).map(|c| c.raw()), Some("^~\\&"));
    assert_eq!(msh.field(9).and_then(|f| f.component(2)).map(|c| c.raw()), Some("A04"));
    assert_eq!(msh.field_count(), 12);
    let pid = m.segment("PID").ok_or("no PID")?;
    assert_eq!(pid.sequence(), 3);
    assert_eq!(pid.field(0).map(|f| f.raw()), None);
    assert_eq!(pid.field(2).map(|f| f.raw()), Some(""));
    assert_eq!(pid.field(9).map(|f| f.raw()), None);
    let ids = pid.field(3).ok_or("no PID-3")?;
    assert_eq!(ids.repetitions().count(), 2);
    assert_eq!(ids.repetition(2).and_then(|r| r.component(4)).map(|c| c.raw()), Some("OTHER"));
    assert_eq!(pid.fields().count(), 8);
    assert_eq!(m.query("PID-3")?, Some("MRN123^^^HOSP^MR~ALT9^^^OTHER^PI"));
    assert_eq!(m.query("PID-3[2]")?, Some("ALT9^^^OTHER^PI"));
    assert_eq!(m.query("PID-3[2].1")?, Some("ALT9"));
    assert_eq!(m.query("PID.5.2")?, Some("JANE"));
    assert_eq!(m.query("PID-5.2.1")?, Some("JANE"));
    assert_eq!(m.query("PID-5.2.2")?, None);
    assert_eq!(m.query("MSH-9.2")?, Some("A04"));
    assert_eq!(m.query("MSH-1")?, Some("|"));
    assert_eq!(m.query("OBX-5")?, None);
    assert_eq!(m.query("PID(2)-5")?, None);
    assert!(m.query("pid-5").is_err());
    Ok(())
}

#[test]
fn repeated_segments_and_unescaped_values() -> TestResult {
    let m = ok(format!("{MSH}\rOBX|1|ST|A||first\\T\\one\rOBX|2|TX|B||line\\.br\\two\r"))?;
    assert_eq!(m.segments_named("OBX").count(), 2);
    let second = m.segments_named("OBX").nth(1).and_then(|s| s.field(5)).ok_or("no OBX-5")?;
    assert_eq!(second.unescaped(), "line\ntwo");
    assert_eq!(m.query("OBX(2)-1")?, Some("2"));
    assert_eq!(m.unescape(m.query("OBX-5")?.ok_or("none")?), "first&one");
    Ok(())
}

#[test]
fn header_values_are_unescaped_and_trimmed() -> TestResult {
    let m = ok("MSH|^~\\&|APP\\T\\1|FAC||| 20240101 ||ADT^A01^ADT_A01|ID\\F\\7 |T|2.3||| AL |\r")?;
    let h = m.header();
    assert_eq!(h.sending_application.namespace_id, "APP&1");
    assert_eq!(h.sending_application.raw, "APP\\T\\1");
    assert_eq!(h.control_id, "ID|7");
    assert_eq!(h.datetime, "20240101");
    assert_eq!((h.structure.as_str(), h.structure_derived), ("ADT_A01", false));
    assert_eq!(h.accept_ack_type, "AL");
    Ok(())
}

// ---------------------------------------------------------------- refused

#[test]
fn refuses_empty_and_non_hl7_input() {
    for input in [&b""[..], b"   \r\n\t", b"\xEF\xBB\xBF", b"\xEF\xBB\xBF\n\n"] {
        assert_eq!(refused(input).kind(), &ErrorKind::Empty, "{input:?}");
    }
    let garbage: Vec<u8> = (0..=255u8).rev().cycle().take(3000).collect();
    for input in [
        &garbage[..],
        b"{\"resourceType\":\"Patient\",\"id\":\"example\"}",
        b"Dear colleague, please find the results attached.",
        b"PID|1||MRN123",
        b"\x0bMSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\x1c\r",
        b"msh|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5",
        b"FHS|^~\\&|A\rBHS|^~\\&|A\rMSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rBTS|1\rFTS|1",
    ] {
        let e = refused(input);
        assert!(matches!(e.kind(), ErrorKind::NotHl7 { .. }), "{input:?}: {e}");
        assert_eq!(e.code(), ErrorCode::SegmentSequence);
        assert!(e.is_header_error());
    }
}

#[test]
fn refuses_missing_or_bad_separators() {
    for input in ["MSH", "MSH\r", "MSHX^~\\&|A", "MSH ^~\\&|A", "MSH||", "MSH|^~|", "MSH|^~\\&#*|x", "MSH|^^\\&|x"] {
        let e = refused(input);
        assert!(
            matches!(e.kind(), ErrorKind::EncodingCharacters { .. } | ErrorKind::Truncated { .. }),
            "{input:?}: {e}"
        );
        assert!(e.is_header_error(), "{input:?}");
    }
    assert!(matches!(refused("MS").kind(), ErrorKind::Truncated { .. }));
}

#[test]
fn refuses_missing_required_header_fields() {
    let cases = [
        ("MSH|^~\\&|A|B|C|D|20240101", "MSH-9 (message type)", 9),
        ("MSH|^~\\&|A|B|C|D|20240101||", "MSH-9 (message type)", 9),
        ("MSH|^~\\&|A|B|C|D|20240101|| |1|P|2.5", "MSH-9 (message type)", 9),
        ("MSH|^~\\&|A|B|C|D|20240101||^A01|1|P|2.5", "MSH-9.1 (message code)", 9),
        ("MSH|^~\\&|A|B|C|D|20240101||ADT|1|P|2.5", "MSH-9.2 (trigger event)", 9),
        ("MSH|^~\\&|A|B|C|D|20240101||ADT^|1|P|2.5", "MSH-9.2 (trigger event)", 9),
        ("MSH|^~\\&|A|B|C|D|20240101||ADT^A01", "MSH-10 (message control id)", 10),
        ("MSH|^~\\&|A|B|C|D|20240101||ADT^A01||P|2.5", "MSH-10 (message control id)", 10),
    ];
    for (input, what, field) in cases {
        let e = refused(format!("{input}\rPID|1\r"));
        assert_eq!(e.kind(), &ErrorKind::MissingField { what }, "{input}");
        assert_eq!(e.code(), ErrorCode::RequiredFieldMissing);
        let loc = e.location().cloned().unwrap_or_default();
        assert_eq!((loc.segment.as_str(), loc.sequence, loc.field), ("MSH", 1, Some(field)));
    }
    let e = refused("MSH|^~\\&|A|B|C|D|20240101||ADT|1|P|2.5");
    assert_eq!(
        e.to_string(),
        "segment 1 (MSH), field 9, component 2: required field MSH-9.2 (trigger event) is missing"
    );
}

#[test]
fn an_empty_control_id_parses_only_when_allowed() {
    let text = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01||P|2.5\rPID|1\r";
    assert!(parse(text.as_bytes(), &ParseOptions::default()).is_err(), "refused by default");
    let opts = ParseOptions { require_control_id: false, ..ParseOptions::default() };
    let msg = parse(text.as_bytes(), &opts).unwrap();
    assert_eq!(msg.header().control_id, "");
    assert!(msg.warnings().contains(&Warning::MissingControlId));
}

#[test]
fn refuses_bad_segment_names_with_their_position() {
    for (body, sequence) in [
        ("PID|1\rpid|1||X", 3),
        ("Pid|1", 2),
        ("P-D|1", 2),
        ("PIDX|1", 2),
        ("1ID|1", 2),
        ("PI|1", 2),
        ("EVN|1\r|1|2", 3),
        ("EVN|1\r PID|1", 3),
        ("EVN|1\rÉVN|1", 3),
        ("OBX|1|TX|||raw\nline inside a field", 3),
    ] {
        let e = refused(format!("{MSH}\r{body}\r"));
        assert!(matches!(e.kind(), ErrorKind::InvalidSegmentName { .. }), "{body:?}: {e}");
        assert_eq!(e.location().map(|l| l.sequence), Some(sequence), "{body:?}");
        assert_eq!(e.code(), ErrorCode::SegmentSequence);
        assert!(!e.is_header_error());
    }
    let e = refused(format!("{MSH}\rPID|1\rpid|2"));
    assert_eq!(
        e.to_string(),
        "segment 3: invalid segment name \"pid|2\" (expected [A-Z][A-Z0-9][A-Z0-9] then the field separator)"
    );
}

#[test]
fn refuses_truncated_messages() {
    for input in [format!("{MSH}\rPID|1\rPV"), format!("{MSH}\rPID|1\rP\n\n"), format!("{MSH}\rO")] {
        let e = refused(&input);
        assert!(matches!(e.kind(), ErrorKind::Truncated { .. }), "{input:?}: {e}");
    }
    // A cut in the middle of a UTF-8 character.
    let mut bytes = format!("{MSH}\rPID|1||X||DOÉ").into_bytes();
    bytes.pop();
    let e = refused(&bytes);
    assert!(matches!(e.kind(), ErrorKind::Truncated { .. }), "{e}");
    let loc = e.location().cloned().unwrap_or_default();
    assert_eq!((loc.segment.as_str(), loc.sequence, loc.field), ("PID", 2, Some(5)));
}

#[test]
fn refuses_endless_separators_quickly() {
    let mut input = b"MSH|^~\\&|".to_vec();
    input.extend(std::iter::repeat_n(b'|', 1 << 20));
    let e = refused(&input);
    assert_eq!(e.kind(), &ErrorKind::TooManyFields { limit: 10_000 });
    assert_eq!(e.location().map(|l| (l.segment.as_str(), l.sequence)), Some(("MSH", 1)));

    let body = format!("{MSH}\rOBX|{}", "|".repeat(20_000));
    assert!(matches!(refused(body).kind(), ErrorKind::TooManyFields { .. }));

    // MSH above has exactly 12 fields.
    let opts = ParseOptions { max_fields_per_segment: 12, ..ParseOptions::default() };
    assert!(parse(format!("{MSH}\rZZ1|1|2|3|4|5|6|7|8|9|10|11|12").as_bytes(), &opts).is_ok());
    assert!(parse(format!("{MSH}\rZZ1|1|2|3|4|5|6|7|8|9|10|11|12|13").as_bytes(), &opts).is_err());
    assert!(parse(format!("{MSH}|13").as_bytes(), &opts).is_err());
}

#[test]
fn refuses_too_many_segments() {
    let opts = ParseOptions { max_segments: 3, ..ParseOptions::default() };
    assert!(parse(format!("{MSH}\rNTE|1\rNTE|2").as_bytes(), &opts).is_ok());
    let e = parse(format!("{MSH}\rNTE|1\rNTE|2\rNTE|3").as_bytes(), &opts).err();
    assert_eq!(e.map(|e| e.kind().clone()), Some(ErrorKind::TooManySegments { limit: 3 }));
    let many = format!("{MSH}\r{}", "NTE|x\n".repeat(100_001));
    assert!(matches!(refused(many).kind(), ErrorKind::TooManySegments { .. }));
}

#[test]
fn refuses_several_messages_and_batch_envelopes() {
    for extra in ["MSH|^~\\&|A|B|C|D|2024||ADT^A01|2|P|2.5", "BTS|1", "FTS|1", "BHS|^~\\&", "FHS|^~\\&"] {
        let e = refused(format!("{}{extra}\r", adt()));
        assert!(matches!(e.kind(), ErrorKind::UnexpectedSegment { .. }), "{extra}: {e}");
        assert_eq!(e.location().map(|l| l.sequence), Some(5));
    }
}

#[test]
fn errors_never_carry_large_payloads() {
    let huge = format!("NOTHL7 {}", "X".repeat(1 << 20));
    let message = refused(&huge).to_string();
    assert!(message.len() < 200, "{}", message.len());
    assert!(!message.contains('\n') && !message.contains('\r'));
    let bad_name = format!("{MSH}\r{}", "y".repeat(1 << 20));
    assert!(refused(bad_name).to_string().len() < 200);
}

// ---------------------------------------------------------------- accepted

#[test]
fn accepts_sloppy_but_complete_messages() -> TestResult {
    let input = format!(
        "{MSH}\r\
         PID|1||X^^^^ZZ||DOE^JANE||20241399|Q|||||||||||||||||||||||||ZZZ\r\
         ZPI|local|stuff^with^components\r\
         OBX|1|XX|UNKNOWNCODE^^LOCAL||value||||||Q\r\
         NTE|1||trailing spaces   \r\
         ZZZ\r\
         \r\n  \r\n\n\n \t\n"
    );
    let m = ok(&input)?;
    assert_eq!(m.segment_count(), 6);
    assert_eq!(m.query("PID-7")?, Some("20241399"));
    assert_eq!(m.query("NTE-3")?, Some("trailing spaces   "));
    assert_eq!(m.segment("ZZZ").map(|s| s.field_count()), Some(0));
    assert!(m.warnings().is_empty(), "{:?}", m.warnings());
    Ok(())
}

#[test]
fn warns_about_blank_lines_inside_missing_version_and_bare_ack() -> TestResult {
    let m = ok(format!("{MSH}\r\rPID|1\n  \nPV1|1\r"))?;
    assert_eq!(m.warnings(), [Warning::BlankLines { count: 2 }]);
    assert_eq!(m.segment_count(), 3);

    let m = ok("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P\r")?;
    assert_eq!(m.warnings(), [Warning::MissingVersion]);

    let m = ok("MSH|^~\\&|A|B|C|D|2024||ACK|1|P|2.3\rMSA|AA|X\r")?;
    assert_eq!(m.warnings(), [Warning::AckWithoutTrigger]);
    assert_eq!(m.header().structure, "ACK");
    Ok(())
}

#[test]
fn bom_and_leading_whitespace() -> TestResult {
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), adt().as_bytes()].concat();
    assert_eq!(ok(&with_bom)?.text(), adt());
    assert_eq!(ok(format!("\r\n \n{}", adt()))?.text(), adt());
    Ok(())
}

#[test]
fn line_endings_do_not_change_content() -> TestResult {
    let cr = ok(adt())?;
    for ending in ["\n", "\r\n", "\r"] {
        let input = format!("{MSH}{ending}{}{ending}", BODY.replace('\r', ending));
        let m = ok(&input)?;
        assert_eq!(m.text(), cr.text(), "{ending:?}");
        assert!(m.warnings().is_empty(), "{ending:?}");
        // Without a final terminator too.
        assert_eq!(ok(input.trim_end())?.text(), cr.text());
    }
    let mixed = format!(
        "{MSH}\r\nEVN|A04|20240102030405\nPID|1||MRN123^^^HOSP^MR~ALT9^^^OTHER^PI||DOE^JANE^Q||19800101|F\rPV1|1|O"
    );
    assert_eq!(ok(mixed)?.text(), cr.text());
    Ok(())
}

#[test]
fn truncation_character_does_not_shift_fields() -> TestResult {
    let m = ok("MSH|^~\\&#|APP|FAC|RAPP|RFAC|20240101||ORU^R01^ORU_R01|C7|P|2.7\rOBX|1|ST|X||cut here\\P\\\r")?;
    assert_eq!(m.separators().truncation(), Some('#'));
    assert_eq!(m.query("MSH-2")?, Some("^~\\&#"));
    let h = m.header();
    assert_eq!(h.sending_application.namespace_id, "APP");
    assert_eq!(h.receiving_facility.namespace_id, "RFAC");
    assert_eq!((h.message_code.as_str(), h.control_id.as_str(), h.version.as_str()), ("ORU", "C7", "2.7"));
    let obx5 = m.segment("OBX").and_then(|s| s.field(5)).ok_or("no OBX-5")?;
    assert_eq!(obx5.unescaped(), "cut here#");
    Ok(())
}

#[test]
fn other_delimiters() -> TestResult {
    let m = ok("MSH!@*$%!APP!FAC!!!2024!!ADT@A01!C1!P!2.5\rPID!1!!A@B*C@D!!X%Y\r")?;
    assert_eq!(m.header().message_code, "ADT");
    assert_eq!(m.query("PID-3[2].2")?, Some("D"));
    assert_eq!(m.query("PID-5.1.2")?, Some("Y"));
    Ok(())
}

#[test]
fn decodes_declared_charsets() -> TestResult {
    let latin1 =
        [b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|8859/1\rPID|1||X||DUPR\xc9^REN\xe9E\r".as_slice()].concat();
    let m = ok(&latin1)?;
    assert_eq!(m.charset(), Charset::Latin1);
    assert_eq!(m.header().charset, "8859/1");
    assert_eq!(m.query("PID-5.2")?, Some("RENéE"));
    assert_eq!(m.query("PID-5.1")?, Some("DUPRÉ"));

    let latin9 = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|8859/15\rNTE|1||\xa4 5\r";
    assert_eq!(ok(latin9)?.query("NTE-3")?, Some("€ 5"));

    let utf8 = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|UNICODE UTF-8\rNTE|1||Zoë €\r";
    assert_eq!(ok(utf8)?.query("NTE-3")?, Some("Zoë €"));

    // Repetitions of MSH-18: the first one decides.
    let rep = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|8859/1~ISO IR87\rNTE|1||\xe9\r";
    assert_eq!(ok(rep)?.query("NTE-3")?, Some("é"));
    Ok(())
}

#[test]
fn charset_errors_and_fallbacks() -> TestResult {
    let bad_utf8 = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|UNICODE UTF-8\rEVN|A01\rPID|1||X||DOE\xe9\r";
    let e = refused(bad_utf8);
    assert_eq!(e.kind(), &ErrorKind::InvalidText { charset: Charset::Utf8 });
    assert_eq!(e.to_string(), "segment 3 (PID), field 5: text is not valid UNICODE UTF-8");

    // Empty MSH-18 with the default (UTF-8) refuses Latin-1 bytes; a configured default reads them.
    let latin_no_msh18 = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rNTE|1||\xe9\r";
    assert!(matches!(refused(latin_no_msh18).kind(), ErrorKind::InvalidText { .. }));
    let opts = ParseOptions { default_charset: Charset::Latin1, ..ParseOptions::default() };
    assert_eq!(parse(latin_no_msh18, &opts)?.query("NTE-3")?, Some("é"));

    // ASCII declared, other bytes sent: read as UTF-8 or Latin-1, with a warning.
    let ascii_utf8 = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|ASCII\rNTE|1||é\r";
    let m = ok(ascii_utf8)?;
    assert_eq!(m.warnings(), [Warning::CharsetMismatch { declared: Charset::Ascii, used: Charset::Utf8 }]);
    let ascii_latin = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|ASCII\rNTE|1||\xe9\r";
    let m = ok(ascii_latin)?;
    assert_eq!(m.query("NTE-3")?, Some("é"));
    assert_eq!(m.charset(), Charset::Latin1);

    let alias = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|utf-8\rNTE|1||é\r";
    assert_eq!(ok(alias)?.warnings(), [Warning::CharsetAlias { charset: Charset::Utf8 }]);

    let unknown = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||||FR|ISO IR87\r";
    let e = refused(unknown);
    assert_eq!(e.code(), ErrorCode::TableValueNotFound);
    assert_eq!(e.location().and_then(|l| l.field), Some(18));
    Ok(())
}

#[test]
fn large_fields_are_fine() -> TestResult {
    let payload: String = "QUJDRA==".repeat(2 * 1024 * 1024 / 8);
    let input = format!("{MSH}\rOBX|1|ED|PDF^Report||^application^pdf^Base64^{payload}||||||F\r");
    let m = ok(&input)?;
    let obx5 = m.segment("OBX").and_then(|s| s.field(5)).ok_or("no OBX-5")?;
    assert_eq!(obx5.component(5).map(|c| c.raw().len()), Some(payload.len()));
    Ok(())
}
