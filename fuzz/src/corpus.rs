//! Seed files, and the per-target inputs built from them.
//!
//! Three kinds of seed file, all under the workspace root:
//!
//! - whole levin frames: monerod's own fuzz corpus for levin ([`MONEROD_LEVIN`]) and the
//!   frames captured from a real monerod for `umbra-wire`'s tests ([`CAPTURED_FRAMES`],
//!   `*.bin`);
//! - epee documents: monerod's fuzz corpus for `load_from_binary` ([`MONEROD_BINARY`]) and
//!   peers files written by the address book's own save ([`PEERS_FILES`]);
//! - transaction and block blobs in Monero's consensus encoding: real mainnet ones
//!   ([`MAINNET_TXS`], [`MAINNET_BLOCKS`]) and some of the regtest chain fixture's
//!   ([`REGTEST_TXS`], [`REGTEST_BLOCKS`]), `*.bin`;
//! - regression inputs, one folder per target ([`REGRESSIONS`]`/<target>/`): inputs that
//!   once broke a check, kept byte for byte. Those that still break it, because the bug
//!   is not fixed yet, are listed in [`OPEN_BUGS`] (`<target>/<file>  what is wrong`, one
//!   per line, `#` starts a comment): they are left out of the corpora and of the replay,
//!   and the corpus test checks instead that they still fail, so that fixing the bug
//!   means deleting its line.
//!
//! [`Seeds::inputs`] turns them into inputs for one target: epee and wire checks get the
//! documents and the bodies of the frames (after the 33-byte header); [`crate::levin_stream`]
//! gets the frames behind a few chunking/config prefixes, all frames in one stream with
//! noise between them, each frame re-sent padded and fragmented as monerod does on Tor,
//! and each document wrapped in a frame; [`crate::consensus_tx`] and
//! [`crate::consensus_block`] get the transaction and block blobs as they are. Regression
//! inputs go to their own target as they are.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use umbra_levin::{
    Bucket, BucketCodec, DEFAULT_MAX_PACKET_SIZE, HEADER_SIZE, MessageHead, NoiseSize, put_noise,
};

use crate::{Input, STREAM_CONFIG_MONEROD, TARGETS, Target, levin_stream_input};

/// monerod's levin fuzz corpus (copied from the Debian package `monero-tests`,
/// `/usr/share/monero/testdata/fuzz/levin`).
pub const MONEROD_LEVIN: &str = "fuzz/seeds/monerod-fuzz/levin";
/// monerod's `load_from_binary` fuzz corpus (copied from `monero-tests`,
/// `/usr/share/monero/testdata/fuzz/load-from-binary`).
pub const MONEROD_BINARY: &str = "fuzz/seeds/monerod-fuzz/load-from-binary";
/// Peers files (`<zone>-peers.epee`) written by `umbra-address-book`'s save; see
/// `fuzz/tests/corpora.rs`, which checks that the address book still writes them so.
pub const PEERS_FILES: &str = "fuzz/seeds/address-book";
/// Frames captured from monerod 0.18 for `umbra-wire`'s tests (`*.bin`).
pub const CAPTURED_FRAMES: &str = "crates/wire/tests/data/monerod";
/// Real Monero mainnet transactions (`<hash>.bin`, consensus encoding; copied from
/// `/work/shared/testdata/monero/mainnet/tx` and `crates/consensus/src/tx/testdata/mainnet/tx`):
/// version 1 and RingCT (Borromean, Bulletproofs, CLSAG).
pub const MAINNET_TXS: &str = "fuzz/seeds/monero-mainnet/tx";
/// Real Monero mainnet blocks (`<hash>.bin`; copied from
/// `/work/shared/testdata/monero/mainnet/block` and the consensus crate's test data).
pub const MAINNET_BLOCKS: &str = "fuzz/seeds/monero-mainnet/block";
/// Transactions of the regtest chain fixture (`txs/<hash>.bin`: the smallest of each
/// input/output count, then the smallest others; CLSAG with Bulletproofs+).
pub const REGTEST_TXS: &str = "fuzz/seeds/regtest-chain/tx";
/// Blocks of the regtest chain fixture (`blocks/<height>.bin`: the first six, 60, the last
/// (2199), and twelve blocks with transactions). Block 1 is the one [`crate::consensus::regtest_context`] accepts.
pub const REGTEST_BLOCKS: &str = "fuzz/seeds/regtest-chain/block";
/// Regression inputs: `<target>/<any name>`.
pub const REGRESSIONS: &str = "fuzz/regressions";
/// The regression inputs of bugs that are not fixed yet: `<target>/<file>  description`.
pub const OPEN_BUGS: &str = "fuzz/regressions/OPEN";

