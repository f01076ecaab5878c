//! Geo engine.
