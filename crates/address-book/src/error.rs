//! Errors: writing the peers file can fail ([`AddressBookError`]); reading it never fails
//! the caller, but says why a file was not used ([`FileError`]).

use std::{io, path::PathBuf};

/// Why saving the address book failed. Every variant names the file it was working on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddressBookError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {error}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        error: io::Error,
    },
    /// The book could not be encoded (a host name epee cannot carry; never in practice).
    #[error("cannot encode the address book for {path}: {error}")]
    Encode {
        /// The peers file.
        path: PathBuf,
        /// What the encoder said.
        #[source]
        error: umbra_epee::Error,
    },
    /// Writing or syncing the temporary file failed; the previous peers file is untouched.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The temporary file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        error: io::Error,
    },
    /// Renaming the temporary file over the peers file failed; the previous peers file is
    /// untouched.
    #[error("cannot rename {from} to {to}: {error}")]
    Rename {
        /// The temporary file.
        from: PathBuf,
        /// The peers file.
        to: PathBuf,
        /// What the OS said.
        #[source]
        error: io::Error,
    },
}

/// Why a peers file was not used (it is then set aside and the book starts empty).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file exists but could not be read.
    #[error("cannot read it: {0}")]
    Read(#[source] io::Error),
    /// The file is larger than any book with the configured bounds could need (see
    /// [`crate::persist`] for the figure): hand-edited or not ours.
    #[error("{len} bytes is more than the {max} bytes a book of these bounds can need")]
    TooLarge {
        /// Size of the file.
        len: u64,
        /// The most accepted.
        max: u64,
    },
    /// Not a well-formed peers document: corrupt, truncated, or over the decoding limits.
    #[error("not a valid peers document: {0}")]
    Decode(#[source] umbra_epee::Error),
    /// A format version this build does not read.
    #[error("format version {found}; this build reads version {expected}")]
    Version {
        /// Version in the file.
        found: u32,
        /// The version this build reads and writes.
        expected: u32,
    },
    /// The peers file of another zone.
    #[error("it belongs to zone {found:?}, not {expected:?}")]
    Zone {
        /// Zone named in the file.
        found: String,
        /// This book's zone.
        expected: &'static str,
    },
}
