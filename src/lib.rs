//! cfgeo keeps Cloudflare load balancers and DNS records in step with Kubernetes.
//!
//! # Layout
//! - [`admin`]: the admin HTTP server (`/livez`, `/readyz`, `/metrics`) and the metrics registry.
//! - [`cli`]: the command line (`parse`), the wiring of `cfgeo status` and `cfgeo emulator`, and
//!   the error text.
//! - [`app`]: wiring of `cfgeo run`, `plan` and `decommission`, and the `--once`/`plan` pass
//!   (anyhow only here, in `cli` and in `main`).
//! - [`config`]: every clap flag struct (every flag also an environment variable), resolved into
//!   the plain settings each module takes.
//! - [`model`]: the pure domain vocabulary (regions, pool names, origins).
//! - [`cloudflare`]: the only module that speaks Cloudflare's wire format: typed client,
//!   rate budget, retries.
//! - [`emulator`]: a stateful in-memory Cloudflare API for tests and for trying cfgeo without an
//!   account.
//! - [`geo`]: the geo engine: sources, the pure pool/LB planner, and its reconcile pass.
//! - [`records`]: the record synchronizer: sources, TXT registry, pure planner, batch writer.
//! - [`report`]: what `--once`, `plan` and `decommission` print (pure formatting).
//! - [`runtime`]: the one run loop both engines run in (debounce, resync, retries, leader
//!   gating, shutdown), its timing, resync jitter, the Event cap.
//! - [`sources`]: Kubernetes objects in, from a live watch or from manifest files.
//! - [`events`]: Kubernetes Events about what was written, or why not.
//! - [`leader`]: leader election on a `coordination.k8s.io/v1` Lease, and the leadership
//!   channel the engines take.
//! - [`memory`]: handing glibc's freed pages back to the system after a pass.
//! - [`telemetry`]: logging setup and process signals.
//! - [`status`]: `cfgeo status` and the admin server's `/status` page (read only): which
//!   region serves which part of the world.
//!
//! Test support is not here: the fake Kubernetes API server, for faults a real one cannot
//! produce on demand, is the dev-only crate `crates/fake-kube`.
// One exception, `memory` (a call to glibc's malloc_trim), allows unsafe for itself.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod app;
pub mod cli;
pub mod cloudflare;
pub mod config;
pub mod emulator;
pub mod events;
pub mod geo;
pub mod leader;
pub mod memory;
pub mod model;
pub mod records;
pub mod report;
pub mod runtime;
pub mod sources;
pub mod status;
pub mod telemetry;
