//! The seeded-PHI log scan: names, MRNs, phone numbers and note text that are unique marker strings go through
//! MLLP over mutual TLS, an HTTPS upload, an HTTPS webhook and out to RabbitMQ, with refused handshakes, a
//! plaintext sender on the TLS port, bad messages and a broker outage (a relay in front of RabbitMQ cut while
//! marked messages wait in the outbox) mixed in, at `HEARTH_LOG=debug`; no marker may appear in any log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::free_port;
use hearth_core::MessageStatus;
use hearth_mllp::MllpCodec;
use hearth_testkit::unique_name;
use hearth_tls::testing::TestCa;
use hearth_tls::{ClientSettings, ClientTls};
use tokio_util::codec::Framed;

const MARKERS: [&str; 8] =
    ["Zqxfamily", "Zqxgiven", "ZQXMRN4711", "5550199731", "Zqxnote", "Zqxstreet", "ZQXBADMRN", "Zqxwebhook"];
const RELAY_SECRET: &str = "synthetic-relay-secret-phi";

fn marked(control_id: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|LAB|NORTH|HEARTH|HOSP|20260101120000||ADT^A01^ADT_A01|{control_id}|P|2.5.1\r\
         EVN|A01|20260101120000\r\
         PID|1||ZQXMRN4711^^^NORTH^MR||Zqxfamily^Zqxgiven||19800214|F|||1 Zqxstreet^^SPRINGFIELD^IL^62701||^PRN^PH^^^555^0199731\r\
         PV1|1|I|WARD1^101^A\r\
         NTE|1||Zqxnote: patient prefers mornings\r"
    )
    .into_bytes()
}

