//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as Postgres speaks it, server side: the stored
//! [`Verifier`] (Postgres's `pg_authid.rolpassword` format) and one authentication
//! [`Exchange`], including `tls-server-end-point` channel binding (SCRAM-SHA-256-PLUS).
//!
//! `super::startup` drives an exchange with the client's SASL messages; `super::auth` parses
//! verifiers from the auth file; `sluice hash-password` makes them with
//! [`Verifier::from_password`]. The server never sees or keeps a password: it checks the
//! client's proof against StoredKey and signs with ServerKey. It does no I/O.
//!
//! ```text
//!  client-first  n,,n=,r=<client nonce>           start()   → server-first
//!  server-first  r=<client nonce><ours>,s=<salt>,i=<iterations>
//!  client-final  c=<binding>,r=<nonce>,p=<proof>  finish()  → server-final v=<signature>
//! ```

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};

use crate::error::{Error, Result};

/// The SASL mechanism without channel binding.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// The SASL mechanism with `tls-server-end-point` channel binding.
pub const MECHANISM_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// Postgres's default `scram_iterations`.
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Bytes of salt in a new verifier, as Postgres.
const SALT_LEN: usize = 16;
/// Random bytes in the server's part of the nonce, as Postgres.
const NONCE_LEN: usize = 18;
/// The only channel binding type Postgres (and Sluice) supports.
const CHANNEL_BINDING_TYPE: &str = "tls-server-end-point";
/// Length of a SHA-256 digest: StoredKey, ServerKey, proofs.
const KEY_LEN: usize = 32;

/// A password verifier: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    /// PBKDF2 iterations the client must run.
    iterations: NonZeroU32,
    /// The salt, raw.
    salt: Vec<u8>,
    /// H(ClientKey): checks the client's proof.
    stored_key: [u8; KEY_LEN],
    /// HMAC(SaltedPassword, "Server Key"): signs the server's final message.
    server_key: [u8; KEY_LEN],
}

impl Verifier {
    /// The verifier of `password` with a fresh random salt.
    pub fn from_password(password: &str, iterations: NonZeroU32) -> Result<Verifier> {
        let mut salt = vec![0; SALT_LEN];
        random(&mut salt)?;
        Ok(Verifier::with_salt(password, salt, iterations))
    }

    /// The verifier of `password` with `salt`. The password is normalised with SASLprep,
    /// or used as it is when that fails, as Postgres does.
    pub fn with_salt(password: &str, salt: Vec<u8>, iterations: NonZeroU32) -> Verifier {
        let prepared = stringprep::saslprep(password).unwrap_or(password.into());
        let mut salted = [0; KEY_LEN];
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, prepared.as_bytes(), &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        Verifier { iterations, salt, stored_key: sha256(&client_key), server_key: hmac_sha256(&salted, b"Server Key") }
    }
}

impl FromStr for Verifier {
    type Err = String;

    /// Parses the Postgres format; the error says what is wrong, without the secret.
    fn from_str(text: &str) -> std::result::Result<Verifier, String> {
        let expected = "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or(expected)?;
        let (params, keys) = rest.split_once('$').ok_or(expected)?;
        let (iterations, salt) = params.split_once(':').ok_or(expected)?;
        let (stored_key, server_key) = keys.split_once(':').ok_or(expected)?;
        let iterations = iterations.parse().map_err(|_| format!("invalid iteration count \"{iterations}\""))?;
        let salt = B64.decode(salt).map_err(|_| "salt is not valid base64".to_string())?;
        if salt.is_empty() {
            return Err("salt is empty".into());
        }
        Ok(Verifier {
            iterations,
            salt,
            stored_key: key(stored_key, "StoredKey")?,
            server_key: key(server_key, "ServerKey")?,
        })
    }
}

/// A 32-byte key in base64.
fn key(text: &str, name: &str) -> std::result::Result<[u8; KEY_LEN], String> {
    let bytes = B64.decode(text).map_err(|_| format!("{name} is not valid base64"))?;
    bytes.try_into().map_err(|_| format!("{name} is not {KEY_LEN} bytes long"))
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (salt, stored, server) = (B64.encode(&self.salt), B64.encode(self.stored_key), B64.encode(self.server_key));
        write!(f, "SCRAM-SHA-256${}:{salt}${stored}:{server}", self.iterations)
    }
}

impl fmt::Debug for Verifier {
    /// Never prints the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

/// What the server checks a client against.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The user's verifier, or a made-up one for a user that does not exist.
    pub verifier: Verifier,
    /// False for a made-up verifier: the exchange runs to the end and then fails, so a
    /// client cannot tell an unknown user from a wrong password.
    pub real: bool,
}

