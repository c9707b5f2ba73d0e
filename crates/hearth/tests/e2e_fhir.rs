//! End to end to a real FHIR R4 server (`HEARTH_TEST_FHIR_URL`, started by scripts/test.sh): the `hearth` binary
//! with an MLLP channel, a CSV inbox and a Twilio webhook channel in, a `fhir` destination out. Every assertion
//! about the server is a search on the server itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{BIN, Engine};
use hearth_store::DeliveryStatus;
use hmac::{Hmac, Mac};
use serde_json::Value;

const T: Duration = Duration::from_secs(120);
const BASE: &str = "https://hearth.example.org";
const TWILIO_TOKEN: &str = "test-auth-token-not-secret";
const API_TOKEN: &str = "e2e-fhir-admin-token-0123456789";
/// The assigning authority of the synthetic MRNs (HL7 v2 `&2.16.840.1.113883.19.5&ISO`), which the CSV profile
/// `fixtures/csv/charges/own_export.toml` also uses: the two feeds meet on it.
const MRN_SYSTEM: &str = "urn:oid:2.16.840.1.113883.19.5";

/// One synthetic patient's identifiers, unique per run (the test server outlives a run).
struct Patient {
    mrn: String,
    /// Digits only, for order numbers and call ids.
    n: String,
}

impl Patient {
    fn new() -> Patient {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let n = format!("{:012}", nanos % 1_000_000_000_000);
        Patient { mrn: format!("MRN{n}"), n }
    }

    fn adt(&self, control_id: &str, family: &str) -> Vec<u8> {
        format!(
            "MSH|^~\\&|SYNTHEHR|SYNTHHOSP|HEARTH|HUB|20260101120000||ADT^A01^ADT_A01|{control_id}|P|2.5.1\r\
             EVN|A01|20260101120000\r\
             PID|1||{mrn}^^^&{oid}&ISO^MR||{family}^JANE^Q||19800214|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||^PRN^PH^^^217^5550100\r\
             PV1|1|I|WARD1^101^A||||1234^SMITH^ANNA^^^DR||||||||||||V{n}^^^&2.16.840.1.113883.19.6&ISO^VN\r",
            mrn = self.mrn,
            oid = &MRN_SYSTEM[8..],
            n = self.n,
        )
        .into_bytes()
    }

    fn oru(&self, control_id: &str) -> Vec<u8> {
        format!(
            "MSH|^~\\&|LABSYS|NORTHLAB|HEARTH|HUB|20260101130000||ORU^R01^ORU_R01|{control_id}|P|2.5.1\r\
             PID|1||{mrn}^^^&{oid}&ISO^MR||DOE^JANE^Q||19800214|F\r\
             PV1|1|I|WARD1^101^A||||1234^SMITH^ANNA^^^DR||||||||||||V{n}^^^&2.16.840.1.113883.19.6&ISO^VN\r\
             ORC|RE|PL{n}^ORDERSYS|FL{n}^LABSYS||CM\r\
             OBR|1|PL{n}^ORDERSYS|FL{n}^LABSYS|24331-1^Lipid panel^LN|||20260101083000\r\
             OBX|1|NM|2093-3^Cholesterol [Mass/volume] in Serum or Plasma^LN||212|mg/dL^mg/dL^UCUM|<200|H|||F\r\
             OBX|2|NM|2085-9^HDL Cholesterol^LN||48|mg/dL^mg/dL^UCUM|40-60|N|||F\r",
            mrn = self.mrn,
            oid = &MRN_SYSTEM[8..],
            n = self.n,
        )
        .into_bytes()
    }

    /// A charge export in the `own-export` layout: two charges.
    fn charges(&self) -> Vec<u8> {
        format!(
            "Charge ID,MRN,Date of Service,CPT,Modifiers,Description,Qty,Charge\n\
             CH{n}-1,{mrn},1/1/2026,99223,,Initial hospital care,1,310.00\n\
             CH{n}-2,{mrn},1/1/2026,80061,,Lipid panel,1,45.00\n",
            mrn = self.mrn,
            n = self.n,
        )
        .into_bytes()
    }

