//! Certificates for a throw-away control plane, made in-process with rcgen.
//!
//! rustls (which kube-rs uses) refuses X.509 v1 certificates, self-signed serving
//! certificates and serving certificates without an IP SAN, so the layout is a real CA
//! plus leaves carrying extensions: what a production cluster would have, only smaller.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::Error;

/// A certificate and its private key, both PEM encoded.
#[derive(Clone, Debug)]
pub struct PemPair {
    /// The certificate (or, for a bare key pair, the public key) in PEM.
    pub cert: String,
    /// The PKCS#8 private key in PEM.
    pub key: String,
}

/// Every certificate and key a kube-apiserver + etcd pair needs.
pub struct ClusterCerts {
    ca: Issuer<'static, KeyPair>,
    /// PEM of the CA certificate: trusted by clients and used as `--client-ca-file`.
    pub ca_pem: String,
    /// The apiserver's serving certificate (SANs localhost and 127.0.0.1).
    pub serving: PemPair,
    /// The `admin` user in group `system:masters`.
    pub admin: PemPair,
    /// Service-account token signing key: `cert` holds the public key.
    pub service_account: PemPair,
}

impl ClusterCerts {
    /// Makes a fresh CA and every leaf signed by it.
    pub fn generate() -> Result<Self, Error> {
        let (ca, ca_pem) = new_ca()?;
        let serving = serving_cert(&ca)?;
        let admin = client_cert(&ca, "admin", &["system:masters"])?;
        let service_account = signing_key()?;
        Ok(ClusterCerts {
            ca,
            ca_pem,
            serving,
            admin,
            service_account,
        })
    }

    /// A client certificate for `user` in at most one `group`, for tests of RBAC with other
    /// identities. rcgen keeps one value per name attribute, so a certificate carries at
    /// most one O (group); bind roles to the user when more groups would be needed.
    pub fn client(&self, user: &str, group: Option<&str>) -> Result<PemPair, Error> {
        client_cert(&self.ca, user, group.as_slice())
    }
}

/// A self-signed CA allowed to sign leaves (and nothing below them).
fn new_ca() -> Result<(Issuer<'static, KeyPair>, String), Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name("securityhub-operator test CA", &[]);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((Issuer::new(params, key), cert.pem()))
}

/// The apiserver's TLS certificate; clients connect to 127.0.0.1, so the IP SAN matters.
fn serving_cert(ca: &Issuer<'static, KeyPair>) -> Result<PemPair, Error> {
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    params.distinguished_name = name("kube-apiserver", &[]);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign(params, ca)
}

/// A client certificate: the apiserver maps CN to the user name and each O to a group.
fn client_cert(ca: &Issuer<'static, KeyPair>, user: &str, groups: &[&str]) -> Result<PemPair, Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(user, groups);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign(params, ca)
}

/// An ECDSA P-256 key pair for signing service-account tokens (the apiserver accepts
/// RSA and ECDSA; ECDSA is much quicker to generate).
fn signing_key() -> Result<PemPair, Error> {
    let key = KeyPair::generate()?;
    Ok(PemPair {
        cert: key.public_key_pem(),
        key: key.serialize_pem(),
    })
}

fn sign(params: CertificateParams, ca: &Issuer<'static, KeyPair>) -> Result<PemPair, Error> {
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn name(common_name: &str, organization: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization.first() {
        dn.push(DnType::OrganizationName, *org);
    }
    dn
}
