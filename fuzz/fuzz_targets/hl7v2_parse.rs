//! Everything hearth-hl7v2 does with outside bytes: parse, split_batch, unescape, peek_header,
//! and the ACK for whatever came out. Any panic is a bug.

#![no_main]

use hearth_hl7v2::{
    AckContext, Header, Outcome, ParseOptions, Separators, accept_ack, parse, peek_header, split_batch, unescape,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ParseOptions { max_fields_per_segment: 1_000, max_segments: 1_000, ..ParseOptions::default() };
    let ctx = AckContext::new("20240101000000", "FUZZ");
    match parse(data, &opts) {
        Ok(msg) => {
            for segment in msg.segments() {
                for field in segment.fields() {
                    for rep in field.repetitions() {
                        for comp in rep.components() {
                            let _ = comp.subcomponent(2).map(|s| s.unescaped());
                            let _ = comp.unescaped();
                        }
                    }
                }
            }
            let _ = msg.query("PID-3[1].1");
            let ack = accept_ack(msg.header(), &Outcome::Accepted, &ctx);
            if let Some(ack) = ack {
                assert!(parse(ack.as_bytes(), &ParseOptions::default()).is_ok(), "unparsable ACK");
            }
        }
        Err(e) => {
            let outcome = Outcome::for_parse_error(&e);
            let peeked = peek_header(data);
            if let Some(ack) = accept_ack(peeked.as_ref(), &outcome, &ctx) {
                assert!(parse(ack.as_bytes(), &ParseOptions::default()).is_ok(), "unparsable NAK");
            }
            let _ = accept_ack(None::<&Header>, &outcome, &ctx);
            let _ = e.to_string();
        }
    }
    if let Ok(batch) = split_batch(data) {
        for part in batch.message_bytes(data) {
            let _ = parse(part, &opts);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = unescape(&text, &Separators::default());
    if let Ok(v27) = Separators::new('|', '^', '~', '\\', '&', Some('#')) {
        let _ = unescape(&text, &v27);
    }
});
