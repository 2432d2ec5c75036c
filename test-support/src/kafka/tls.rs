//! A test certificate authority and the broker certificate it signs, written as PEM
//! files the broker (`ssl.keystore.type=PEM`) and librdkafka (`ssl.ca.location`) read.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::{Error, Result};

/// PEM files of one test CA and the broker certificate it signed.
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA certificate clients trust (`ssl.ca.location`).
    pub ca_pem: PathBuf,
    /// The broker's private key followed by its certificate chain (Kafka's PEM keystore).
    pub broker_keystore_pem: PathBuf,
}

impl TestCa {
    /// Creates a CA named `name` and a broker certificate for `localhost` and
    /// `127.0.0.1`, written into `dir`.
    pub fn create(dir: &Path, name: &str) -> Result<Self> {
        let tls = |e: rcgen::Error| Error::Tls(e.to_string());
        let ca_key = KeyPair::generate().map_err(tls)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, name);
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let broker_key = KeyPair::generate().map_err(tls)?;
        let mut broker_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(tls)?;
        broker_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let broker_cert = broker_params.signed_by(&broker_key, &issuer).map_err(tls)?;

        let ca_pem = dir.join(format!("{name}.ca.pem"));
        let broker_keystore_pem = dir.join(format!("{name}.broker.pem"));
        write(&ca_pem, &ca_cert.pem())?;
        write(
            &broker_keystore_pem,
            &format!(
                "{}{}{}",
                broker_key.serialize_pem(),
                broker_cert.pem(),
                ca_cert.pem()
            ),
        )?;
        Ok(TestCa {
            ca_pem,
            broker_keystore_pem,
        })
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
