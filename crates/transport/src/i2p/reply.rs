//! SAM replies, parsed without I/O: cutting lines out of received bytes, and reading a
//! line as a reply (`HELLO REPLY`, `SESSION STATUS`, `STREAM STATUS`, `NAMING REPLY`,
//! `DEST REPLY`) with its `KEY=VALUE` fields.
//!
//! The grammar (SAM v3): two words naming the reply, then fields separated by spaces.
//! A value is either a run of non-space characters or a double-quoted string in which
//! `\"` and `\\` stand for `"` and `\`. One leniency: an unquoted `MESSAGE=` value runs to
//! the end of the line, because i2pd writes `RESULT=I2P_ERROR MESSAGE=<text with spaces>`
//! unquoted and always last.
//!
//! Limits: a line is at most [`MAX_LINE`] bytes (the longest real reply, a session's
//! private key, is under 1.5 KiB), has at most [`MAX_FIELDS`] fields and keys of at most
//! [`MAX_KEY`] characters; control characters are refused.

use std::fmt;

use super::ResultCode;

/// Longest line (without its newline) accepted from a SAM bridge, in bytes.
pub const MAX_LINE: usize = 8 * 1024;
/// Most fields a reply may have.
pub const MAX_FIELDS: usize = 32;
/// Longest key, in characters.
pub const MAX_KEY: usize = 64;

/// Takes one line out of the front of `buf` (the bytes received so far), without its `\n`
/// or `\r\n`.
///
/// `Ok(None)` means no whole line yet: read more bytes (never more than [`MAX_LINE`] + 2
/// in all). Bytes after the line stay in `buf`: after `STREAM STATUS RESULT=OK` they are
/// already the peer's data.
///
/// # Errors
/// [`ReplyError`] when the line (or what has arrived of it) is longer than [`MAX_LINE`] or
/// is not UTF-8.
pub fn take_line(buf: &mut Vec<u8>) -> Result<Option<String>, ReplyError> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        // One byte more than the limit may still be the `\r` before the newline.
        if buf.len() > MAX_LINE + 1 {
            return Err(ReplyError::new(buf, "a line longer than the 8 KiB limit"));
        }
        return Ok(None);
    };
    if end > MAX_LINE + 1 {
        return Err(ReplyError::new(buf, "a line longer than the 8 KiB limit"));
    }
    let mut line: Vec<u8> = buf.drain(..=end).collect();
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.len() > MAX_LINE {
        return Err(ReplyError::new(&line, "a line longer than the 8 KiB limit"));
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|e| ReplyError::new(e.as_bytes(), "the line is not UTF-8"))
}

/// What a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    /// `HELLO REPLY`, to `HELLO VERSION`.
    Hello,
    /// `SESSION STATUS`, to `SESSION CREATE`.
    Session,
    /// `STREAM STATUS`, to `STREAM CONNECT` and `STREAM ACCEPT`.
    Stream,
    /// `NAMING REPLY`, to `NAMING LOOKUP`.
    Naming,
    /// `DEST REPLY`, to `DEST GENERATE`.
    Dest,
}

impl ReplyKind {
    /// The two words that open the reply.
    #[must_use]
    pub const fn words(self) -> (&'static str, &'static str) {
        match self {
            Self::Hello => ("HELLO", "REPLY"),
            Self::Session => ("SESSION", "STATUS"),
            Self::Stream => ("STREAM", "STATUS"),
            Self::Naming => ("NAMING", "REPLY"),
            Self::Dest => ("DEST", "REPLY"),
        }
    }

    fn from_words(first: &str, second: &str) -> Option<Self> {
        [
            Self::Hello,
            Self::Session,
            Self::Stream,
            Self::Naming,
            Self::Dest,
        ]
        .into_iter()
        .find(|kind| kind.words() == (first, second))
    }
}

impl fmt::Display for ReplyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, second) = self.words();
        write!(f, "{first} {second}")
    }
}

/// One reply line: its kind and its fields, in the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    kind: ReplyKind,
    fields: Vec<(String, String)>,
}

impl Reply {
    /// A reply with these fields (keys must be valid: letters, digits, `_`, `.`, `-`).
    ///
    /// # Errors
    /// [`ReplyError`] for an invalid or repeated key, a control character in a value, or
    /// more than [`MAX_FIELDS`] fields.
    pub fn new(kind: ReplyKind, fields: Vec<(String, String)>) -> Result<Self, ReplyError> {
        let reply = Self { kind, fields };
        reply.check()?;
        Ok(reply)
    }

