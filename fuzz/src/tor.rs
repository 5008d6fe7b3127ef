//! Fuzz checks for the Tor zone's decoders of untrusted bytes: SOCKS5 replies (from a
//! proxy) and tor control-port replies (from a tor daemon).
//!
//! | check | input | asserts |
//! |---|---|---|
//! | [`socks_reply`] | a config byte + the bytes a proxy sends | see [`socks_reply`]: the parsers never ask for more than a reply can hold, what parses re-encodes to its bytes, the client handshake buffers at most one reply, never consumes what it was not given, and the chunking changes nothing |
//! | [`tor_control_reply`] | a config byte + the bytes tor sends | see [`tor_control_reply`]: buffering stays within the line limit, the chunking changes nothing, every reply is well formed and re-encodes to bytes that parse back to it, quoted strings round-trip |

use umbra_transport::{
    socks::{
        BoundAddr, ConnectReply, Credentials, Handshake, HandshakeError, MAX_REPLY_LEN, Parsed,
        ReplyError, TargetAddr, parse_auth_reply, parse_connect_reply, parse_method_selection,
    },
    tor::{
        OnionKey,
        control::{
            HsDescEvent, LineKind, ParseError, ProtocolInfo, Reply, ReplyLimits, ReplyParser,
            UploadTracker, Word, quote, split_words,
        },
    },
};

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// SOCKS5
// ---------------------------------------------------------------------------------------

/// Checks one of the two-byte parsers (method selection, username/password reply).
fn check_two_byte_reply(
    parse: fn(&[u8]) -> Result<Parsed<u8>, ReplyError>,
    data: &[u8],
    input: &[u8],
) {
    match parse(data) {
        Ok(Parsed::Incomplete { needed }) => {
            assert!(
                needed == 2 && data.len() < 2,
                "needs {needed} of {}; input {}",
                data.len(),
                hex(input)
            );
        }
        Ok(Parsed::Complete { value, len }) => {
            assert_eq!(len, 2, "input {}", hex(input));
            assert_eq!(data.get(1), Some(&value), "input {}", hex(input));
        }
        Err(_) => {}
    }
}

/// Checks [`parse_connect_reply`] on `data` and on every prefix of the reply it finds.
fn check_connect_reply(data: &[u8], input: &[u8]) {
    let data = data.get(..MAX_REPLY_LEN + 8).unwrap_or(data);
    match parse_connect_reply(data) {
        Ok(Parsed::Incomplete { needed }) => {
            assert!(
                needed > data.len() && needed <= MAX_REPLY_LEN,
                "needs {needed} with {} bytes; input {}",
                data.len(),
                hex(input)
            );
        }
        Ok(Parsed::Complete { value, len }) => {
            assert!(
                len <= data.len() && len <= MAX_REPLY_LEN,
                "len {len}; input {}",
                hex(input)
            );
            let bytes = data.get(..len).unwrap_or_default();
            assert_eq!(
                value.encode(),
                bytes,
                "re-encoding differs; input {}",
                hex(input)
            );
            // Its own bytes give the same reply, and every shorter prefix asks for more
            // without asking past the reply.
            assert_eq!(
                parse_connect_reply(bytes),
                Ok(Parsed::Complete {
                    value: value.clone(),
                    len
                }),
                "input {}",
                hex(input)
            );
            for cut in 0..len {
                let prefix = bytes.get(..cut).unwrap_or_default();
                match parse_connect_reply(prefix) {
                    Ok(Parsed::Incomplete { needed }) => assert!(
                        needed > cut && needed <= len,
                        "prefix {cut} needs {needed} of {len}; input {}",
                        hex(input)
                    ),
                    other => panic!(
                        "prefix {cut} of a {len}-byte reply gave {other:?}; input {}",
                        hex(input)
                    ),
                }
            }
            check_bound(&value, input);
        }
        Err(error) => {
            // An error is decided by what came: more bytes do not undo it.
            let mut longer = data.to_vec();
            longer.extend_from_slice(&[0; 8]);
            assert!(
                parse_connect_reply(&longer).is_err(),
                "{error} undone by more bytes; input {}",
                hex(input)
            );
        }
    }
}

fn check_bound(reply: &ConnectReply, input: &[u8]) {
    if let BoundAddr::Domain(host, _) = &reply.bound {
        assert!(host.len() <= 255, "input {}", hex(input));
    }
}

/// What driving a [`Handshake`] over some bytes gave.
#[derive(Debug, PartialEq, Eq)]
struct HandshakeRun {
    outcome: Option<Result<BoundAddr, HandshakeError>>,
    /// Bytes consumed (`None` after a failure).
    consumed: Option<usize>,
    sent: Vec<Vec<u8>>,
}

