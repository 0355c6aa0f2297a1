//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616):
//! MD5 and SHA-256, `qop=auth`, nonce counts and client nonces, on both sides.
//!
//! - [`DigestClient`] answers 401/407 challenges by adding Authorization /
//!   Proxy-Authorization to a retried request, at most once per nonce (a
//!   second challenge with the same nonce and no `stale=true` means the
//!   credentials are wrong).
//! - [`DigestServer`] issues challenges with self-validating, expiring
//!   nonces (the nonce is a timestamp and a keyed digest of it, so the
//!   server keeps no state) and verifies credentials; an expired nonce gets
//!   a new challenge with `stale=true`.
//!
//! Time for nonces is a `now_unix_secs: u64` argument: no clock inside.

use crate::wire::{AuthParams, FromHeader, HeaderAccess, Method, Request, Response, Uri};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write;

/// A digest algorithm (RFC 7616 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617), the SIP default when none is named.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// Parses an `algorithm` token, case-insensitively.
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "MD5-SESS" => Some(Algorithm::Md5Sess),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-256-SESS" => Some(Algorithm::Sha256Sess),
            _ => None,
        }
    }

    /// The token as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Lowercase hex digest of `data`.
    pub fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The response carries no challenge we can answer (no Digest, or an unknown algorithm or qop).
    #[error("no usable digest challenge")]
    NoUsableChallenge,
    /// The server challenged again with a nonce we already answered: wrong credentials.
    #[error("credentials rejected for realm {0:?}")]
    Rejected(String),
    /// A header was malformed.
    #[error("malformed authentication header: {0}")]
    Malformed(&'static str),
}

/// The inputs of one digest computation (RFC 7616 §3.4.1).
#[derive(Debug, Clone)]
pub struct DigestInput<'a> {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// User name.
    pub username: &'a str,
    /// Realm.
    pub realm: &'a str,
    /// Password.
    pub password: &'a str,
    /// Request method.
    pub method: &'a str,
    /// The digest-uri (the Request-URI as text).
    pub uri: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// `Some((nc, cnonce))` for `qop=auth`; `None` for the RFC 2069 form.
    pub qop_auth: Option<(u32, &'a str)>,
}

/// The `response` value (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1).
pub fn digest_response(i: &DigestInput<'_>) -> String {
    let h = |s: &str| i.algorithm.hash(s);
    let mut ha1 = h(&format!("{}:{}:{}", i.username, i.realm, i.password));
    if i.algorithm.is_sess() {
        let cnonce = i.qop_auth.map(|q| q.1).unwrap_or("");
        ha1 = h(&format!("{ha1}:{}:{cnonce}", i.nonce));
    }
    let ha2 = h(&format!("{}:{}", i.method, i.uri));
    match i.qop_auth {
        Some((nc, cnonce)) => h(&format!("{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}", i.nonce)),
        None => h(&format!("{ha1}:{}:{ha2}", i.nonce)),
    }
}

/// A parsed Digest challenge (WWW-Authenticate or Proxy-Authenticate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Realm.
    pub realm: String,
    /// Nonce.
    pub nonce: String,
    /// Opaque, echoed back.
    pub opaque: Option<String>,
    /// Algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// Whether `qop` offers `auth`.
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired but the credentials were right.
    pub stale: bool,
}

