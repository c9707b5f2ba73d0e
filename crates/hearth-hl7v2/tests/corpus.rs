//! The shared corpus of real-world-shaped samples: every one must parse, and on every one our
//! splitter must agree with `hl7-parser` (which is right on well-formed, CR-separated input).

mod common;

use hearth_hl7v2::{ParseOptions, parse, split_batch};

#[test]
fn every_corpus_sample_parses_with_control_id_and_type() {
    let Some(samples) = common::hl7v2_samples_or_skip("every_corpus_sample_parses") else { return };
    assert!(!samples.is_empty(), "no .hl7 files in {}", common::hl7v2_samples_dir().display());
    let mut failures = Vec::new();
    for (name, bytes) in &samples {
        match parse(bytes, &ParseOptions::default()) {
            Ok(m) => {
                let h = m.header();
                assert!(!h.control_id.is_empty(), "{name}: no control id");
                assert!(!h.message_code.is_empty() && !h.trigger_event.is_empty(), "{name}: no type");
                assert!(!h.structure.is_empty(), "{name}: no structure");
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} refused:\n{}", failures.len(), samples.len(), failures.join("\n"));
    eprintln!("{} corpus samples parsed", samples.len());
}

#[test]
fn every_corpus_sample_is_one_message_for_split_batch() {
    let Some(samples) = common::hl7v2_samples_or_skip("split_batch_corpus") else { return };
    for (name, bytes) in &samples {
        let batch = split_batch(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(batch.messages.len(), 1, "{name}");
    }
}

#[test]
fn splitter_agrees_with_hl7_parser_on_the_corpus() {
    let Some(samples) = common::hl7v2_samples_or_skip("differential_corpus") else { return };
    for (name, bytes) in &samples {
        let Ok(ours) = parse(bytes, &ParseOptions::default()) else { panic!("{name}: refused") };
        // Our normalised text is CR-separated without blank lines: hl7-parser's happy path.
        let theirs = hl7_parser::Message::parse(ours.text()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(theirs.segments.len(), ours.segment_count(), "{name}: segment count");
        for (seg, other) in ours.segments().zip(&theirs.segments) {
            assert_eq!(seg.name(), other.name, "{name}");
            let fields: Vec<&str> = seg.fields().map(|f| f.raw()).collect();
            let expected: Vec<&str> = other.fields.iter().map(|f| f.raw_value()).collect();
            assert_eq!(fields, expected, "{name}: segment {}", seg.sequence());
            for (n, field) in seg.fields().enumerate().skip(2) {
                let reps: Vec<&str> = field.repetitions().map(|r| r.raw()).collect();
                let expected: Vec<&str> =
                    other.fields.get(n).map(|f| f.repeats.iter().map(|r| r.raw_value()).collect()).unwrap_or_default();
                assert_eq!(reps, expected, "{name}: {}-{}", seg.name(), n + 1);
            }
        }
    }
}
