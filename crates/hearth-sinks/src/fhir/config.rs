//! `[destinations.<name>] type = "fhir"`: the keys only a FHIR server destination has (the base URL, how it
//! authenticates, extra headers, timeouts), raw and validated, and the client settings they build. The keys
//! every destination has (retries, `max_in_flight`, `exclude`, `required`) are the registry's.
//!
//! Validation reads no secret and opens no connection (`hearth check` probes nothing): the URL, the header
//! names and values and the shape of the auth settings are checked with the client's own rules, using
//! placeholders for the secrets. Secrets and the SMART key file are read when the destination starts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hearth_core::config::{Problems, SecretSource};
use hearth_fhir_client::{Auth, ClientAuthMethod, ClientSettings, JwtAlg};
use serde::Deserialize;

/// The FHIR keys of a destination table, exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFhirDestination {
    pub base_url: String,
    pub auth: Option<RawAuth>,
    /// Extra headers on every request to the server (not to the token endpoint).
    pub headers: Option<BTreeMap<String, String>>,
    pub connect_timeout_ms: Option<u64>,
    pub request_timeout_ms: Option<u64>,
}

/// `auth = { type = "...", ... }`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawAuth {
    None,
    Basic {
        username: String,
        password_env: Option<String>,
        password_file: Option<PathBuf>,
    },
    Bearer {
        token_env: Option<String>,
        token_file: Option<PathBuf>,
    },
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret_env: Option<String>,
        client_secret_file: Option<PathBuf>,
        scope: Option<String>,
        /// `basic` (default) or `post`.
        client_auth: Option<String>,
    },
    SmartBackend {
        token_url: String,
        client_id: String,
        /// PEM: PKCS#8 `PRIVATE KEY` (RS384 or ES384) or `RSA PRIVATE KEY` (RS384).
        private_key_file: PathBuf,
        /// `RS384` or `ES384`.
        alg: String,
        kid: Option<String>,
        scope: Option<String>,
    },
}

/// A validated FHIR destination (secrets named, not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirDestinationPlan {
    pub base_url: String,
    pub auth: AuthPlan,
    pub headers: Vec<(String, String)>,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
}

/// How the destination authenticates; secrets as sources, read at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthPlan {
    None,
    Basic {
        username: String,
        password: SecretSource,
    },
    Bearer {
        token: SecretSource,
    },
    ClientCredentials {
        token_url: String,
        client_id: String,
        secret: SecretSource,
        scope: Option<String>,
        post: bool,
    },
    SmartBackend {
        token_url: String,
        client_id: String,
        key_file: PathBuf,
        alg: JwtAlg,
        kid: Option<String>,
        scope: Option<String>,
    },
}

/// Stands in for a secret during validation (never sent anywhere).
const PLACEHOLDER: &str = "placeholder";

/// Validates the FHIR keys of destination `key`.
pub fn validate(raw: RawFhirDestination, key: &str, problems: &mut Problems) -> FhirDestinationPlan {
    let auth_key = format!("{key}.auth");
    let auth = match raw.auth.unwrap_or(RawAuth::None) {
        RawAuth::None => AuthPlan::None,
        RawAuth::Basic { username, password_env, password_file } => {
            let password =
                SecretSource::from_keys(password_env, password_file, &auth_key, "password", Some(&auth_key), problems);
            AuthPlan::Basic { username, password }
        }
        RawAuth::Bearer { token_env, token_file } => AuthPlan::Bearer {
            token: SecretSource::from_keys(token_env, token_file, &auth_key, "token", Some(&auth_key), problems),
        },
        RawAuth::ClientCredentials {
            token_url,
            client_id,
            client_secret_env,
            client_secret_file,
            scope,
            client_auth,
        } => {
            let secret = SecretSource::from_keys(
                client_secret_env,
                client_secret_file,
                &auth_key,
                "client_secret",
                Some(&auth_key),
                problems,
            );
            let post = match client_auth.as_deref() {
                None | Some("basic") => false,
                Some("post") => true,
                Some(other) => {
                    problems.add(format!("{auth_key}.client_auth"), format!("{other:?} is not \"basic\" or \"post\""));
                    false
                }
            };
            AuthPlan::ClientCredentials { token_url, client_id, secret, scope, post }
        }
        RawAuth::SmartBackend { token_url, client_id, private_key_file, alg, kid, scope } => {
            let alg = match alg.as_str() {
                "RS384" => JwtAlg::Rs384,
                "ES384" => JwtAlg::Es384,
                other => {
                    problems.add(format!("{auth_key}.alg"), format!("{other:?} is not \"RS384\" or \"ES384\""));
                    JwtAlg::Es384
                }
            };
            if private_key_file.as_os_str().is_empty() {
                problems.add(format!("{auth_key}.private_key_file"), "must name a file");
            }
            AuthPlan::SmartBackend { token_url, client_id, key_file: private_key_file, alg, kid, scope }
        }
    };
    let plan = FhirDestinationPlan {
        base_url: raw.base_url,
        auth,
        headers: raw.headers.unwrap_or_default().into_iter().collect(),
        connect_timeout_ms: raw.connect_timeout_ms.unwrap_or(5_000),
        request_timeout_ms: raw.request_timeout_ms.unwrap_or(30_000),
    };
    // The client's own rules, with placeholder secrets (a SMART key is checked when it is read, at start).
    if let Err(e) = plan.settings_with(placeholder_auth(&plan.auth), 1).validate() {
        problems.add(key.to_owned(), e.to_string());
    }
    plan
}