impl Challenge {
    /// Reads a Digest challenge; `None` if not Digest, or its algorithm or qop is unusable.
    pub fn from_params(p: &AuthParams) -> Option<Challenge> {
        if !p.scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let algorithm = match p.get("algorithm") {
            Some(a) => Algorithm::parse(a)?,
            None => Algorithm::Md5,
        };
        let qop_auth = match p.get("qop") {
            Some(q) => {
                let auth = q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth"));
                if !auth {
                    return None; // only auth-int offered
                }
                true
            }
            None => false,
        };
        Some(Challenge {
            realm: p.get("realm")?.to_string(),
            nonce: p.get("nonce")?.to_string(),
            opaque: p.get("opaque").map(str::to_string),
            algorithm,
            qop_auth,
            stale: p.get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The header value.
    pub fn to_params(&self) -> AuthParams {
        let mut p = AuthParams::new("Digest");
        p.push("realm", &self.realm, true);
        p.push("nonce", &self.nonce, true);
        if let Some(o) = &self.opaque {
            p.push("opaque", o, true);
        }
        p.push("algorithm", self.algorithm.as_str(), false);
        if self.qop_auth {
            p.push("qop", "auth", true);
        }
        if self.stale {
            p.push("stale", "true", false);
        }
        p
    }
}

/// The client side: answers challenges for one set of credentials.
#[derive(Debug, Clone)]
pub struct DigestClient {
    username: String,
    password: String,
    /// Nonce counts per (realm, nonce) already answered.
    answered: HashMap<(String, String), u32>,
    /// The latest challenge per realm, for preemptive credentials.
    latest: HashMap<String, (Challenge, bool)>,
}

impl DigestClient {
    /// A client for `username`/`password`.
    pub fn new(username: &str, password: &str) -> DigestClient {
        DigestClient { username: username.into(), password: password.into(), answered: HashMap::new(), latest: HashMap::new() }
    }

    /// Adds credentials answering the 401/407 `resp` to `req` (the request to
    /// retry; the caller bumps its CSeq and gives it a new branch).
    /// `cnonce` is a fresh client nonce. Prefers SHA-256 over MD5 when both are
    /// offered. Fails with [`AuthError::Rejected`] when every challenge's nonce
    /// was already answered and none says `stale=true`.
    pub fn answer(&mut self, resp: &Response, req: &mut Request, cnonce: &str) -> Result<(), AuthError> {
        let proxy = resp.status == 407;
        let name = if proxy { "Proxy-Authenticate" } else { "WWW-Authenticate" };
        let mut by_realm: HashMap<String, Challenge> = HashMap::new();
        for line in resp.header_lines(name) {
            let Some(c) = AuthParams::from_header(line).ok().as_ref().and_then(Challenge::from_params) else { continue };
            let better = by_realm.get(&c.realm).is_none_or(|old| old.algorithm == Algorithm::Md5 && c.algorithm == Algorithm::Sha256);
            if better {
                by_realm.insert(c.realm.clone(), c);
            }
        }
        if by_realm.is_empty() {
            return Err(AuthError::NoUsableChallenge);
        }
        let header = if proxy { "Proxy-Authorization" } else { "Authorization" };
        let mut realms: Vec<_> = by_realm.into_values().collect();
        realms.sort_by(|a, b| a.realm.cmp(&b.realm));
        for c in &realms {
            if self.answered.contains_key(&(c.realm.clone(), c.nonce.clone())) && !c.stale {
                return Err(AuthError::Rejected(c.realm.clone()));
            }
        }
        req.headers.remove(header);
        for c in realms {
            self.latest.insert(c.realm.clone(), (c.clone(), proxy));
            let creds = self.credentials(&c, req, cnonce);
            req.headers.push(header, creds.to_string());
        }
        Ok(())
    }

    /// Adds credentials for the challenges seen so far to a new request
    /// (preemptive authentication with the next nonce count).
    pub fn authorize(&mut self, req: &mut Request, cnonce: &str) {
        let latest: Vec<(Challenge, bool)> = self.latest.values().cloned().collect();
        for (c, proxy) in latest {
            let header = if proxy { "Proxy-Authorization" } else { "Authorization" };
            let creds = self.credentials(&c, req, cnonce);
            req.headers.push(header, creds.to_string());
        }
    }

    fn credentials(&mut self, c: &Challenge, req: &Request, cnonce: &str) -> AuthParams {
        let nc = self.answered.entry((c.realm.clone(), c.nonce.clone())).or_insert(0);
        *nc += 1;
        let nc = *nc;
        let uri = req.uri.to_string();
        let response = digest_response(&DigestInput {
            algorithm: c.algorithm,
            username: &self.username,
            realm: &c.realm,
            password: &self.password,
            method: req.method.as_str(),
            uri: &uri,
            nonce: &c.nonce,
            qop_auth: c.qop_auth.then_some((nc, cnonce)),
        });
        let mut p = AuthParams::new("Digest");
        p.push("username", &self.username, true);
        p.push("realm", &c.realm, true);
        p.push("nonce", &c.nonce, true);
        p.push("uri", &uri, true);
        p.push("response", &response, true);
        p.push("algorithm", c.algorithm.as_str(), false);
        if c.qop_auth {
            p.push("qop", "auth", false);
            p.push("nc", &format!("{nc:08x}"), false);
            p.push("cnonce", cnonce, true);
        }
        if let Some(o) = &c.opaque {
            p.push("opaque", o, true);
        }
        p
    }
}

/// Why the server refused credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No credentials for our realm: challenge.
    #[error("no credentials")]
    NoCredentials,
    /// The nonce is not one we issued.
    #[error("nonce not issued here")]
    BadNonce,
    /// The nonce expired: challenge again with `stale=true`.
    #[error("nonce expired")]
    Stale,
    /// The user is unknown.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// The digest does not match (wrong password), or the uri differs from the Request-URI.
    #[error("wrong credentials for {0:?}")]
    WrongCredentials(String),
}

/// What the server should do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The request is authenticated as this user.
    Authorized(String),
    /// Send this 401/407 (with a fresh challenge); `Denied` says why.
    Challenge(Box<Response>, Denied),
}

/// The server side: stateless expiring nonces and credential checks.
#[derive(Debug, Clone)]
pub struct DigestServer {
    /// The realm we challenge for.
    pub realm: String,
    /// The algorithm we offer.
    pub algorithm: Algorithm,
    /// How long a nonce is valid, in seconds.
    pub nonce_lifetime_secs: u64,
    /// Challenge as a proxy (407, Proxy-Authenticate) rather than a UAS (401).
    pub proxy: bool,
    secret: Vec<u8>,
}

impl DigestServer {
    /// A server for `realm` whose nonces are keyed with `secret` (random, kept private).
    pub fn new(realm: &str, secret: &[u8]) -> DigestServer {
        DigestServer { realm: realm.into(), algorithm: Algorithm::Md5, nonce_lifetime_secs: 300, proxy: false, secret: secret.to_vec() }
    }

