//! The one error type of the TDS codec: what was wrong with bytes a client sent, said so that a
//! driver author (or a test) can see which structure and which field broke.

/// A request the codec could not read. Every variant names the structure it was reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes ended before the structure did.
    #[error("{what} is truncated: {needed} more byte(s) needed at offset {offset}")]
    Truncated {
        /// The structure or field being read ("LOGIN7", "PRELOGIN option table", ...).
        what: &'static str,
        /// Where in the structure the read started.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("{what} is invalid: {detail}")]
    Invalid {
        /// The structure or field being read.
        what: &'static str,
        /// What exactly is wrong, with the offending value.
        detail: String,
    },
    /// A well-formed request uses a feature this server does not implement.
    #[error("{what} is not supported by this server: {detail}")]
    Unsupported {
        /// The feature.
        what: &'static str,
        /// Which value asked for it.
        detail: String,
    },
}

impl CodecError {
    /// Shorthand for [`CodecError::Invalid`].
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`CodecError::Unsupported`].
    pub fn unsupported(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Unsupported {
            what,
            detail: detail.into(),
        }
    }
}
