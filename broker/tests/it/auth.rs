//! Auth: with a token configured, every RPC but health needs it.

use stalk_client::{Client, Task};
use stalk_testkit::TestBroker;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[tokio::test]
async fn calls_without_the_token_are_unauthenticated_but_health_is_open() {
    let broker = TestBroker::start_with(|c| c.auth_token = Some("s3cret".into())).await;
    let anonymous = Client::connect(&broker.url()).await.unwrap();
    let err = anonymous.enqueue(Task::new("t")).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unauthenticated), "{err}");
    let wrong = Client::builder(broker.url())
        .auth_token("nope")
        .connect()
        .await
        .unwrap();
    let err = wrong.queue_stats(&[]).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unauthenticated), "{err}");

    let authorized = broker.client().await;
    authorized
        .enqueue(Task::new("t"))
        .await
        .expect("the token opens the door");

    let channel = tonic::transport::Endpoint::from_shared(broker.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token")
        .into_inner();
    assert_eq!(status.status, 1, "SERVING");
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, valid for 100 years (test only).
const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-cert.pem");
const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-key.pem");

#[tokio::test]
async fn a_tls_broker_serves_clients_that_trust_its_certificate() {
    let broker = TestBroker::start_with(|c| {
        c.tls = Some(stalk_broker::config::TlsFiles {
            cert: CERT.into(),
            key: KEY.into(),
        });
    })
    .await;
    let ca = std::fs::read(CERT).unwrap();
    let client = Client::builder(format!("https://{}", broker.addr()))
        .tls_ca_pem(ca)
        .connect()
        .await
        .expect("TLS handshake with the broker's certificate");
    let handle = client
        .enqueue(Task::new("t"))
        .await
        .expect("enqueue over TLS");
    assert!(handle.created);

    let plaintext = Client::connect(&broker.url()).await;
    let refused = match plaintext {
        Ok(client) => client.queue_stats(&[]).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a plaintext client cannot talk to a TLS broker");
}
