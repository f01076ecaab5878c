//! Domain filters: which names the synchronizer may see and touch, and which zones they select.

/// `--domain-filter`, `--exclude-domains`, `--regex-domain-filter`, `--regex-domain-exclusion`.
#[derive(Debug, Clone, Default)]
pub struct DomainFilter {
    /// Suffixes to include (empty = everything).
    pub include: Vec<String>,
    /// Suffixes to exclude.
    pub exclude: Vec<String>,
}

impl DomainFilter {
    /// Whether `name` may be managed.
    pub fn matches(&self, name: &str) -> bool {
        let _ = name;
        true
    }
}
