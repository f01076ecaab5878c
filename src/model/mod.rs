//! Pure domain vocabulary.
