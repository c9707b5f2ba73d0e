//! Bearer tokens and roles, checked by a middleware before any handler (and so before any extractor reads a
//! query string or a body). With no token configured the API is off: every `/api/v1` path answers 404
//! `api_disabled`, never an open API.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use hearth_config::ops::Role;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error_response;

/// A configured API token: the caller's name, its role, and a digest of the secret (the secret itself is not
/// kept, and comparing digests makes every comparison the same length).
#[derive(Clone)]
pub struct ApiToken {
    name: String,
    role: Role,
    digest: [u8; 32],
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

impl ApiToken {
    /// A token; `secret` is what callers send after `Bearer `. Empty secrets are refused.
    pub fn new(name: &str, role: Role, secret: &str) -> Option<ApiToken> {
        let secret = secret.trim();
        (!secret.is_empty()).then(|| ApiToken { name: name.to_owned(), role, digest: digest(secret) })
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Who is calling, for handlers and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// The API's tokens, replaceable while the engine runs (a configuration reload): each request checks against
/// the set current when it arrives.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Arc<std::sync::RwLock<Arc<[ApiToken]>>>);

impl Tokens {
    pub fn new(tokens: Vec<ApiToken>) -> Self {
        Tokens(Arc::new(std::sync::RwLock::new(Arc::from(tokens))))
    }

    /// The tokens now.
    pub fn current(&self) -> Arc<[ApiToken]> {
        Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Replaces every token at once (requests already authorised keep going).
    pub fn replace(&self, tokens: Vec<ApiToken>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::from(tokens);
    }
}

/// The middleware's state: every token, and the role the guarded routes need.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pub(crate) tokens: Tokens,
    pub(crate) need: Role,
}

/// 404 when the API is off, 401 without a valid bearer token, 403 when the role is not enough; else the request
/// goes on with its [`Caller`] attached.
pub(crate) async fn authorize(State(guard): State<Guard>, mut req: Request, next: Next) -> Response {
    let tokens = guard.tokens.current();
    if tokens.is_empty() {
        return error_response(StatusCode::NOT_FOUND, "api_disabled", "the admin API is off: no token is configured");
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let Some(caller) = presented.and_then(|p| find(&tokens, p)) else {
        let mut res = error_response(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
        res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return res;
    };
    if caller.role < guard.need {
        let message = format!("this needs the {} role", guard.need.as_str());
        return error_response(StatusCode::FORBIDDEN, "forbidden", &message);
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Compares against every token, without stopping at the first match, in constant time per token.
fn find(tokens: &[ApiToken], presented: &str) -> Option<Caller> {
    let d = digest(presented.trim());
    let mut found = None;
    for t in tokens {
        if bool::from(t.digest.ct_eq(&d)) && found.is_none() {
            found = Some(Caller { name: t.name.clone(), role: t.role });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_by_digest_only() {
        let tokens =
            [ApiToken::new("a", Role::Viewer, "s3cret").unwrap(), ApiToken::new("b", Role::Admin, "x").unwrap()];
        assert_eq!(find(&tokens, "s3cret"), Some(Caller { name: "a".into(), role: Role::Viewer }));
        assert_eq!(find(&tokens, "x").map(|c| c.role), Some(Role::Admin));
        assert_eq!(find(&tokens, "s3cre"), None);
        assert_eq!(find(&tokens, ""), None);
        assert!(ApiToken::new("e", Role::Admin, "  ").is_none());
        assert!(!format!("{:?}", tokens[0]).contains("s3cret"));
    }
}
