//! What `cfgeo status` shows: its output formats and the rendering of a status in each. The
//! command's wiring (client, embedded emulator, file) is in [`crate::cli`].

use super::model::Status;
use super::{html, svg, table};

/// What `cfgeo status` prints or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// One aligned table per load balancer.
    Table,
    /// The status model as JSON, for scripts.
    Json,
    /// The world map as an SVG document.
    Svg,
    /// The admin server's /status page (map and table) as one HTML file.
    Html,
}

/// What `cfgeo status` reads and how it shows it, resolved from its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOptions {
    /// Account of the pools.
    pub account_id: String,
    /// Zone of the load balancers.
    pub zone_id: String,
    /// Only this load-balancer hostname (validated).
    pub lb_hostname: Option<String>,
    /// Output format.
    pub output: Output,
    /// Where to write it; standard output when unset.
    pub file: Option<std::path::PathBuf>,
}

/// Permissions `cfgeo status` needs, named when a read fails.
pub const PERMISSIONS: &str =
    "the token needs Zone Read, Load Balancers Read and Load Balancing: Monitors and Pools Read";

/// The status in the chosen format.
pub fn render(status: &Status, output: Output) -> String {
    match output {
        Output::Table => table::render(status),
        Output::Json => table::json(status),
        Output::Svg => svg::render(status),
        Output::Html => html::page(status),
    }
}
