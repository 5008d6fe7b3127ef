//! Identities on disk: one file per name in a directory only the node's user can read.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

use crate::{Identity, KeyError};

/// The first line of a key file; a file without it is not ours.
const HEADER: &str = "umbra-identity v1";

/// Why the key store could not load or save an identity.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file system refused.
    #[error("identity file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A key file that others can read: its secret may have leaked, and the node refuses
    /// to use it until the operator has looked.
    #[error(
        "identity file {path} can be read by other users (mode {mode:04o}); check who could \
         have copied it, then `chmod 600` it"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file that is not one.
    #[error("identity file {path} is not an Umbra identity: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the secret).
        reason: &'static str,
    },
    /// A name that cannot be a file name.
    #[error("identity name {name:?}: use letters, digits, '-' and '_' only")]
    BadName {
        /// The name.
        name: String,
    },
    /// Restoring over an existing, different identity without being told to.
    #[error("identity file {path} already holds another identity ({existing}); move it away first")]
    Exists {
        /// The file.
        path: PathBuf,
        /// The public key already there, in hex.
        existing: String,
    },
    /// Backup words that are not valid.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Whether [`KeyStore::load_or_create`] found the identity or made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from its file.
    Loaded,
    /// Generated now and written to its file.
    Created,
}

/// A directory of identities, one file `<name>.key` each (a node keeps one per zone, so
/// that zones cannot be linked by key).
///
/// The directory is created with mode 0700 and every file with mode 0600; files are
/// written to a temporary name, synced and renamed, so a crash never leaves half a key.
/// A file that other users can read is refused ([`StoreError::TooOpen`]), as ssh does.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// The store in `dir` (created if missing).
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        create_private_dir(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file identity `name` lives in.
    ///
    /// # Errors
    /// [`StoreError::BadName`] for names that are not plain file names.
    pub fn path(&self, name: &str) -> Result<PathBuf, StoreError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(StoreError::BadName {
                name: name.chars().take(80).collect(),
            });
        }
        Ok(self.dir.join(format!("{name}.key")))
    }

    /// Identity `name`, if its file exists.
    ///
    /// # Errors
    /// See [`StoreError`]: unreadable, too open or corrupt files are errors, never replaced.
    pub fn load(&self, name: &str) -> Result<Option<Identity>, StoreError> {
        let path = self.path(name)?;
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        check_private(&path, &metadata)?;
        let text = Zeroizing::new(fs::read_to_string(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?);
        parse_key_file(&text)
            .map(Some)
            .map_err(|reason| StoreError::Corrupt { path, reason })
    }

    /// Identity `name`: loaded from its file, or generated and saved if there is none.
    ///
    /// # Errors
    /// See [`KeyStore::load`]; also a file that cannot be written.
    pub fn load_or_create(&self, name: &str) -> Result<(Identity, Origin), StoreError> {
        if let Some(identity) = self.load(name)? {
            return Ok((identity, Origin::Loaded));
        }
        let identity = Identity::generate();
        self.save(name, &identity)?;
        Ok((identity, Origin::Created))
    }

    /// Rebuilds identity `name` from its backup words and saves it. Restoring the identity
    /// the file already holds is a no-op; another identity in the file is an error
    /// ([`StoreError::Exists`]), so a typo cannot destroy a key.
    ///
    /// # Errors
    /// Bad words, an existing different identity, or a file that cannot be written.
    pub fn restore(&self, name: &str, words: &str) -> Result<Identity, StoreError> {
        let identity = Identity::from_phrase(words)?;
        match self.load(name)? {
            Some(existing) if existing.public() == identity.public() => {}
            Some(existing) => {
                return Err(StoreError::Exists {
                    path: self.path(name)?,
                    existing: existing.public().to_string(),
                });
            }
            None => self.save(name, &identity)?,
        }
        Ok(identity)
    }

    /// Writes `identity` as `name` (atomically, mode 0600).
    fn save(&self, name: &str, identity: &Identity) -> Result<(), StoreError> {
        let path = self.path(name)?;
        let text = Zeroizing::new(format!(
            "{HEADER}\n{}\n# public key {}\n",
            hex::encode(*identity.seed()),
            identity.public()
        ));
        self.write_atomically(name, &path, text.as_bytes())
    }

    /// The file secret `name` lives in: `<dir>/<name>.secret`.
    ///
    /// # Errors
    /// [`StoreError::BadName`] for names that are not plain file names.
    pub fn secret_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        Ok(self.path(name)?.with_extension("secret"))
    }

    /// Secret `name`, if its file exists: a key that is not an [`Identity`] but belongs
    /// to one zone all the same (an I2P destination's private keys, made by the router),
    /// kept with the same care: mode 0600, refused when others can read it, written
    /// atomically. Surrounding white space is trimmed.
    ///
    /// # Errors
    /// As [`KeyStore::load`]; an empty file is [`StoreError::Corrupt`].
    pub fn load_secret(&self, name: &str) -> Result<Option<Zeroizing<String>>, StoreError> {
        let path = self.secret_path(name)?;
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        check_private(&path, &metadata)?;
        let text = Zeroizing::new(fs::read_to_string(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?);
        let trimmed = Zeroizing::new(text.trim().to_owned());
        if trimmed.is_empty() {
            return Err(StoreError::Corrupt {
                path,
                reason: "the file is empty",
            });
        }
        Ok(Some(trimmed))
    }

    /// Writes secret `name` (atomically, mode 0600), replacing what was there.
    ///
    /// # Errors
    /// A bad name, or a file that cannot be written.
    pub fn save_secret(&self, name: &str, secret: &str) -> Result<(), StoreError> {
        let path = self.secret_path(name)?;
        let text = Zeroizing::new(format!("{}\n", secret.trim()));
        self.write_atomically(name, &path, text.as_bytes())
    }

    /// Writes `bytes` to `path` (the file of `name`) through a temporary file beside it.
    fn write_atomically(&self, name: &str, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("key");
        let tmp = self.dir.join(format!(".{name}.{extension}.tmp"));
        write_private(&tmp, bytes)
            .and_then(|()| fs::rename(&tmp, path))
            .and_then(|()| sync_dir(&self.dir))
            .map_err(|source| StoreError::Io {
                path: path.to_owned(),
                source,
            })
    }
}

