//! Logging: a `tracing` subscriber writing to standard error.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// The environment variable that, when set and not empty, replaces `log.level`.
pub const RUST_LOG: &str = "RUST_LOG";

/// Why logging could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `RUST_LOG` is set but is not a valid filter.
    #[error("invalid RUST_LOG {value:?}: {reason}")]
    InvalidRustLog {
        /// The variable's value (lossily decoded if it is not UTF-8).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `log.level` could not be built into a filter (it was checked when read, so this
    /// should not happen).
    #[error("invalid log filter {value:?}: {reason}")]
    InvalidFilter {
        /// The filter.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A global subscriber was already set.
    #[error("cannot start logging: {0}")]
    Init(String),
}

/// Installs the global subscriber: the filter from `RUST_LOG` if it is set and not empty,
/// else from `log.level`; lines in `log.format` on standard error, coloured only when
/// standard error is a terminal.
pub fn init(log: &LogConfig) -> Result<(), LoggingError> {
    let filter = match std::env::var_os(RUST_LOG).filter(|v| !v.is_empty()) {
        Some(value) => {
            let value = value.to_string_lossy().into_owned();
            EnvFilter::builder()
                .parse(&value)
                .map_err(|err| LoggingError::InvalidRustLog {
                    value,
                    reason: err.to_string(),
                })?
        }
        None => log
            .level
            .to_env_filter()
            .map_err(|err| LoggingError::InvalidFilter {
                value: log.level.to_string(),
                reason: err.to_string(),
            })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Compact => builder.compact().try_init(),
    };
    result.map_err(|err| LoggingError::Init(err.to_string()))
}