    /// Parses one line (without its newline).
    ///
    /// # Errors
    /// [`ReplyError`] saying what is not SAM about the line.
    pub fn parse(line: &str) -> Result<Self, ReplyError> {
        let error = |reason| ReplyError::new(line.as_bytes(), reason);
        if line.len() > MAX_LINE {
            return Err(error("a line longer than the 8 KiB limit"));
        }
        if line.chars().any(char::is_control) {
            return Err(error("a control character in the line"));
        }
        let mut rest = line.trim_start_matches(' ');
        let mut word = || {
            let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
            rest = after.trim_start_matches(' ');
            word
        };
        let (first, second) = (word(), word());
        let kind = ReplyKind::from_words(first, second)
            .ok_or_else(|| error("not a SAM reply (HELLO REPLY, SESSION STATUS, ...)"))?;
        let mut fields = Vec::new();
        while !rest.is_empty() {
            if fields.len() == MAX_FIELDS {
                return Err(error("more than 32 fields"));
            }
            let (key, after) = rest
                .split_once('=')
                .ok_or_else(|| error("a field without '='"))?;
            if !valid_key(key) {
                return Err(error("a field name that is not [A-Za-z0-9_.-]{1,64}"));
            }
            let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
                let (value, after) =
                    unquote(quoted).ok_or_else(|| error("an unterminated quote"))?;
                if !(after.is_empty() || after.starts_with(' ')) {
                    return Err(error("text right after a closing quote"));
                }
                (value, after)
            } else if key == "MESSAGE" {
                (after.trim_end_matches(' ').to_owned(), "")
            } else {
                let (value, after) = after.split_once(' ').unwrap_or((after, ""));
                if value.contains('"') {
                    return Err(error("a quote inside an unquoted value"));
                }
                (value.to_owned(), after)
            };
            if fields.iter().any(|(k, _)| k == key) {
                return Err(error("a field given twice"));
            }
            fields.push((key.to_owned(), value));
            rest = after.trim_start_matches(' ');
        }
        Ok(Self { kind, fields })
    }

    /// The line that says this reply (without a newline); [`Reply::parse`] reads it back
    /// to an equal reply. Values that are empty or contain a space, a quote or a backslash
    /// are quoted.
    #[must_use]
    pub fn to_line(&self) -> String {
        let (first, second) = self.kind.words();
        let mut line = format!("{first} {second}");
        for (key, value) in &self.fields {
            line.push(' ');
            line.push_str(key);
            line.push('=');
            if value.is_empty() || value.contains([' ', '"', '\\']) {
                line.push('"');
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        line.push('\\');
                    }
                    line.push(c);
                }
                line.push('"');
            } else {
                line.push_str(value);
            }
        }
        line
    }

    /// What this reply answers.
    #[must_use]
    pub const fn kind(&self) -> ReplyKind {
        self.kind
    }

    /// The fields, in the order they came.
    #[must_use]
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The value of field `key`, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `RESULT=` field as a code. `DEST REPLY` has no `RESULT` when it succeeds; then
    /// (and whenever `RESULT` is missing but the reply carries its payload) this is
    /// [`ResultCode::Ok`] only if `PUB` is present, else `None`.
    #[must_use]
    pub fn result(&self) -> Option<ResultCode> {
        match self.get("RESULT") {
            Some(code) => Some(ResultCode::parse(code)),
            None if self.kind == ReplyKind::Dest && self.get("PUB").is_some() => {
                Some(ResultCode::Ok)
            }
            None => None,
        }
    }

    /// The `MESSAGE=` field, the bridge's explanation of an error.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.get("MESSAGE")
    }

    fn check(&self) -> Result<(), ReplyError> {
        let line = self.to_line();
        let error = |reason| ReplyError::new(line.as_bytes(), reason);
        if self.fields.len() > MAX_FIELDS {
            return Err(error("more than 32 fields"));
        }
        for (index, (key, value)) in self.fields.iter().enumerate() {
            if !valid_key(key) {
                return Err(error("a field name that is not [A-Za-z0-9_.-]{1,64}"));
            }
            if value.chars().any(char::is_control) {
                return Err(error("a control character in a value"));
            }
            if self.fields.iter().take(index).any(|(k, _)| k == key) {
                return Err(error("a field given twice"));
            }
        }
        if line.len() > MAX_LINE {
            return Err(error("a line longer than the 8 KiB limit"));
        }
        Ok(())
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Reads a quoted value up to its closing quote; returns it unescaped and the text after
/// the quote, or `None` if the quote is never closed.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, text.get(index + 1..).unwrap_or(""))),
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => return None,
            },
            c => value.push(c),
        }
    }
    None
}

