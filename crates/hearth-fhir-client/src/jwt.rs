//! SMART Backend Services client assertions: a JWT signed with RS384 or ES384 by ring (the crypto provider
//! rustls already uses, so no second crypto stack).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA384, RsaKeyPair};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use crate::error::Error;
use crate::settings::JwtAlg;

/// SMART requires `exp` at most five minutes ahead; a minute less leaves room for the server's clock.
pub(crate) const ASSERTION_LIFETIME: Duration = Duration::from_secs(240);

/// A private key ready to sign client assertions.
#[derive(Debug)]
pub(crate) struct SigningKey {
    key: Key,
    rng: SystemRandom,
}

#[derive(Debug)]
enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl SigningKey {
    /// Parses a PEM private key for `alg`: PKCS#8 (`BEGIN PRIVATE KEY`) for either algorithm, or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`) for RS384. The error never quotes the key.
    pub(crate) fn from_pem(alg: JwtAlg, pem: &str) -> Result<Self, Error> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| Error::Config(format!("auth.private_key: not a PEM private key ({e})")))?;
        let rng = SystemRandom::new();
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::Config(format!("auth.private_key: not a usable {what} key for {}: {e}", alg.as_str()))
        };
        let key = match (alg, &der) {
            (JwtAlg::Rs384, PrivateKeyDer::Pkcs8(k)) => {
                Key::Rsa(RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()).map_err(|e| bad("RSA", &e))?)
            }
            (JwtAlg::Rs384, PrivateKeyDer::Pkcs1(k)) => {
                Key::Rsa(RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(|e| bad("RSA", &e))?)
            }
            (JwtAlg::Es384, PrivateKeyDer::Pkcs8(k)) => Key::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, k.secret_pkcs8_der(), &rng)
                    .map_err(|e| bad("P-384", &e))?,
            ),
            (JwtAlg::Es384, PrivateKeyDer::Sec1(_)) => {
                return Err(Error::Config(
                    "auth.private_key: an `EC PRIVATE KEY` (SEC1) PEM; convert it to PKCS#8 with \
                     `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pk8.pem`"
                        .into(),
                ));
            }
            (_, _) => return Err(bad("private", &"wrong key type for this algorithm")),
        };
        Ok(Self { key, rng })
    }

    fn alg(&self) -> JwtAlg {
        match self.key {
            Key::Rsa(_) => JwtAlg::Rs384,
            Key::Ec(_) => JwtAlg::Es384,
        }
    }

    /// A signed client assertion: `iss` = `sub` = the client id, `aud` = the token URL, a fresh random `jti`,
    /// `exp` [`ASSERTION_LIFETIME`] after `now`.
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        kid: Option<&str>,
        now: SystemTime,
    ) -> Result<String, Error> {
        let mut header = json!({ "alg": self.alg().as_str(), "typ": "JWT" });
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        let iat = now.duration_since(UNIX_EPOCH).map_err(|_| Error::Config("the clock is before 1970".into()))?;
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "iat": iat.as_secs(),
            "exp": (iat + ASSERTION_LIFETIME).as_secs(),
            "jti": self.jti()?,
        });
        let signing_input = format!("{}.{}", b64_json(&header), b64_json(&claims));
        let signature = self.sign(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    fn jti(&self) -> Result<String, Error> {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes).map_err(|_| Error::Config("no system randomness for the JWT id".into()))?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = || Error::Config("signing the client assertion failed".into());
        match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA384, &self.rng, input, &mut sig).map_err(|_| failed())?;
                Ok(sig)
            }
            Key::Ec(k) => Ok(k.sign(&self.rng, input).map_err(|_| failed())?.as_ref().to_vec()),
        }
    }
}

fn b64_json(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[cfg(test)]
mod tests {
    use ring::signature::{ECDSA_P384_SHA384_FIXED, KeyPair, RSA_PKCS1_2048_8192_SHA384, UnparsedPublicKey};

    use super::*;

    fn key_file(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn parts(jwt: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
        let mut it = jwt.split('.');
        let (h, c, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let decode = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        (decode(h), decode(c), URL_SAFE_NO_PAD.decode(s).unwrap(), format!("{h}.{c}"))
    }

    #[test]
    fn rs384_and_es384_assertions_verify_with_the_public_key() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for (alg, file) in
            [(JwtAlg::Rs384, "rsa-test.pem"), (JwtAlg::Rs384, "rsa-test.pkcs1.pem"), (JwtAlg::Es384, "ec-test.pem")]
        {
            let key = SigningKey::from_pem(alg, &key_file(file)).unwrap();
            let jwt = key.assertion("hearth", "https://auth/token", Some("k1"), now).unwrap();
            let (header, claims, sig, input) = parts(&jwt);
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["kid"], "k1");
            assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("hearth"), Some("hearth")));
            assert_eq!(claims["aud"], "https://auth/token");
            assert_eq!(claims["exp"].as_u64().unwrap() - 1_700_000_000, ASSERTION_LIFETIME.as_secs());
            let public = match &key.key {
                Key::Rsa(k) => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA384, k.public_key().as_ref().to_vec()),
                Key::Ec(k) => UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, k.public_key().as_ref().to_vec()),
            };
            public.verify(input.as_bytes(), &sig).unwrap();
            let again = parts(&key.assertion("hearth", "https://auth/token", None, now).unwrap()).1;
            assert_ne!(claims["jti"], again["jti"], "jti must be unique");
        }
    }

    #[test]
    fn wrong_or_unsupported_keys_are_config_errors() {
        assert!(matches!(SigningKey::from_pem(JwtAlg::Es384, &key_file("rsa-test.pem")), Err(Error::Config(_))));
        assert!(matches!(SigningKey::from_pem(JwtAlg::Rs384, &key_file("ec-test.pem")), Err(Error::Config(_))));
        let sec1 = SigningKey::from_pem(JwtAlg::Es384, &key_file("ec-test.sec1.pem")).unwrap_err();
        assert!(sec1.to_string().contains("PKCS#8"), "{sec1}");
        assert!(SigningKey::from_pem(JwtAlg::Rs384, "not a key").is_err());
    }
}