/// What the connection offers for channel binding.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    /// The `tls-server-end-point` data (the hash of the server certificate) when the
    /// connection is TLS and the certificate allows it; None for a plain connection.
    pub end_point: Option<Vec<u8>>,
}

impl Channel {
    /// The mechanisms to offer, best first.
    pub fn mechanisms(&self) -> Vec<String> {
        match self.end_point {
            Some(_) => vec![MECHANISM_PLUS.into(), MECHANISM.into()],
            None => vec![MECHANISM.into()],
        }
    }
}

/// A SCRAM exchange after the server-first message, waiting for the client's final one.
#[derive(Debug)]
pub struct Exchange {
    /// What the client must prove.
    credential: Credential,
    /// client-first-message-bare, part of the AuthMessage.
    client_first_bare: String,
    /// server-first-message, part of the AuthMessage.
    server_first: String,
    /// The client's and the server's nonce together.
    nonce: String,
    /// The decoded `c=` value the client must send: the gs2 header, plus the channel
    /// binding data with SCRAM-SHA-256-PLUS.
    binding: Vec<u8>,
}

/// How the client's final message ended the exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The proof holds; the server-final message to send.
    Accepted(String),
    /// Wrong password, or no such user.
    Rejected,
}

/// Starts an exchange: checks the mechanism and client-first message, and returns the
/// server-first message to send with the exchange that waits for the client's answer.
pub fn start(
    mechanism: &str,
    client_first: &[u8],
    credential: Credential,
    channel: &Channel,
) -> Result<(String, Exchange)> {
    let mut nonce = [0; NONCE_LEN];
    random(&mut nonce)?;
    start_with_nonce(mechanism, client_first, credential, channel, &B64.encode(nonce))
}

/// [`start`] with the server's nonce given (tests use the RFC's).
fn start_with_nonce(
    mechanism: &str,
    client_first: &[u8],
    credential: Credential,
    channel: &Channel,
    server_nonce: &str,
) -> Result<(String, Exchange)> {
    let text = std::str::from_utf8(client_first).map_err(|_| malformed("client-first message is not UTF-8"))?;
    let (flag, rest) = text.split_once(',').ok_or_else(|| malformed("missing gs2 header"))?;
    let (authzid, bare) = rest.split_once(',').ok_or_else(|| malformed("missing gs2 header"))?;
    if !authzid.is_empty() {
        return Err(Error::Unsupported("client uses authorization identity, but it is not supported".into()));
    }
    let mut binding = format!("{flag},,").into_bytes();
    binding.extend(check_binding(mechanism, flag, channel)?);
    let client_nonce = client_nonce(bare)?;
    let v = &credential.verifier;
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!("r={nonce},s={},i={}", B64.encode(&v.salt), v.iterations);
    let exchange = Exchange {
        credential,
        client_first_bare: bare.to_string(),
        server_first: server_first.clone(),
        nonce,
        binding,
    };
    Ok((server_first, exchange))
}

/// Checks the gs2 channel binding flag against the mechanism and the connection; returns
/// the channel binding data the client must send back.
fn check_binding<'c>(mechanism: &str, flag: &str, channel: &'c Channel) -> Result<&'c [u8]> {
    let plus = match mechanism {
        MECHANISM => false,
        MECHANISM_PLUS => true,
        other => return Err(malformed_owned(format!("unsupported SASL mechanism \"{other}\""))),
    };
    let end_point = channel.end_point.as_deref();
    if let Some(kind) = flag.strip_prefix("p=") {
        if kind != CHANNEL_BINDING_TYPE {
            return Err(malformed_owned(format!("unsupported SCRAM channel-binding type \"{kind}\"")));
        }
        if !plus {
            return Err(malformed(
                "the client selected SCRAM-SHA-256 without channel binding, but sent channel binding data",
            ));
        }
        return end_point.ok_or_else(|| malformed("channel binding is not available on this connection"));
    }
    if plus {
        return Err(malformed("the client selected SCRAM-SHA-256-PLUS, but sent no channel binding data"));
    }
    match (flag, end_point) {
        ("n", _) | ("y", None) => Ok(&[]),
        ("y", Some(_)) => Err(malformed(
            "SCRAM channel binding negotiation error: the client supports channel binding but thinks the server does not",
        )),
        _ => Err(malformed("invalid channel binding flag")),
    }
}

