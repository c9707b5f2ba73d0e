//! End to end against the real RabbitMQ: HL7 v2 in over MLLP, FHIR out on bound queues, with the contract's
//! properties; a poison destination; the discharge → follow-up Task example; the AMQP source; the CLI.
//! The broker-restart and SIGKILL runs are in `e2e_amqp_faults.rs` (they run alone: they disturb the broker).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::{BIN, Engine, adt, mllp_send};
use hearth_core::MessageStatus;
use hearth_store::{DeliveryFilter, DeliveryStatus};
use hearth_testkit::unique_name;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mllp_to_rabbitmq_delivers_every_resource_with_the_contract_properties() {
    let Some(uri) = hearth_testkit::amqp("mllp_to_rabbitmq") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-e2e-x"), unique_name("hearth-e2e-q"));
    let extra = format!(
        "[destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{exchange}\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"adt.#\"]\n"
    );
    let mut engine = Engine::start(dir.path(), "", &extra);
    let msgs: Vec<Vec<u8>> = (0..20).map(|i| adt(&format!("AMQP-{i}"))).collect();
    let acks = mllp_send(&engine.mllp, &msgs);
    assert!(acks.iter().all(|a| a.contains("|AA|")), "{acks:?}");

    let journal = engine.journal().await;
    let sent = common::wait_outbox_drained(&journal, "fhir", 20, T).await;
    let got = common::consume(&uri, &queue, sent.len(), T).await;
    let ids: BTreeSet<&str> = got.iter().map(|d| d.message_id.as_deref().unwrap()).collect();
    let want: BTreeSet<&str> = sent.iter().map(|d| d.content_id.as_str()).collect();
    assert_eq!(ids, want, "every delivery arrived, identified by its content id");

    let schema = hearth_fhir::schema::R4Schema::shared().unwrap();
    for d in &got {
        assert_eq!(d.content_type.as_deref(), Some("application/fhir+json; fhirVersion=4.0"));
        assert_eq!(d.delivery_mode, Some(2), "persistent");
        assert_eq!(d.header("x-hearth-channel"), Some("adt"));
        assert_eq!(d.header("x-hearth-event"), Some("A01"));
        let journal_id: i64 = d.header("x-hearth-message-id").unwrap().parse().unwrap();
        assert!(journal_id > 0);
        let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
        let rt = body["resourceType"].as_str().unwrap();
        assert_eq!(d.routing_key, format!("adt.A01.{rt}"));
        schema.validate(&body).unwrap_or_else(|e| panic!("{rt} is not valid R4: {e:?}"));
        assert!(!d.body.windows(9).any(|w| w == b"urn:uuid:"), "references were rewritten for a lone resource");
    }
    let counts = journal.count_by_status(None).await.unwrap();
    assert_eq!(counts[&MessageStatus::Processed], 20, "{counts:?}");
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_destination_goes_dead_and_does_not_hold_up_the_others() {
    let Some(uri) = hearth_testkit::amqp("poison_destination") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (good_x, good_q, poison_x) =
        (unique_name("hearth-good-x"), unique_name("hearth-good-q"), unique_name("hearth-poison-x"));
    // The poison exchange has no queue bound: every publish comes back unroutable (mandatory), i.e. fails.
    let extra = format!(
        "[destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{good_x}\"\n\
         [[destinations.fhir.queues]]\nname = \"{good_q}\"\nbind = [\"#\"]\n\
         [destinations.poison]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{poison_x}\"\n\
         max_attempts = 3\nretry_initial_ms = 100\nretry_max_ms = 200\n\
         [routes.everything]\npayload = \"bundle\"\ndestinations = [\"poison\"]\n"
    );
    let mut engine = Engine::start(dir.path(), "", &extra);
    let msgs: Vec<Vec<u8>> = (0..10).map(|i| adt(&format!("POISON-{i}"))).collect();
    assert!(mllp_send(&engine.mllp, &msgs).iter().all(|a| a.contains("|AA|")));

    let journal = engine.journal().await;
    let good = common::wait_outbox_drained(&journal, "fhir", 10, T).await;
    assert!(good.iter().all(|d| d.attempts == 1), "the healthy destination never retried: {good:?}");
    let dead = common::wait_deliveries(&journal, "poison", DeliveryStatus::Dead, 10, T).await;
    for d in &dead {
        assert_eq!(d.attempts, 3);
        let e = d.last_error.as_deref().unwrap();
        assert!(e.to_lowercase().contains("unroutable") || e.contains("312") || e.contains("NO_ROUTE"), "{e}");
        assert_eq!(journal.delivery_failures(d.id).await.unwrap().len(), 3);
    }
    assert_eq!(common::consume(&uri, &good_q, good.len(), T).await.len(), good.len());

    // Resend all dead from the CLI: they get a fresh budget, fail again, and are dead again, 3 more attempts.
    let out = Command::new(BIN)
        .args(["messages", "--config"])
        .arg(&engine.config)
        .args(["resend", "--dead", "poison"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10 deliveries back in the outbox");
    let again = common::wait_deliveries(&journal, "poison", DeliveryStatus::Dead, 10, T).await;
    let total: usize = {
        let mut n = 0;
        for d in &again {
            n += journal.delivery_failures(d.id).await.unwrap().len();
        }
        n
    };
    assert!(total >= 40, "resent deliveries were attempted again ({total} failures logged)");
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&good_q);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discharge_produces_a_follow_up_task_on_the_outreach_queue() {
    let Some(uri) = hearth_testkit::amqp("discharge_task") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (outreach_x, outreach_q) = (unique_name("hearth-outreach-x"), unique_name("hearth-outreach-q"));
    let routes = std::fs::read_to_string(common::repo().join("mappings/routes/discharge-followup.toml")).unwrap();
    let extra = format!(
        "[destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{}\"\n\
         [destinations.outreach]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{outreach_x}\"\n\
         [[destinations.outreach.queues]]\nname = \"{outreach_q}\"\nbind = [\"#\"]\n{routes}\n",
        unique_name("hearth-unbound-x")
    );
    let mut engine = Engine::start(dir.path(), "", &extra);
    let a03 = std::fs::read(common::fixtures().join("adt-a03-discharge.hl7")).unwrap();
    let a01 = adt("NOT-A-DISCHARGE");
    let acks = mllp_send(&engine.mllp, &[a01, a03]);
    assert!(acks.iter().all(|a| a.contains("|AA|")), "{acks:?}");

    let got = common::consume(&uri, &outreach_q, 1, T).await;
    let task: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(task["resourceType"], "Task");
    assert_eq!(task["status"], "requested");
    assert_eq!(task["intent"], "order");
    assert!(task["for"]["reference"].as_str().unwrap().starts_with("Patient/"), "{task}");
    assert!(task["restriction"]["period"]["end"].is_string(), "{task}");
    hearth_fhir::schema::R4Schema::shared().unwrap().validate(&task).unwrap();
    // Only the discharge made a Task.
    let journal = engine.journal().await;
    let filter = DeliveryFilter { destination: Some("outreach".into()), ..DeliveryFilter::default() };
    assert_eq!(journal.list_deliveries(&filter, None, 100).await.unwrap().len(), 1);
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&outreach_q);
}

#[test]
fn check_rejects_a_route_with_a_bad_fhirpath_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[routes.broken]\ndestinations = [\"fhir\"]\ncondition = \"Bundle.entry.resource.where(active = true\"\n",
    )
    .unwrap();
    let out = Command::new(BIN).args(["check", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("routes.broken.condition"), "{err}");
    assert!(err.contains("line 1, column"), "{err}");

    std::fs::write(&cfg, "[routes.broken]\ndestinations = [\"fhir\"]\ncondition = \"Patient.name.fooBar()\"\n")
        .unwrap();
    let out = Command::new(BIN).args(["check", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown function `fooBar` at 13"), "{err}");
}

/// Publishes raw bytes to a queue (declaring it durable) with publisher confirms.
async fn publish_to_queue(uri: &str, queue: &str, bodies: &[Vec<u8>]) {
    let stop = tokio_util::sync::CancellationToken::new();
    let mut cfg = hearth_amqp::LinkConfig::new(uri, "hearth e2e publisher");
    cfg.topology.queues.push(hearth_amqp::QueueSpec::durable(queue));
    let link = hearth_amqp::Link::start(cfg, stop.clone());
    let mut state = link.state();
    tokio::time::timeout(T, state.wait_for(|s| matches!(s, hearth_amqp::LinkState::Connected)))
        .await
        .expect("publisher link connects")
        .unwrap();
    for (i, body) in bodies.iter().enumerate() {
        let msg = hearth_amqp::Outgoing {
            exchange: String::new(),
            routing_key: queue.to_owned(),
            body: body.clone(),
            message_id: format!("upstream-{i}"),
            content_type: "x-application/hl7-v2+er7".into(),
            headers: Vec::new(),
            timestamp: None,
        };
        link.publish(msg).await.unwrap();
    }
    link.close().await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amqp_channel_consumes_journals_and_routes_like_mllp() {
    let Some(uri) = hearth_testkit::amqp("amqp_channel") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (inbound, exchange, queue) =
        (unique_name("hearth-inbound-q"), unique_name("hearth-out-x"), unique_name("hearth-out-q"));
    let extra = format!(
        "[channels.upstream]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nqueue = \"{inbound}\"\n\
         [destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{exchange}\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"upstream.#\"]\n"
    );
    let mut engine = Engine::start(dir.path(), "", &extra);
    let bodies: Vec<Vec<u8>> = (0..25).map(|i| adt(&format!("UPSTREAM-{i}"))).collect();
    publish_to_queue(&uri, &inbound, &bodies).await;
    // The same messages again (an upstream engine retrying): journaled once.
    publish_to_queue(&uri, &inbound, &bodies[..5]).await;

    let journal = engine.journal().await;
    let sent = common::wait_outbox_drained(&journal, "fhir", 25, T).await;
    let got = common::consume(&uri, &queue, sent.len(), T).await;
    assert!(got.iter().all(|d| d.routing_key.starts_with("upstream.A01.")), "routed under the AMQP channel's name");
    let filter = hearth_store::MessageFilter { channel: Some("upstream".into()), ..Default::default() };
    let msgs = journal.list(&filter, None, 100).await.unwrap();
    assert_eq!(msgs.len(), 25, "each upstream message journaled once");
    assert_eq!(msgs.iter().map(|m| m.duplicates).sum::<u64>(), 5);
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
    common::delete_queue(&inbound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messages_cli_lists_shows_and_reprocesses() {
    let Some(uri) = hearth_testkit::amqp("messages_cli") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (exchange, queue) = (unique_name("hearth-cli-x"), unique_name("hearth-cli-q"));
    let extra = format!(
        "[destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{uri}\"\nexchange = \"{exchange}\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n"
    );
    let mut engine = Engine::start(dir.path(), "", &extra);
    assert!(mllp_send(&engine.mllp, &[adt("CLI-1")])[0].contains("|AA|"));
    let journal = engine.journal().await;
    let first = common::wait_outbox_drained(&journal, "fhir", 1, T).await;
    let id = first[0].message_id;

    let cli = |args: &[&str]| {
        let out = Command::new(BIN).arg("messages").arg("--config").arg(&engine.config).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let list = cli(&["list", "--status", "processed"]);
    assert!(list.starts_with(&format!("{id}\t")) && list.contains("ADT^A01"), "{list}");
    let shown: serde_json::Value = serde_json::from_str(&cli(&["show", &id.to_string()])).unwrap();
    assert_eq!(shown["status"], "processed");
    assert_eq!(shown["deliveries"].as_array().unwrap().len(), first.len());
    assert!(shown.get("raw").is_none(), "content only with --content");
    let with_content: serde_json::Value = serde_json::from_str(&cli(&["show", &id.to_string(), "--content"])).unwrap();
    assert!(with_content["raw"].as_str().unwrap().starts_with("MSH|"));

    assert_eq!(cli(&["reprocess", &id.to_string()]).trim(), format!("{id}\treprocessing"));
    // Routed again: a second set of deliveries with the same content ids (consumers deduplicate on them).
    let again = common::wait_deliveries(&journal, "fhir", DeliveryStatus::Sent, first.len() * 2, T).await;
    let ids: BTreeSet<&str> = again.iter().map(|d| d.content_id.as_str()).collect();
    assert_eq!(ids.len(), first.len(), "same content, same ids");
    let outbox = cli(&["outbox"]);
    assert!(outbox.contains(&format!("fhir\tpending 0\tsent {}", first.len() * 2)), "{outbox}");
    journal.close().await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}
