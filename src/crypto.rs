//! Small cryptographic helpers shared by features: random tokens and
//! keyed signatures of short messages.

use base64::Engine;
use hmac::Mac;

use crate::config::SecretKey;

/// A random URL-safe token of `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// `HMAC-SHA256(site key, message)`, URL-safe: proof that a link came from
/// this site, checked without storing anything.
pub fn sign(secret: &SecretKey, message: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(mac(secret, message).finalize().into_bytes())
}

/// Whether `signature` is [`sign`] of `message`, compared in constant time.
pub fn verify(secret: &SecretKey, message: &str, signature: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    mac(secret, message).verify_slice(&given).is_ok()
}

fn mac(secret: &SecretKey, message: &str) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose())
        .expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    mac
}
