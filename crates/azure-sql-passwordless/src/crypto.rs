//! The TLS crypto provider for every TLS connection the library makes (Entra over HTTPS through
//! reqwest, Azure SQL through tiberius): rustls with `ring`, unless the application installed a
//! process-wide default of its own, which is then used as is.
//!
//! Why `ring` and not rustls's default `aws-lc-rs`: a program that makes one connection and
//! exits (the `customers` demo, a Kubernetes job, a CLI) paid about half its CPU in aws-lc's
//! first use of its random generator, which seeds itself from CPU jitter entropy (`jent_*`: it
//! times thousands of memory accesses) before the first handshake; `ring` takes its randomness
//! from the kernel (`getrandom`), like the rest of the process. The TLS behaviour is the same:
//! TLS 1.2 and 1.3, the same cipher suites (AES-GCM, ChaCha20-Poly1305), certificates verified
//! by the same webpki verifier against the same roots, with RSA (PKCS#1, PSS), ECDSA P-256/P-384
//! and Ed25519 signatures. What `ring` lacks: the post-quantum hybrid key exchange
//! X25519MLKEM768 that aws-lc-rs offers first (the handshake then agrees on X25519 or P-256, as
//! it does with any server that does not speak ML-KEM) and ECDSA P-521 signatures (Azure's TLS
//! certificates are RSA or ECDSA P-384). An application that wants aws-lc-rs (for FIPS, or
//! post-quantum key exchange) installs it, before it builds a pool or a connector, with
//! `rustls::crypto::aws_lc_rs::default_provider().install_default()`.

use std::sync::Once;

/// Installs `ring` as rustls's process-wide default provider unless one is already installed.
/// reqwest (built with `rustls-no-provider`) and tiberius both take the installed default.
pub(crate) fn install_default_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err only if another thread installed one in between: then that one is used.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_is_installed_and_it_speaks_tls_1_2_and_1_3() {
        install_default_provider();
        let provider = rustls::crypto::CryptoProvider::get_default().expect("installed");
        let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
        assert!(
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&versions)
                .is_ok(),
            "TLS 1.3 and 1.2 offered"
        );
        let suites: Vec<_> = provider.cipher_suites.iter().map(|s| s.suite()).collect();
        for suite in [
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ] {
            assert!(suites.contains(&suite), "{suite:?} offered");
        }
    }
}
