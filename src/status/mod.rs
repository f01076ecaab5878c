//! `cfgeo status` and the admin server's `/status` page: which region serves which part of the
//! world, at a glance. Read only: nothing here ever writes to Cloudflare.
//!
//! - [`model`] (pure): pools, load balancers and pool health in, the status of each cfgeo load
//!   balancer out: one row per pool with its region, owner, origins, state and health.
//! - [`shade`] (pure): where proximity steering sends a user at each point of the world.
//! - [`land`]: the compiled-in coastline (Natural Earth 1:110m, public domain).
//! - [`table`], [`svg`], [`html`] (pure): the renderings.
//! - [`read`]: the effectful edge: reads Cloudflare, and the cached status source the admin
//!   server uses.
//! - [`serve`]: the admin server's `/status`, `/status.svg` and `/status.json` routes.
//! - [`command`]: what `cfgeo status` shows: its output formats, options and rendering.

pub mod command;
pub mod html;
pub mod land;
pub mod model;
pub mod read;
pub mod serve;
pub mod shade;
pub mod svg;
pub mod table;

pub use model::{Health, LbStatus, PoolState, PoolStatus, Share, Status};
pub use read::{StatusSource, cached_source, read_status};

/// Why a status could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Reading Cloudflare failed; nothing is shown rather than a partial picture.
    #[error("reading {what} failed: {error}")]
    Read {
        /// What was being read (`pools`, `load balancers`, `zone`).
        what: &'static str,
        /// Cloudflare's answer.
        error: crate::cloudflare::CloudflareError,
    },
    /// A line of the compiled-in land outline does not parse (a build defect, caught by tests).
    #[error("land outline, line {line}: {message}")]
    Land {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}