/// Drives a handshake with `server` as the proxy's bytes, `chunk` bytes at a time (or as
/// many as it wants, if `exact`, as the async client reads).
fn drive(
    handshake: &mut Handshake,
    server: &[u8],
    chunk: usize,
    exact: bool,
    input: &[u8],
) -> HandshakeRun {
    let mut consumed = 0;
    let mut failed = false;
    let mut sent = Vec::new();
    // A handshake has at most three replies; each call consumes at least a byte or ends.
    for _ in 0..=server.len() + 4 {
        if handshake.outcome().is_some() {
            break;
        }
        if let Some(bytes) = handshake.poll_transmit() {
            sent.push(bytes);
        }
        let wanted = handshake.wanted();
        assert!(
            wanted <= MAX_REPLY_LEN,
            "wants {wanted}; input {}",
            hex(input)
        );
        if wanted == 0 {
            break;
        }
        let rest = server.get(consumed..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        let take = if exact { wanted.min(chunk) } else { chunk };
        let given = rest.get(..take.min(rest.len())).unwrap_or(rest);
        match handshake.handle_input(given) {
            Ok(n) => {
                assert!(
                    n <= given.len(),
                    "consumed {n} of {}; input {}",
                    given.len(),
                    hex(input)
                );
                assert!(
                    n > 0,
                    "consumed nothing while waiting; input {}",
                    hex(input)
                );
                consumed += n;
            }
            Err(error) => {
                assert_eq!(
                    handshake.outcome(),
                    Some(&Err(error)),
                    "input {}",
                    hex(input)
                );
                // How much of the last chunk the failed reply took is not reported.
                failed = true;
                break;
            }
        }
        assert!(
            handshake.buffered() <= MAX_REPLY_LEN,
            "input {}",
            hex(input)
        );
    }
    HandshakeRun {
        outcome: handshake.outcome().cloned(),
        consumed: (!failed).then_some(consumed),
        sent,
    }
}

/// Feeds arbitrary bytes, as if from a SOCKS5 proxy, to the SOCKS5 client's parsers and
/// handshake.
///
/// Input layout: `[config, proxy bytes...]`. The low 5 bits of `config` give the chunk size
/// (1 to 32), bit 5 whether the client has credentials, bit 6 whether the target is a
/// name (else IPv6), bit 7 whether chunks ignore [`Handshake::wanted`] (a caller handing
/// over more than asked).
///
/// Asserted:
/// - the method-selection and username/password parsers ask for exactly two bytes and
///   return the second;
/// - [`parse_connect_reply`] never asks for more than [`MAX_REPLY_LEN`] or for fewer bytes
///   than it has; a complete reply re-encodes to exactly its bytes, and every shorter
///   prefix asks for more without asking past it; an error stays an error with more bytes;
/// - the [`Handshake`] never wants more than a reply, never buffers more than one, never
///   consumes more than it is given (and always something while it waits), sends the
///   requests RFC 1928/1929 prescribe, and the chunking changes neither the outcome nor
///   the bytes consumed.
pub fn socks_reply(data: &[u8]) {
    let (config, server) = match data {
        [config, rest @ ..] => (*config, rest),
        [] => (0, data),
    };
    for start in [0, 2, 4] {
        let slice = server.get(start..).unwrap_or_default();
        check_two_byte_reply(parse_method_selection, slice, data);
        check_two_byte_reply(parse_auth_reply, slice, data);
        check_connect_reply(slice, data);
    }

    let chunk = usize::from(config & 0x1f) + 1;
    let credentials =
        (config & 0x20 != 0).then(|| Credentials::new(b"user".to_vec(), b"pw".to_vec()));
    let credentials = credentials.and_then(Result::ok);
    let target = if config & 0x40 != 0 {
        TargetAddr::Domain("peer.onion".to_owned(), 18083)
    } else {
        TargetAddr::Ip(std::net::SocketAddr::from((
            std::net::Ipv6Addr::LOCALHOST,
            18080,
        )))
    };
    let exact = config & 0x80 == 0;

    let mut whole = Handshake::new(&target, credentials.clone());
    let reference = drive(&mut whole, server, usize::MAX, true, data);
    let mut chunked = Handshake::new(&target, credentials.clone());
    let run = drive(&mut chunked, server, chunk, exact, data);
    assert_eq!(
        run,
        reference,
        "chunking changed the handshake; input {}",
        hex(data)
    );

    // The requests: the greeting first, then the credentials if the proxy asked for them.
    let first = run.sent.first().map(Vec::as_slice);
    let greeting: &[u8] = if credentials.is_some() {
        &[5, 1, 2]
    } else {
        &[5, 1, 0]
    };
    assert_eq!(first, Some(greeting), "input {}", hex(data));
    if let Some(Ok(_)) = &run.outcome {
        let replies = if credentials.is_some() { 3 } else { 2 };
        assert_eq!(run.sent.len(), replies, "input {}", hex(data));
        // Method selection (2) [+ username/password reply (2)] + a CONNECT reply.
        let connect_start = 2 * (replies - 1);
        let end = run.consumed.unwrap_or_default();
        let connect = server.get(connect_start..end).unwrap_or_default();
        assert!(
            matches!(parse_connect_reply(connect), Ok(Parsed::Complete { len, .. }) if len == connect.len()),
            "the handshake ended outside a CONNECT reply; input {}",
            hex(data)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Tor control protocol
// ---------------------------------------------------------------------------------------

/// What feeding a byte stream to a [`ReplyParser`] gave.
#[derive(Debug)]
struct ControlRun {
    replies: Vec<Reply>,
    error: Option<ParseError>,
    consumed: usize,
}

fn feed_control<'a>(
    limits: ReplyLimits,
    chunks: impl Iterator<Item = &'a [u8]>,
    input: &[u8],
) -> ControlRun {
    let mut parser = ReplyParser::new(limits);
    let mut run = ControlRun {
        replies: Vec::new(),
        error: None,
        consumed: 0,
    };
    'chunks: for chunk in chunks {
        let mut at = 0;
        // Each call consumes at least one byte, or ends the chunk.
        while at < chunk.len() {
            match parser.parse(chunk.get(at..).unwrap_or_default()) {
                Ok((n, reply)) => {
                    assert!(n <= chunk.len() - at, "input {}", hex(input));
                    assert!(
                        n > 0 || reply.is_some(),
                        "no progress; input {}",
                        hex(input)
                    );
                    at += n;
                    run.consumed += n;
                    run.replies.extend(reply);
                }
                Err(error) => {
                    // Poisoned: the same error again, whatever comes.
                    assert_eq!(
                        parser.parse(b"250 OK\r\n"),
                        Err(error.clone()),
                        "input {}",
                        hex(input)
                    );
                    run.error = Some(error);
                    break 'chunks;
                }
            }
            assert!(
                parser.buffered() <= limits.max_line_len + 1,
                "buffers {} bytes; input {}",
                parser.buffered(),
                hex(input)
            );
        }
    }
    run
}

fn check_reply(reply: &Reply, limits: ReplyLimits, input: &[u8]) {
    assert!(reply.status <= 999, "input {}", hex(input));
    let Some((last, rest)) = reply.lines.split_last() else {
        panic!("a reply without lines; input {}", hex(input));
    };
    assert_eq!(last.kind, LineKind::End, "input {}", hex(input));
    assert!(last.data.is_empty(), "input {}", hex(input));
    for line in rest {
        assert_ne!(line.kind, LineKind::End, "input {}", hex(input));
        if line.kind == LineKind::Mid {
            assert!(line.data.is_empty(), "input {}", hex(input));
        }
    }
    let lines: usize = reply.lines.iter().map(|line| 1 + line.data.len()).sum();
    assert!(
        lines <= limits.max_lines,
        "{lines} lines; input {}",
        hex(input)
    );
    for line in &reply.lines {
        for text in std::iter::once(&line.text).chain(&line.data) {
            assert!(!text.contains('\n'), "input {}", hex(input));
            assert!(text.len() <= limits.max_line_len, "input {}", hex(input));
        }
    }
    // Re-encoding (CRLF, dot-escaped data) parses back to the same reply, exactly.
    let encoded = reply.encode();
    let roomy = ReplyLimits {
        max_line_len: limits.max_line_len + 2,
        max_lines: limits.max_lines,
        max_reply_len: encoded.len(),
    };
    let mut parser = ReplyParser::new(roomy);
    let parsed = parser.parse(&encoded);
    assert!(
        matches!(&parsed, Ok((n, Some(back))) if *n == encoded.len() && back == reply),
        "re-encoding gave {parsed:?} for {reply:?}; input {}",
        hex(input)
    );
    // The readers above the parser take any reply without panicking.
    let _ = ProtocolInfo::from_reply(reply);
    if let Some(event) = HsDescEvent::from_reply(reply) {
        let mut uploads = UploadTracker::new(event.service_id.clone());
        let _ = uploads.handle(&event);
    }
    for line in &reply.lines {
        if let Some(blob) = line.text.strip_prefix("PrivateKey=")
            && let Ok(key) = OnionKey::from_tor(blob)
        {
            assert_eq!(
                OnionKey::from_tor(&key.to_tor()).ok(),
                Some(key),
                "input {}",
                hex(input)
            );
        }
        if let Ok(words) = split_words(&line.text) {
            for word in words {
                check_quote_round_trip(&word, input);
            }
        }
    }
}

/// A value quoted the way Umbra quotes passwords unquotes to itself.
fn check_quote_round_trip(word: &Word, input: &[u8]) {
    let quoted = format!("K={}", quote(&word.value));
    let back = split_words(&quoted);
    assert_eq!(
        back,
        Ok(vec![Word {
            key: Some("K".to_owned()),
            value: word.value.clone(),
        }]),
        "quoting {:?} does not round-trip; input {}",
        word.value,
        hex(input)
    );
}

/// Feeds arbitrary bytes, as if from tor's control port, to the control-protocol
/// [`ReplyParser`] and the readers above it.
///
/// Input layout: `[config, stream...]`. The low 6 bits of `config` give the chunk size (1
/// to 64); bit 6 selects small limits (64-byte lines, 8 lines, 256-byte replies) so the
/// limits are reached, else the defaults.
///
/// Asserted:
/// - the parser never holds more than a line (plus a CR) of unfinished input, always makes
///   progress, and after an error returns that error again;
/// - the chunking changes nothing: the replies are the same, and an error comes if and
///   only if it comes when the stream is fed whole;
/// - every reply ends with an end line, only data lines carry data, no text holds a line
///   break or breaks the limits, and its encoding parses back to the same reply;
/// - PROTOCOLINFO, HS_DESC and key readers do not panic, a parsed onion key re-encodes to
///   itself, and every word's value survives [`quote`] and [`split_words`].
pub fn tor_control_reply(data: &[u8]) {
    let (config, stream) = match data {
        [config, rest @ ..] => (*config, rest),
        [] => (0, data),
    };
    let limits = if config & 0x40 != 0 {
        ReplyLimits {
            max_line_len: 64,
            max_lines: 8,
            max_reply_len: 256,
        }
    } else {
        ReplyLimits::default()
    };
    let chunk = usize::from(config & 0x3f) + 1;
    let whole = feed_control(limits, std::iter::once(stream), data);
    let chunked = feed_control(limits, stream.chunks(chunk), data);
    assert_eq!(
        chunked.replies,
        whole.replies,
        "chunking changed the replies; input {}",
        hex(data)
    );
    assert_eq!(
        chunked.error.is_some(),
        whole.error.is_some(),
        "chunking changed the outcome: {:?} vs {:?}; input {}",
        chunked.error,
        whole.error,
        hex(data)
    );
    if whole.error.is_none() {
        assert_eq!(whole.consumed, stream.len(), "input {}", hex(data));
    }
    for reply in &whole.replies {
        check_reply(reply, limits, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks_reply_accepts_real_and_broken_replies() {
        // Config 0x25: chunks of 6, with credentials, IPv6 target.
        socks_reply(b"\x25\x05\x02\x01\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00hello");
        socks_reply(b"\x41\x05\x00\x05\x00\x00\x03\x04host\x00\x50");
        socks_reply(b"\x80\x05\x00\x05\xf6\x00\x01\x00\x00\x00\x00\x00\x00");
        socks_reply(b"\x00HTTP/1.1 400 Bad Request\r\n");
        socks_reply(b"");
        for config in 0..=u8::MAX {
            socks_reply(&[
                config, 5, 0, 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80,
            ]);
        }
    }

    #[test]
    fn tor_control_reply_accepts_real_and_broken_replies() {
        let tor = b"250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/var/lib/tor/control_auth_cookie\"\r\n250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n650 HS_DESC UPLOADED abc UNKNOWN $X\r\n250+config-text=\r\nA 1\r\n..dot\r\n.\r\n250 OK\r\n";
        for config in [0u8, 1, 7, 0x3f, 0x40, 0x45] {
            let mut input = vec![config];
            input.extend_from_slice(tor);
            tor_control_reply(&input);
        }
        tor_control_reply(b"\x03250 \xff\r\n");
        tor_control_reply(b"\x00250-a\r\n251 b\r\n");
        tor_control_reply(&[0x41; 300]);
        tor_control_reply(b"");
    }
}
