//! The auth file given with `--auth <file>`: who may connect, each with a SCRAM-SHA-256
//! verifier, never a password in clear text.
//!
//! ```text
//! # comments start with '#'; blank lines are ignored
//! alice   SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>   superuser
//! bob     SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>
//! ```
//!
//! One user per line: the user name (no spaces or `#`), then the verifier exactly as
//! Postgres keeps it in `pg_authid.rolpassword` (so one copied from Postgres works, and
//! `sluice hash-password` makes new ones), then optionally the word `superuser`: only
//! superusers may create file streams, tables and sinks (Postgres's `pg_read_server_files`
//! and `pg_write_server_files`), as [`Users::is_superuser`] tells the server. `main.rs` loads the file once at startup with
//! [`Users::load`]; a mistake fails startup with the file and line. `super::startup` asks
//! [`Users::credential`] for the verifier of the user a client names.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use super::scram::{Credential, DEFAULT_ITERATIONS, Verifier, hmac_sha256, random};
use crate::error::{Error, Result};

/// The users allowed to connect.
pub struct Users {
    /// The verifier of each user, by name.
    verifiers: HashMap<String, Verifier>,
    /// The users marked `superuser`.
    superusers: HashSet<String>,
    /// Key for the made-up salts of unknown users: random, so it is stable for one server
    /// run (asking twice shows the same salt, as for a real user) but not guessable.
    mock_key: [u8; 32],
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Users").field("count", &self.verifiers.len()).finish_non_exhaustive()
    }
}

impl Users {
    /// Reads and parses the auth file at `path`.
    pub fn load(path: &Path) -> Result<Users> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read auth file \"{}\": {e}", path.display())))?;
        Users::parse(&text, &path.display().to_string())
    }

    /// Parses the text of an auth file; `origin` names it in errors (`origin:line: ...`).
    pub fn parse(text: &str, origin: &str) -> Result<Users> {
        let mut verifiers = HashMap::new();
        let mut superusers = HashSet::new();
        let mut first_seen = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let at = |what: String| Error::Config(format!("{origin}:{number}: {what}"));
            let Some(Line { user, verifier, superuser }) = parse_line(line).map_err(at)? else { continue };
            if let Some(first) = first_seen.insert(user.to_string(), number) {
                return Err(at(format!("user \"{user}\" is listed twice (first at line {first})")));
            }
            if superuser {
                superusers.insert(user.to_string());
            }
            verifiers.insert(user.to_string(), verifier);
        }
        if verifiers.is_empty() {
            return Err(Error::Config(format!("{origin}: no users in the auth file")));
        }
        let mut mock_key = [0; 32];
        random(&mut mock_key)?;
        Ok(Users { verifiers, superusers, mock_key })
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.verifiers.len()
    }

    /// True when there are no users (never, for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }

    /// Whether `user` is marked `superuser` in the file.
    pub fn is_superuser(&self, user: &str) -> bool {
        self.superusers.contains(user)
    }

    /// What to check a client claiming to be `user` against: for an unknown user, a
    /// made-up verifier that no password matches.
    pub fn credential(&self, user: &str) -> Credential {
        match self.verifiers.get(user) {
            Some(verifier) => Credential { verifier: verifier.clone(), real: true },
            None => Credential { verifier: self.mock_verifier(user), real: false },
        }
    }

    /// A verifier whose salt depends only on `user` and this run's key.
    fn mock_verifier(&self, user: &str) -> Verifier {
        let salt = hmac_sha256(&self.mock_key, user.as_bytes())[..16].to_vec();
        let iterations = DEFAULT_ITERATIONS.try_into().expect("the default iteration count is not zero");
        // The keys are never checked (the credential is not real); any password will do.
        Verifier::with_salt("", salt, iterations)
    }
}

/// One user's line of the file.
struct Line<'a> {
    user: &'a str,
    verifier: Verifier,
    superuser: bool,
}

