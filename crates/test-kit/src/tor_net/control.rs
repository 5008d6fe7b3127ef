//! A minimal, blocking tor control-port client: just what the fixture needs (cookie
//! authentication, `GETINFO`, `SETEVENTS`, `ADD_ONION`, `DEL_ONION`, reading events).
//!
//! Private to the fixture on purpose: Umbra's own control-port client lives in `transport`.
//! Every read has a deadline; replies and queued events are bounded.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest reply line accepted (tor's lines are far shorter).
const MAX_LINE: usize = 64 * 1024;

/// Most lines in one reply.
const MAX_REPLY_LINES: usize = 4096;

/// Most asynchronous events kept while a command waits for its reply; older ones are dropped.
const MAX_QUEUED_EVENTS: usize = 1024;

/// Longest wait in one `read` call, so deadlines are checked often.
const READ_SLICE: Duration = Duration::from_millis(250);

/// A failure on the control connection, as text for the caller's error.
pub(super) type ControlResult<T> = Result<T, String>;

/// One reply: its status code and its lines (without the code and separator; data blocks
/// of `+` lines are appended as their own lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) lines: Vec<String>,
}

impl Reply {
    /// The value of `key=value` in one of the lines, if present.
    pub(super) fn value(&self, key: &str) -> Option<&str> {
        self.lines.iter().find_map(|line| {
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
        })
    }
}

/// An authenticated control connection.
#[derive(Debug)]
pub(super) struct ControlConn {
    stream: TcpStream,
    /// Bytes read but not yet returned as a line.
    pending: Vec<u8>,
    /// Asynchronous events (`650` lines) read while waiting for a reply.
    events: VecDeque<String>,
}

impl ControlConn {
    /// Connects to `addr` and authenticates with the cookie in `cookie_path`.
    pub(super) fn connect(
        addr: SocketAddr,
        cookie_path: &Path,
        deadline: Instant,
    ) -> ControlResult<Self> {
        let timeout = remaining(deadline)?.min(Duration::from_secs(5));
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
        let cookie = fs::read(cookie_path)
            .map_err(|e| format!("read the cookie {}: {e}", cookie_path.display()))?;
        let mut conn = Self {
            stream,
            pending: Vec::new(),
            events: VecDeque::new(),
        };
        conn.command_ok(&format!("AUTHENTICATE {}", hex::encode(cookie)), deadline)?;
        Ok(conn)
    }

    /// Sends one command line and returns its reply, whatever the status code.
    pub(super) fn command(&mut self, line: &str, deadline: Instant) -> ControlResult<Reply> {
        if line.contains(['\r', '\n']) {
            return Err("a control command must be one line".to_owned());
        }
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.stream
            .set_write_timeout(Some(remaining(deadline)?.max(Duration::from_millis(1))))
            .map_err(|e| format!("set write timeout: {e}"))?;
        self.stream
            .write_all(&bytes)
            .map_err(|e| format!("send {}: {e}", redact(line)))?;
        self.read_reply(deadline)
    }

    /// Like [`ControlConn::command`], but a status code other than 250 is an error.
    pub(super) fn command_ok(&mut self, line: &str, deadline: Instant) -> ControlResult<Reply> {
        let reply = self.command(line, deadline)?;
        if reply.code == 250 {
            Ok(reply)
        } else {
            Err(format!(
                "{} answered {} {}",
                redact(line),
                reply.code,
                reply.lines.join(" | ")
            ))
        }
    }

