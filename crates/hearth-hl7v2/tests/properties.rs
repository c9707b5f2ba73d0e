//! Property tests: escapes round-trip, nothing panics on any input, line endings and blank
//! lines never change content, batches split back into what was joined.

use hearth_hl7v2::{
    AckContext, Header, Outcome, ParseOptions, Separators, accept_ack, escape, parse, peek_header, split_batch,
    unescape,
};
use proptest::prelude::*;

fn separator_sets() -> impl Strategy<Value = Separators> {
    prop_oneof![
        Just(Separators::default()),
        Just(Separators::new('|', '^', '~', '\\', '&', Some('#')).unwrap_or_default()),
        Just(Separators::new('!', '@', '*', '$', '%', None).unwrap_or_default()),
    ]
}

/// Text rich in delimiters, escapes, controls and non-ASCII, or anything at all.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[|^~&#!@*$%\\\\\r\n\t\x0b\x1c aZ9é€😀.XHNPZFSTRE]{0,64}",]
}

/// One line of segment content: a valid name and fields without delimiters that end lines.
fn segment_line() -> impl Strategy<Value = String> {
    ("[ACDEGH-LN-Z][A-Z0-9]{2}", proptest::collection::vec("[a-zA-Z0-9 ^~&\\\\é€#.-]{0,12}", 0..8)).prop_map(
        |(name, fields)| {
            let mut line = name;
            for f in fields {
                line.push('|');
                line.push_str(&f);
            }
            line
        },
    )
}

fn message(control_id: &str, body: &[String]) -> Vec<String> {
    let mut lines = vec![format!("MSH|^~\\&|APP|FAC|HUB|HFAC|20240101||ADT^A08|{control_id}|P|2.5.1")];
    lines.extend(body.iter().cloned());
    lines
}

fn terminator() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\r"), Just("\n"), Just("\r\n")]
}

/// Joins lines with random terminators and random blank or whitespace-only lines between.
fn sloppy_join(lines: &[String], ends: &[(&str, u8)]) -> String {
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let (end, blanks) = ends.get(i).copied().unwrap_or(("\r", 0));
        out.push_str(line);
        out.push_str(end);
        for b in 0..blanks {
            out.push_str(if b % 2 == 0 { "" } else { "  \t" });
            out.push_str(end);
        }
    }
    out
}

fn ctx() -> AckContext {
    AckContext::new("20240101000000", "ACK1")
}

/// Everything the fuzz target does, minus the fuzzer.
fn exercise(bytes: &[u8]) {
    let opts = ParseOptions::default();
    match parse(bytes, &opts) {
        Ok(m) => {
            let h = m.header();
            assert!(!h.control_id.is_empty() && !h.message_code.is_empty());
            assert!(m.text().ends_with('\r'));
            for seg in m.segments() {
                for f in seg.fields() {
                    let _ = f.unescaped();
                }
            }
            // Parsing is idempotent on its own (UTF-8) output.
            if m.charset() == hearth_hl7v2::Charset::Utf8 || m.text().is_ascii() {
                let again = parse(m.text().as_bytes(), &opts);
                assert_eq!(again.as_ref().map(|a| a.text()).ok(), Some(m.text()));
            }
            let ack = accept_ack(h, &Outcome::Accepted, &ctx());
            if let Some(ack) = ack {
                assert!(parse(ack.as_bytes(), &opts).is_ok(), "{ack:?}");
            }
        }
        Err(e) => {
            assert!(e.to_string().len() < 400);
            let peeked = peek_header(bytes);
            if let Some(ack) = accept_ack(peeked.as_ref(), &Outcome::for_parse_error(&e), &ctx()) {
                assert!(parse(ack.as_bytes(), &opts).is_ok(), "{ack:?}");
            }
            let _ = accept_ack(None::<&Header>, &Outcome::for_parse_error(&e), &ctx());
        }
    }
    if let Ok(batch) = split_batch(bytes) {
        for part in batch.message_bytes(bytes) {
            let _ = parse(part, &opts);
        }
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = unescape(text, &Separators::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn escape_then_unescape_is_identity(s in tricky_text(), seps in separator_sets()) {
        let escaped = escape(&s, &seps);
        prop_assert!(!escaped.contains(['\r', '\n']));
        prop_assert_eq!(unescape(&escaped, &seps), s.as_str());
    }

    #[test]
    fn unescape_never_panics(s in tricky_text(), seps in separator_sets()) {
        let _ = unescape(&s, &seps);
    }

    #[test]
    fn nothing_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&bytes);
        let mut prefixed = b"MSH|^~\\&|".to_vec();
        prefixed.extend_from_slice(&bytes);
        exercise(&prefixed);
    }

    #[test]
    fn nothing_panics_on_mutated_messages(
        body in proptest::collection::vec(segment_line(), 0..6),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..8),
    ) {
        let mut bytes = message("C1", &body).join("\r").into_bytes();
        for (at, op, byte) in edits {
            let i = at.index(bytes.len().max(1)).min(bytes.len());
            match op {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => { bytes.remove(i); }
                2 if i < bytes.len() => { if let Some(b) = bytes.get_mut(i) { *b = byte; } }
                _ => bytes.truncate(i),
            }
        }
        exercise(&bytes);
    }

    #[test]
    fn line_endings_and_blank_lines_never_change_segments(
        body in proptest::collection::vec(segment_line(), 0..10),
        ends in proptest::collection::vec((terminator(), 0u8..3), 11),
        bom in any::<bool>(),
    ) {
        let lines = message("C1", &body);
        let canonical = parse(lines.join("\r").as_bytes(), &ParseOptions::default());
        prop_assert!(canonical.is_ok(), "{:?}", canonical.err());
        let mut sloppy = sloppy_join(&lines, &ends);
        if bom {
            sloppy.insert(0, '\u{feff}');
        }
        let m = parse(sloppy.as_bytes(), &ParseOptions::default());
        prop_assert!(m.is_ok(), "{:?}", m.err());
        if let (Ok(m), Ok(c)) = (m, canonical) {
            prop_assert_eq!(m.text(), c.text());
            let raws: Vec<&str> = m.segments().map(|s| s.raw()).collect();
            prop_assert_eq!(raws, lines.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    #[test]
    fn concatenated_messages_split_back(
        bodies in proptest::collection::vec(proptest::collection::vec(segment_line(), 0..4), 1..6),
        ends in proptest::collection::vec((terminator(), 0u8..3), 6),
        batched in any::<bool>(),
    ) {
        let mut input = String::new();
        if batched {
            input.push_str("FHS|^~\\&|APP\rBHS|^~\\&|APP\r");
        }
        for (i, body) in bodies.iter().enumerate() {
            input.push_str(&sloppy_join(&message(&format!("C{i}"), body), &ends));
        }
        if batched {
            input.push_str(&format!("BTS|{}\rFTS|1\r", bodies.len()));
        }
        let batch = split_batch(input.as_bytes());
        prop_assert!(batch.is_ok(), "{:?}", batch.err());
        let Ok(batch) = batch else { return Ok(()) };
        prop_assert!(batch.warnings.is_empty(), "{:?}", batch.warnings);
        let ids: Vec<String> = batch
            .message_bytes(input.as_bytes())
            .filter_map(|b| parse(b, &ParseOptions::default()).ok())
            .map(|m| m.header().control_id.clone())
            .collect();
        let expected: Vec<String> = (0..bodies.len()).map(|i| format!("C{i}")).collect();
        prop_assert_eq!(ids, expected);
    }
}
