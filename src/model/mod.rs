//! The pure domain vocabulary shared by the engines: regions, pool and origin naming, weights,
//! hostnames and the ownership marker cfgeo writes into Cloudflare objects. No I/O here.

mod marker;
mod names;

pub use marker::{Identity, Marker, MarkerState, marker_safe};
pub use names::{NameError, Region, Weight, normalize_hostname, pool_name, validate_hostname};