/// (chunk selector, config) prefixes every frame is seeded with for `levin_stream`: whole,
/// byte by byte, varying chunks with interleaving refused, and large chunks with a 1 MiB
/// limit and no padding.
const FRAME_PREFIXES: [(u8, u8); 4] = [
    (0, STREAM_CONFIG_MONEROD),
    (1, STREAM_CONFIG_MONEROD),
    (0x47, STREAM_CONFIG_MONEROD | 0x10),
    (0x83, 0b0000_1111),
];

/// Seeds of the [`Input::ProxyReply`] checks: replies as real proxies send them (SOCKS5
/// method selections and CONNECT replies, tor control-port replies and events recorded
/// from tor 0.4.9, SAM replies from i2pd 2.45), each behind a configuration byte (whole
/// input, and byte by byte).
pub const PROXY_SEEDS: &[&[u8]] = &[
    b"\x00\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x1f\x90",
    b"\x01\x05\x02\x01\x00\x05\x00\x00\x03\x0bexample.org\x00P",
    b"\x00\x05\x00\x05\xf0\x00\x01\x00\x00\x00\x00\x00\x00",
    b"\x00\x05\x00\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1f\x90",
    b"\x00250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/var/lib/tor/control_auth_cookie\"\r\n250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n",
    b"\x01250-ServiceID=2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid\r\n250-PrivateKey=ED25519-V3:AAAA\r\n250 OK\r\n",
    b"\x00650 HS_DESC UPLOADED 2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid UNKNOWN $ABCDEF0123456789ABCDEF0123456789ABCDEF01\r\n",
    b"\x00250+config-text=\r\nSocksPort 9050\r\n.\r\n250 OK\r\n552 Unrecognized key \"nope\"\r\n",
    b"HELLO REPLY RESULT=OK VERSION=3.3\nSESSION STATUS RESULT=OK DESTINATION=AAAA\n",
    b"STREAM STATUS RESULT=CANT_REACH_PEER MESSAGE=\"Can't reach peer\"\nNAMING REPLY RESULT=OK NAME=ME VALUE=AAAA\n",
    b"ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p:1",
];

/// One seed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// Where it came from (a file name, with how it was derived), for messages and as a
    /// corpus file name.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Every seed file, loaded.
#[derive(Debug, Clone, Default)]
pub struct Seeds {
    /// Whole levin frames.
    pub frames: Vec<Seed>,
    /// Epee documents.
    pub documents: Vec<Seed>,
    /// Transaction blobs.
    pub txs: Vec<Seed>,
    /// Block blobs.
    pub blocks: Vec<Seed>,
    /// Regression inputs of fixed bugs, with the name of their target.
    pub regressions: Vec<(&'static str, Seed)>,
    /// Regression inputs of open bugs (listed in [`OPEN_BUGS`]): the check still fails.
    pub open_bugs: Vec<OpenBug>,
}

/// A regression input whose bug is not fixed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBug {
    /// The check it breaks.
    pub target: &'static str,
    /// The input.
    pub seed: Seed,
    /// What is wrong, from [`OPEN_BUGS`].
    pub description: String,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Reads [`OPEN_BUGS`]: `(target/file, description)` per line.
fn open_bug_list(root: &Path) -> io::Result<Vec<(String, String)>> {
    let text = match fs::read_to_string(root.join(OPEN_BUGS)) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    Ok(text
        .lines()
        .map(|line| {
            line.split_once('#')
                .map_or(line, |(before, _)| before)
                .trim()
        })
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once(char::is_whitespace) {
            Some((path, description)) => (path.to_owned(), description.trim().to_owned()),
            None => (line.to_owned(), String::new()),
        })
        .collect())
}