    /// A completed outbound Twilio call to the patient's phone (the patient index links it by number).
    fn call(&self) -> Vec<u8> {
        format!(
            "AccountSid=AC0000000000000000000000000000000a&ApiVersion=2010-04-01&CallSid=CA{n:0>32}&\
             CallStatus=completed&Direction=outbound-api&From=%2B15555550199&To=%2B12175550100&CallDuration=240&\
             Timestamp=Thu%2C+01+Jan+2026+15%3A30%3A00+%2B0000",
            n = self.n
        )
        .into_bytes()
    }
}

/// Channels (the MLLP channel `adt` comes from `Engine::start`), routes and the FHIR destination.
fn config(dir: &Path, fhir_url: &str, inbox: &Path, extra_destination: &str) -> String {
    config_with(dir, fhir_url, inbox, extra_destination, "bundle")
}

fn config_with(dir: &Path, fhir_url: &str, inbox: &Path, extra_destination: &str, payload: &str) -> String {
    let twilio = dir.join("twilio-token");
    std::fs::write(&twilio, format!("{TWILIO_TOKEN}\n")).unwrap();
    let profile = common::repo().join("fixtures/csv/charges/own_export.toml");
    format!(
        "[channels.billing]\ntype = \"file\"\ninbox = \"{inbox}\"\nprofile = \"{profile}\"\npoll_ms = 50\nsettle_ms = 200\n\
         [channels.voice]\ntype = \"webhook\"\nprofile = \"twilio-voice\"\nauth = \"twilio-signature\"\n\
         secret_file = \"{twilio}\"\npublic_base_url = \"{BASE}\"\n\
         [routing]\ndefault_route = false\n\
         [routes.ehr]\ndestinations = [\"ehr\"]\npayload = \"{payload}\"\nordered = true\n\
         [destinations.ehr]\ntype = \"fhir\"\nbase_url = \"{fhir_url}\"\nrequest_timeout_ms = 20000\n\
         retry_initial_ms = 200\nretry_max_ms = 2000\nmax_attempts = 50\n{extra_destination}\n",
        inbox = inbox.display(),
        profile = profile.display(),
        twilio = twilio.display(),
    )
}