    /// The next asynchronous event line (without `650 `), or `None` once `deadline` passes.
    pub(super) fn next_event(&mut self, deadline: Instant) -> ControlResult<Option<String>> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        loop {
            let Some(line) = self.read_line(deadline)? else {
                return Ok(None);
            };
            let (code, _, text) = split_line(&line)?;
            if code == 650 {
                return Ok(Some(text.to_owned()));
            }
            tracing::debug!(
                line,
                "unexpected control-port line while waiting for events"
            );
        }
    }

    /// Reads one whole reply, queueing any asynchronous events met on the way.
    fn read_reply(&mut self, deadline: Instant) -> ControlResult<Reply> {
        let mut lines = Vec::new();
        loop {
            let Some(line) = self.read_line(deadline)? else {
                return Err("no reply before the deadline".to_owned());
            };
            let (code, separator, text) = split_line(&line)?;
            if code == 650 {
                if self.events.len() >= MAX_QUEUED_EVENTS {
                    self.events.pop_front();
                }
                self.events.push_back(text.to_owned());
                continue;
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err("reply too long".to_owned());
            }
            lines.push(text.to_owned());
            match separator {
                ' ' => return Ok(Reply { code, lines }),
                '+' => {
                    // A data block follows, ended by a line holding only ".".
                    loop {
                        let Some(data) = self.read_line(deadline)? else {
                            return Err("data block cut short".to_owned());
                        };
                        if data == "." {
                            break;
                        }
                        if lines.len() >= MAX_REPLY_LINES {
                            return Err("reply too long".to_owned());
                        }
                        lines.push(data.strip_prefix('.').unwrap_or(&data).to_owned());
                    }
                }
                _ => {}
            }
        }
    }

    /// The next line (without CRLF), or `None` once `deadline` passes.
    fn read_line(&mut self, deadline: Instant) -> ControlResult<Option<String>> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let rest = self.pending.split_off(end + 1);
                let mut line = std::mem::replace(&mut self.pending, rest);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.pending.len() > MAX_LINE {
                return Err("control line too long".to_owned());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wait = (deadline - now).clamp(Duration::from_millis(1), READ_SLICE);
            self.stream
                .set_read_timeout(Some(wait))
                .map_err(|e| format!("set read timeout: {e}"))?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err("tor closed the control connection".to_owned()),
                Ok(n) => self
                    .pending
                    .extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
}

/// Splits `250-text` into (250, '-', "text").
fn split_line(line: &str) -> ControlResult<(u16, char, &str)> {
    let code = line
        .get(..3)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("malformed control line {line:?}"))?;
    let separator = line.get(3..4).and_then(|s| s.chars().next()).unwrap_or(' ');
    let text = line.get(4..).unwrap_or_default();
    Ok((code, separator, text))
}

/// A command as it may appear in an error: without the cookie or a private key.
fn redact(line: &str) -> String {
    let mut words = line.split(' ');
    match words.next() {
        Some(cmd @ ("AUTHENTICATE" | "ADD_ONION")) => format!("{cmd} …"),
        Some(cmd) => cmd.to_owned(),
        None => String::new(),
    }
}

fn remaining(deadline: Instant) -> ControlResult<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("deadline passed".to_owned())
    } else {
        Ok(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn splits_reply_lines() {
        assert_eq!(split_line("250-a=b").unwrap(), (250, '-', "a=b"));
        assert_eq!(split_line("250 OK").unwrap(), (250, ' ', "OK"));
        assert_eq!(
            split_line("650 HS_DESC X").unwrap(),
            (650, ' ', "HS_DESC X")
        );
        assert!(split_line("ab").is_err());
    }

    #[test]
    fn redacts_secrets() {
        assert_eq!(redact("AUTHENTICATE 00ff"), "AUTHENTICATE …");
        assert_eq!(redact("ADD_ONION ED25519-V3:abc Port=1"), "ADD_ONION …");
        assert_eq!(redact("GETINFO version"), "GETINFO");
    }

    /// A fake tor: checks the cookie, answers one GETINFO with an event in between, then
    /// sends an event.
    #[test]
    fn authenticates_reads_replies_and_queues_events() {
        let dir = tempfile::tempdir().unwrap();
        let cookie = dir.path().join("cookie");
        fs::write(&cookie, [0xab_u8; 32]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut out = stream;
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert_eq!(line, format!("AUTHENTICATE {}\r\n", "ab".repeat(32)));
            out.write_all(b"250 OK\r\n").unwrap();
            line.clear();
            reader.read_line(&mut line).unwrap();
            assert_eq!(line, "GETINFO a b\r\n");
            out.write_all(b"250-a=1\r\n650 EVENT one\r\n250+b=\r\nx\r\n..y\r\n.\r\n250 OK\r\n")
                .unwrap();
            out.write_all(b"650 EVENT two\r\n").unwrap();
            line.clear();
            // Wait for the client to close.
            let _ = reader.read_line(&mut line);
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut conn = ControlConn::connect(addr, &cookie, deadline).unwrap();
        let reply = conn.command_ok("GETINFO a b", deadline).unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["a=1", "b=", "x", ".y", "OK"]);
        assert_eq!(reply.value("a"), Some("1"));
        assert_eq!(
            conn.next_event(deadline).unwrap().as_deref(),
            Some("EVENT one")
        );
        assert_eq!(
            conn.next_event(deadline).unwrap().as_deref(),
            Some("EVENT two")
        );
        let soon = Instant::now() + Duration::from_millis(100);
        assert_eq!(conn.next_event(soon).unwrap(), None);
        drop(conn);
        server.join().unwrap();
    }
}
