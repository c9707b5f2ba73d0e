//! Golden tests over the synthetic fixtures in `fixtures/webhooks/`: `<profile>__<case>_<link>.<form|json>` maps
//! to `<same name>.expected.json` (bundle and report) with a fixed clock. `BLESS=1` rewrites the expected files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{NOW, assert_valid};
use hearth_webhooks::{
    Candidate, Event, FollowUp, Lookup, MapConfig, Parsed, PatientLink, Profile, Request, link_from, map, parse,
};
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/webhooks")
}

/// The index's answer for a fixture: `_linked` finds the synthetic Patient (through the event's identifier when
/// it carries one, else its phone number), `_unknown` nothing, `_ambiguous` two Patients.
fn link_for_event(name: &str, event: &Event) -> PatientLink {
    if name.ends_with("_linked") && event.patient.is_some() {
        let found = Candidate {
            patient_id: "p-synthetic-42".into(),
            identifier_system: Some("urn:oid:2.16.840.1.113883.19.5".into()),
            identifier_value: Some("MRN-0042".into()),
            family: Some("SYNTHETIC".into()),
            birth_date: Some("1980-02-14".into()),
        };
        return link_from(event.lookup(), &[found]);
    }
    link_for(name)
}

fn link_for(name: &str) -> PatientLink {
    if name.ends_with("_linked") {
        PatientLink::Linked {
            id: "p-synthetic-1".into(),
            identifier_system: Some("urn:oid:2.16.840.1.113883.19.5".into()),
            identifier_value: "MRN-0001".into(),
        }
    } else if name.ends_with("_ambiguous") {
        PatientLink::Ambiguous { candidates: 2 }
    } else {
        assert!(name.ends_with("_unknown"), "{name}: the name must end in _linked, _unknown or _ambiguous");
        PatientLink::Unknown
    }
}

fn event_of(path: &Path) -> Event {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    let profile = Profile::builtin(stem.split("__").next().unwrap()).unwrap();
    let body = std::fs::read(path).unwrap();
    let req = Request { public_url: "https://h/x", headers: &[], content_type: None, body: &body, now: NOW };
    match parse(&profile, &req).unwrap_or_else(|e| panic!("{stem}: {e}")) {
        Parsed::Event(e) => *e,
        Parsed::Ignored(i) => panic!("{stem}: ignored: {}", i.reason),
    }
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".form") || (n.ends_with(".json") && !n.ends_with(".expected.json"))
        })
        .collect();
    v.sort();
    v
}

fn cfg() -> MapConfig {
    MapConfig { care_team_owner: Some("CareTeam/care-team-outreach".into()), ..MapConfig::default() }
}

