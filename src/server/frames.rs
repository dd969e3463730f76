//! Checks the layout of every message a client sends before pgwire decodes it.
//!
//! pgwire's decoders trust the lengths and counts inside a message: a `Parse` that
//! announces more parameter types than its body holds makes one read past the end of
//! what has arrived and panic (found by the `pgwire` fuzz target, see `src/fuzz.rs`), and a
//! body shorter than its fields makes the next message be read from the wrong place.
//! Postgres refuses such a message with FATAL 08P01 and closes the connection; so does
//! Sluice. [`Checked`] sits between the socket (plain or TLS) and pgwire's codec and
//! follows the message boundaries; when a message is complete it checks that its fields
//! fill its body exactly ([`check_body`]), and a message that does not is never handed
//! on: the read fails with [`io::ErrorKind::InvalidData`], which `Connection` answers
//! with FATAL 08P01 `invalid message format`.
//!
//! `Connection::negotiate` wraps the socket once TLS is settled ([`Checked::wrap`]); the
//! first message is then the untyped startup (or cancel) message, every later one has a
//! type byte.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A socket whose incoming messages are checked before they are read.
#[derive(Debug)]
pub(super) struct Checked<T> {
    inner: T,
    check: FrameCheck,
    /// Why a message was refused; every later read fails with it.
    refused: Option<String>,
}

impl<T> Checked<T> {
    /// Wraps `inner`, whose reader has already taken `buffered` from it: those bytes are
    /// checked now and cut before the first refused message.
    pub(super) fn wrap(inner: T, buffered: &mut BytesMut) -> Checked<T> {
        let mut check = FrameCheck::default();
        let refused = match check.feed(buffered) {
            Ok(()) => None,
            Err((start, reason)) => {
                buffered.truncate(start);
                Some(reason)
            }
        };
        Checked { inner, check, refused }
    }

