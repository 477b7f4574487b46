//! The gRPC listener over TLS with client certificates (mTLS): a client
//! with a certificate from the configured CA is served, one without is
//! refused during the handshake.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netmon_proto::flows::v1::flow_collector_client::FlowCollectorClient;
use support::client::{batch, tx_bytes_of};
use support::server::Stack;
use support::temp::TempDir;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn certificates(dir: &Path) {
    let key = |name: &str| {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ],
        );
    };
    key("ca.key");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=netmon test CA",
            "-days",
            "2",
            "-out",
            "ca.crt",
        ],
    );
    for (name, extensions) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            "subjectAltName=DNS:node-a\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        key(&format!("{name}.key"));
        std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }
}

async fn client(
    url: &str,
    dir: &Path,
    with_certificate: bool,
) -> Result<FlowCollectorClient<tonic::transport::Channel>, tonic::transport::Error> {
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("ca.crt")));
    if with_certificate {
        tls = tls.identity(Identity::from_pem(read("client.crt"), read("client.key")));
    }
    let channel = Endpoint::from_shared(url.replace("http://", "https://"))
        .unwrap()
        .tls_config(tls)?
        .timeout(Duration::from_secs(10))
        .connect()
        .await?;
    Ok(FlowCollectorClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_mtls_only_clients_with_a_certificate_from_the_ca_are_served() {
    let certs = TempDir::new("netmon-server-tls");
    certificates(certs.path());
    let path = |name: &str| certs.path().join(name).display().to_string();
    let (cert, key, ca) = (path("server.crt"), path("server.key"), path("ca.crt"));
    let stack = tokio::task::block_in_place(|| {
        Stack::start(&[
            ("NETMON_SERVER_GRPC_TLS_CERT", &cert),
            ("NETMON_SERVER_GRPC_TLS_KEY", &key),
            ("NETMON_SERVER_GRPC_TLS_CLIENT_CA", &ca),
        ])
    });
    let url = stack.server.grpc_url();

    let mut trusted = client(&url, certs.path(), true)
        .await
        .expect("mTLS handshake");
    let answer = trusted
        .export(batch("node-a", 1, 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.accepted, answer.duplicate), (4, false));

    let refused = match client(&url, certs.path(), false).await {
        Err(_) => true,
        Ok(mut anonymous) => anonymous.export(batch("node-a", 2, 4)).await.is_err(),
    };
    assert!(refused, "a client without a certificate must not be served");

    tokio::task::block_in_place(|| {
        stack.wait_for_rows(4, Duration::from_secs(30));
        assert_eq!(stack.totals(), (4, tx_bytes_of([1], 4)));
    });
}
