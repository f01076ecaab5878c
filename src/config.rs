//! Validated settings shared by the engines.
