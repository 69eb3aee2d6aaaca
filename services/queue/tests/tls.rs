//! A service's NATS connection over TLS, as its config gives it
//! (`MOAT_NATS_TLS_CA`, `_CERT`, `_KEY`), against a real nats-server that
//! requires TLS and verifies client certificates: with the CA and a client
//! certificate it connects and works; without the certificate, or trusting
//! only the system's roots, it does not. Certificates are made with the
//! openssl tool for this test alone.

use std::path::Path;
use std::process::Command;

use moat_queue::{NatsAuth, Role};
use moat_testkit::Nats;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs (scripts/deps.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all
/// signed by the CA, in `dir`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=moat test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, cn) in [("server", "127.0.0.1"), ("client", "moat-edge")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{name}.key"),
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
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

#[tokio::test]
async fn a_service_connects_over_tls_with_its_ca_and_client_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    certificates(dir);
    let tls = dir.join("tls.conf");
    std::fs::write(
        &tls,
        format!(
            "tls {{\n  cert_file: \"{d}/server.pem\"\n  key_file: \"{d}/server.key\"\n  ca_file: \"{d}/ca.pem\"\n  verify: true\n}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let nats = Nats::start_with_config(Some(&tls));
    let url = nats.url.replace("nats://", "tls://");
    let full = NatsAuth {
        tls_ca: Some(dir.join("ca.pem")),
        tls_cert: Some(dir.join("client.pem")),
        tls_key: Some(dir.join("client.key")),
        tls_required: true,
        ..nats.auth(Role::Edge)
    };

    // With the CA and its certificate: connected, and JetStream answers.
    let client = moat_queue::connect(&url, &full, Role::Edge).await.unwrap();
    let reply = client
        .request("$JS.API.INFO", "".into())
        .await
        .expect("a JetStream answer over TLS");
    assert!(
        String::from_utf8_lossy(&reply.payload).contains("\"type\""),
        "{reply:?}"
    );

    // No client certificate: the server refuses it.
    let no_cert = NatsAuth {
        tls_cert: None,
        tls_key: None,
        ..full.clone()
    };
    assert!(moat_queue::connect(&url, &no_cert, Role::Edge)
        .await
        .is_err());
    // Trusting only the system's roots: the client refuses the server.
    let no_ca = NatsAuth {
        tls_ca: None,
        ..full.clone()
    };
    assert!(moat_queue::connect(&url, &no_ca, Role::Edge).await.is_err());
    // And the right certificate does not stand in for the password.
    let no_password = NatsAuth {
        user: None,
        password: None,
        ..full
    };
    assert!(moat_queue::connect(&url, &no_password, Role::Edge)
        .await
        .is_err());
}