#[test]
fn golden_bundles() {
    let cases = cases();
    assert!(cases.len() >= 10, "fixtures missing: {cases:?}");
    let bless = std::env::var("BLESS").as_deref() == Ok("1");
    let mut failures = Vec::new();
    for path in &cases {
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let event = event_of(path);
        let out = map(&event, &link_for_event(stem, &event), &cfg(), NOW);
        assert_valid(stem, &out.bundle);
        let got = json!({ "bundle": out.bundle, "report": out.report });
        let expected_path = path.with_file_name(format!("{stem}.expected.json"));
        if bless {
            std::fs::write(&expected_path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", expected_path.display())),
        )
        .unwrap();
        if expected != got {
            failures.push(format!("{stem}: differs from {}\n{got:#}", expected_path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn resource<'a>(bundle: &'a Value, rtype: &str) -> Option<&'a Value> {
    bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).find(|r| r["resourceType"] == rtype)
}

#[test]
fn follow_ups_become_tasks_for_the_care_team() {
    let want = [
        ("twilio-voice__missed_call_linked.form", Some(FollowUp::MissedCall), false),
        ("twilio-voice__voicemail_unknown.form", Some(FollowUp::Voicemail), false),
        ("twilio-voice__callback_request_linked.form", Some(FollowUp::CallbackRequested), true),
        ("twilio-voice__completed_outbound_linked.form", None, true),
        ("amazon-connect__abandoned_unknown.json", Some(FollowUp::Abandoned), false),
        ("amazon-connect__callback_queued_linked.json", Some(FollowUp::CallbackRequested), false),
        ("generic__callback_requested_linked.json", Some(FollowUp::CallbackRequested), false),
        ("genesys__eventbridge_customer_end_unknown.json", None, true),
        ("twilio-sms__incoming_unknown.form", None, false),
    ];
    for (file, follow_up, encounter) in want {
        let path = fixtures_dir().join(file);
        let ev = event_of(&path);
        assert_eq!(ev.follow_up, follow_up, "{file}");
        let link = link_for(path.file_stem().unwrap().to_str().unwrap());
        let b = map(&ev, &link, &cfg(), NOW).bundle;
        assert_eq!(resource(&b, "Encounter").is_some(), encounter, "{file}");
        let task = resource(&b, "Task");
        assert_eq!(task.map(|t| t["code"]["coding"][0]["code"].clone()), follow_up.map(|f| json!(f.code())), "{file}");
        if let Some(t) = task {
            assert_eq!(t["owner"]["reference"], "CareTeam/care-team-outreach");
            assert_eq!(t["for"].is_object(), matches!(link, PatientLink::Linked { .. }), "{file}");
        }
    }
}

#[test]
fn linked_references_the_patient_and_unlinked_never_guesses() {
    let ev = event_of(&fixtures_dir().join("twilio-voice__missed_call_linked.form"));
    assert_eq!(ev.customer_number(), Some("+15555550101"));
    let linked = map(&ev, &link_for("x_linked"), &cfg(), NOW);
    let comm = resource(&linked.bundle, "Communication").unwrap();
    assert_eq!(comm["subject"]["reference"], "Patient/p-synthetic-1");
    assert_eq!(comm["subject"]["identifier"]["value"], "MRN-0001");
    assert_eq!(comm["status"], "not-done");
    assert_eq!(linked.report["patient"], "linked");
    for (link, flag) in [(PatientLink::Unknown, "unknown"), (PatientLink::Ambiguous { candidates: 3 }, "ambiguous")] {
        let out = map(&ev, &link, &cfg(), NOW);
        let text = out.bundle.to_string();
        assert!(!text.contains("Patient/"), "{flag}: no patient reference at all");
        assert_eq!(out.report["patient"], flag);
        assert!(!out.report.to_string().contains("5555550101"), "the report carries no phone number");
    }
}

#[test]
fn retried_and_later_events_reuse_ids() {
    let path = fixtures_dir().join("twilio-voice__missed_call_linked.form");
    let ev = event_of(&path);
    let a = map(&ev, &PatientLink::Unknown, &cfg(), NOW);
    let b = map(&ev, &PatientLink::Unknown, &cfg(), NOW);
    assert_eq!(a, b, "a retried event maps to the same Bundle");
    // The next status of the same call updates the same Communication; its event key differs (not a duplicate).
    let mut later = ev.clone();
    later.status = "completed".into();
    later.event_key = format!("{}/completed", later.contact_id);
    let c = map(&later, &PatientLink::Unknown, &cfg(), NOW);
    assert_eq!(a.bundle["entry"][0]["resource"]["id"], c.bundle["entry"][0]["resource"]["id"]);
    assert_ne!(a.bundle["id"], c.bundle["id"]);
    // Tasks are created only if absent: a retry never reopens a closed Task.
    let task = a.bundle["entry"].as_array().unwrap().iter().find(|e| e["resource"]["resourceType"] == "Task").unwrap();
    assert_eq!(task["request"]["method"], "POST");
    assert!(
        task["request"]["ifNoneExist"].as_str().unwrap().starts_with("identifier=urn:hearth:webhooks:twilio-voice|")
    );
}

#[test]
fn instants_stop_at_milliseconds_and_task_owners_are_r4_types() {
    let ev = event_of(&fixtures_dir().join("twilio-voice__missed_call_linked.form"));
    // A clock gives nanoseconds; strict FHIR readers refuse more than milliseconds.
    let now = time::macros::datetime!(2025-03-05 10:20:30.123456789 UTC);
    let out = map(&ev, &PatientLink::Unknown, &cfg(), now);
    assert_eq!(out.bundle["timestamp"], "2025-03-05T10:20:30.123Z");
    assert_eq!(resource(&out.bundle, "Task").unwrap()["authoredOn"], "2025-03-05T10:20:30.123Z");
    assert_eq!(hearth_webhooks::fhir_time(time::macros::datetime!(2025-03-05 10:20:30 UTC)), "2025-03-05T10:20:30Z");
    // R4 Task.owner cannot be a Group: no owner, and the report says why.
    let group = MapConfig { care_team_owner: Some("Group/outreach".into()), ..MapConfig::default() };
    let out = map(&ev, &PatientLink::Unknown, &group, NOW);
    assert!(resource(&out.bundle, "Task").unwrap().get("owner").is_none());
    assert!(out.report["warnings"].to_string().contains("care_team_owner"), "{}", out.report);
    assert!(hearth_webhooks::task_owner_allowed("CareTeam/outreach"));
    assert!(!hearth_webhooks::task_owner_allowed("Group/outreach"));
}

#[test]
fn an_event_carrying_an_mrn_links_by_identifier_not_by_phone() {
    let path = fixtures_dir().join("generic__call_ended_mrn_linked.json");
    let ev = event_of(&path);
    let p = ev.patient.clone().expect("the generic profile reads patient.mrn");
    assert_eq!(p.system.as_deref(), Some("urn:oid:2.16.840.1.113883.19.5"));
    assert_eq!(p.value, "MRN-0042");
    // The index is asked for the identifier, not the phone number the event also carries.
    assert!(matches!(ev.lookup(), Lookup::Identifier(_)));
    let out = map(&ev, &link_for_event("x_linked", &ev), &cfg(), NOW);
    assert_eq!(out.report["patient"], "linked");
    assert_eq!(out.report["linked_by"], "identifier");
    let comm = resource(&out.bundle, "Communication").unwrap();
    assert_eq!(comm["subject"]["reference"], "Patient/p-synthetic-42");
    assert_eq!(comm["subject"]["identifier"]["value"], "MRN-0042");
    // A birth date that contradicts the Patient's refuses the link.
    let mut wrong = ev.clone();
    if let Some(p) = wrong.patient.as_mut() {
        p.birth_date = Some("1999-01-01".into());
    }
    let out = map(&wrong, &link_for_event("x_linked", &wrong), &cfg(), NOW);
    assert_eq!(out.report["patient"], "mismatch");
    assert!(!out.bundle.to_string().contains("Patient/"));
    // Phone-linked events say so.
    let phone = event_of(&fixtures_dir().join("generic__callback_requested_linked.json"));
    assert!(phone.patient.is_none());
    assert_eq!(map(&phone, &link_for("x_linked"), &cfg(), NOW).report["linked_by"], "phone");
}