    fn nonce_mac(&self, ts: u64) -> String {
        let mut h = Sha256::new();
        h.update(&self.secret);
        h.update(format!(":{ts:x}:{}:", self.realm).as_bytes());
        h.update(&self.secret);
        hex(&h.finalize()[..16])
    }

    /// A nonce for `now_unix_secs`: the timestamp and a keyed digest of it.
    pub fn nonce(&self, now_unix_secs: u64) -> String {
        format!("{now_unix_secs:x}.{}", self.nonce_mac(now_unix_secs))
    }

    /// A challenge with a fresh nonce.
    pub fn challenge(&self, now_unix_secs: u64, stale: bool) -> Challenge {
        Challenge { realm: self.realm.clone(), nonce: self.nonce(now_unix_secs), opaque: None, algorithm: self.algorithm, qop_auth: true, stale }
    }

    fn check_nonce(&self, nonce: &str, now: u64) -> Result<(), Denied> {
        let (ts, mac) = nonce.split_once('.').ok_or(Denied::BadNonce)?;
        let ts = u64::from_str_radix(ts, 16).map_err(|_| Denied::BadNonce)?;
        if mac != self.nonce_mac(ts) || ts > now + 5 {
            return Err(Denied::BadNonce);
        }
        if now - ts.min(now) > self.nonce_lifetime_secs {
            return Err(Denied::Stale);
        }
        Ok(())
    }

