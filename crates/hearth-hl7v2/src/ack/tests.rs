//! Unit tests of `ack`.

use super::*;
use crate::{ErrorKind, ParseOptions, parse, peek_header};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn ctx() -> AckContext {
    AckContext::new("20240102030406", "ACK-9")
}

fn header(extra_msh: &str) -> Result<Header, Hl7Error> {
    let text = format!(
        "MSH|^~\\&|LABAPP|LAB^1.2.3^ISO|HEARTHIN|HOSP|20240102030405||ORU^R01^ORU_R01|C\\F\\42|T|2.4{extra_msh}\rPID|1\r"
    );
    Ok(parse(text.as_bytes(), &ParseOptions::default())?.header().clone())
}

fn not_stored() -> AckError {
    AckError::new(ErrorCode::ApplicationInternalError, "journal unavailable")
}

#[test]
fn original_mode_accept() -> TestResult {
    let h = header("")?;
    let ack = accept_ack(&h, &Outcome::Accepted, &ctx()).ok_or("no ack")?;
    assert_eq!(
        ack,
        "MSH|^~\\&|HEARTHIN|HOSP|LABAPP|LAB^1.2.3^ISO|20240102030406||ACK^R01^ACK|ACK-9|T|2.4\r\
         MSA|AA|C\\F\\42\r"
    );
    // The ACK is itself a valid message that echoes the control id.
    let parsed = parse(ack.as_bytes(), &ParseOptions::default())?;
    assert_eq!(parsed.header().message_code, "ACK");
    assert_eq!(parsed.query("MSA-2")?.map(|v| parsed.unescape(v).into_owned()), Some("C|42".into()));
    Ok(())
}

#[test]
fn original_mode_errors_carry_err() -> TestResult {
    let h = header("")?;
    let e =
        AckError::new(ErrorCode::RequiredFieldMissing, "PID-3 is empty").at(Location::segment("PID", 2).with_field(3));
    let ack = accept_ack(&h, &Outcome::Error(e), &ctx()).ok_or("no ack")?;
    let lines: Vec<&str> = ack.split('\r').collect();
    assert_eq!(lines.get(1).copied(), Some("MSA|AE|C\\F\\42|PID-3 is empty"));
    assert_eq!(lines.get(2).copied(), Some("ERR||PID^2^3|101^Required field missing^HL70357|E||||PID-3 is empty"));
    let ack = accept_ack(&h, &Outcome::Error(not_stored()), &ctx()).ok_or("no ack")?;
    assert!(ack.contains("\rMSA|AE|C\\F\\42|journal unavailable\rERR|||207^Application internal error^HL70357|E||||journal unavailable\r"), "{ack}");
    let version = AckError::new(ErrorCode::UnsupportedVersionId, "version 2.4 is not supported")
        .at(Location::segment("MSH", 1).with_field(12));
    let ack = accept_ack(&h, &Outcome::Rejected(version), &ctx()).ok_or("no ack")?;
    assert!(
        ack.contains(
            "\rMSA|AR|C\\F\\42|version 2.4 is not supported\rERR||MSH^1^12|203^Unsupported version id^HL70357|E||||"
        ),
        "{ack}"
    );
    Ok(())
}

#[test]
fn respond_always_answers_and_msh15_policy_falls_back_to_msh16() -> TestResult {
    let error = Outcome::Error(not_stored());
    let code = |extra: &str, outcome: &Outcome, policy| -> Result<Option<&'static str>, Hl7Error> {
        let h = header(extra)?;
        Ok(respond(&h, outcome, &ctx(), policy).map(|(c, _)| c.as_str()))
    };
    assert_eq!(code("", &Outcome::Accepted, AckPolicy::Always)?, Some("AA"));
    assert_eq!(code("|||NE|NE", &Outcome::Accepted, AckPolicy::Always)?, Some("CA"));
    assert_eq!(code("|||NE|NE", &error, AckPolicy::Always)?, Some("CE"));
    assert_eq!(code("|||NE|NE", &Outcome::Accepted, AckPolicy::Msh15)?, None);
    assert_eq!(code("|||NE|AL", &Outcome::Accepted, AckPolicy::Msh15)?, Some("AA"));
    assert_eq!(code("|||NE|ER", &Outcome::Accepted, AckPolicy::Msh15)?, None);
    assert_eq!(code("|||NE|ER", &error, AckPolicy::Msh15)?, Some("AE"));
    assert_eq!(code("|||AL|NE", &Outcome::Accepted, AckPolicy::Msh15)?, Some("CA"));
    assert_eq!(code("|||ER|AL", &Outcome::Accepted, AckPolicy::Msh15)?, Some("AA"));
    assert_eq!(code("", &error, AckPolicy::Msh15)?, Some("AE"));
    let h = header("|||NE|AL")?;
    let (_, text) = respond(&h, &Outcome::Accepted, &ctx(), AckPolicy::Msh15).ok_or("no ack")?;
    assert!(text.contains("\rMSA|AA|C\\F\\42\r"), "{text}");
    Ok(())
}

