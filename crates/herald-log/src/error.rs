//! The one error type of the crate.

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Cannot accept now (memory log at capacity, or too many bytes waiting for the writer);
    /// the caller answers 429/503 and the client retries.
    #[error("log is full")]
    Full,
    /// The log was closed or its writer stopped (for example after an I/O error).
    #[error("log is closed")]
    Closed,
    #[error("log I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Unrecoverable corruption; the message says where.
    #[error("log corrupt: {0}")]
    Corrupt(String),
    #[error("record of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge { size: usize, max: usize },
}
