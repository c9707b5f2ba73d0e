#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure with its message
//! End-to-end conversion: an ADT sent over MLLP to the real binary is journaled, acknowledged, then converted by
//! the processing stage; the journal keeps the FHIR Bundle and the conversion report with the message.

mod common;

use std::time::Duration;

use common::*;
use hearth_core::MessageStatus;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adt_over_mllp_is_stored_as_a_fhir_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", "[channels.adt.mapping]\nbundle_type = \"transaction\"\n");
    let acks = mllp_send(&engine.mllp, &[adt("CONV-1")]);
    assert!(acks[0].contains("|AA|") || acks[0].contains("|CA|"), "{}", acks[0]);

    let journal = engine.journal().await;
    let m = wait_for_message(&journal, "CONV-1", T, |m| m.summary.status != MessageStatus::Received).await;
    assert_eq!(m.summary.status, MessageStatus::Processed, "reason: {:?}", m.summary.reason);
    let bundle: serde_json::Value = serde_json::from_str(m.bundle.as_deref().unwrap()).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "transaction");
    let types: Vec<&str> =
        bundle["entry"].as_array().unwrap().iter().filter_map(|e| e["resource"]["resourceType"].as_str()).collect();
    assert!(types.contains(&"Patient"), "{types:?}");
    hearth_fhir::validate_bundle(&bundle).unwrap();
    if let Ok(schema) = hearth_fhir::schema::R4Schema::shared() {
        schema.validate(&bundle).unwrap();
    }
    let report: serde_json::Value = serde_json::from_str(m.report.as_deref().unwrap()).unwrap();
    assert!(report["mapping"].as_str().is_some_and(|s| s.starts_with("hearth-hl7v2-fhir-r4")), "{report}");

    // An unsupported structure is kept as `error` with its reason, not lost and not an empty Bundle.
    let odd = b"MSH|^~\\&|A|B|C|D|20260101120000||ZZZ^Z99^ZZZ_Z99|CONV-2|P|2.5.1\rZZZ|1\r".to_vec();
    let acks = mllp_send(&engine.mllp, &[odd]);
    assert!(acks[0].contains("|AA|") || acks[0].contains("|CA|"), "{}", acks[0]);
    let m = wait_for_message(&journal, "CONV-2", T, |m| m.summary.status != MessageStatus::Received).await;
    assert_eq!(m.summary.status, MessageStatus::Error);
    assert!(m.summary.reason.as_deref().unwrap_or("").contains("unsupported"), "{:?}", m.summary.reason);
    assert_eq!(m.bundle, None);
    journal.close().await;
    assert!(engine.terminate().success());
}

/// Messages journaled while no stage ran (received, never converted) are converted after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_is_converted_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", "");
    assert!(engine.terminate().success());
    // Journal three messages directly, as a crashed engine would have left them.
    let journal = engine.journal().await;
    for id in ["BACK-1", "BACK-2", "BACK-3"] {
        let raw = adt(id);
        let env = hearth_core::Envelope {
            channel: "adt".into(),
            kind: hearth_core::PayloadKind::Hl7v2,
            received_at: time::OffsetDateTime::now_utc(),
            raw,
            status: MessageStatus::Received,
            reason: None,
            dedup_key: Some(format!("TESTEHR|NORTH|{id}")),
            meta: hearth_core::MessageMeta { control_id: Some(id.into()), ..Default::default() },
            trace_id: hearth_core::trace::TraceId::random(),
        };
        journal.append(env).await.unwrap();
    }
    journal.close().await;

    engine.restart();
    let journal = engine.journal().await;
    for id in ["BACK-1", "BACK-2", "BACK-3"] {
        let m = wait_for_message(&journal, id, T, |m| m.summary.status != MessageStatus::Received).await;
        assert_eq!(m.summary.status, MessageStatus::Processed, "{id}: {:?}", m.summary.reason);
        assert!(m.bundle.is_some());
    }
    journal.close().await;
    assert!(engine.terminate().success());
}

/// SIGTERM right after a burst: the stage drains what it can within the shutdown timeout, nothing is lost, and
/// what it did not reach is converted after the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_and_restart_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start(dir.path(), "", "");
    let ids: Vec<String> = (0..20).map(|i| format!("DRAIN-{i}")).collect();
    let msgs: Vec<Vec<u8>> = ids.iter().map(|id| adt(id)).collect();
    let acks = mllp_send(&engine.mllp, &msgs);
    assert!(acks.iter().all(|a| a.contains("|AA|") || a.contains("|CA|")), "{acks:?}");
    assert!(engine.terminate().success());

    let journal = engine.journal().await;
    let counts = journal.count_by_status(None).await.unwrap();
    let processed = counts[&MessageStatus::Processed];
    assert_eq!(processed + counts[&MessageStatus::Received], 20, "{counts:?}");
    journal.close().await;

    engine.restart();
    let journal = engine.journal().await;
    for id in &ids {
        let m = wait_for_message(&journal, id, T, |m| m.summary.status != MessageStatus::Received).await;
        assert_eq!(m.summary.status, MessageStatus::Processed, "{id}: {:?}", m.summary.reason);
    }
    journal.close().await;
    assert!(engine.terminate().success());
}