    fn refusal(reason: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("invalid message format: {reason}"))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Checked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(reason) = &self.refused {
            return Poll::Ready(Err(Self::refusal(reason)));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Err((start, reason)) = this.check.feed(&buf.filled()[before..]) {
            // What precedes the refused message is read; the refusal comes next.
            buf.set_filled(before + start);
            let error = Self::refusal(&reason);
            this.refused = Some(reason);
            if start == 0 {
                return Poll::Ready(Err(error));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Checked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Follows message boundaries across reads and checks each complete message.
#[derive(Debug, Default)]
struct FrameCheck {
    /// True once the untyped startup message has passed.
    typed: bool,
    /// The header read so far: type byte (when typed) and the 4-byte length.
    header: Vec<u8>,
    /// The current message's type (0 for the startup message).
    kind: u8,
    /// Body bytes still to come; `None` while the header is incomplete.
    remaining: Option<usize>,
    /// The body so far, for the messages whose layout is checked.
    body: Vec<u8>,
    /// Password-family messages seen: the first is a SASLInitialResponse.
    passwords: usize,
}

impl FrameCheck {
    /// Follows `bytes`; for a message that completes in them and is malformed, where it
    /// starts in `bytes` (0 when it started in an earlier read) and why it is refused.
    fn feed(&mut self, bytes: &[u8]) -> Result<(), (usize, String)> {
        let mut at = 0;
        let mut start = 0;
        while at < bytes.len() {
            let Some(remaining) = self.remaining else {
                let size = if self.typed { 5 } else { 4 };
                let take = (size - self.header.len()).min(bytes.len() - at);
                self.header.extend_from_slice(&bytes[at..at + take]);
                at += take;
                if self.header.len() == size {
                    self.begin().map_err(|reason| (start, reason))?;
                }
                if self.remaining == Some(0) {
                    self.end().map_err(|reason| (start, reason))?;
                    start = at;
                }
                continue;
            };
            let take = remaining.min(bytes.len() - at);
            if self.keeps_body() {
                self.body.extend_from_slice(&bytes[at..at + take]);
            }
            at += take;
            self.remaining = Some(remaining - take);
            if remaining == take {
                self.end().map_err(|reason| (start, reason))?;
                start = at;
            }
        }
        Ok(())
    }

    /// A complete header: the type and the length of the body to come.
    fn begin(&mut self) -> Result<(), String> {
        let (kind, length) = match self.header.as_slice() {
            [kind, a, b, c, d] => (*kind, u32::from_be_bytes([*a, *b, *c, *d])),
            [a, b, c, d] => (0, u32::from_be_bytes([*a, *b, *c, *d])),
            _ => return Err("incomplete message header".into()),
        };
        let smallest = if self.typed { 4 } else { 8 };
        if (length as usize) < smallest {
            return Err(format!("invalid message length {length}"));
        }
        self.kind = kind;
        self.remaining = Some(length as usize - 4);
        self.body.clear();
        Ok(())
    }

    /// A complete message: its body is checked, and the next header is awaited.
    fn end(&mut self) -> Result<(), String> {
        let checked = match self.kind {
            b'p' => {
                self.passwords += 1;
                match self.passwords {
                    1 => check_body(b'p', &self.body),
                    _ => Ok(()),
                }
            }
            kind if self.typed => check_body(kind, &self.body),
            _ => check_startup(&self.body),
        };
        self.typed = true;
        self.header.clear();
        self.remaining = None;
        self.body.clear();
        checked
    }

    /// Every body is kept for its check but CopyData's, which has no layout.
    fn keeps_body(&self) -> bool {
        !(self.typed && self.kind == b'd')
    }
}

/// Checks that the fields of a message of type `kind` fill `body` exactly, as Postgres
/// reads them (`pq_getmsg*` and `pq_getmsgend`). The first password-family message is
/// checked as a SASLInitialResponse; types pgwire does not know are left to pgwire.
fn check_body(kind: u8, body: &[u8]) -> Result<(), String> {
    let mut r = Reader { rest: body };
    match kind {
        b'Q' | b'f' => {
            r.cstring()?;
        }
        b'P' => {
            r.cstring()?;
            r.cstring()?;
            let types = r.u16()?;
            r.bytes(usize::from(types) * 4)?;
        }
        b'B' => {
            r.cstring()?;
            r.cstring()?;
            let formats = r.u16()?;
            r.bytes(usize::from(formats) * 2)?;
            for _ in 0..r.u16()? {
                match r.i32()? {
                    -1 => {}
                    length if length >= 0 => {
                        r.bytes(length as usize)?;
                    }
                    length => return Err(format!("invalid parameter length {length}")),
                }
            }
            let formats = r.u16()?;
            r.bytes(usize::from(formats) * 2)?;
        }
        b'C' | b'D' => {
            let target = r.u8()?;
            if !matches!(target, b'S' | b'P') {
                return Err(format!("invalid target type '{}'", target.escape_ascii()));
            }
            r.cstring()?;
        }
        b'E' => {
            r.cstring()?;
            r.bytes(4)?;
        }
        b'p' => {
            r.cstring()?;
            match r.i32()? {
                -1 => {}
                length if length >= 0 => {
                    r.bytes(length as usize)?;
                }
                length => return Err(format!("invalid SASL data length {length}")),
            }
        }
        // Flush, Sync and CopyDone have no body.
        b'H' | b'S' | b'c' => {}
        _ => return Ok(()),
    }
    match r.rest.len() {
        0 => Ok(()),
        extra => Err(format!("{extra} bytes left over in message of type '{}'", kind.escape_ascii())),
    }
}

/// Checks a startup message (after its length): for protocol 3, parameter names and values
/// up to an empty name, which must end the message, as Postgres requires. pgwire reads the
/// parameters up to the empty name wherever it is, past the message if need be. Other
/// codes (CancelRequest, a repeated SSLRequest, another protocol) pgwire reads whole.
fn check_startup(body: &[u8]) -> Result<(), String> {
    let layout = || "invalid startup packet layout: expected terminator as last byte".to_string();
    let mut r = Reader { rest: body };
    if r.u16()? != 3 {
        return Ok(());
    }
    r.u16()?;
    while !r.cstring().map_err(|_| layout())?.is_empty() {
        r.cstring().map_err(|_| layout())?;
    }
    match r.rest.is_empty() {
        true => Ok(()),
        false => Err(layout()),
    }
}

/// Reads fields off a message body, as Postgres's `pq_getmsg*` do.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err("insufficient data left in message".into());
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn cstring(&mut self) -> Result<&'a [u8], String> {
        let end = self.rest.iter().position(|b| *b == 0).ok_or("invalid string in message")?;
        let text = self.bytes(end + 1)?;
        Ok(&text[..end])
    }

    fn u8(&mut self) -> Result<u8, String> {
        let b = self.bytes(1)?;
        Ok(b[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.bytes(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn startup() -> Vec<u8> {
        let body = b"\x00\x03\x00\x00user\0sluice\0\0";
        let mut m = (body.len() as u32 + 4).to_be_bytes().to_vec();
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn well_formed_messages_pass_in_any_split() {
        let mut stream = startup();
        stream.extend(message(b'Q', b"SELECT 1\0"));
        stream.extend(message(b'P', b"s1\0SELECT $1\0\x00\x01\x00\x00\x00\x14"));
        stream.extend(message(b'B', b"\0s1\0\x00\x00\x00\x02\x00\x00\x00\x0241\xff\xff\xff\xff\x00\x01\x00\x00"));
        stream.extend(message(b'D', b"P\0"));
        stream.extend(message(b'E', b"\0\x00\x00\x00\x00"));
        stream.extend(message(b'S', b""));
        stream.extend(message(b'd', b"any bytes at all"));
        for split in 1..stream.len() {
            let mut check = FrameCheck::default();
            for piece in stream.chunks(split) {
                assert_eq!(check.feed(piece), Ok(()), "split {split}");
            }
        }
    }

    #[test]
    fn malformed_messages_are_refused_where_they_start() {
        let cases: [(&[u8], u8, &str); 7] = [
            // The fuzzer's find: a Parse announcing a parameter type it does not hold.
            (b"s1\0SELECT \0\x00\x01", b'P', "insufficient data left in message"),
            (b"\0s1\0\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x00", b'B', "invalid parameter length -2"),
            (b"", b'D', "insufficient data left in message"),
            (b"Xname\0", b'C', "invalid target type 'X'"),
            (b"portal", b'E', "invalid string in message"),
            (b"SELECT 1\0extra", b'Q', "5 bytes left over in message of type 'Q'"),
            (b"x", b'S', "1 bytes left over in message of type 'S'"),
        ];
        for (body, kind, reason) in cases {
            let mut stream = startup();
            stream.extend(message(b'Q', b"SELECT 1\0"));
            let start = stream.len();
            stream.extend(message(kind, body));
            let mut check = FrameCheck::default();
            assert_eq!(check.feed(&stream), Err((start, reason.to_string())), "{}", kind as char);
        }
        let mut check = FrameCheck::default();
        let mut stream = startup();
        stream.extend([b'Q', 0, 0, 0, 2]);
        assert_eq!(check.feed(&stream).unwrap_err().1, "invalid message length 2");
    }

    #[test]
    fn a_startup_message_ends_with_its_terminator() {
        // The fuzzer's third find: a startup message whose length ends before its
        // parameters do, so pgwire read them on into the next message.
        let body = b"\x00\x03\x00\x00user\0sluice\0database\0sluice\0\0";
        for cut in [12, body.len() - 1] {
            let mut stream = ((cut + 4) as u32).to_be_bytes().to_vec();
            stream.extend_from_slice(body);
            let (start, reason) = FrameCheck::default().feed(&stream).unwrap_err();
            assert_eq!(
                (start, reason.as_str()),
                (0, "invalid startup packet layout: expected terminator as last byte")
            );
        }
        let mut extra = startup();
        extra[3] += 1;
        extra.push(b'x');
        assert!(FrameCheck::default().feed(&extra).is_err(), "a byte after the terminator");
        let cancel = [0, 0, 0, 16, 4, 210, 22, 46, 0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(FrameCheck::default().feed(&cancel), Ok(()));
    }

    #[test]
    fn the_first_password_message_is_a_sasl_initial_response() {
        let mut stream = startup();
        stream.extend(message(b'p', b"SCRAM-SHA-256\0\x00\x00\x00\x03abc"));
        stream.extend(message(b'p', b"c=biws,r=anything goes"));
        assert_eq!(FrameCheck::default().feed(&stream), Ok(()));
        let mut stream = startup();
        let start = stream.len();
        stream.extend(message(b'p', b"SCRAM-SHA-256\0\x00\x00\x10\x00abc"));
        assert_eq!(FrameCheck::default().feed(&stream).unwrap_err().0, start);
    }

    #[tokio::test]
    async fn a_refused_message_is_never_read_and_what_precedes_it_is() {
        use tokio::io::AsyncReadExt;
        let mut stream = startup();
        stream.extend(message(b'Q', b"SELECT 1\0"));
        let good = stream.len();
        stream.extend(message(b'P', b"s1\0SELECT \0\x00\x01"));
        let mut buffered = BytesMut::new();
        let mut checked = Checked::wrap(stream.as_slice(), &mut buffered);
        let mut read = Vec::new();
        let err = checked.read_to_end(&mut read).await.unwrap_err();
        assert_eq!(read.len(), good);
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), "invalid message format: insufficient data left in message");
        // Bytes a reader took before the wrap are checked and cut the same way.
        let mut buffered = BytesMut::from(stream.as_slice());
        let mut checked = Checked::wrap(&b""[..], &mut buffered);
        assert_eq!(buffered.len(), good);
        assert!(checked.read_to_end(&mut Vec::new()).await.is_err());
    }
}