/// One line: None when it is blank or a comment.
fn parse_line(line: &str) -> std::result::Result<Option<Line<'_>>, String> {
    let content = line.split('#').next().unwrap_or_default();
    let fields: Vec<&str> = content.split_whitespace().collect();
    let (user, verifier, superuser) = match fields.as_slice() {
        [] => return Ok(None),
        [user, verifier] => (*user, *verifier, false),
        [user, verifier, "superuser"] => (*user, *verifier, true),
        [user, _, flag] => return Err(format!("unknown flag \"{flag}\" for user \"{user}\" (expected superuser)")),
        _ => {
            return Err(
                "expected \"<user> SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> [superuser]\"".into()
            );
        }
    };
    if !verifier.starts_with("SCRAM-SHA-256$") {
        return Err(format!(
            "the password of user \"{user}\" must be a SCRAM-SHA-256 verifier, not a password \
             (make one with `sluice hash-password`)"
        ));
    }
    match verifier.parse() {
        Ok(verifier) => Ok(Some(Line { user, verifier, superuser })),
        Err(e) => Err(format!("invalid verifier for user \"{user}\": {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn verifier(password: &str) -> String {
        Verifier::from_password(password, NonZeroU32::new(4096).unwrap()).unwrap().to_string()
    }

    #[test]
    fn parses_users_comments_and_blank_lines() {
        let (a, b) = (verifier("a"), verifier("b"));
        let text = format!("# users\n\nalice {a}   # the admin\n  bob\t{b}\n");
        let users = Users::parse(&text, "users.conf").unwrap();
        assert_eq!(users.len(), 2);
        let alice = users.credential("alice");
        assert!(alice.real);
        assert_eq!(alice.verifier.to_string(), a);
        assert_eq!(users.credential("bob").verifier.to_string(), b);
        assert!(!users.is_superuser("alice"));
    }

    #[test]
    fn superusers_are_marked() {
        let text = format!("root {} superuser # may read files\nbob {}\n", verifier("r"), verifier("b"));
        let users = Users::parse(&text, "f").unwrap();
        assert!(users.is_superuser("root"));
        assert!(!users.is_superuser("bob") && !users.is_superuser("ghost"));
    }

    #[test]
    fn unknown_users_get_a_stable_made_up_verifier() {
        let users = Users::parse(&format!("alice {}", verifier("a")), "f").unwrap();
        let ghost = users.credential("ghost");
        assert!(!ghost.real);
        assert_eq!(ghost.verifier, users.credential("ghost").verifier);
        assert_ne!(ghost.verifier, users.credential("other").verifier);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let good = verifier("a");
        let cases = [
            (format!("alice {good}\nbob\n"), "f:2: expected \"<user> SCRAM-SHA-256$"),
            (format!("alice {good} extra"), "f:1: unknown flag \"extra\" for user \"alice\""),
            (format!("alice {good} superuser x"), "f:1: expected"),
            ("\n\ncarol hunter2".to_string(), "f:3: the password of user \"carol\" must be a SCRAM-SHA-256 verifier"),
            (format!("alice {good}\nalice {good}"), "f:2: user \"alice\" is listed twice (first at line 1)"),
            (
                "dave SCRAM-SHA-256$4096:c2FsdA==$AA==:AA==".to_string(),
                "f:1: invalid verifier for user \"dave\": StoredKey",
            ),
            ("# nobody\n".to_string(), "f: no users in the auth file"),
        ];
        for (text, expected) in cases {
            let error = Users::parse(&text, "f").unwrap_err();
            assert_eq!(error.sqlstate(), "F0000");
            assert!(error.to_string().starts_with(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let error = Users::load(Path::new("/nonexistent/sluice-users")).unwrap_err();
        assert!(error.to_string().starts_with("cannot read auth file \"/nonexistent/sluice-users\""), "{error}");
    }
}
