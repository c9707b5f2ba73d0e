//! `amqps://` destinations from configuration, through the real `hearth run`, against RabbitMQ's TLS listener
//! (scripts/rabbitmq-tls.sh: 127.0.0.1:5671 with a test CA): publishes with confirms with the broker verified
//! against `ca_file` by name, with and without a client certificate (EXTERNAL login).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Engine, adt, mllp_send};
use hearth_testkit::unique_name;

const T: Duration = Duration::from_secs(60);

/// MLLP in, `n` messages; the `[destinations.<dest>]` table given; every delivery confirmed and on the queue.
async fn deliver_over_amqps(dest: &str, table: &str, queue: &str, n: usize) -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(dir.path(), "", table);
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| adt(&format!("AMQPS-{dest}-{i}"))).collect();
    let acks = mllp_send(&engine.mllp, &msgs);
    assert!(acks.iter().all(|a| a.contains("|AA|")), "{acks:?}");
    let journal = engine.journal().await;
    let sent = common::wait_outbox_drained(&journal, dest, n, T).await;
    assert!(sent.len() >= n, "every message produced at least one delivery: {}", sent.len());
    // Read back over the plaintext listener: what the engine published over TLS is on the queue.
    let got = common::consume(&hearth_testkit::amqp_uri(), queue, sent.len(), T).await;
    assert_eq!(got.len(), sent.len());
    journal.close().await;
    (engine, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amqps_destination_publishes_with_confirms_and_verifies_the_broker() {
    let Some(broker) = hearth_testkit::amqps("an_amqps_destination_publishes_with_confirms") else { return };
    let (exchange, queue) = (unique_name("hearth-e2e-tls-x"), unique_name("hearth-e2e-tls-q"));
    let ca = broker.tls_dir.join("ca.pem");
    let table = format!(
        "[destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{}\"\nca_file = \"{}\"\nexchange = \"{exchange}\"\n\
         [[destinations.fhir.queues]]\nname = \"{queue}\"\nbind = [\"adt.#\"]\n",
        broker.uri,
        ca.display()
    );
    let (mut engine, _dir) = deliver_over_amqps("fhir", &table, &queue, 5).await;
    assert!(engine.terminate().success());
    common::delete_queue(&queue);

    // A ca_file from another CA: the broker's certificate is not trusted, the destination never comes up.
    let dir = tempfile::tempdir().unwrap();
    let stranger = hearth_tls::testing::TestCa::new("Not the broker's CA").write(dir.path(), "stranger");
    let table = format!(
        "[destinations.fhir]\ntype = \"amqp\"\nendpoint = \"{}\"\nca_file = \"{}\"\nexchange = \"{exchange}\"\n",
        broker.uri,
        stranger.display()
    );
    let engine = Engine::start(dir.path(), "", &table);
    let mut seen_down = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let metrics = common::http_get(&engine.http, "/metrics").unwrap().1;
        assert!(!metrics.contains("hearth_destination_up{destination=\"fhir\"} 1"), "{metrics}");
        seen_down += usize::from(metrics.contains("hearth_destination_up{destination=\"fhir\"} 0"));
    }
    assert!(seen_down > 0, "the destination's state is exported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amqps_destination_logs_in_with_its_client_certificate() {
    let Some(broker) = hearth_testkit::amqps("an_amqps_destination_logs_in_with_its_client_certificate") else {
        return;
    };
    let dest = format!("tlsext{}", std::process::id());
    let (exchange, queue) = (unique_name("hearth-e2e-ext-x"), unique_name("hearth-e2e-ext-q"));
    let d = &broker.tls_dir;
    let table = format!(
        "[destinations.{dest}]\ntype = \"amqp\"\nendpoint = \"{}\"\nca_file = \"{}\"\ncert_file = \"{}\"\n\
         key_file = \"{}\"\nexchange = \"{exchange}\"\n\
         [[destinations.{dest}.queues]]\nname = \"{queue}\"\nbind = [\"#\"]\n\
         [routes.all]\npayload = \"bundle\"\ndestinations = [\"{dest}\"]\n[routing]\ndefault_route = false\n",
        broker.external_uri,
        d.join("ca.pem").display(),
        d.join("client.pem").display(),
        d.join("client.key").display()
    );
    let (mut engine, _dir) = deliver_over_amqps(&dest, &table, &queue, 3).await;

    // The broker says who the engine is and how it logged in.
    let listing = Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "user", "auth_mechanism", "ssl", "client_properties"])
        .output()
        .expect("rabbitmqctl runs (as root)");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let name = format!("hearth destination {dest}");
    let ours = listing.lines().find(|l| l.contains(&name)).unwrap_or_else(|| panic!("{name} not in\n{listing}"));
    let fields: Vec<&str> = ours.split('\t').collect();
    assert_eq!(&fields[..3], ["hearth-test-client", "EXTERNAL", "true"], "{ours}");
    assert!(engine.terminate().success());
    common::delete_queue(&queue);
}
