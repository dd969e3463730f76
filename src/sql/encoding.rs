//! Escape strings whose bytes are not UTF-8. `E'\xed\xa0\x80'` spells bytes that are no
//! UTF-8 text; the tokenizer then reports an "unterminated encoded string literal", which
//! misleads. Postgres says `invalid byte sequence for encoding "UTF8": 0xed 0xa0 0x80`
//! (22021).
//!
//! `super::parser::parse` calls [`invalid_bytes`] when tokenizing fails, to tell the two
//! apart.

/// Postgres's message for the first escape string of `sql` whose bytes are not UTF-8;
/// `None` when there is none.
pub fn invalid_bytes(sql: &str) -> Option<String> {
    let mut rest = sql;
    while let Some(at) = rest.find(['E', 'e']) {
        let after = &rest[at + 1..];
        let starts_word = rest[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric() && c != '_');
        if starts_word && let Some(body) = after.strip_prefix('\'') {
            let (bytes, end) = unescape(body)?;
            if let Err(e) = std::str::from_utf8(&bytes) {
                let start = e.valid_up_to();
                let len = expected_len(bytes[start]).min(bytes.len() - start);
                let shown: Vec<String> = bytes[start..start + len].iter().map(|b| format!("0x{b:02x}")).collect();
                return Some(format!("invalid byte sequence for encoding \"UTF8\": {}", shown.join(" ")));
            }
            rest = &body[end..];
        } else {
            rest = after;
        }
    }
    None
}

/// The bytes of an escape string's body up to its closing quote, and where that quote
/// ends; `None` when it is not closed.
fn unescape(body: &str) -> Option<(Vec<u8>, usize)> {
    let mut bytes = Vec::new();
    let raw = body.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\'' if raw.get(i + 1) == Some(&b'\'') => {
                bytes.push(b'\'');
                i += 2;
            }
            b'\'' => return Some((bytes, i + 1)),
            b'\\' => {
                let (value, used) = escape(&raw[i + 1..]);
                bytes.extend(value);
                i += 1 + used;
            }
            b => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    None
}

/// The bytes of one escape after its backslash, and how many bytes it took.
fn escape(after: &[u8]) -> (Vec<u8>, usize) {
    let digits = |radix: u32, max: usize, from: usize| {
        let taken: Vec<u8> =
            after[from..].iter().take(max).take_while(|b| (**b as char).is_digit(radix)).copied().collect();
        let value = u32::from_str_radix(std::str::from_utf8(&taken).unwrap_or("0"), radix).unwrap_or(0);
        (value, taken.len())
    };
    match after.first() {
        Some(b'x') => match digits(16, 2, 1) {
            (_, 0) => (vec![b'x'], 1),
            (value, n) => (vec![value as u8], 1 + n),
        },
        Some(b'0'..=b'7') => {
            let (value, n) = digits(8, 3, 0);
            (vec![value as u8], n)
        }
        Some(b'b') => (vec![8], 1),
        Some(b'f') => (vec![12], 1),
        Some(b'n') => (vec![b'\n'], 1),
        Some(b'r') => (vec![b'\r'], 1),
        Some(b't') => (vec![b'\t'], 1),
        Some(&b) => (vec![b], 1),
        None => (Vec::new(), 0),
    }
}

/// How many bytes a UTF-8 sequence starting with `first` has.
fn expected_len(first: u8) -> usize {
    match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_bytes_that_are_not_utf8() {
        let message = invalid_bytes(r"SELECT E'\xed\xa0\x80'").expect("invalid");
        assert_eq!(message, "invalid byte sequence for encoding \"UTF8\": 0xed 0xa0 0x80");
        assert_eq!(
            invalid_bytes(r"SELECT E'ok \xc3\xa9', E'\377'").as_deref(),
            Some("invalid byte sequence for encoding \"UTF8\": 0xff")
        );
    }

    #[test]
    fn valid_and_unclosed_strings_are_not_named() {
        assert_eq!(invalid_bytes(r"SELECT E'\xc3\xa9 it''s \'ok\''"), None);
        assert_eq!(invalid_bytes(r"SELECT E'\xed"), None);
        assert_eq!(invalid_bytes("SELECT 'E' || name FROM e"), None);
    }
}
