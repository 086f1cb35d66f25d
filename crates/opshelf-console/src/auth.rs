//! Sign-in: users with argon2id password hashes, sessions whose token only the browser holds
//! (storage keeps its SHA-256), CSRF tokens, the login rate limit and the role rule.
//!
//! Storage keys: `user/<name>` ([`User`]), `session/<hex sha256(token)>` ([`SessionRecord`]).
//! The cookie is `HttpOnly; SameSite=Strict; Path=/` (and `Secure` on a TLS listener). A
//! change (any method but GET/HEAD) needs the session's CSRF token in `X-CSRF-Token` and, when
//! the browser sends one, an `Origin` equal to the listener's own; viewers change nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Error;
use crate::audit::now_ms;

/// The session cookie's name.
pub const COOKIE: &str = "opshelf_console";
/// The header a change carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Failures (per user name and per client address) after which sign-ins slow down.
pub const FREE_FAILURES: u32 = 10;
const MAX_DELAY_SECS: u64 = 300;

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Changes anything, manages users.
    Admin,
    /// Reads everything the console shows; changes nothing.
    Viewer,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// argon2id PHC string.
    pub hash: String,
    pub created_ms: u64,
}

/// A stored session (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user: String,
    pub csrf: String,
    pub expires_ms: u64,
}

/// A signed-in request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    /// The storage key of the session (for sign-out).
    pub key: String,
}

/// argon2id with OWASP's m = 7 MiB, t = 5, p = 1 (one of its equivalent settings; the
/// smallest memory, so a sign-in costs the process little RSS).
fn hasher() -> Argon2<'static> {
    // The constants are valid parameters.
    let params = Params::new(7 * 1024, 5, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a password (blocking: call from `spawn_blocking`).
///
/// # Errors
/// argon2 refusing the input (a password longer than it accepts).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::BadRequest(format!("password: {e}")))
}

/// Whether `password` matches the PHC string `hash` (blocking).
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A password a user may have.
///
/// # Errors
/// Shorter than 8 or longer than 256 characters.
pub fn check_password_rules(password: &str) -> Result<(), Error> {
    if password.chars().count() < 8 {
        return Err(Error::BadRequest(
            "a password needs at least 8 characters".into(),
        ));
    }
    if password.len() > 256 {
        return Err(Error::BadRequest("a password has at most 256 bytes".into()));
    }
    Ok(())
}

/// A user name: 1-64 of `[A-Za-z0-9._-]`.
///
/// # Errors
/// Anything else.
pub fn check_user_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(
            "a user name is 1-64 letters, digits, '.', '_' or '-'".into(),
        ))
    }
}

/// A fresh random token (hex of 32 bytes).
#[must_use]
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The storage key of a session token.
#[must_use]
pub fn session_key(token: &str) -> String {
    format!("session/{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// The `Set-Cookie` value for a new session.
#[must_use]
pub fn session_cookie(token: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
#[must_use]
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// The session token from the request's cookies.
#[must_use]
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, val)) = part.trim().split_once('=')
                && k == COOKIE
                && !val.is_empty()
                && val.len() <= 128
            {
                return Some(val.to_owned());
            }
        }
    }
    None
}

/// Whether the browser says this request comes from our own origin (or says nothing, as a
/// non-browser client does). `Origin` must equal `<scheme>://<Host>`; without it,
/// `Sec-Fetch-Site` (when sent) must be `same-origin` or `none`.
#[must_use]
pub fn same_origin(headers: &HeaderMap, tls: bool) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let scheme = if tls { "https" } else { "http" };
        return origin.to_str().ok() == Some(&format!("{scheme}://{host}"));
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin" | "none") => true,
        Some(_) => false,
    }
}

/// Whether the request is a change (needs CSRF and the admin role).
#[must_use]
pub fn is_change(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

/// Check a change's CSRF token and origin against the session.
///
/// # Errors
/// Forbidden when either is wrong.
pub fn check_change(parts: &Parts, session: &Session, tls: bool) -> Result<(), Error> {
    if !same_origin(&parts.headers, tls) {
        return Err(Error::Forbidden("cross-origin request refused"));
    }
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
        return Err(Error::Forbidden("missing or wrong CSRF token"));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed sign-ins per key (`user:<name>`, `ip:<addr>`): after [`FREE_FAILURES`], each
/// further attempt waits 2^(n-10) seconds (at most five minutes) after the last failure.
/// In memory: a restart forgets, which only helps someone who can restart the server.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginLimiter {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Failures>) -> R) -> R {
        f(&mut self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Refuse when any key is in its waiting time; `Err(seconds left)`.
    ///
    /// # Errors
    /// [`Error::TooManyAttempts`].
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Error> {
        self.with(|m| {
            for k in keys {
                if let Some(f) = m.get(k)
                    && f.count >= FREE_FAILURES
                {
                    let wait = Duration::from_secs(
                        1u64.checked_shl(f.count - FREE_FAILURES)
                            .unwrap_or(MAX_DELAY_SECS)
                            .min(MAX_DELAY_SECS),
                    );
                    let since = now.saturating_duration_since(f.last);
                    if since < wait {
                        return Err(Error::TooManyAttempts((wait - since).as_secs().max(1)));
                    }
                }
            }
            Ok(())
        })
    }

    /// Count a failure for every key.
    pub fn failed(&self, keys: &[String], now: Instant) {
        self.with(|m| {
            if m.len() > 100_000 {
                m.retain(|_, f| now.saturating_duration_since(f.last) < Duration::from_secs(3600));
            }
            for k in keys {
                let f = m.entry(k.clone()).or_insert(Failures {
                    count: 0,
                    last: now,
                });
                f.count = f.count.saturating_add(1);
                f.last = now;
            }
        });
    }

    /// Forget the keys' failures (a successful sign-in).
    pub fn succeeded(&self, keys: &[String]) {
        self.with(|m| {
            for k in keys {
                m.remove(k);
            }
        });
    }
}

/// A session record, if it is still valid now.
#[must_use]
pub fn live(record: &SessionRecord) -> bool {
    record.expires_ms > now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(check_password_rules("short").is_err());
        assert!(check_user_name("a b").is_err());
        check_user_name("ops.alice-1").unwrap();
    }

    #[test]
    fn ten_failures_slow_the_next_attempt() {
        let l = LoginLimiter::default();
        let keys = vec!["user:admin".to_owned()];
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            l.check(&keys, t0).unwrap();
            l.failed(&keys, t0);
        }
        assert!(matches!(l.check(&keys, t0), Err(Error::TooManyAttempts(1))));
        // After the wait it may try again; another failure doubles the wait.
        let t1 = t0 + Duration::from_secs(1);
        l.check(&keys, t1).unwrap();
        l.failed(&keys, t1);
        assert!(matches!(
            l.check(&keys, t1 + Duration::from_secs(1)),
            Err(Error::TooManyAttempts(1))
        ));
        l.check(&keys, t1 + Duration::from_secs(2)).unwrap();
        l.succeeded(&keys);
        l.check(&keys, t1).unwrap();
        // Other keys are not affected.
        l.check(&["user:bob".to_owned()], t0).unwrap();
    }

    #[test]
    fn cookies_and_origins() {
        let c = session_cookie("abc", Duration::from_secs(60), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!session_cookie("abc", Duration::from_secs(60), false).contains("Secure"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; opshelf_console=tok; c=d"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("tok"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
        assert!(same_origin(&h, false));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9000"),
        );
        assert!(same_origin(&h, false));
        assert!(!same_origin(&h, true));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h, false));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, false));
    }
}