/// The workspace root this crate was built in.
#[must_use]
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The regular, non-hidden files of `dir` whose names end in `suffix`, sorted by name.
fn files(dir: &Path, suffix: &str) -> io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && !name.starts_with('.') && name.ends_with(suffix) {
            found.push((name, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

fn load(dir: &Path, suffix: &str, prefix: &str) -> io::Result<Vec<Seed>> {
    files(dir, suffix)?
        .into_iter()
        .map(|(name, path)| {
            Ok(Seed {
                name: format!("{prefix}{name}"),
                bytes: fs::read(path)?,
            })
        })
        .collect()
}

impl Seeds {
    /// Loads every seed file under the workspace `root`.
    ///
    /// # Errors
    /// A folder or file that cannot be read, or a regression folder named after no target.
    pub fn load(root: &Path) -> io::Result<Self> {
        let mut frames = load(&root.join(MONEROD_LEVIN), "", "monerod-fuzz-levin-")?;
        frames.extend(load(&root.join(CAPTURED_FRAMES), ".bin", "captured-")?);
        let mut documents = load(&root.join(MONEROD_BINARY), "", "monerod-fuzz-binary-")?;
        documents.extend(load(&root.join(PEERS_FILES), ".epee", "address-book-")?);
        let mut txs = load(&root.join(MAINNET_TXS), ".bin", "mainnet-tx-")?;
        txs.extend(load(&root.join(REGTEST_TXS), ".bin", "regtest-tx-")?);
        let mut blocks = load(&root.join(MAINNET_BLOCKS), ".bin", "mainnet-block-")?;
        blocks.extend(load(&root.join(REGTEST_BLOCKS), ".bin", "regtest-block-")?);
        let mut regressions = Vec::new();
        let mut open_bugs = Vec::new();
        let mut open = open_bug_list(root)?;
        let dir = root.join(REGRESSIONS);
        if dir.is_dir() {
            let mut targets = Vec::new();
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    targets.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
            targets.sort();
            for name in targets {
                let target = crate::target(&name).ok_or_else(|| {
                    invalid(format!(
                        "{REGRESSIONS}/{name}: there is no fuzz target {name:?}"
                    ))
                })?;
                for (file, path) in files(&dir.join(&name), "")? {
                    let seed = Seed {
                        name: format!("regression-{name}-{file}"),
                        bytes: fs::read(path)?,
                    };
                    let key = format!("{name}/{file}");
                    match open.iter().position(|(path, _)| *path == key) {
                        Some(at) => open_bugs.push(OpenBug {
                            target: target.name,
                            seed,
                            description: open.swap_remove(at).1,
                        }),
                        None => regressions.push((target.name, seed)),
                    }
                }
            }
        }
        if let Some((path, _)) = open.first() {
            return Err(invalid(format!(
                "{OPEN_BUGS}: no file {REGRESSIONS}/{path}"
            )));
        }
        Ok(Self {
            frames,
            documents,
            txs,
            blocks,
            regressions,
            open_bugs,
        })
    }

    /// Every seed input for `target`.
    #[must_use]
    pub fn inputs(&self, target: &Target) -> Vec<Seed> {
        let mut inputs = match target.input {
            Input::EpeeBody => self.bodies(),
            Input::LevinStream => self.streams(),
            Input::ProxyReply => PROXY_SEEDS
                .iter()
                .enumerate()
                .map(|(i, bytes)| Seed {
                    name: format!("proxy-{i:02}"),
                    bytes: bytes.to_vec(),
                })
                .collect(),
            Input::TxBlob => self.txs.clone(),
            Input::BlockBlob => self.blocks.clone(),
        };
        inputs.extend(
            self.regressions
                .iter()
                .filter(|(name, _)| *name == target.name)
                .map(|(_, seed)| seed.clone()),
        );
        inputs
    }

    /// The epee documents and the frame bodies: the seeds of every [`Input::EpeeBody`]
    /// target (regression inputs aside).
    pub fn bodies(&self) -> Vec<Seed> {
        let mut bodies = self.documents.clone();
        for frame in &self.frames {
            if let Some(body) = frame.bytes.get(HEADER_SIZE..) {
                bodies.push(Seed {
                    name: format!("{}-body", frame.name),
                    bytes: body.to_vec(),
                });
            }
        }
        bodies
    }

    /// Inputs for `levin_stream`.
    fn streams(&self) -> Vec<Seed> {
        let mut streams = Vec::new();
        for frame in &self.frames {
            for (selector, config) in FRAME_PREFIXES {
                streams.push(Seed {
                    name: format!("{}-s{selector:02x}-c{config:02x}", frame.name),
                    bytes: levin_stream_input(selector, config, &frame.bytes),
                });
            }
            for noise in [
                NoiseSize::MONEROD,
                NoiseSize::new(256).unwrap_or(NoiseSize::MONEROD),
            ] {
                if let Some(padded) = padded(&frame.bytes, noise) {
                    streams.push(Seed {
                        name: format!("{}-padded{}", frame.name, noise.get()),
                        bytes: levin_stream_input(0x52, STREAM_CONFIG_MONEROD, &padded),
                    });
                }
            }
        }

        // Every frame in one stream, with a noise frame after each, fed in varying chunks.
        let mut all = BytesMut::new();
        let noise = NoiseSize::new(64).unwrap_or(NoiseSize::MONEROD);
        for frame in &self.frames {
            all.extend_from_slice(&frame.bytes);
            put_noise(noise, &mut all);
        }
        streams.push(Seed {
            name: "all-frames-with-noise".into(),
            bytes: levin_stream_input(0x45, STREAM_CONFIG_MONEROD, &all),
        });

        // Each document as the body of a handshake request.
        for document in &self.documents {
            let bucket = Bucket::new(
                MessageHead::request(1001),
                Bytes::copy_from_slice(&document.bytes),
            );
            let mut frame = BytesMut::new();
            if BucketCodec::new(DEFAULT_MAX_PACKET_SIZE)
                .encode(bucket, &mut frame)
                .is_ok()
            {
                streams.push(Seed {
                    name: format!("{}-framed", document.name),
                    bytes: levin_stream_input(0, STREAM_CONFIG_MONEROD, &frame),
                });
            }
        }
        streams
    }
}

/// Field names of every message and of [`crate::epee_typed`]'s test struct, for the
/// dictionary: most also appear in the captured frames, but not all (e.g. pruned block
/// entries, I2P/Tor addresses, fluffy-block requests).
const FIELD_NAMES: &[&str] = &[
    "_",
    "addr",
    "b",
    "blob",
    "block",
    "block_hash",
    "block_ids",
    "block_weight",
    "blocks",
    "cumulative_difficulty",
    "cumulative_difficulty_top64",
    "current_blockchain_height",
    "current_height",
    "dandelionpp_fluff",
    "first_block",
    "hashes",
    "host",
    "id",
    "last_seen",
    "local_peerlist_new",
    "m_block_ids",
    "m_block_weights",
    "m_ip",
    "m_port",
    "missed_ids",
    "missing_tx_indices",
    "my_port",
    "network_id",
    "node_data",
    "payload_data",
    "peer_id",
    "port",
    "prunable_hash",
    "prune",
    "pruned",
    "pruning_seed",
    "rpc_credits_per_hash",
    "rpc_port",
    "start_height",
    "status",
    "support_flags",
    "top_id",
    "top_version",
    "total_height",
    "txs",
    "type",
    "deltas",
    "flag",
    "flags",
    "hash",
    "ids",
    "inners",
    "m_name",
    "m_text",
    "maybe",
    "maybe_inner",
    "nested",
    "numbers",
    "seven",
    "signed",
    "small",
    "strings",
    "weights",
];

/// A libFuzzer dictionary for every target: the epee and levin signatures, each field
/// name as it is on the wire (length byte first; every message field, and every name in
/// the seed documents), each type marker and array marker, and the small varints.
#[must_use]
pub fn dictionary(seeds: &Seeds) -> String {
    fn entry(bytes: &[u8]) -> String {
        let mut out = String::from("\"");
        for byte in bytes {
            out.push_str(&format!("\\x{byte:02x}"));
        }
        out.push('"');
        out
    }
    let mut names: Vec<Vec<u8>> = FIELD_NAMES.iter().map(|n| n.as_bytes().to_vec()).collect();
    for seed in seeds.bodies() {
        if let Ok(section) = umbra_epee::from_bytes::<umbra_epee::Section>(&Bytes::from(seed.bytes))
        {
            collect_names(&section, &mut names);
        }
    }
    names.sort();
    names.dedup();
    let mut entries = vec![
        entry(&umbra_epee::SIGNATURE),
        entry(&umbra_levin::SIGNATURE.to_le_bytes()),
    ];
    for name in &names {
        if let Ok(len) = u8::try_from(name.len()) {
            let mut bytes = vec![len];
            bytes.extend_from_slice(name);
            entries.push(entry(&bytes));
        }
    }
    for code in 1u8..=13 {
        entries.push(entry(&[code]));
        entries.push(entry(&[code | umbra_epee::ARRAY_FLAG]));
    }
    for varint in [0u8, 4, 8, 0x80] {
        entries.push(entry(&[varint]));
    }
    let mut out = String::from("# Generated by umbra-fuzz-corpus; see fuzz/README.md.\n");
    for line in entries {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn collect_names(section: &umbra_epee::Section, names: &mut Vec<Vec<u8>>) {
    use umbra_epee::{Array, Value};
    fn in_array(array: &Array, names: &mut Vec<Vec<u8>>) {
        match array {
            Array::Object(sections) => sections.iter().for_each(|s| collect_names(s, names)),
            Array::Array(arrays) => arrays.iter().for_each(|a| in_array(a, names)),
            _ => {}
        }
    }
    for (name, value) in &section.fields {
        names.push(name.to_vec());
        match value {
            Value::Object(inner) => collect_names(inner, names),
            Value::Array(array) => in_array(array, names),
            _ => {}
        }
    }
}

/// `frame` decoded and sent again padded to `noise` (fragmented if it does not fit), or
/// `None` if it is not a frame the codec accepts.
fn padded(frame: &[u8], noise: NoiseSize) -> Option<BytesMut> {
    let mut src = BytesMut::from(frame);
    let bucket = BucketCodec::new(DEFAULT_MAX_PACKET_SIZE)
        .decode_eof(&mut src)
        .ok()??;
    let mut out = BytesMut::new();
    BucketCodec::new(DEFAULT_MAX_PACKET_SIZE)
        .with_padding(Some(noise))
        .encode(bucket, &mut out)
        .ok()?;
    Some(out)
}

/// Writes the seed inputs of each of `targets` (all if empty) into `out/<target>/` as
/// `seed-*` files, replacing the `seed-*` files a previous run wrote and leaving every
/// other file (inputs the fuzzer found) alone. Returns `(target, seeds written)`.
///
/// # Errors
/// An unknown target name, or a file that cannot be read or written.
pub fn build(
    root: &Path,
    out: &Path,
    targets: &[String],
) -> io::Result<Vec<(&'static str, usize)>> {
    let seeds = Seeds::load(root)?;
    let mut chosen = Vec::new();
    if targets.is_empty() {
        chosen.extend(TARGETS.iter());
    } else {
        for name in targets {
            chosen.push(crate::target(name).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no fuzz target {name:?}"),
                )
            })?);
        }
    }
    let mut written = Vec::new();
    for target in chosen {
        let dir = out.join(target.name);
        fs::create_dir_all(&dir)?;
        for (name, path) in files(&dir, "")? {
            if name.starts_with("seed-") {
                fs::remove_file(path)?;
            }
        }
        let inputs = seeds.inputs(target);
        for seed in &inputs {
            let name: String = seed
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            fs::write(dir.join(format!("seed-{name}")), &seed.bytes)?;
        }
        written.push((target.name, inputs.len()));
    }
    Ok(written)
}
