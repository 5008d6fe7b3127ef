//! Fuzz check for the I2P decoders of untrusted bytes: what a SAM bridge sends (reply
//! lines, destinations) and what peer lists carry (`.b32.i2p` addresses).
//!
//! [`sam_reply`] takes any bytes and must return normally. It asserts, for whatever
//! decodes:
//!
//! - **lines** ([`take_line`]): cut in order, each at most [`MAX_LINE`] bytes without a
//!   newline; while waiting for a newline the buffer holds at most `MAX_LINE + 1` bytes;
//!   whatever is left after the last line is exactly the input's tail;
//! - **replies** ([`Reply::parse`], each line and the whole input as text): re-encoding
//!   ([`Reply::to_line`]) parses back to an equal reply and is a fixpoint;
//! - **addresses** ([`I2pAddr`]): the text prints back the same, up to ASCII case and an
//!   added `:1` port, and parses back to the same address;
//! - **destinations** ([`Destination`], [`PrivateKey`], as base64 text and as bytes):
//!   canonical base64 that re-encodes to the same text, bytes that re-encode to the same
//!   bytes, and an address that is the hash of those bytes.

use umbra_transport::i2p::{
    Destination, I2pAddr, PrivateKey, decode_base64, encode_base64,
    reply::{MAX_LINE, Reply, take_line},
};

/// Feeds `data` to the SAM line splitter and reply parser, and to the address,
/// destination and private-key parsers; panics when one of them panics or breaks a
/// property in the module docs.
pub fn sam_reply(data: &[u8]) {
    check_lines(data);
    if let Ok(text) = std::str::from_utf8(data) {
        check_reply(text);
        check_addr(text);
        check_destination_text(text);
        check_private_key(text);
    }
    check_destination_bytes(data);
}

fn check_lines(data: &[u8]) {
    let mut buf = data.to_vec();
    let mut consumed = 0usize;
    loop {
        let before = buf.len();
        match take_line(&mut buf) {
            Ok(Some(line)) => {
                assert!(line.len() <= MAX_LINE, "a line over the limit came out");
                assert!(!line.contains('\n'), "a line with a newline came out");
                let taken = before - buf.len();
                assert!(taken > line.len(), "a line came out without its newline");
                consumed += taken;
                check_reply(&line);
            }
            Ok(None) => {
                assert!(
                    buf.len() <= MAX_LINE + 1,
                    "the line buffer grew past its bound"
                );
                assert!(!buf.contains(&b'\n'), "a whole line was left in the buffer");
                assert_eq!(
                    data.get(consumed..),
                    Some(buf.as_slice()),
                    "what is left is not the input's tail"
                );
                return;
            }
            // A refused line ends the connection; nothing more to check.
            Err(_) => return,
        }
    }
}

fn check_reply(text: &str) {
    let Ok(reply) = Reply::parse(text) else {
        return;
    };
    let line = reply.to_line();
    match Reply::parse(&line) {
        Ok(again) => {
            assert_eq!(
                again, reply,
                "a re-encoded reply parses differently: {line:?}"
            );
            assert_eq!(again.to_line(), line, "re-encoding is not a fixpoint");
        }
        Err(error) => panic!("a re-encoded reply does not parse ({error}): {line:?}"),
    }
    // The typed accessors never panic either.
    let _ = (reply.result(), reply.message(), reply.kind().words());
}

fn check_addr(text: &str) {
    let Ok(addr) = text.parse::<I2pAddr>() else {
        return;
    };
    let shown = addr.to_string();
    let expected = if text.contains(':') {
        text.to_ascii_lowercase()
    } else {
        format!("{}:{}", text.to_ascii_lowercase(), I2pAddr::MONERO_PORT)
    };
    assert_eq!(
        shown, expected,
        "an address prints differently from its text"
    );
    assert_eq!(
        shown.parse::<I2pAddr>(),
        Ok(addr),
        "a printed address parses differently"
    );
    assert_eq!(I2pAddr::new(&addr.host(), addr.port()), Ok(addr));
}

fn check_destination_text(text: &str) {
    let Ok(destination) = Destination::from_base64(text) else {
        return;
    };
    assert_eq!(
        destination.to_base64(),
        text,
        "a destination re-encodes differently"
    );
    assert_eq!(
        decode_base64(text).ok().as_deref(),
        Some(destination.as_bytes()),
        "a destination's bytes are not its base64's"
    );
    check_destination(&destination);
}

fn check_private_key(text: &str) {
    let Ok(key) = PrivateKey::from_base64(text) else {
        return;
    };
    assert_eq!(
        key.to_base64(),
        text,
        "a private key re-encodes differently"
    );
    let bytes = decode_base64(text).unwrap_or_default();
    let public = key.destination().as_bytes();
    assert!(
        bytes.len() > public.len() && bytes.starts_with(public),
        "a private key does not start with its destination"
    );
    assert!(
        !format!("{key:?}").contains(text),
        "Debug of a private key shows the key"
    );
    check_destination(key.destination());
}

fn check_destination_bytes(data: &[u8]) {
    if let Ok((destination, rest)) = Destination::split_prefix(data) {
        let mut joined = destination.as_bytes().to_vec();
        joined.extend_from_slice(rest);
        assert_eq!(joined, data, "a destination and the rest are not the input");
        assert_eq!(
            Destination::from_bytes(data).is_ok(),
            rest.is_empty(),
            "from_bytes and split_prefix disagree"
        );
        check_destination(&destination);
    }
}

fn check_destination(destination: &Destination) {
    let text = destination.to_base64();
    assert_eq!(encode_base64(destination.as_bytes()), text);
    match Destination::from_base64(&text) {
        Ok(again) => assert_eq!(
            &again, destination,
            "a destination's base64 decodes differently"
        ),
        Err(error) => panic!("a destination's own base64 does not parse: {error}"),
    }
    let addr = I2pAddr::from_destination(destination);
    assert!(addr.is_of(destination));
    assert_eq!(addr.hash(), &destination.hash());
    let _ = destination.signature_type();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sam_reply_takes_garbage_and_real_lines() {
        for input in [
            &b""[..],
            b"\n\n\n",
            b"HELLO REPLY RESULT=OK VERSION=3.1\nSTREAM STATUS RESULT=OK\npeer bytes",
            b"SESSION STATUS RESULT=I2P_ERROR MESSAGE=Unknown STYLE\n",
            b"NAMING REPLY RESULT=OK NAME=\"a \\\"b\\\"\" VALUE=x\r\n",
            b"cmeua5767mz2q5jsaelk2rxhf67agrwuetaso5dzbenyzwlbkg2q.b32.i2p",
            b"CMEUA5767MZ2Q5JSAELK2RXHF67AGRWUETASO5DZBENYZWLBKG2Q.b32.i2p:18080",
            b"\xff\xfe\n",
        ] {
            sam_reply(input);
        }
        let mut destination = vec![0x42; 384];
        destination.extend_from_slice(&[5, 0, 4, 0, 7, 0, 0]);
        sam_reply(&destination);
        sam_reply(encode_base64(&destination).as_bytes());
        destination.extend_from_slice(&[1; 288]);
        sam_reply(encode_base64(&destination).as_bytes());
        sam_reply(&vec![b'A'; MAX_LINE + 10]);
    }
}
