//! Keys and fingerprints, made before any tor of the network starts: every torrc names the
//! authorities (`DirAuthority` needs their v3 and relay fingerprints) and the exits
//! (`TestingDirAuthVoteExit`).
//!
//! - Authority keys come from `tor-gencert --create-identity-key` (a 3072-bit RSA identity:
//!   about 1.7 s of CPU each here). Key sets made once are kept in memory for the rest of the
//!   test process and copied into later networks' authorities, so a second network in one
//!   test binary skips that cost. Networks in different processes never share keys.
//! - Relay identities (RSA and Ed25519) come from `tor --list-fingerprint`, which creates the
//!   keys in the node's data dir (about 0.25 s each); the relay started later reuses them.
//!
//! All the children run at once, each bounded by the start deadline.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use super::TorNetError;
use crate::process;

/// Authority key sets kept for later networks of this process, at most this many.
const MAX_CACHED_AUTHORITY_KEYS: usize = 16;

/// Pause between checks on a running key generator.
const POLL: Duration = Duration::from_millis(20);

/// The files of one authority's keys (in `<data dir>/keys/`).
const IDENTITY_KEY: &str = "authority_identity_key";
const SIGNING_KEY: &str = "authority_signing_key";
const CERTIFICATE: &str = "authority_certificate";

/// Authority key sets made earlier in this process.
static AUTHORITY_KEYS: Mutex<Vec<AuthorityKeyFiles>> = Mutex::new(Vec::new());

#[derive(Debug, Clone)]
struct AuthorityKeyFiles {
    identity: Vec<u8>,
    signing: Vec<u8>,
    certificate: Vec<u8>,
}

/// A relay's identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RelayIds {
    /// RSA identity fingerprint: 40 upper-case hex digits.
    pub(super) rsa: String,
    /// Ed25519 identity: unpadded base64 (43 characters).
    pub(super) ed25519: String,
}

/// What to make keys for.
#[derive(Debug)]
pub(super) struct KeyRequest<'a> {
    /// Nickname of the node.
    pub(super) nickname: &'a str,
    /// Its data dir (created already).
    pub(super) data_dir: &'a Path,
    /// Whether it is a directory authority (then it also gets authority keys).
    pub(super) authority: bool,
}

/// The keys made for one [`KeyRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NodeKeys {
    /// Its relay identities.
    pub(super) ids: RelayIds,
    /// For an authority: the fingerprint of its v3 identity key (40 upper-case hex digits).
    pub(super) v3ident: Option<String>,
}

/// A running key generator.
#[derive(Debug)]
struct Job {
    what: String,
    child: Child,
    log: PathBuf,
}

impl Job {
    /// Waits for the job to succeed, killing it at `deadline`.
    fn wait(mut self, deadline: Instant) -> Result<(), TorNetError> {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(TorNetError::KeyGeneration {
                        what: std::mem::take(&mut self.what),
                        detail: format!("{status}; output:\n{}", read_log(&self.log)),
                    });
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(TorNetError::KeyGeneration {
                        what: std::mem::take(&mut self.what),
                        detail: format!("did not finish in time; output:\n{}", read_log(&self.log)),
                    });
                }
                Err(source) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(TorNetError::KeyGeneration {
                        what: std::mem::take(&mut self.what),
                        detail: format!("could not wait for it: {source}"),
                    });
                }
            }
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // Only reached with a live child when an earlier job failed: do not leave it running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_log(path: &Path) -> String {
    super::node::read_tail(path, super::LOG_TAIL_LINES)
        .unwrap_or_else(|error| format!("(could not read {}: {error})", path.display()))
}