/// Why a line from a SAM bridge is not a SAM reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {line:?}")]
pub struct ReplyError {
    /// The start of the line (at most 120 characters, control characters escaped;
    /// destinations and keys in it are cut short too).
    pub line: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ReplyError {
    pub(crate) fn new(bytes: &[u8], reason: &'static str) -> Self {
        let text = String::from_utf8_lossy(bytes.get(..120).unwrap_or(bytes));
        Self {
            line: text.escape_debug().to_string(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn lines_are_cut_out_and_the_rest_is_kept() {
        let mut buf =
            b"HELLO REPLY RESULT=OK VERSION=3.1\r\nSTREAM STATUS RESULT=OK\npeer data".to_vec();
        assert_eq!(
            take_line(&mut buf).unwrap().unwrap(),
            "HELLO REPLY RESULT=OK VERSION=3.1"
        );
        assert_eq!(
            take_line(&mut buf).unwrap().unwrap(),
            "STREAM STATUS RESULT=OK"
        );
        assert_eq!(take_line(&mut buf).unwrap(), None);
        assert_eq!(buf, b"peer data");
        let mut long = vec![b'A'; MAX_LINE + 1];
        assert_eq!(
            take_line(&mut long).unwrap(),
            None,
            "a line of exactly the limit may still end"
        );
        long.push(b'A');
        assert!(take_line(&mut long).unwrap_err().reason.contains("8 KiB"));
        let mut exact = vec![b'A'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(take_line(&mut exact).unwrap().unwrap().len(), MAX_LINE);
        let mut binary = b"\xff\xfe\n".to_vec();
        assert!(take_line(&mut binary).unwrap_err().reason.contains("UTF-8"));
    }

    #[test]
    fn parses_what_i2pd_sends() {
        let hello = Reply::parse("HELLO REPLY RESULT=OK VERSION=3.1").unwrap();
        assert_eq!(hello.kind(), ReplyKind::Hello);
        assert_eq!(hello.result(), Some(ResultCode::Ok));
        assert_eq!(hello.get("VERSION"), Some("3.1"));

        let error = Reply::parse("SESSION STATUS RESULT=I2P_ERROR MESSAGE=Unknown STYLE").unwrap();
        assert_eq!(error.result(), Some(ResultCode::I2pError));
        assert_eq!(error.message(), Some("Unknown STYLE"));

        let dest = Reply::parse("DEST REPLY PUB=abc~- PRIV=def=").unwrap();
        assert_eq!(dest.result(), Some(ResultCode::Ok));
        assert_eq!(dest.get("PRIV"), Some("def="));
        let dest_error = Reply::parse("DEST REPLY RESULT=I2P_ERROR").unwrap();
        assert_eq!(dest_error.result(), Some(ResultCode::I2pError));

        let naming = Reply::parse("NAMING REPLY RESULT=KEY_NOT_FOUND NAME=x.b32.i2p").unwrap();
        assert_eq!(naming.result(), Some(ResultCode::KeyNotFound));
        assert_eq!(
            Reply::parse("STREAM STATUS RESULT=CANT_REACH_PEER")
                .unwrap()
                .result(),
            Some(ResultCode::CantReachPeer)
        );
    }

    #[test]
    fn quoted_values_and_messages_of_java_i2p() {
        let reply =
            Reply::parse(r#"STREAM STATUS RESULT=I2P_ERROR MESSAGE="Stream \"x\" closed \\ now""#)
                .unwrap();
        assert_eq!(reply.message(), Some(r#"Stream "x" closed \ now"#));
        let again = Reply::parse(&reply.to_line()).unwrap();
        assert_eq!(again, reply);
        let empty = Reply::parse(r#"NAMING REPLY RESULT=OK NAME="" VALUE=a"#).unwrap();
        assert_eq!(empty.get("NAME"), Some(""));
        assert_eq!(empty.to_line(), r#"NAMING REPLY RESULT=OK NAME="" VALUE=a"#);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for (line, reason) in [
            ("", "not a SAM reply"),
            ("HTTP/1.1 400 Bad Request", "not a SAM reply"),
            ("HELLO", "not a SAM reply"),
            ("HELLO REPLY RESULT", "without '='"),
            ("HELLO REPLY =OK", "field name"),
            ("HELLO REPLY RESULT=OK RESULT=OK", "twice"),
            ("HELLO REPLY RESULT=\"OK", "unterminated"),
            ("HELLO REPLY RESULT=\"OK\"x", "closing quote"),
            ("HELLO REPLY RESULT=O\"K", "quote inside"),
            ("HELLO REPLY RESULT=OK\tVERSION=3.1", "control character"),
            ("HELLO REPLY R\u{e9}SULT=OK", "field name"),
        ] {
            let error = Reply::parse(line).unwrap_err();
            assert!(error.reason.contains(reason), "{line:?}: {error}");
        }
        let many: String = (0..=MAX_FIELDS).map(|i| format!(" K{i}=v")).collect();
        assert!(
            Reply::parse(&format!("HELLO REPLY{many}"))
                .unwrap_err()
                .reason
                .contains("32")
        );
    }

    #[test]
    fn built_replies_are_checked_and_round_trip() {
        let reply = Reply::new(
            ReplyKind::Naming,
            vec![
                ("RESULT".into(), "OK".into()),
                ("NAME".into(), "a b".into()),
            ],
        )
        .unwrap();
        assert_eq!(reply.to_string(), r#"NAMING REPLY RESULT=OK NAME="a b""#);
        assert_eq!(Reply::parse(&reply.to_line()).unwrap(), reply);
        assert!(Reply::new(ReplyKind::Hello, vec![("A B".into(), "x".into())]).is_err());
        assert!(Reply::new(ReplyKind::Hello, vec![("A".into(), "\n".into())]).is_err());
    }
}