fn post_call(engine: &Engine, body: &[u8]) -> u16 {
    let path = "/webhooks/voice";
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    mac.update(format!("{BASE}{path}").as_bytes());
    for (k, v) in pairs {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    let sig = B64.encode(mac.finalize().into_bytes());
    let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", sig.as_str())];
    hearth_testkit::http::post(&engine.http, path, &headers, body).status
}

fn drop_file(inbox: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(inbox).unwrap();
    let tmp = inbox.join(format!(".{name}.partial"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, inbox.join(name)).unwrap();
}

/// Waits until the inbox has journaled the file (it moves a file to `done/` after its last chunk is journaled).
/// The file settles for `settle_ms` first, so without this wait an outbox can look drained before the file is in.
async fn journaled(inbox: &Path, name: &str) {
    let deadline = Instant::now() + T;
    while !inbox.join("done").join(name).exists() {
        assert!(Instant::now() < deadline, "the inbox did not take {name} within {T:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The FHIR server, read directly.
struct Server {
    addr: String,
    prefix: String,
}

impl Server {
    fn new(url: &str) -> Server {
        let rest = url.split_once("://").unwrap().1;
        let (addr, prefix) = rest.split_once('/').unwrap();
        Server { addr: addr.to_owned(), prefix: format!("/{prefix}") }
    }

    fn get(&self, path: &str) -> Value {
        let headers = [("accept", "application/fhir+json")];
        let r = hearth_testkit::http::request("GET", &self.addr, &format!("{}/{path}", self.prefix), &headers, vec![])
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json()
    }

    /// Every resource a search finds (one page of up to 500).
    fn search(&self, query: &str) -> Vec<Value> {
        let sep = if query.contains('?') { '&' } else { '?' };
        let b = self.get(&format!("{query}{sep}_count=500"));
        b["entry"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect()
    }

    /// The one Patient with this MRN: its id.
    fn patient_id(&self, mrn: &str) -> String {
        let found = self.search(&format!("Patient?identifier={MRN_SYSTEM}|{mrn}"));
        assert_eq!(found.len(), 1, "exactly one Patient with {mrn}: {found:?}");
        found[0]["id"].as_str().unwrap().to_owned()
    }

    /// Resources per type whose subject is the Patient.
    fn counts(&self, pid: &str) -> Vec<(&'static str, usize)> {
        ["Encounter", "Observation", "ChargeItem", "Communication", "DiagnosticReport", "ServiceRequest"]
            .into_iter()
            .map(|t| (t, self.search(&format!("{t}?subject=Patient/{pid}")).len()))
            .collect()
    }
}

fn hearth(config: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("messages").arg("--config").arg(config).args(args).output().unwrap();
    assert!(out.status.success(), "hearth messages {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until the destination's outbox has nothing pending and at least `sent` deliveries sent.
async fn drained(engine: &Engine, sent: usize) -> Vec<hearth_store::DeliveryRecord> {
    let journal = engine.journal().await;
    let deadline = Instant::now() + T;
    let filter = hearth_store::DeliveryFilter { destination: Some("ehr".into()), ..Default::default() };
    loop {
        let all = common::all_deliveries(&journal, &filter).await;
        let pending = all.iter().filter(|d| d.status == DeliveryStatus::Pending).count();
        let n = all.iter().filter(|d| d.status == DeliveryStatus::Sent).count();
        let unprocessed = journal.count_by_status(None).await.unwrap()[&hearth_core::MessageStatus::Received];
        if pending == 0 && unprocessed == 0 && n >= sent {
            journal.close().await;
            return all;
        }
        assert!(Instant::now() < deadline, "outbox not drained: {pending} pending, {n} sent: {all:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until a delivery of `message` was sent again after `t0` (a reprocess or a resend went through).
async fn sent_again(engine: &Engine, message: i64, t0: time::OffsetDateTime) {
    let journal = engine.journal().await;
    let filter = hearth_store::DeliveryFilter { message_id: Some(message), ..Default::default() };
    let deadline = Instant::now() + T;
    loop {
        let all = common::all_deliveries(&journal, &filter).await;
        if all.iter().any(|d| d.status == DeliveryStatus::Sent && d.sent_at.is_some_and(|s| s > t0)) {
            journal.close().await;
            return;
        }
        assert!(Instant::now() < deadline, "message {message} was not delivered again: {all:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_feeds_for_one_patient_land_as_one_patient_and_repeats_change_nothing() {
    let Some(url) = hearth_testkit::fhir_server("fhir_cross_feed") else { return };
    cross_feed(&url, "bundle").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_feeds_as_single_resources_land_as_one_patient_and_repeats_change_nothing() {
    let Some(url) = hearth_testkit::fhir_server("fhir_cross_feed_resources") else { return };
    cross_feed(&url, "resources").await;
}

/// ADT^A01 and ORU^R01 over MLLP, a charges CSV into the inbox and a Twilio call for one patient, then all of
/// it again (new control ids and file name, the same call retried), a reprocess and a resend.
async fn cross_feed(url: &str, payload: &str) {
    let server = Server::new(url);
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let mut engine = Engine::start(dir.path(), "", &config_with(dir.path(), url, &inbox, "", payload));
    let p = Patient::new();

    // The ADT first: the patient index learns the phone number the call will come from.
    let acks = common::mllp_send(&engine.mllp, &[p.adt(&format!("A{}", p.n), "DOE")]);
    assert!(acks[0].contains("MSA|AA"), "{acks:?}");
    drained(&engine, 1).await;
    common::mllp_send(&engine.mllp, &[p.oru(&format!("O{}", p.n))]);
    drop_file(&inbox, "charges.csv", &p.charges());
    assert_eq!(post_call(&engine, &p.call()), 200);
    journaled(&inbox, "charges.csv").await;
    let first = drained(&engine, 5).await;
    assert!(first.iter().all(|d| d.status == DeliveryStatus::Sent), "{first:?}");

    let pid = server.patient_id(&p.mrn);
    let counts = server.counts(&pid);
    let want: &[(&str, usize)] = &[
        ("Encounter", 2), // the admission (the lab results name the same visit) and the call
        ("Observation", 2),
        ("ChargeItem", 2),
        ("Communication", 1),
        ("DiagnosticReport", 1),
        ("ServiceRequest", 1),
    ];
    assert_eq!(counts, want, "every resource of every feed points at Patient/{pid}");
    // And each one found by its own identifier points at that Patient (not at another copy of it).
    let charge = server.search(&format!("ChargeItem?identifier=https://clinic.example/charge|CH{}-1", p.n));
    assert_eq!(charge[0]["subject"]["reference"], format!("Patient/{pid}"));
    let call = server.search(&format!("Communication?identifier=urn:hearth:webhooks:twilio-voice|CA{:0>32}", p.n));
    assert_eq!(call[0]["recipient"][0]["reference"], format!("Patient/{pid}"), "{call:?}");
    let call_encounter = call[0]["encounter"]["reference"].as_str().unwrap();
    assert_eq!(server.get(call_encounter)["class"]["code"], "VR", "the call's Encounter resolves");
    let version = server.get(&format!("Patient/{pid}"))["meta"]["versionId"].clone();

    // The same again: re-sent by the senders under new control ids and file names, the same call retried,
    // one message reprocessed, one delivery resent.
    common::mllp_send(&engine.mllp, &[p.adt(&format!("A{}-again", p.n), "DOE"), p.oru(&format!("O{}-again", p.n))]);
    drop_file(&inbox, "charges-again.csv", &p.charges());
    assert_eq!(post_call(&engine, &p.call()), 200);
    journaled(&inbox, "charges-again.csv").await;
    let second = drained(&engine, 7).await;
    let adt_message = second.iter().map(|d| d.message_id).min().unwrap();
    let resent = second.iter().filter(|d| d.message_id != adt_message).map(|d| (d.id, d.message_id)).max().unwrap();
    let t0 = time::OffsetDateTime::now_utc();
    hearth(&engine.config, &["reprocess", &adt_message.to_string()]);
    hearth(&engine.config, &["resend", "--delivery", &resent.0.to_string()]);
    for message in [adt_message, resent.1] {
        sent_again(&engine, message, t0).await;
    }
    let third = drained(&engine, 7).await;
    assert!(third.iter().all(|d| d.status == DeliveryStatus::Sent), "{third:?}");

    assert_eq!(server.patient_id(&p.mrn), pid, "still one Patient, the same");
    assert_eq!(server.counts(&pid), want, "nothing created twice");
    let after = server.get(&format!("Patient/{pid}"))["meta"]["versionId"].clone();
    eprintln!("Patient version before the repeats {version}, after {after} (the test server versions every update)");
    assert!(engine.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delivery_is_dead_at_once_with_the_outcome_in_the_cli_and_api_and_others_flow() {
    let Some(url) = hearth_testkit::fhir_server("fhir_refused") else { return };
    let server = Server::new(&url);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("api-token");
    std::fs::write(&token_file, format!("{API_TOKEN}\n")).unwrap();
    let admin = format!(
        "[admin]\ntokens = [{{ name = \"e2e\", role = \"admin\", token_file = \"{}\" }}]\n",
        token_file.display()
    );
    let mut engine = Engine::start(dir.path(), "", &config(dir.path(), &url, &dir.path().join("inbox"), &admin));
    let (bad, good) = (Patient::new(), Patient::new());
    // The server already holds two records for `bad`'s MRN (a duplicate on the EHR's side): the conditional
    // update by identifier matches both, which FHIR answers with 412 and an OperationOutcome.
    for _ in 0..2 {
        let body =
            format!(r#"{{"resourceType":"Patient","identifier":[{{"system":"{MRN_SYSTEM}","value":"{}"}}]}}"#, bad.mrn);
        let headers = [("content-type", "application/fhir+json")];
        let r = hearth_testkit::http::request(
            "POST",
            &server.addr,
            &format!("{}/Patient", server.prefix),
            &headers,
            body.into_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let acks = common::mllp_send(
        &engine.mllp,
        &[bad.adt(&format!("B{}", bad.n), "DOE"), good.adt(&format!("G{}", good.n), "ROE")],
    );
    assert!(acks.iter().all(|a| a.contains("MSA|AA")), "{acks:?}");
    let all = drained(&engine, 1).await;
    let dead: Vec<_> = all.iter().filter(|d| d.status == DeliveryStatus::Dead).collect();
    assert_eq!(dead.len(), 1, "{all:?}");
    assert_eq!(dead[0].attempts, 1, "dead at the first attempt");
    assert!(!server.patient_id(&good.mrn).is_empty());
    assert_eq!(server.search(&format!("Patient?identifier={MRN_SYSTEM}|{}", bad.mrn)).len(), 2, "nothing added");

    let listed = hearth(&engine.config, &["deliveries", "--status", "dead"]);
    assert!(listed.contains("OperationOutcome") && listed.contains("HTTP 412"), "{listed}");
    let auth = format!("Bearer {API_TOKEN}");
    let api = |path: &str| {
        hearth_testkit::http::request("GET", &engine.http, path, &[("authorization", &auth)], Vec::new())
            .unwrap()
            .json()
    };
    let message = api(&format!("/api/v1/messages/{}", dead[0].message_id));
    let failure = message["deliveries"][0]["failures"][0]["error"].as_str().unwrap_or_default().to_owned();
    assert!(failure.contains("\"OperationOutcome\""), "{message}");
    let dest = &api("/api/v1/destinations")["destinations"][0];
    assert_eq!((dest["name"].as_str(), dest["connected"].as_bool()), (Some("ehr"), Some(true)), "{dest}");
    assert!(engine.terminate().success());
}

/// A FHIR server of this test's own (scripts/fhir-server.sh on its own port and data directory), which the test
/// can kill and start again on the same port and data.
struct OwnServer {
    url: String,
    dir: String,
    restarted: Option<std::process::Child>,
}

impl OwnServer {
    fn start() -> OwnServer {
        let script = common::repo().join("scripts/fhir-server.sh");
        let out = Command::new(&script).arg("start").output().unwrap();
        assert!(out.status.success(), "fhir-server.sh start: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let var = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(&format!("export {name}="))).unwrap().trim().to_owned()
        };
        OwnServer { url: var("HEARTH_TEST_FHIR_URL"), dir: var("HEARTH_FHIR_SERVER_DIR"), restarted: None }
    }

    /// SIGKILL to the server's process group: no chance to finish anything.
    fn kill9(&mut self) {
        if let Some(mut c) = self.restarted.take() {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::SIGKILL);
            let _ = c.wait();
            return;
        }
        if let Some(pid) = std::fs::read_to_string(format!("{}/pid", self.dir)).ok().and_then(|p| p.trim().parse().ok())
        {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }

    /// The same server again: same settings, port and data directory.
    fn restart(&mut self) {
        use std::os::unix::process::CommandExt;
        let venv = std::env::var("HEARTH_FHIR_VENV")
            .map_or_else(|_| common::repo().join(".cache/fhir-server/venv"), std::path::PathBuf::from);
        let log = std::fs::File::create(format!("{}/server-restarted.log", self.dir)).unwrap();
        let child = Command::new(venv.join("bin/sekmet"))
            .args(["serve", "-c", &format!("{}/settings.yaml", self.dir)])
            .current_dir(&self.dir)
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.restarted = Some(child);
        let server = Server::new(&self.url);
        let deadline = Instant::now() + Duration::from_secs(60);
        while hearth_testkit::http::get(&server.addr, &format!("{}/metadata", server.prefix))
            .is_none_or(|r| r.status != 200)
        {
            assert!(Instant::now() < deadline, "the restarted FHIR server did not answer");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill9();
        let _ = Command::new(common::repo().join("scripts/fhir-server.sh")).args(["stop", &self.dir]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_and_restarted_loses_nothing_and_doubles_nothing() {
    // The shared server's presence says the server can run here; this test kills one of its own.
    if hearth_testkit::fhir_server("fhir_server_killed").is_none() {
        return;
    }
    let mut own = OwnServer::start();
    let server = Server::new(&own.url);
    let dir = tempfile::tempdir().unwrap();
    let required = "required = true\n";
    let mut engine = Engine::start(dir.path(), "", &config(dir.path(), &own.url, &dir.path().join("inbox"), required));
    const N: usize = 12;
    let patients: Vec<Patient> = (0..N)
        .map(|_| {
            std::thread::sleep(Duration::from_micros(5));
            Patient::new()
        })
        .collect();
    let messages: Vec<Vec<u8>> = patients.iter().map(|p| p.adt(&format!("K{}", p.n), "DOE")).collect();
    let acks = common::mllp_send(&engine.mllp, &messages);
    assert!(acks.iter().all(|a| a.contains("MSA|AA")), "{acks:?}");

    // Kill the server as soon as the first delivery is through (the others are in flight or waiting).
    let journal = engine.journal().await;
    let filter = hearth_store::DeliveryFilter {
        destination: Some("ehr".into()),
        status: Some(DeliveryStatus::Sent),
        ..Default::default()
    };
    let deadline = Instant::now() + T;
    while common::all_deliveries(&journal, &filter).await.is_empty() {
        assert!(Instant::now() < deadline, "nothing delivered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    own.kill9();
    let at_kill = common::all_deliveries(&journal, &filter).await.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = common::all_deliveries(&journal, &hearth_store::DeliveryFilter::default()).await;
    assert!(during.iter().all(|d| d.status != DeliveryStatus::Dead), "nothing dead while the server is away");
    // The probe found the server gone: a required destination makes /readyz fail, with the reason.
    let (code, body) = common::http_get(&engine.http, "/readyz").unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("ehr") && body.contains("disconnected"), "{body}");
    own.restart();
    journal.close().await;

    let all = drained(&engine, N).await;
    assert_eq!(all.len(), N, "one delivery per message");
    assert!(all.iter().all(|d| d.status == DeliveryStatus::Sent), "{all:?}");
    eprintln!("{at_kill} of {N} delivered before the kill");
    for p in &patients {
        let pid = server.patient_id(&p.mrn);
        assert_eq!(server.search(&format!("Encounter?subject=Patient/{pid}")).len(), 1, "one Encounter for {}", p.mrn);
    }
    assert!(engine.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_with_retry_after_behind_a_bearer_token_the_wait_is_honoured() {
    let Some(url) = hearth_testkit::fhir_server("fhir_retry_after_bearer") else { return };
    use hearth_testkit::fhir_proxy::{Mode, Proxy};
    const TOKEN: &str = "static-test-bearer-not-secret";
    let proxy = Proxy::start(&url, Mode::Throttle { writes: 2, retry_after_secs: 3 }, Some(TOKEN.into())).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("fhir-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let auth = format!("auth = {{ type = \"bearer\", token_file = \"{}\" }}\n", token_file.display());
    // The backoff is 200 ms to 2 s: only Retry-After explains waits of 3 s.
    let mut engine = Engine::start(dir.path(), "", &config(dir.path(), &proxy.base, &dir.path().join("inbox"), &auth));
    let p = Patient::new();
    common::mllp_send(&engine.mllp, &[p.adt(&format!("R{}", p.n), "DOE")]);
    let all = drained(&engine, 1).await;
    assert_eq!((all.len(), all[0].status, all[0].attempts), (1, DeliveryStatus::Sent, 3), "{all:?}");
    let writes = proxy.writes();
    assert_eq!(writes.len(), 3, "two throttled writes, then the one that went through");
    for w in writes.windows(2) {
        assert!(w[1] - w[0] >= Duration::from_millis(2950), "Retry-After: 3 not honoured: {:?}", w[1] - w[0]);
    }
    assert_eq!(proxy.refused_tokens(), 0, "every request carried the bearer token");
    let journal = engine.journal().await;
    let failures = journal.delivery_failures(all[0].id).await.unwrap();
    assert_eq!(failures.len(), 2);
    assert!(failures.iter().all(|(_, _, e)| e.contains("HTTP 429")), "{failures:?}");
    journal.close().await;
    Server::new(&url).patient_id(&p.mrn);
    assert!(engine.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_makes_the_destination_unauthorized_with_an_alert_and_no_dead_letters() {
    let Some(url) = hearth_testkit::fhir_server("fhir_unauthorized") else { return };
    use hearth_testkit::fhir_proxy::{Mode, Proxy};
    let proxy = Proxy::start(&url, Mode::Forward, Some("the-token-the-server-expects".into())).await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    };
    let (fhir_token, api_token) = (write("fhir-token", "a-revoked-token"), write("api-token", API_TOKEN));
    let extra = format!(
        "auth = {{ type = \"bearer\", token_file = \"{fhir_token}\" }}\n\
         [admin]\ntokens = [{{ name = \"e2e\", role = \"admin\", token_file = \"{api_token}\" }}]\n\
         [alerts]\ninterval_ms = 200\n[alerts.destinations.ehr]\ndisconnected_ms = 500\n"
    );
    let mut engine = Engine::start(dir.path(), "", &config(dir.path(), &proxy.base, &dir.path().join("inbox"), &extra));
    let p = Patient::new();
    common::mllp_send(&engine.mllp, &[p.adt(&format!("U{}", p.n), "DOE")]);
    let auth = format!("Bearer {API_TOKEN}");
    let api = |path: &str| {
        hearth_testkit::http::request("GET", &engine.http, path, &[("authorization", &auth)], Vec::new())
            .unwrap()
            .json()
    };
    let deadline = Instant::now() + T;
    let alert = loop {
        let alerts = api("/api/v1/alerts");
        let found = alerts["active"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["kind"] == "disconnected" && x["subject"] == "ehr").cloned());
        if let Some(a) = found {
            break a;
        }
        assert!(Instant::now() < deadline, "no disconnected alert for ehr: {alerts}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(alert.to_string().contains("unauthorized"), "{alert}");
    let dest = &api("/api/v1/destinations")["destinations"][0];
    assert_eq!(dest["connected"], false, "{dest}");
    assert!(dest["state"].as_str().unwrap().starts_with("unauthorized"), "{dest}");
    // Not one attempt spent, nothing dead: refused credentials are not the content's fault.
    let journal = engine.journal().await;
    let deadline = Instant::now() + T;
    while common::all_deliveries(&journal, &hearth_store::DeliveryFilter::default()).await.is_empty() {
        assert!(Instant::now() < deadline, "the message was never routed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give the sink time to (wrongly) try it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let all = common::all_deliveries(&journal, &hearth_store::DeliveryFilter::default()).await;
    journal.close().await;
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].status, all[0].attempts), (DeliveryStatus::Pending, 0), "{all:?}");
    assert!(proxy.refused_tokens() > 0);
    assert!(engine.terminate().success());
}
