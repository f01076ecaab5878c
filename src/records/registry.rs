//! The TXT ownership registry in external-dns's wire format.

/// Ownership TXT naming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxtNaming {
    /// `--txt-prefix`.
    pub prefix: String,
    /// `--txt-suffix`.
    pub suffix: String,
    /// `--txt-wildcard-replacement`.
    pub wildcard_replacement: String,
}