    /// Checks one credentials header against `method`/`request_uri`.
    /// `password_of` returns the user's password.
    pub fn verify(
        &self,
        creds: &AuthParams,
        method: &Method,
        request_uri: &str,
        password_of: impl Fn(&str) -> Option<String>,
        now_unix_secs: u64,
    ) -> Result<String, Denied> {
        let g = |n| creds.get(n).ok_or(Denied::NoCredentials);
        if !creds.scheme.eq_ignore_ascii_case("Digest") || g("realm")? != self.realm {
            return Err(Denied::NoCredentials);
        }
        let user = g("username")?.to_string();
        let nonce = g("nonce")?;
        self.check_nonce(nonce, now_unix_secs)?;
        let uri = g("uri")?;
        let same_uri = uri == request_uri || matches!((Uri::parse(uri), Uri::parse(request_uri)), (Ok(a), Ok(b)) if a == b);
        if !same_uri {
            return Err(Denied::WrongCredentials(user));
        }
        let algorithm = creds.get("algorithm").map_or(Some(Algorithm::Md5), Algorithm::parse).ok_or(Denied::WrongCredentials(user.clone()))?;
        let qop = match creds.get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = u32::from_str_radix(g("nc")?, 16).map_err(|_| Denied::WrongCredentials(user.clone()))?;
                Some((nc, g("cnonce")?))
            }
            Some(_) => return Err(Denied::WrongCredentials(user)),
            None => None,
        };
        let password = password_of(&user).ok_or_else(|| Denied::UnknownUser(user.clone()))?;
        let expected = digest_response(&DigestInput {
            algorithm,
            username: &user,
            realm: &self.realm,
            password: &password,
            method: method.as_str(),
            uri,
            nonce,
            qop_auth: qop,
        });
        if expected.eq_ignore_ascii_case(g("response")?) { Ok(user) } else { Err(Denied::WrongCredentials(user)) }
    }

    /// Checks a request's Authorization (or Proxy-Authorization) for our
    /// realm and says whether to accept it or which challenge to send.
    pub fn verify_request(&self, req: &Request, password_of: impl Fn(&str) -> Option<String>, now_unix_secs: u64) -> Verdict {
        let (header, status, challenge_header) =
            if self.proxy { ("Proxy-Authorization", 407, "Proxy-Authenticate") } else { ("Authorization", 401, "WWW-Authenticate") };
        let uri = req.uri.to_string();
        let mut why = Denied::NoCredentials;
        let mut challenge = self.challenge(now_unix_secs, false);
        for line in req.header_lines(header) {
            let Ok(p) = AuthParams::from_header(line) else { continue };
            match self.verify(&p, &req.method, &uri, &password_of, now_unix_secs) {
                Ok(user) => return Verdict::Authorized(user),
                Err(Denied::NoCredentials) => {}
                Err(e) => {
                    challenge.stale = e == Denied::Stale;
                    if matches!(e, Denied::WrongCredentials(_) | Denied::UnknownUser(_)) {
                        // Re-issue the (valid) nonce the client used, so that it
                        // sees its answer was refused rather than retrying.
                        challenge.nonce = p.get("nonce").unwrap_or_default().to_string();
                    }
                    why = e;
                    break;
                }
            }
        }
        let resp = Response::for_request(req, status, None, None).with_header(challenge_header, challenge.to_params().to_string());
        Verdict::Challenge(Box::new(resp), why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_mufasa_example() {
        // RFC 2617 §3.5.
        let r = digest_response(&DigestInput {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: Some((1, "0a4f113b")),
        });
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_sha256_and_md5_examples() {
        // RFC 7616 §3.9.1.
        let mut i = DigestInput {
            algorithm: Algorithm::Sha256,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop_auth: Some((1, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        };
        assert_eq!(digest_response(&i), "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
        i.algorithm = Algorithm::Md5;
        assert_eq!(digest_response(&i), "8ca523f5e9506fed4657c9700eebdbec");
    }

    fn register() -> Request {
        Request::new(Method::Register, Uri::sip(None, "pbx.example.com", None))
            .with_header("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
            .with_header("From", "<sip:gw@pbx.example.com>;tag=1")
            .with_header("To", "<sip:gw@pbx.example.com>")
            .with_header("Call-ID", "r1")
            .with_header("CSeq", "1 REGISTER")
    }

    fn users(u: &str) -> Option<String> {
        (u == "gw").then(|| "s3cret".to_string())
    }

    #[test]
    fn client_answers_server_challenge_and_server_accepts() {
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let mut server = DigestServer::new("pbx.example.com", b"key");
            server.algorithm = alg;
            let mut req = register();
            let Verdict::Challenge(resp, Denied::NoCredentials) = server.verify_request(&req, users, 1000) else { panic!() };
            assert_eq!(resp.status, 401);
            let mut client = DigestClient::new("gw", "s3cret");
            client.answer(&resp, &mut req, "c0ffee").unwrap();
            assert!(req.header("Authorization").unwrap().contains(&format!("algorithm={}", alg.as_str())));
            assert_eq!(server.verify_request(&req, users, 1010), Verdict::Authorized("gw".into()));
        }
    }

    #[test]
    fn wrong_password_is_refused_and_client_gives_up_on_the_same_nonce() {
        let server = DigestServer::new("pbx.example.com", b"key");
        let mut req = register();
        let Verdict::Challenge(resp, _) = server.verify_request(&req, users, 1000) else { panic!() };
        let mut client = DigestClient::new("gw", "wrong");
        client.answer(&resp, &mut req, "c1").unwrap();
        let Verdict::Challenge(again, Denied::WrongCredentials(u)) = server.verify_request(&req, users, 1001) else { panic!() };
        assert_eq!(u, "gw");
        // Same server second = same nonce: the client must not loop.
        assert_eq!(client.answer(&again, &mut req, "c2"), Err(AuthError::Rejected("pbx.example.com".into())));
    }

    #[test]
    fn expired_nonce_gets_stale_challenge_which_the_client_answers() {
        let server = DigestServer::new("pbx.example.com", b"key");
        let mut req = register();
        let Verdict::Challenge(resp, _) = server.verify_request(&req, users, 1000) else { panic!() };
        let mut client = DigestClient::new("gw", "s3cret");
        client.answer(&resp, &mut req, "c1").unwrap();
        let Verdict::Challenge(stale, Denied::Stale) = server.verify_request(&req, users, 1000 + 301) else { panic!() };
        assert!(stale.header("WWW-Authenticate").unwrap().contains("stale=true"));
        client.answer(&stale, &mut req, "c2").unwrap();
        assert_eq!(server.verify_request(&req, users, 1302), Verdict::Authorized("gw".into()));
    }

    #[test]
    fn forged_nonce_and_other_uri_are_refused() {
        let server = DigestServer::new("pbx.example.com", b"key");
        let other = DigestServer::new("pbx.example.com", b"other key");
        let mut req = register();
        let resp = Response::for_request(&req, 401, None, None).with_header("WWW-Authenticate", other.challenge(1000, false).to_params().to_string());
        DigestClient::new("gw", "s3cret").answer(&resp, &mut req, "c").unwrap();
        assert!(matches!(server.verify_request(&req, users, 1000), Verdict::Challenge(_, Denied::BadNonce)));
        let mut req = register();
        let Verdict::Challenge(resp, _) = server.verify_request(&req, users, 1000) else { panic!() };
        DigestClient::new("gw", "s3cret").answer(&resp, &mut req, "c").unwrap();
        req.uri = Uri::sip(None, "elsewhere.example.com", None);
        assert!(matches!(server.verify_request(&req, users, 1000), Verdict::Challenge(_, Denied::WrongCredentials(_))));
    }

    #[test]
    fn proxy_challenge_is_answered_with_proxy_authorization_and_sha256_is_preferred() {
        let mut req = register();
        let md5 = Challenge { realm: "r".into(), nonce: "n".into(), opaque: Some("o".into()), algorithm: Algorithm::Md5, qop_auth: true, stale: false };
        let sha = Challenge { algorithm: Algorithm::Sha256, ..md5.clone() };
        let resp = Response::for_request(&req, 407, None, None)
            .with_header("Proxy-Authenticate", md5.to_params().to_string())
            .with_header("Proxy-Authenticate", sha.to_params().to_string());
        DigestClient::new("gw", "pw").answer(&resp, &mut req, "cn").unwrap();
        let creds = AuthParams::from_header(req.header("Proxy-Authorization").unwrap()).unwrap();
        assert_eq!(creds.get("algorithm"), Some("SHA-256"));
        assert_eq!(creds.get("opaque"), Some("o"));
        assert_eq!(creds.get("nc"), Some("00000001"));
        assert!(req.header("Authorization").is_none());
    }
}