/// The client's nonce from client-first-message-bare: `n=<user>,r=<nonce>[,ext...]`. The
/// user name is ignored (the startup message's counts), as in Postgres.
fn client_nonce(bare: &str) -> Result<&str> {
    if bare.starts_with("m=") {
        return Err(Error::Unsupported("client requires an unsupported SCRAM extension".into()));
    }
    let mut fields = bare.split(',');
    fields.next().and_then(|f| f.strip_prefix("n=")).ok_or_else(|| malformed("missing user name attribute"))?;
    let nonce = fields.next().and_then(|f| f.strip_prefix("r=")).ok_or_else(|| malformed("missing nonce attribute"))?;
    if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(malformed("invalid nonce"));
    }
    Ok(nonce)
}

impl Exchange {
    /// Checks the client-final message `c=<binding>,r=<nonce>[,ext...],p=<proof>`.
    pub fn finish(&self, client_final: &[u8]) -> Result<Outcome> {
        let text = std::str::from_utf8(client_final).map_err(|_| malformed("client-final message is not UTF-8"))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| malformed("missing proof"))?;
        let mut fields = without_proof.split(',');
        let binding =
            fields.next().and_then(|f| f.strip_prefix("c=")).ok_or_else(|| malformed("missing channel binding"))?;
        if B64.decode(binding).ok().as_deref() != Some(self.binding.as_slice()) {
            return Err(malformed("SCRAM channel binding check failed"));
        }
        if fields.next().and_then(|f| f.strip_prefix("r=")) != Some(self.nonce.as_str()) {
            return Err(malformed("nonce does not match"));
        }
        let proof: [u8; KEY_LEN] = B64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| malformed("malformed proof in client-final-message"))?;
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let v = &self.credential.verifier;
        let signature = hmac_sha256(&v.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        if !constant_time_eq(&sha256(&client_key), &v.stored_key) || !self.credential.real {
            return Ok(Outcome::Rejected);
        }
        let server_signature = hmac_sha256(&v.server_key, auth_message.as_bytes());
        Ok(Outcome::Accepted(format!("v={}", B64.encode(server_signature))))
    }
}

/// A protocol violation in the SASL exchange (08P01).
fn malformed(what: &str) -> Error {
    malformed_owned(what.to_string())
}

fn malformed_owned(what: String) -> Error {
    Error::Protocol(format!("malformed SCRAM message: {what}"))
}

/// Fills `buf` with random bytes from the operating system.
pub fn random(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new().fill(buf).map_err(|_| Error::Internal("the system random number generator failed".into()))
}

/// HMAC-SHA-256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; KEY_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message);
    tag.as_ref().try_into().expect("HMAC-SHA-256 is 32 bytes long")
}

/// SHA-256 of `data`.
fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    digest::digest(&digest::SHA256, data).as_ref().try_into().expect("SHA-256 is 32 bytes long")
}

