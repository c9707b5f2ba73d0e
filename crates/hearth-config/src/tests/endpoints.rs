//! AMQP endpoints as a list: `endpoint = [...]` or `endpoints = [...]`, for destinations and AMQP channels.

use super::*;

fn destination(keys: &str) -> Result<Plan, ConfigError> {
    load_str(
        &format!(
            "[channels.adt]\ntype = \"mllp\"\nlisten = \"127.0.0.1:2575\"\n\
             [channels.upstream]\ntype = \"amqp\"\nqueue = \"in\"\n{keys}\n\
             [destinations.fhir]\ntype = \"amqp\"\n{keys}\n"
        ),
        &[],
    )
}

#[test]
fn an_endpoint_list_keeps_its_order_for_destinations_and_channels() {
    for keys in [
        "endpoint = [\"amqp://u:p1@mq-a:5672/%2f\", \"amqp://u:p2@mq-b:5672/%2f\"]",
        "endpoints = [\"amqp://u:p1@mq-a:5672/%2f\", \"amqp://u:p2@mq-b:5672/%2f\"]",
    ] {
        let plan = destination(keys).unwrap();
        let DestinationKind::Amqp(d) = &plan.destinations[0].kind else { panic!("amqp") };
        assert_eq!(d.endpoint.uri, "amqp://u:p1@mq-a:5672/%2f", "{keys}");
        assert_eq!(d.endpoint.fallbacks, ["amqp://u:p2@mq-b:5672/%2f"], "{keys}");
        let SourcePlan::Amqp(c) = &plan.channels[1].source else { panic!("amqp channel") };
        assert_eq!((c.endpoint.uri.as_str(), c.endpoint.fallbacks.len()), ("amqp://u:p1@mq-a:5672/%2f", 1));
        let topology = plan.topology();
        assert!(topology.contains("amqp://u:***@mq-a:5672/%2f | amqp://u:***@mq-b:5672/%2f"), "{topology}");
        assert!(!topology.contains("p1") && !topology.contains("p2"), "{topology}");
    }
    // One URI stays one URI.
    let plan = destination("endpoint = \"amqp://mq-a:5672/%2f\"").unwrap();
    let DestinationKind::Amqp(d) = &plan.destinations[0].kind else { panic!("amqp") };
    assert!(d.endpoint.fallbacks.is_empty());
}

#[test]
fn endpoint_list_problems_name_their_keys() {
    let Err(ConfigError::Invalid(p)) = destination("endpoint = \"amqp://a/\"\nendpoints = [\"amqp://b/\"]") else {
        panic!("both keys")
    };
    assert!(p.iter().any(|p| p.path == "destinations.fhir.endpoints" && p.message.contains("not both")), "{p:?}");
    let Err(ConfigError::Invalid(p)) = destination("endpoints = []") else { panic!("empty") };
    assert!(p.iter().any(|p| p.path == "destinations.fhir.endpoint"), "{p:?}");
    let Err(ConfigError::Invalid(p)) = destination("endpoint = [\"amqp://a/\", \"http://b/\"]") else {
        panic!("bad second")
    };
    assert!(p.iter().any(|p| p.path == "channels.upstream.endpoint" && p.message.contains("amqp://")), "{p:?}");
}
