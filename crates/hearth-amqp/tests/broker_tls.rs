//! `amqps://` against the real RabbitMQ TLS listener that scripts/rabbitmq-tls.sh sets up on 127.0.0.1:5671
//! (`HEARTH_TEST_AMQPS_URI`, `HEARTH_TEST_AMQPS_EXTERNAL_URI`, `HEARTH_TEST_TLS_DIR`). Without it each test
//! says so and returns, except under `CI=true`, where that is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use hearth_amqp::{BindingSpec, ExchangeKind, ExchangeSpec, Link, LinkConfig, LinkState, Outgoing, QueueSpec};
use hearth_testkit::AmqpsBroker;
use hearth_testkit::unique_name;
use hearth_tls::ClientSettings;
use hearth_tls::testing::TestCa;
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(20);

fn config(uri: &str, tls: ClientSettings, exchange: &str, queue: &str) -> LinkConfig {
    let mut cfg = LinkConfig::new(uri, unique_name("hearth-test-tls"));
    cfg.tls = tls;
    cfg.topology.exchanges.push(ExchangeSpec::durable(exchange, ExchangeKind::Topic));
    cfg.topology.queues.push(QueueSpec::durable(queue));
    cfg.topology.bindings.push(BindingSpec { queue: queue.into(), exchange: exchange.into(), routing_key: "#".into() });
    cfg.reconnect_min = Duration::from_millis(100);
    cfg.reconnect_max = Duration::from_secs(1);
    cfg
}

fn trust(broker: &AmqpsBroker) -> ClientSettings {
    ClientSettings { ca_file: Some(broker.tls_dir.join("ca.pem")), ..ClientSettings::default() }
}

/// Publishes `n` messages with confirms, then reads them back over the same TLS link.
async fn publish_and_consume(cfg: LinkConfig, exchange: &str, queue: &str, n: usize) {
    let link = Link::start(cfg, CancellationToken::new());
    let mut state = link.state();
    let reached = tokio::time::timeout(LIMIT, state.wait_for(|s| s.is_connected())).await.is_ok_and(|r| r.is_ok());
    assert!(reached, "never connected: {:?}", *state.borrow());
    for i in 0..n {
        let outcome = link
            .publish(Outgoing {
                exchange: exchange.into(),
                routing_key: "adt.A01.Patient".into(),
                body: format!("{{\"resourceType\":\"Patient\",\"id\":\"p{i}\"}}").into_bytes(),
                message_id: format!("m-{i}"),
                content_type: "application/fhir+json; fhirVersion=4.0".into(),
                ..Outgoing::default()
            })
            .await;
        assert_eq!(outcome, Ok(()), "publish {i}");
    }
    let mut consumer = link.consume(queue, 32).await.unwrap();
    for i in 0..n {
        let delivery = tokio::time::timeout(LIMIT, consumer.next()).await.unwrap().unwrap();
        assert_eq!(delivery.message_id.as_deref(), Some(format!("m-{i}").as_str()));
        delivery.ack().await.unwrap();
    }
    consumer.close().await;
    link.close().await;
}

