//! The geo engine: label-selected Ingresses become this cluster's pool, and every cluster's
//! pool is merged into one proximity load balancer per hostname.
//!
//! `desired` and `plan` are pure; `apply` and `engine` are the effectful edges.

pub mod apply;
pub mod desired;
pub mod engine;
pub mod inputs;
pub mod plan;
pub mod settings;

pub use desired::{DesiredGeo, desired_state};
pub use plan::{Action, Expect, Observed, Phase, Plan, Problem, Step, plan};
pub use settings::{GeoSettings, LbPolicy, MonitorPolicy};
