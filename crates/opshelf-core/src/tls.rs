//! Optional TLS for any listener (rustls, ring provider): Vault's `tls_cert_file` /
//! `tls_key_file` pair, loaded at start (and again on SIGHUP). The handshake itself runs in
//! each connection's task in [`crate::http::serve`], so a slow client never blocks the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What [`TlsFiles::load`] builds and [`crate::http::serve`] takes.
pub use rustls::ServerConfig;

use crate::config::ConfigError;

/// A certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TlsFiles {
    /// Both or neither: `cert` and `key` are the settings of one `[section]`, named in the
    /// error (`tls_cert_file`, `tls_key_file`) when only one is set.
    ///
    /// # Errors
    /// Exactly one of the two is set.
    pub fn from_pair(
        cert: Option<&PathBuf>,
        key: Option<&PathBuf>,
    ) -> Result<Option<Self>, ConfigError> {
        match (cert, key) {
            (Some(c), Some(k)) => Ok(Some(Self {
                cert_file: c.clone(),
                key_file: k.clone(),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::new(
                "tls_key_file",
                "a PEM private key file when tls_cert_file is set",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "tls_cert_file",
                "a PEM certificate file when tls_key_file is set",
            )),
        }
    }

    /// Read and check both files.
    ///
    /// # Errors
    /// A file that cannot be read, holds no certificate / key, or a key that does not
    /// match the certificate; the error names the setting and the file.
    pub fn load(&self) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
        let certs = read_certs(&self.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file).map_err(|e| {
            ConfigError::new(
                "tls_key_file",
                format!(
                    "a PEM private key (PKCS#8, PKCS#1 or SEC1) in {}: {e}",
                    self.key_file.display()
                ),
            )
        })?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new("tls_cert_file", format!("a usable TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ConfigError::new(
                "tls_key_file",
                format!(
                    "the private key of the certificate in {} ({e})",
                    self.cert_file.display()
                ),
            )
        })?;
        let mut config = config;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bad = |why: String| {
        ConfigError::new(
            "tls_cert_file",
            format!("a PEM certificate chain in {}: {why}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block found".to_owned()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_must_be_complete() {
        let p = PathBuf::from("x.pem");
        assert_eq!(TlsFiles::from_pair(None, None), Ok(None));
        assert_eq!(
            TlsFiles::from_pair(Some(&p), None).unwrap_err().key,
            "tls_key_file"
        );
        assert_eq!(
            TlsFiles::from_pair(None, Some(&p)).unwrap_err().key,
            "tls_cert_file"
        );
    }

    #[test]
    fn unreadable_or_empty_files_name_the_setting_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let files = TlsFiles {
            cert_file: empty.clone(),
            key_file: dir.path().join("missing.pem"),
        };
        let e = files.load().unwrap_err();
        assert_eq!(e.key, "tls_cert_file");
        assert!(e.expected.contains("empty.pem"), "{e}");
    }
}