/// Makes every key the network needs, running the generators in parallel, and reads the
/// fingerprints back. The results are in the order of `requests`.
pub(super) fn make_keys(
    tor: &Path,
    gencert: &Path,
    empty_torrc: &Path,
    requests: &[KeyRequest<'_>],
    deadline: Instant,
) -> Result<Vec<NodeKeys>, TorNetError> {
    let cached: Vec<AuthorityKeyFiles> = AUTHORITY_KEYS
        .lock()
        .map(|cache| cache.clone())
        .unwrap_or_default();
    let mut cached = cached.into_iter();
    let mut jobs = Vec::with_capacity(requests.len() * 2);
    let mut generated_authorities = Vec::new();
    for request in requests {
        if request.authority {
            let keys_dir = request.data_dir.join("keys");
            super::node::create_private_dir(&keys_dir)?;
            match cached.next() {
                Some(files) => write_authority_files(&keys_dir, &files)?,
                None => {
                    jobs.push(start_gencert(gencert, &keys_dir)?);
                    generated_authorities.push(keys_dir);
                }
            }
        }
        jobs.push(start_list_fingerprint(
            tor,
            empty_torrc,
            request.nickname,
            request.data_dir,
        )?);
    }
    for job in jobs {
        job.wait(deadline)?;
    }
    remember_authority_keys(&generated_authorities);

    requests
        .iter()
        .map(|request| {
            let ids = read_relay_ids(request.data_dir)?;
            let v3ident = if request.authority {
                Some(read_v3ident(
                    &request.data_dir.join("keys").join(CERTIFICATE),
                )?)
            } else {
                None
            };
            Ok(NodeKeys { ids, v3ident })
        })
        .collect()
}

/// `tor-gencert --create-identity-key` into `keys_dir`, with an empty passphrase on stdin.
fn start_gencert(gencert: &Path, keys_dir: &Path) -> Result<Job, TorNetError> {
    let log = keys_dir.join("tor-gencert.log");
    let (stdout, stderr) = open_job_log(&log)?;
    let mut command = Command::new(gencert);
    command
        .arg("--create-identity-key")
        .arg("--passphrase-fd")
        .arg("0")
        .arg("-i")
        .arg(keys_dir.join(IDENTITY_KEY))
        .arg("-s")
        .arg(keys_dir.join(SIGNING_KEY))
        .arg("-c")
        .arg(keys_dir.join(CERTIFICATE))
        .arg("-m")
        .arg("12")
        .current_dir(keys_dir)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr);
    let mut child = process::spawn(command).map_err(|source| TorNetError::Spawn {
        binary: gencert.to_path_buf(),
        source,
    })?;
    // The (empty) passphrase, then EOF. A write error shows up as the job failing.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"\n");
    }
    Ok(Job {
        what: format!("tor-gencert for {}", keys_dir.display()),
        child,
        log,
    })
}