/// The auth settings with placeholders for secrets, for validation only. A SMART destination is checked as
/// client credentials (same URL and client id rules); its key is parsed at start.
fn placeholder_auth(auth: &AuthPlan) -> Auth {
    let secret = PLACEHOLDER.to_owned();
    match auth {
        AuthPlan::None => Auth::None,
        AuthPlan::Basic { username, .. } => Auth::Basic { username: username.clone(), password: secret },
        AuthPlan::Bearer { .. } => Auth::Bearer { token: secret },
        AuthPlan::ClientCredentials { token_url, client_id, scope, .. }
        | AuthPlan::SmartBackend { token_url, client_id, scope, .. } => Auth::ClientCredentials {
            token_url: token_url.clone(),
            client_id: client_id.clone(),
            client_secret: secret,
            scope: scope.clone(),
            client_auth: ClientAuthMethod::Basic,
        },
    }
}

impl FhirDestinationPlan {
    /// The destination's part of its topology line (`hearth check`).
    pub fn describe(&self) -> String {
        let auth = match &self.auth {
            AuthPlan::None => "none",
            AuthPlan::Basic { .. } => "basic",
            AuthPlan::Bearer { .. } => "bearer",
            AuthPlan::ClientCredentials { .. } => "client_credentials",
            AuthPlan::SmartBackend { .. } => "smart_backend",
        };
        let headers = if self.headers.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
            format!(", headers {}", names.join(" "))
        };
        format!("fhir {} auth {auth}{headers}, timeout {} ms", self.base_url, self.request_timeout_ms)
    }

    /// The client settings, secrets and the SMART key read now (the only IO).
    pub fn client_settings(&self, max_in_flight: usize) -> Result<ClientSettings, String> {
        let read = |s: &SecretSource, what: &str| -> Result<String, String> {
            s.resolve().map_err(|e| format!("auth {what}: {e}"))?.ok_or_else(|| format!("auth {what}: not configured"))
        };
        let auth = match &self.auth {
            AuthPlan::None => Auth::None,
            AuthPlan::Basic { username, password } => {
                Auth::Basic { username: username.clone(), password: read(password, "password")? }
            }
            AuthPlan::Bearer { token } => Auth::Bearer { token: read(token, "token")? },
            AuthPlan::ClientCredentials { token_url, client_id, secret, scope, post } => Auth::ClientCredentials {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: read(secret, "client_secret")?,
                scope: scope.clone(),
                client_auth: if *post { ClientAuthMethod::Post } else { ClientAuthMethod::Basic },
            },
            AuthPlan::SmartBackend { token_url, client_id, key_file, alg, kid, scope } => Auth::SmartBackend {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                private_key_pem: std::fs::read_to_string(key_file)
                    .map_err(|e| format!("auth.private_key_file {}: {e}", key_file.display()))?,
                alg: *alg,
                kid: kid.clone(),
                scope: scope.clone(),
            },
        };
        let settings = self.settings_with(auth, max_in_flight);
        settings.validate().map_err(|e| e.to_string())?;
        Ok(settings)
    }

    fn settings_with(&self, auth: Auth, max_in_flight: usize) -> ClientSettings {
        let mut s = ClientSettings::new(self.base_url.clone());
        s.auth = auth;
        s.headers = self.headers.clone();
        s.connect_timeout_ms = self.connect_timeout_ms;
        s.request_timeout_ms = self.request_timeout_ms;
        s.max_in_flight = max_in_flight;
        s
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::registry::{self, DestinationKind, RawDestination};

    fn plan(toml_text: &str) -> Result<Vec<crate::DestinationPlan>, Vec<String>> {
        let raw: BTreeMap<String, RawDestination> = toml::from_str(toml_text).map_err(|e| vec![e.to_string()])?;
        let mut problems = Problems::default();
        let plans = registry::validate(Some(raw), &mut problems);
        if problems.is_empty() {
            Ok(plans)
        } else {
            Err(problems.into_vec().into_iter().map(|p| p.path + ": " + &p.message).collect())
        }
    }

    #[test]
    fn a_fhir_destination_validates_with_each_auth_and_probes_nothing() {
        let plans = plan(
            r#"
            [ehr]
            type = "fhir"
            base_url = "https://fhir.example.org/r4"
            max_attempts = 5
            auth = { type = "client_credentials", token_url = "https://auth.example.org/token", client_id = "hearth", client_secret_env = "EHR_SECRET", client_auth = "post" }
            headers = { X-Tenant = "north" }
            [portal]
            type = "fhir"
            base_url = "http://127.0.0.1:1/fhir"
            auth = { type = "smart_backend", token_url = "https://auth.example.org/token", client_id = "hearth", private_key_file = "/nonexistent/key.pem", alg = "ES384" }
            [open]
            type = "fhir"
            base_url = "http://127.0.0.1:1/fhir"
            "#,
        )
        .unwrap();
        let DestinationKind::Fhir(ehr) = &plans[0].kind else { panic!("fhir") };
        assert_eq!(plans[0].max_in_flight, 8, "an HTTP destination's default");
        assert_eq!(plans[0].retry.max_attempts, 5);
        assert_eq!(ehr.headers, [("X-Tenant".to_owned(), "north".to_owned())]);
        assert!(
            matches!(&ehr.auth, AuthPlan::ClientCredentials { secret: SecretSource::Env(v), post: true, .. } if v == "EHR_SECRET")
        );
        assert_eq!(
            plans[0].describe(),
            "dest     ehr          fhir https://fhir.example.org/r4 auth client_credentials, headers X-Tenant, timeout 30000 ms, \
             retry 5x 1000..300000 ms, in flight 8\n"
        );
        // The SMART key is not read by validation (a missing file is a start-up error, not a check error).
        let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ehr", "open", "portal"]);
        let DestinationKind::Fhir(portal) = &plans[2].kind else { panic!("fhir") };
        assert!(portal.client_settings(8).unwrap_err().contains("private_key_file"));
        let DestinationKind::Fhir(open) = &plans[1].kind else { panic!("fhir") };
        assert_eq!(open.client_settings(8).unwrap().base_url, "http://127.0.0.1:1/fhir");
    }

    #[test]
    fn bad_urls_auth_and_headers_are_problems_at_their_keys() {
        let bad = |extra: &str| plan(&format!("[d]\ntype = \"fhir\"\n{extra}\n")).unwrap_err().join("\n");
        assert!(bad("base_url = \"ftp://x/fhir\"").contains("destinations.d: invalid FHIR client settings: base_url"));
        assert!(bad("base_url = \"http://u:p@x/fhir\"").contains("credentials belong in auth"));
        assert!(
            bad("base_url = \"http://x/fhir\"\nauth = { type = \"bearer\" }")
                .contains("destinations.d.auth: give exactly one of token_env")
        );
        assert!(
            bad("base_url = \"http://x/fhir\"\nauth = { type = \"bearer\", token_env = \"A\", token_file = \"/b\" }")
                .contains("destinations.d.auth.token_env: give token_env or token_file, not both")
        );
        assert!(
            bad("base_url = \"http://x/fhir\"\nauth = { type = \"client_credentials\", token_url = \"nope\", client_id = \"c\", client_secret_env = \"S\" }")
                .contains("auth.token_url")
        );
        assert!(
            bad("base_url = \"http://x/fhir\"\nauth = { type = \"smart_backend\", token_url = \"https://a/t\", client_id = \"c\", private_key_file = \"k\", alg = \"HS256\" }")
                .contains("destinations.d.auth.alg")
        );
        assert!(bad("base_url = \"http://x/fhir\"\nheaders = { Authorization = \"x\" }").contains("destinations.d:"));
        assert!(bad("base_url = \"http://x/fhir\"\nexchange = \"x\"").contains("unknown field"));
        assert!(bad("base_url = \"http://x/fhir\"\nmax_in_flight = 0").contains("destinations.d.max_in_flight"));
    }

    #[test]
    fn secrets_are_read_at_start_and_a_missing_one_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cr3t\n").unwrap();
        let mut p = FhirDestinationPlan {
            base_url: "http://127.0.0.1:1/fhir".into(),
            auth: AuthPlan::Bearer { token: SecretSource::File(token) },
            headers: vec![],
            connect_timeout_ms: 1000,
            request_timeout_ms: 1000,
        };
        assert_eq!(p.client_settings(4).unwrap().auth, Auth::Bearer { token: "s3cr3t".into() });
        p.auth = AuthPlan::Bearer { token: SecretSource::Env("HEARTH_TEST_SURELY_UNSET_VAR".into()) };
        assert!(p.client_settings(4).unwrap_err().contains("HEARTH_TEST_SURELY_UNSET_VAR"));
    }
}