#[test]
fn enhanced_mode_follows_msh15() -> TestResult {
    let error = Outcome::Error(not_stored());
    let cases = [
        ("|||AL", Some("CA"), Some("CE")),
        ("|||NE|AL", None, None),
        ("|||ER", None, Some("CE")),
        ("|||SU", Some("CA"), None),
        ("||||AL", Some("CA"), Some("CE")),
        ("|||XX", Some("CA"), Some("CE")),
    ];
    for (extra, on_success, on_error) in cases {
        let h = header(extra)?;
        let code = |o: &Outcome| {
            accept_ack(&h, o, &ctx()).and_then(|a| a.split('\r').nth(1).and_then(|l| l.get(4..6)).map(str::to_owned))
        };
        assert_eq!(code(&Outcome::Accepted).as_deref(), on_success, "{extra}");
        assert_eq!(code(&error).as_deref(), on_error, "{extra}");
    }
    let h = header("|||ER")?;
    let rejected = Outcome::Rejected(AckError::new(ErrorCode::UnsupportedMessageType, "ORU not routed"));
    let ack = accept_ack(&h, &rejected, &ctx()).ok_or("no ack")?;
    assert!(ack.contains("\rMSA|CR|"), "{ack}");
    Ok(())
}

#[test]
fn garbage_gets_a_default_header() -> TestResult {
    let e = match parse(b"{\"not\":\"hl7\"}", &ParseOptions::default()) {
        Err(e) => e,
        Ok(_) => return Err("parsed garbage".into()),
    };
    let outcome = Outcome::for_parse_error(&e);
    assert!(matches!(outcome, Outcome::Rejected(_)));
    let ack = accept_ack(None::<&Header>, &outcome, &ctx()).ok_or("no ack")?;
    assert!(
        ack.starts_with("MSH|^~\\&|HEARTH||||20240102030406||ACK^^ACK|ACK-9|P|2.5.1\rMSA|AR||not an HL7 v2 message"),
        "{ack}"
    );
    assert!(ack.contains("found \"{\"not\":\"hl7\"}\""), "{ack}");
    assert!(ack.contains("\rERR||^1|100^Segment sequence error^HL70357|E||||"), "{ack}");
    assert!(parse(ack.as_bytes(), &ParseOptions::default()).is_ok());
    Ok(())
}

#[test]
fn nak_for_refused_input_echoes_what_can_be_peeked() -> TestResult {
    let input = b"MSH|^~\\&|LABAPP|LAB|||20240101||ADT^A01|CTRL77|P|2.5|||NE|AL\rEVN|A01\rpid|1\r";
    let e = match parse(input, &ParseOptions::default()) {
        Err(e) => e,
        Ok(_) => return Err("accepted".into()),
    };
    assert!(matches!(e.kind(), ErrorKind::InvalidSegmentName { .. }));
    let outcome = Outcome::for_parse_error(&e);
    assert!(matches!(outcome, Outcome::Error(_)));
    let peeked = peek_header(input);
    let mut ctx = ctx();
    ctx.facility = Hd::named("HUB");
    // MSH-15 NE: no accept ACK at all, even for an error.
    assert_eq!(accept_ack(peeked.as_ref(), &outcome, &ctx), None);
    let input = b"MSH|^~\\&|LABAPP|LAB|||20240101||ADT^A01|CTRL77|P|2.5\rEVN|A01\rpid|1\r";
    let ack = accept_ack(peek_header(input).as_ref(), &outcome, &ctx).ok_or("no ack")?;
    assert_eq!(
        ack,
        "MSH|^~\\&|HEARTH|HUB|LABAPP|LAB|20240102030406||ACK^A01^ACK|ACK-9|P|2.5\r\
         MSA|AE|CTRL77|invalid segment name \"pid|1\" (expected [A-Z][A-Z0-9][A-Z0-9] then the field sepa\r\
         ERR||^3|100^Segment sequence error^HL70357|E||||invalid segment name \"pid\\F\\1\" (expected [A-Z][A-Z0-9][A-Z0-9] then the field separator)\r"
            .replace("\"pid|1\"", "\"pid\\F\\1\"")
    );
    Ok(())
}

#[test]
fn echoes_charset_and_escapes_everything() -> TestResult {
    let h = header("||||||8859/1")?;
    let mut c = ctx();
    c.control_id = "A|B".into();
    let ack = accept_ack(&h, &Outcome::Accepted, &c).ok_or("no ack")?;
    assert!(
        ack.starts_with(
            "MSH|^~\\&|HEARTHIN|HOSP|LABAPP|LAB^1.2.3^ISO|20240102030406||ACK^R01^ACK|A\\F\\B|T|2.4||||||8859/1\r"
        ),
        "{ack}"
    );
    let long = AckError::new(ErrorCode::DataType, "x".repeat(1000));
    let ack = accept_ack(&h, &Outcome::Error(long), &c).ok_or("no ack")?;
    assert!(ack.len() < 700, "{}", ack.len());
    Ok(())
}