/// `tor --list-fingerprint`, which creates the relay keys in `data_dir` and writes its
/// `fingerprint` and `fingerprint-ed25519` files. The throw-away `DirAuthority` keeps tor
/// from considering the public authorities; nothing is contacted.
fn start_list_fingerprint(
    tor: &Path,
    empty_torrc: &Path,
    nickname: &str,
    data_dir: &Path,
) -> Result<Job, TorNetError> {
    let log = data_dir.join("list-fingerprint.log");
    let (stdout, stderr) = open_job_log(&log)?;
    let mut command = Command::new(tor);
    command
        .arg("--defaults-torrc")
        .arg(empty_torrc)
        .arg("-f")
        .arg(empty_torrc)
        .arg("--list-fingerprint")
        .arg("--DataDirectory")
        .arg(data_dir)
        .arg("--ORPort")
        .arg("1")
        .arg("--DirAuthority")
        .arg("xyzzy 127.0.0.1:1 ffffffffffffffffffffffffffffffffffffffff")
        .arg("--Nickname")
        .arg(nickname)
        .arg("--Log")
        .arg("notice stdout")
        .current_dir(data_dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    let child = process::spawn(command).map_err(|source| TorNetError::Spawn {
        binary: tor.to_path_buf(),
        source,
    })?;
    Ok(Job {
        what: format!("tor --list-fingerprint for {nickname}"),
        child,
        log,
    })
}

fn open_job_log(path: &Path) -> Result<(fs::File, fs::File), TorNetError> {
    let err = |source| TorNetError::WriteFile {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    let clone = file.try_clone().map_err(err)?;
    Ok((file, clone))
}

fn write_authority_files(keys_dir: &Path, files: &AuthorityKeyFiles) -> Result<(), TorNetError> {
    for (name, bytes) in [
        (IDENTITY_KEY, &files.identity),
        (SIGNING_KEY, &files.signing),
        (CERTIFICATE, &files.certificate),
    ] {
        let path = keys_dir.join(name);
        let write = || -> std::io::Result<()> {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&path)?;
            file.write_all(bytes)
        };
        write().map_err(|source| TorNetError::WriteFile {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Keeps freshly made authority key sets for later networks of this process.
fn remember_authority_keys(keys_dirs: &[PathBuf]) {
    if keys_dirs.is_empty() {
        return;
    }
    let Ok(mut cache) = AUTHORITY_KEYS.lock() else {
        return;
    };
    for dir in keys_dirs {
        if cache.len() >= MAX_CACHED_AUTHORITY_KEYS {
            break;
        }
        let read = |name: &str| fs::read(dir.join(name));
        if let (Ok(identity), Ok(signing), Ok(certificate)) =
            (read(IDENTITY_KEY), read(SIGNING_KEY), read(CERTIFICATE))
        {
            cache.push(AuthorityKeyFiles {
                identity,
                signing,
                certificate,
            });
        }
    }
}

/// The relay identities `tor --list-fingerprint` wrote into `data_dir`.
fn read_relay_ids(data_dir: &Path) -> Result<RelayIds, TorNetError> {
    let rsa = read_fingerprint_file(&data_dir.join("fingerprint"))?;
    let ed25519 = read_fingerprint_file(&data_dir.join("fingerprint-ed25519"))?;
    let valid_rsa = rsa.len() == 40 && rsa.bytes().all(|b| b.is_ascii_hexdigit());
    let valid_ed = ed25519.len() == 43
        && ed25519
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !valid_rsa || !valid_ed {
        return Err(TorNetError::KeyGeneration {
            what: format!("reading the fingerprints in {}", data_dir.display()),
            detail: format!("unexpected fingerprints {rsa:?} / {ed25519:?}"),
        });
    }
    Ok(RelayIds {
        rsa: rsa.to_ascii_uppercase(),
        ed25519,
    })
}

/// The second word of a `nickname FINGERPRINT` file.
fn read_fingerprint_file(path: &Path) -> Result<String, TorNetError> {
    let text = fs::read_to_string(path).map_err(|source| TorNetError::KeyGeneration {
        what: format!("reading {}", path.display()),
        detail: source.to_string(),
    })?;
    parse_fingerprint_file(&text).ok_or_else(|| TorNetError::KeyGeneration {
        what: format!("reading {}", path.display()),
        detail: format!("unexpected content {text:?}"),
    })
}

fn parse_fingerprint_file(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let _nickname = words.next()?;
    // Some tor versions print the RSA fingerprint in groups of four.
    let fingerprint: String = words.collect();
    (!fingerprint.is_empty()).then_some(fingerprint)
}

/// The v3 identity fingerprint: the `fingerprint` line of the authority certificate.
fn read_v3ident(certificate: &Path) -> Result<String, TorNetError> {
    let text = fs::read_to_string(certificate).map_err(|source| TorNetError::KeyGeneration {
        what: format!("reading {}", certificate.display()),
        detail: source.to_string(),
    })?;
    parse_v3ident(&text).ok_or_else(|| TorNetError::KeyGeneration {
        what: format!("reading {}", certificate.display()),
        detail: "no valid `fingerprint` line".to_owned(),
    })
}

fn parse_v3ident(certificate: &str) -> Option<String> {
    certificate
        .lines()
        .find_map(|line| line.strip_prefix("fingerprint "))
        .map(str::trim)
        .filter(|fp| fp.len() == 40 && fp.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fingerprint_files() {
        assert_eq!(
            parse_fingerprint_file("auth0 C137BB90603BB6456D55296AD9C534945DFCAA6C\n").as_deref(),
            Some("C137BB90603BB6456D55296AD9C534945DFCAA6C")
        );
        assert_eq!(
            parse_fingerprint_file("auth0 C137 BB90 603B B645 6D55 296A D9C5 3494 5DFC AA6C")
                .as_deref(),
            Some("C137BB90603BB6456D55296AD9C534945DFCAA6C")
        );
        assert_eq!(parse_fingerprint_file("auth0\n"), None);
    }

    #[test]
    fn parses_the_certificate_fingerprint() {
        let cert = "dir-key-certificate-version 3\nfingerprint F33E8851D076273D21DFD7E4856674BF36C40431\ndir-key-published 2026-11-21 06:49:38\n";
        assert_eq!(
            parse_v3ident(cert).as_deref(),
            Some("F33E8851D076273D21DFD7E4856674BF36C40431")
        );
        assert_eq!(parse_v3ident("fingerprint XYZ\n"), None);
    }
}
