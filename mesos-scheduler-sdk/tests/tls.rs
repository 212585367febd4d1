//! `https://` masters (the `tls` feature): the driver subscribes through a TLS endpoint whose
//! certificate a given CA vouches for, and refuses one it cannot verify. The TLS endpoint is a
//! real rustls server on loopback in front of a real master.
//!
//! `scripts/test` runs this with `cargo test -p mesos-scheduler-sdk --features tls`.
#![cfg(feature = "tls")]

use std::sync::Arc;
use std::time::Duration;

use mesos_core::proto::v1 as pb;
use mesos_scheduler_sdk::{Driver, DriverConfig, Scheduler, Subscribed, async_trait, run};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A TLS endpoint on loopback that forwards each connection to `backend`; returns its port
/// and the PEM of its self-signed certificate.
async fn tls_front(backend: std::net::SocketAddr) -> (u16, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (port, cert.pem())
}

struct Once;

#[async_trait]
impl Scheduler for Once {
    async fn subscribed(&mut self, driver: &Driver, _info: Subscribed) {
        driver.stop();
    }
}

fn framework() -> pb::FrameworkInfo {
    pb::FrameworkInfo {
        user: "test".into(),
        name: "over-tls".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribes_to_an_https_master_its_ca_vouches_for() {
    let mut flags = mesos_master::MasterFlags::for_local(None);
    flags.allocation_interval = Duration::from_millis(50);
    let master = mesos_master::start(flags).await.unwrap();
    let (port, ca) = tls_front(master.addr()).await;
    let url = format!("https://127.0.0.1:{port}");

    let mut config = DriverConfig::new(url.clone(), framework());
    config.ca_certificates_pem = vec![ca.into_bytes()];
    tokio::time::timeout(Duration::from_secs(20), run(config, Once))
        .await
        .expect("subscribed over TLS")
        .expect("the driver runs");
    let body = reqwest::get(format!("http://{}/master/frameworks", master.addr()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let state: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let names: Vec<&serde_json::Value> = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| state[*k].as_array().into_iter().flatten())
        .map(|f| &f["name"])
        .collect();
    assert_eq!(
        names,
        vec!["over-tls"],
        "the master saw the TLS subscription: {state}"
    );

    // Without the CA the certificate cannot be verified: no subscription.
    let mut untrusted = DriverConfig::new(url, framework());
    untrusted.connect_timeout = Some(Duration::from_secs(2));
    let refused = tokio::time::timeout(Duration::from_secs(20), run(untrusted, Once))
        .await
        .expect("gives up within its connect timeout");
    assert!(refused.is_err(), "an unverifiable master was accepted");
    master.shutdown().await;
}