fn parse_key_file(text: &str) -> Result<Identity, &'static str> {
    let mut lines = text.lines().map(str::trim);
    if lines.next() != Some(HEADER) {
        return Err("missing header line");
    }
    let seed_hex = lines.next().ok_or("missing key line")?;
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(seed_hex, seed.as_mut_slice())
        .map_err(|_| "key line is not 64 hex digits")?;
    Ok(Identity::from_seed(&seed))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn check_private(path: &Path, metadata: &fs::Metadata) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &fs::Metadata) -> Result<(), StoreError> {
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_once_then_loaded_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path().join("identity")).unwrap();
        let (first, origin) = store.load_or_create("clearnet").unwrap();
        assert_eq!(origin, Origin::Created);
        let (again, origin) = store.load_or_create("clearnet").unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(first.public(), again.public());
        let file_mode = fs::metadata(store.path("clearnet").unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(file_mode & 0o777, 0o600);
        let dir_mode = fs::metadata(store.dir()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        // One identity per zone: names never share a key.
        let (tor, _) = store.load_or_create("tor").unwrap();
        assert_ne!(tor.public(), first.public());
    }

    #[test]
    fn open_files_and_junk_are_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        store.load_or_create("a").unwrap();
        let path = store.path("a").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = store.load_or_create("a").unwrap_err();
        assert!(
            matches!(error, StoreError::TooOpen { mode: 0o644, .. }),
            "{error}"
        );
        fs::write(store.path("b").unwrap(), "hello\n").unwrap();
        fs::set_permissions(store.path("b").unwrap(), fs::Permissions::from_mode(0o600)).unwrap();
        let error = store.load_or_create("b").unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
        assert_eq!(
            fs::read_to_string(store.path("b").unwrap()).unwrap(),
            "hello\n"
        );
        assert!(matches!(
            store.path("../x"),
            Err(StoreError::BadName { .. })
        ));
    }

    #[test]
    fn secrets_are_kept_private_beside_the_identities() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        assert!(store.load_secret("i2p-destination").unwrap().is_none());
        store
            .save_secret("i2p-destination", "c2VjcmV0~-=\n")
            .unwrap();
        let path = store.secret_path("i2p-destination").unwrap();
        assert!(path.ends_with("i2p-destination.secret"));
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            store
                .load_secret("i2p-destination")
                .unwrap()
                .unwrap()
                .as_str(),
            "c2VjcmV0~-="
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            store.load_secret("i2p-destination"),
            Err(StoreError::TooOpen { .. })
        ));
        fs::write(store.secret_path("empty").unwrap(), " \n").unwrap();
        fs::set_permissions(
            store.secret_path("empty").unwrap(),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert!(matches!(
            store.load_secret("empty"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(store.save_secret("../x", "s").is_err());
    }

    #[test]
    fn restore_rebuilds_the_same_identity_and_never_overwrites_another() {
        let old = tempfile::tempdir().unwrap();
        let (identity, _) = KeyStore::open(old.path())
            .unwrap()
            .load_or_create("clearnet")
            .unwrap();
        let words = identity.phrase();

        let new = tempfile::tempdir().unwrap();
        let store = KeyStore::open(new.path()).unwrap();
        let restored = store.restore("clearnet", &words).unwrap();
        assert_eq!(restored.public(), identity.public());
        let (loaded, origin) = store.load_or_create("clearnet").unwrap();
        assert_eq!(
            (loaded.public(), origin),
            (identity.public(), Origin::Loaded)
        );
        // Restoring the same words again is fine; other words are refused.
        store.restore("clearnet", &words).unwrap();
        let other = Identity::generate().phrase();
        assert!(matches!(
            store.restore("clearnet", &other),
            Err(StoreError::Exists { .. })
        ));
    }

    #[test]
    fn the_file_never_contains_the_words() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let (identity, _) = store.load_or_create("x").unwrap();
        let text = fs::read_to_string(store.path("x").unwrap()).unwrap();
        let words = identity.phrase();
        let first_words: Vec<&str> = words.split(' ').take(3).collect();
        assert!(!text.contains(&first_words.join(" ")));
        assert!(text.contains(&identity.public().to_string()));
    }
}