/// Item 1 of issue 16: a channel without `facility_timezone` reads times sent without an offset in the host's
/// zone (`TZ`), as `hearth convert` does; the admission time (PV1-44) keeps its time and gets that zone's offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_without_offset_are_read_in_the_hosts_zone() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::start_env(dir.path(), "", "", &[("TZ", "America/Chicago")]);
    let msg = b"MSH|^~\\&|TESTEHR|NORTH|HEARTH|HOSP|20260115083000||ADT^A01^ADT_A01|TZ-1|P|2.5.1\r\
        EVN|A01|20260115083000\r\
        PID|1||MRNTZ1^^^NORTH^MR||DOE^JANE||19800214|F\r\
        PV1|1|I|WARD1^101^A||||||||||||||||V-TZ-1|||||||||||||||||||||||||20260115083000\r"
        .to_vec();
    let acks = mllp_send(&engine.mllp, &[msg]);
    assert!(acks[0].contains("|AA|") || acks[0].contains("|CA|"), "{}", acks[0]);
    let journal = engine.journal().await;
    let m = wait_for_message(&journal, "TZ-1", T, |m| m.summary.status != MessageStatus::Received).await;
    assert!(
        matches!(m.summary.status, MessageStatus::Processed | MessageStatus::Filtered),
        "{:?}: {:?}",
        m.summary.status,
        m.summary.reason
    );
    let bundle: serde_json::Value = serde_json::from_str(m.bundle.as_deref().unwrap()).unwrap();
    let encounter = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "Encounter")
        .unwrap_or_else(|| panic!("no Encounter in {bundle}"));
    // January in Chicago is CST, six hours behind UTC; without the host's zone the time would be read as UTC.
    assert_eq!(encounter["period"]["start"], "2026-01-15T08:30:00-06:00", "{encounter}");
    let report = m.report.as_deref().unwrap();
    assert!(!report.contains("no facility time zone"), "{report}");
    journal.close().await;
    assert!(engine.terminate().success());
}

/// The messages of `channel` in the journal, oldest first, with their content.
async fn channel_messages(journal: &hearth_store::Journal, channel: &str) -> Vec<hearth_store::StoredMessage> {
    let filter = hearth_store::MessageFilter { channel: Some(channel.to_owned()), ..Default::default() };
    let mut out = Vec::new();
    for s in journal.list(&filter, None, 100).await.unwrap() {
        out.push(journal.get(s.id).await.unwrap().unwrap());
    }
    out
}

/// Item 11 of issue 16: an MLLP channel refuses a message with an empty MSH-10 by default (NAK naming the field,
/// kept as rejected with its reason); a channel with `require_control_id = false` acknowledges it, and the
/// processing stage converts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_control_id_is_refused_by_default_and_accepted_where_configured() {
    let dir = tempfile::tempdir().unwrap();
    let lenient_port = free_port();
    let lenient = format!(
        "\n[channels.lenient]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{lenient_port}\"\nrequire_control_id = false\n"
    );
    let mut engine = Engine::start(dir.path(), "", &lenient);
    let no_id = b"MSH|^~\\&|TESTEHR|NORTH|HEARTH|HOSP|20260101120000||ADT^A01^ADT_A01||P|2.5.1\r\
        EVN|A01|20260101120000\r\
        PID|1||MRNNOID^^^NORTH^MR||DOE^JANE||19800214|F\r\
        PV1|1|I|WARD1^101^A\r"
        .to_vec();

    let acks = mllp_send(&engine.mllp, std::slice::from_ref(&no_id));
    assert!(acks[0].contains("|AR|") || acks[0].contains("|AE|"), "default channel must refuse: {}", acks[0]);
    assert!(acks[0].contains("MSH-10"), "the NAK names the field: {}", acks[0]);

    let acks = mllp_send(&format!("127.0.0.1:{lenient_port}"), &[no_id]);
    assert!(acks[0].contains("|AA|"), "require_control_id = false must accept: {}", acks[0]);

    let journal = engine.journal().await;
    let refused = channel_messages(&journal, "adt").await;
    assert_eq!(refused.len(), 1, "the refused message is kept");
    assert_eq!(refused[0].summary.status, MessageStatus::Rejected);
    let reason = refused[0].summary.reason.as_deref().unwrap_or("");
    assert!(reason.contains("MSH-10"), "{reason}");

    let deadline = std::time::Instant::now() + T;
    let converted = loop {
        let got = channel_messages(&journal, "lenient").await;
        if let Some(m) = got.first().filter(|m| m.summary.status != MessageStatus::Received) {
            break m.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the lenient channel's message was not converted: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        matches!(converted.summary.status, MessageStatus::Processed | MessageStatus::Filtered),
        "{:?}: {:?}",
        converted.summary.status,
        converted.summary.reason
    );
    let bundle: serde_json::Value = serde_json::from_str(converted.bundle.as_deref().unwrap()).unwrap();
    assert!(bundle.to_string().contains("MRNNOID"), "{bundle}");
    journal.close().await;
    assert!(engine.terminate().success());
}
