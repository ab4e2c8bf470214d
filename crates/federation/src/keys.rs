//! RSA key pairs for local actors, generated with aws-lc-rs (fast native code rather than the
//! pure-Rust `rsa` crate) and stored as PEM: PKCS#8 for the private key, SPKI for the public key,
//! which is what ActivityPub peers expect in `publicKey.publicKeyPem`.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;

/// A freshly generated actor key pair in PEM form.
#[derive(Debug, Clone)]
pub struct ActorKeys {
    pub public_key_pem: String,
    pub private_key_pem: String,
}

#[derive(Debug, thiserror::Error)]
#[error("RSA key generation failed")]
pub struct KeyError;

/// Generate a 2048-bit RSA key pair for a new local actor.
pub fn generate_actor_keys() -> Result<ActorKeys, KeyError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError)?;
    let private: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| KeyError)?;
    let public: PublicKeyX509Der<'static> = pair.public_key().as_der().map_err(|_| KeyError)?;
    Ok(ActorKeys {
        public_key_pem: pem("PUBLIC KEY", public.as_ref()),
        private_key_pem: pem("PRIVATE KEY", private.as_ref()),
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_pem_and_parse_back() {
        let keys = generate_actor_keys().unwrap();
        assert!(keys
            .public_key_pem
            .starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(keys
            .private_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let body: String = keys
            .private_key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert!(KeyPair::from_pkcs8(&der).is_ok());
    }
}