/// Compares without an early exit, so the time taken says nothing about the contents.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    use super::*;

    fn iterations(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn real(verifier: Verifier) -> Credential {
        Credential { verifier, real: true }
    }

    /// RFC 7677, section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_example() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = Verifier::with_salt("pencil", salt, iterations(4096));
        let (server_first, exchange) = start_with_nonce(
            MECHANISM,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            real(verifier),
            &Channel::default(),
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
        .unwrap();
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            exchange.finish(client_final.as_bytes()).unwrap(),
            Outcome::Accepted("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".into())
        );
        let wrong_proof = client_final.replace("p=dHzb", "p=dHzc");
        assert_eq!(exchange.finish(wrong_proof.as_bytes()).unwrap(), Outcome::Rejected);
    }

    #[test]
    fn verifier_round_trips_and_never_prints_keys() {
        let verifier = Verifier::from_password("secret", iterations(4096)).unwrap();
        let text = verifier.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"), "{text}");
        assert_eq!(text.parse::<Verifier>().unwrap(), verifier);
        let stored = text.rsplit_once('$').unwrap().1.split_once(':').unwrap().0.to_string();
        assert!(!format!("{verifier:?}").contains(&stored));
    }

    #[test]
    fn verifier_parse_errors() {
        let good = Verifier::from_password("x", iterations(4096)).unwrap().to_string();
        let cases = [
            ("md5abc", "expected SCRAM-SHA-256$"),
            ("SCRAM-SHA-256$4096:c2FsdA==", "expected SCRAM-SHA-256$"),
            (&good.replace("$4096:", "$0:"), "invalid iteration count \"0\""),
            (&good.replace("$4096:", "$many:"), "invalid iteration count \"many\""),
            (&good.replacen(":", ":!!", 1), "salt is not valid base64"),
            ("SCRAM-SHA-256$4096:c2FsdA==$c2hvcnQ=:c2hvcnQ=", "StoredKey is not 32 bytes long"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<Verifier>().unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    /// Runs postgres-protocol's client (what tokio-postgres uses) against our server side.
    fn client_against_server(
        password: &str,
        credential: Credential,
        binding: (ChannelBinding, Channel),
    ) -> Result<Outcome> {
        let (client_binding, channel) = binding;
        let mechanism = if channel.end_point.is_some() { MECHANISM_PLUS } else { MECHANISM };
        let mut client = ScramSha256::new(password.as_bytes(), client_binding);
        let (server_first, exchange) = start(mechanism, client.message(), credential, &channel)?;
        client.update(server_first.as_bytes()).unwrap();
        let outcome = exchange.finish(client.message())?;
        if let Outcome::Accepted(server_final) = &outcome {
            client.finish(server_final.as_bytes()).expect("the client accepts the server's signature");
        }
        Ok(outcome)
    }

    #[test]
    fn a_postgres_verifier_authenticates_a_real_client() {
        let verifier: Verifier = postgres_protocol::password::scram_sha_256(b"s3cr\xc3\xa9t").parse().unwrap();
        let unbound = || (ChannelBinding::unsupported(), Channel::default());
        assert!(matches!(
            client_against_server("s3cr\u{e9}t", real(verifier.clone()), unbound()),
            Ok(Outcome::Accepted(_))
        ));
        assert_eq!(client_against_server("wrong", real(verifier.clone()), unbound()).unwrap(), Outcome::Rejected);
        let mock = Credential { verifier, real: false };
        assert_eq!(client_against_server("s3cr\u{e9}t", mock, unbound()).unwrap(), Outcome::Rejected);
    }

    #[test]
    fn channel_binding() {
        let verifier = Verifier::from_password("pw", iterations(4096)).unwrap();
        let end_point = vec![7; 32];
        let bound = (ChannelBinding::tls_server_end_point(end_point.clone()), Channel { end_point: Some(end_point) });
        assert!(matches!(client_against_server("pw", real(verifier.clone()), bound), Ok(Outcome::Accepted(_))));
        // Different certificate hashes: a man in the middle.
        let mitm = (ChannelBinding::tls_server_end_point(vec![8; 32]), Channel { end_point: Some(vec![7; 32]) });
        let error = client_against_server("pw", real(verifier.clone()), mitm).unwrap_err();
        assert_eq!(error.sqlstate(), "08P01");
        // The client could bind but believes the server cannot, although it can: a downgrade.
        let channel = Channel { end_point: Some(vec![7; 32]) };
        let error = start(MECHANISM, b"y,,n=,r=abc", real(verifier.clone()), &channel).unwrap_err();
        assert!(error.to_string().contains("negotiation error"), "{error}");
        // ...which is fine on a plain connection.
        assert!(start(MECHANISM, b"y,,n=,r=abc", real(verifier.clone()), &Channel::default()).is_ok());
        let error = start(MECHANISM_PLUS, b"p=tls-server-end-point,,n=,r=abc", real(verifier), &Channel::default())
            .unwrap_err();
        assert!(error.to_string().contains("not available"), "{error}");
    }

    #[test]
    fn malformed_messages_are_protocol_errors() {
        let verifier = Verifier::from_password("pw", iterations(4096)).unwrap();
        let channel = Channel::default();
        for first in [&b"n,,r=abc"[..], b"n", b"x,,n=,r=abc", b"n,,n=,r=", b"\xff", b"p=tls-unique,,n=,r=abc"] {
            let error = start(MECHANISM, first, real(verifier.clone()), &channel).unwrap_err();
            assert_eq!(error.sqlstate(), "08P01", "{first:?}: {error}");
        }
        let error = start(MECHANISM, b"n,a=bob,n=,r=abc", real(verifier.clone()), &channel).unwrap_err();
        assert_eq!(error.sqlstate(), "0A000");
        let (_, exchange) = start(MECHANISM, b"n,,n=,r=abc", real(verifier), &channel).unwrap();
        for last in ["c=biws,r=abc,p=AAAA", "c=biws", "c=eSws,r=abc,p=AAAA", "garbage"] {
            let error = exchange.finish(last.as_bytes()).unwrap_err();
            assert_eq!(error.sqlstate(), "08P01", "{last}: {error}");
        }
    }
}