async fn cleanup(queue: &str, exchange: &str) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let conn =
        lapin::Connection::connect(&hearth_testkit::amqp_uri(), lapin::ConnectionProperties::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(queue.into(), QueueDeleteOptions::default()).await.unwrap();
    ch.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await.unwrap();
    conn.close(200, "test cleanup".into()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_with_confirms_over_amqps() {
    let Some(broker) = hearth_testkit::amqps("publishes_with_confirms_over_amqps") else { return };
    let (exchange, queue) = (unique_name("test.tls.x"), unique_name("test.tls.q"));
    publish_and_consume(config(&broker.uri, trust(&broker), &exchange, &queue), &exchange, &queue, 20).await;
    cleanup(&queue, &exchange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_with_confirms_over_amqps_with_a_client_certificate_and_external() {
    let test = "publishes_with_confirms_over_amqps_with_a_client_certificate_and_external";
    let Some(broker) = hearth_testkit::amqps(test) else { return };
    let (exchange, queue) = (unique_name("test.tls-ext.x"), unique_name("test.tls-ext.q"));
    let tls = ClientSettings {
        cert_file: Some(broker.tls_dir.join("client.pem")),
        key_file: Some(broker.tls_dir.join("client.key")),
        ..trust(&broker)
    };
    let cfg = config(&broker.external_uri, tls, &exchange, &queue);
    let name = cfg.connection_name.clone();
    let link = Link::start(cfg.clone(), CancellationToken::new());
    let mut state = link.state();
    tokio::time::timeout(LIMIT, state.wait_for(|s| s.is_connected())).await.unwrap().unwrap();
    // The broker says who we are and how we logged in.
    let listing = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "user", "auth_mechanism", "ssl", "client_properties"])
        .output()
        .expect("rabbitmqctl runs (as root)");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let ours = listing.lines().find(|l| l.contains(&name)).unwrap_or_else(|| panic!("{name} not in\n{listing}"));
    let fields: Vec<&str> = ours.split('\t').collect();
    assert_eq!(&fields[..3], ["hearth-test-client", "EXTERNAL", "true"], "{ours}");
    link.close().await;

    publish_and_consume(cfg, &exchange, &queue, 20).await;
    cleanup(&queue, &exchange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_the_broker_has_no_user_for_is_refused() {
    let Some(broker) = hearth_testkit::amqps("a_certificate_the_broker_has_no_user_for_is_refused") else { return };
    let Some(ca) = hearth_testkit::require(
        "a_certificate_the_broker_has_no_user_for_is_refused",
        std::fs::read_to_string(broker.tls_dir.join("ca.key"))
            .map_err(|e| format!("the test CA key is not readable ({e}); run the tests as root"))
            .and_then(|key| TestCa::from_pem(&std::fs::read_to_string(broker.tls_dir.join("ca.pem")).unwrap(), &key)),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = ca.client("hearth-no-such-user", &[]).write(dir.path(), "stranger");
    let tls = ClientSettings { cert_file: Some(cert_file), key_file: Some(key_file), ..trust(&broker) };
    let error =
        disconnected(LinkConfig { tls, ..LinkConfig::new(&broker.external_uri, "hearth-test-tls-refused") }).await;
    assert!(error.contains("ACCESS_REFUSED") || error.to_lowercase().contains("auth"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_certificate_and_name_are_verified() {
    let Some(broker) = hearth_testkit::amqps("the_broker_certificate_and_name_are_verified") else { return };
    let dir = tempfile::tempdir().unwrap();
    let stranger = TestCa::new("Not the broker's CA").write(dir.path(), "stranger");
    let tls = ClientSettings { ca_file: Some(stranger), ..ClientSettings::default() };
    let error = disconnected(LinkConfig { tls, ..LinkConfig::new(&broker.uri, "hearth-test-tls-ca") }).await;
    assert!(error.contains("UnknownIssuer") || error.contains("unknown issuer"), "{error}");

    let tls = ClientSettings { server_name: Some("broker.example.org".into()), ..trust(&broker) };
    let error = disconnected(LinkConfig { tls, ..LinkConfig::new(&broker.uri, "hearth-test-tls-name") }).await;
    assert!(error.contains("NotValidForName") || error.contains("not valid for"), "{error}");

    // And the insecure switch (tests only) really skips both checks.
    let tls = ClientSettings {
        server_name: Some("broker.example.org".into()),
        insecure_accept_any_server_certificate: true,
        ..ClientSettings::default()
    };
    let link = Link::start(
        LinkConfig { tls, ..LinkConfig::new(&broker.uri, "hearth-test-tls-insecure") },
        CancellationToken::new(),
    );
    let mut state = link.state();
    tokio::time::timeout(LIMIT, state.wait_for(|s| s.is_connected())).await.unwrap().unwrap();
    link.close().await;
}

/// Starts a link that must fail to connect; returns the reason it gives.
async fn disconnected(cfg: LinkConfig) -> String {
    let link = Link::start(cfg, CancellationToken::new());
    let mut state = link.state();
    let seen = tokio::time::timeout(LIMIT, state.wait_for(|s| matches!(s, LinkState::Disconnected { .. })))
        .await
        .unwrap()
        .unwrap()
        .clone();
    link.close().await;
    match seen {
        LinkState::Disconnected { error, .. } => error,
        other => panic!("{other:?}"),
    }
}