/// Bad input carrying markers: a PID whose date of birth is not a date, and a message that is not HL7 at all.
fn bad(control_id: &str) -> Vec<Vec<u8>> {
    vec![
        format!(
            "MSH|^~\\&|LAB|NORTH|HEARTH|HOSP|20260101120000||ADT^A01^ADT_A01|{control_id}|P|2.5.1\r\
             PID|1||ZQXBADMRN^^^NORTH^MR||Zqxfamily^Zqxgiven||not-a-date|F\r"
        )
        .into_bytes(),
        b"Zqxfamily Zqxgiven ZQXBADMRN 5550199731 Zqxnote".to_vec(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_seeded_marker_reaches_the_log_at_debug() {
    let Some(amqp) = hearth_testkit::amqp("no_seeded_marker_reaches_the_log_at_debug") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("Hearth PHI-scan CA");
    let ca_file = ca.write(d, "ca");
    let (cert, key) = ca.server(&["localhost", "127.0.0.1"]).write(d, "server");
    let (lab_cert, lab_key) = ca.client("lab-feed", &[]).write(d, "lab");
    let (other_cert, other_key) = ca.client("not-allowed", &[]).write(d, "other");
    std::fs::write(d.join("relay"), RELAY_SECRET).unwrap();
    let (http_port, mllp_port) = (free_port(), free_port());
    let (exchange, queue) = (unique_name("hearth-phi-x"), unique_name("hearth-phi-q"));
    // The destination reaches RabbitMQ through a relay the test can cut: an outage for this engine only.
    let authority = amqp.split_once("://").map_or("", |(_, rest)| rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let authority = authority.split('/').next().unwrap_or(authority).to_owned();
    let relay = hearth_testkit::tcp_relay::Relay::start(&authority).await;
    let relayed = amqp.replacen(&authority, &relay.addr.to_string(), 1);
    let tls = format!("cert_file = \"{}\", key_file = \"{}\"", cert.display(), key.display());
    let config = d.join("hearth.toml");
    std::fs::write(
        &config,
        format!(
            "[journal]\ntype = \"sqlite\"\npath = \"{db}\"\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\ntls = {{ {tls} }}\n\
             [channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:{mllp_port}\"\n\
             tls = {{ {tls}, client_ca_file = \"{ca}\", allowed_subjects = [\"lab-feed\"] }}\n\
             [channels.upload]\ntype = \"http\"\npayload = \"hl7v2\"\n\
             [channels.connect]\ntype = \"webhook\"\nprofile = \"amazon-connect\"\nauth = \"shared-secret-header\"\n\
             header = \"X-Relay-Secret\"\nsecret_file = \"{relay}\"\n\
             [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{relayed}\"\nexchange = \"{exchange}\"\n\
             [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n",
            db = d.join("hearth.db").display(),
            ca = ca_file.display(),
            relay = d.join("relay").display(),
        ),
    )
    .unwrap();
    let log = d.join("hearth.log");
    let mut engine = common::spawn_logged(
        &config,
        &log,
        "debug",
        format!("127.0.0.1:{mllp_port}"),
        String::new(),
        d.join("hearth.db"),
    );
    let base = format!("https://localhost:{http_port}");
    let https = reqwest::Client::builder()
        .tls_backend_preconfigured(
            hearth_tls::client_config(&ClientSettings { ca_file: Some(ca_file.clone()), ..ClientSettings::default() })
                .unwrap(),
        )
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !https.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "hearth did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // MLLP over mutual TLS: good and bad messages from the allowed client.
    let lab = ClientTls::new(&ClientSettings {
        ca_file: Some(ca_file.clone()),
        cert_file: Some(lab_cert),
        key_file: Some(lab_key),
        ..ClientSettings::default()
    })
    .unwrap();
    let stream = lab.connect(&engine.mllp, Duration::from_secs(5)).await.unwrap();
    let mut framed = Framed::new(stream, MllpCodec::new(1 << 20));
    let mut codes = Vec::new();
    for m in [marked("PHI-1"), marked("PHI-2")].into_iter().chain(bad("PHI-BAD")) {
        let ack = hearth_mllp::send_and_receive(&mut framed, m).await.unwrap();
        codes.push(hearth_sources::mllp::AckSummary::parse(&ack).code);
    }
    assert_eq!(&codes[..2], ["AA", "AA"]);
    // The bad date is accepted at the door and refused by the conversion; the non-HL7 bytes are refused at once.
    assert_ne!(codes[3], "AA", "{codes:?}");

    // Refused: a client certificate whose subject is not allowed, and a plaintext sender on the TLS port.
    let other = ClientTls::new(&ClientSettings {
        ca_file: Some(ca_file.clone()),
        cert_file: Some(other_cert),
        key_file: Some(other_key),
        ..ClientSettings::default()
    })
    .unwrap();
    if let Ok(s) = other.connect(&engine.mllp, Duration::from_secs(5)).await {
        let mut f = Framed::new(s, MllpCodec::new(1 << 20));
        assert!(hearth_mllp::send_and_receive(&mut f, marked("PHI-REFUSED")).await.is_err());
    }
    let plain_addr = engine.mllp.clone();
    let plain = tokio::task::spawn_blocking(move || {
        hearth_testkit::mllp::Client::connect(&plain_addr, Duration::from_secs(3)).unwrap().send(&marked("PHI-PLAIN"))
    })
    .await
    .unwrap();
    assert!(plain.is_err());

    // HTTPS upload: one good HL7 v2 message and one bad.
    for (body, ok) in [(marked("PHI-UP-1"), true), (bad("PHI-UP-BAD").remove(1), false)] {
        let r = https.post(format!("{base}/ingest/upload")).body(body).send().await.unwrap();
        assert_eq!(r.status().is_success(), ok, "{}", r.text().await.unwrap());
    }

    // HTTPS webhook with a marker as the caller's number, and one that is not JSON.
    let event =
        std::fs::read_to_string(common::fixtures().join("../webhooks/amazon-connect__callback_queued_linked.json"))
            .unwrap()
            .replace("+15555550101", "+15550199731");
    for (body, ok) in [(event, true), ("{\"Zqxwebhook\": \"Zqxfamily\"".to_owned(), false)] {
        let r = https
            .post(format!("{base}/webhooks/connect"))
            .header("content-type", "application/json")
            .header("X-Relay-Secret", RELAY_SECRET)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().is_success(), ok, "{}", r.text().await.unwrap());
    }

    // Let the stage convert and the sink publish (both log at debug): four messages (two over MLLP, the upload,
    // the webhook) reach the broker.
    let journal = engine.journal().await;
    common::wait_outbox_drained(&journal, "fhir", 4, Duration::from_secs(60)).await;
    let processed = journal.count_by_status(None).await.unwrap();
    assert!(processed.get(&MessageStatus::Processed).copied().unwrap_or(0) >= 4, "{processed:?}");

    // The broker goes away while two more marked messages arrive: they are ACKed (journaled), wait in the
    // outbox while the sink fails to reconnect (and logs it), and go out when the broker is back.
    relay.cut();
    for id in ["PHI-OUTAGE-1", "PHI-OUTAGE-2"] {
        let ack = hearth_mllp::send_and_receive(&mut framed, marked(id)).await.unwrap();
        assert_eq!(hearth_sources::mllp::AckSummary::parse(&ack).code, "AA", "{id}");
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let filter = hearth_store::DeliveryFilter {
        destination: Some("fhir".into()),
        status: Some(hearth_store::DeliveryStatus::Pending),
        ..Default::default()
    };
    assert!(!common::all_deliveries(&journal, &filter).await.is_empty(), "nothing waited during the outage");
    relay.restore();
    common::wait_outbox_drained(&journal, "fhir", 6, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().filter(|l| l.contains("DEBUG")).count() > 5, "the log is at debug:\n{text}");
    assert!(text.contains("TLS client certificate refused"), "{text}");
    assert!(text.contains("amqp link down; reconnecting"), "the outage is in the log:\n{text}");
    let lower = text.to_lowercase();
    for m in MARKERS {
        assert!(!lower.contains(&m.to_lowercase()), "marker {m} in the log:\n{text}");
    }
}
