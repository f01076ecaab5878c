//! The pure domain vocabulary shared by the engines: regions, pool and origin naming, weights,
//! hostnames, the ownership marker cfgeo writes into Cloudflare objects, and the notices
//! (object, severity, reason) that become Kubernetes Events. No I/O here.

mod marker;
mod names;
mod notice;

pub use marker::{Identity, Marker, MarkerState, is_cfgeo_pool, marker_safe};
pub use names::{
    NameError, POOL_PREFIX, Region, Weight, normalize_hostname, pool_name, validate_hostname,
};
pub use notice::{Notice, ObjectRef, Severity};
