//! The record synchronizer: sources turn Kubernetes objects into desired [`Endpoint`]s, the TXT
//! registry decides which zone records are ours, a pure planner compares the two, and the
//! writer applies the changes through Cloudflare's batch endpoint.
//!
//! `endpoint`, `annotations`, `sources`, `registry`, `zone` and `plan` are pure; `apply` and
//! `engine` are the effectful edges.

pub mod annotations;
pub mod apply;
pub mod endpoint;
pub mod engine;
pub mod inputs;
pub mod kinds;
pub mod plan;
pub mod registry;
pub mod sources;
pub mod zone;

pub use endpoint::{CfProps, Endpoint};
pub use plan::{ChangeGroup, Op, Plan, PlanSettings, Policy};
