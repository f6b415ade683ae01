//! Public keys from PEM (RFC 7468): `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY`
//! (PKCS#1). One block, nothing but whitespace around it.

use super::alg::{Algorithm, Family};
use super::b64::decode_pem_body;
use super::der::{self, PublicKey};
use super::key::Key;
use super::JwtError;

/// Parses one PEM public key; `alg` pins it.
pub fn parse_pem(pem: &[u8], kid: Option<&str>, alg: Option<Algorithm>) -> Result<Key, JwtError> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| JwtError::BadKey("PEM is not ASCII"))?
        .trim();
    let (label, body) = split_block(text).ok_or(JwtError::BadKey("not a single PEM block"))?;
    let der = decode_pem_body(body.as_bytes()).ok_or(JwtError::BadKey("invalid base64 in PEM"))?;
    let public = match label {
        "PUBLIC KEY" => der::parse_spki(&der)?,
        "RSA PUBLIC KEY" => der::parse_pkcs1(&der)?,
        _ if label.contains("PRIVATE") => {
            return Err(JwtError::BadKey("a private key; give the public key"))
        }
        _ => {
            return Err(JwtError::Unsupported(
                "PEM label (use PUBLIC KEY or RSA PUBLIC KEY)",
            ))
        }
    };
    match public {
        PublicKey::Rsa { n, e } => Key::rsa(kid, alg, n, e),
        PublicKey::EcP256(point) => Key::ec(kid, alg, Family::EcP256, point),
        PublicKey::EcP384(point) => Key::ec(kid, alg, Family::EcP384, point),
        PublicKey::Ed25519(public) => Key::ed25519(kid, alg, public),
    }
}

/// `-----BEGIN L-----\n<body>\n-----END L-----` with the same label `L` → `(L, body)`.
fn split_block(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    let (body, end) = rest.rsplit_once("-----END ")?;
    (end.strip_suffix("-----")? == label && !label.contains('-') && !body.contains('-'))
        .then_some((label, body))
}
