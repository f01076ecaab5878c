//! The annotations the record sources read, under both external-dns prefixes.
