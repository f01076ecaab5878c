//! The fault suite (issue "Evidence"): Cloudflare faults through the emulator, Kubernetes faults
//! through the fake API server, two replicas under leader election and four clusters, and
//! malformed input (secret hygiene is `tests/secrets.rs`). Every case asserts its invariants
//! and, when `CFGEO_EVIDENCE_OUT` names a file, appends one JSON line of results to it;
//! `scripts/evidence.sh` turns those lines into `docs/reliability.md`.
//!
//! Profile: `CFGEO_EVIDENCE=quick` (default, CI) or `full` (more trials and seeds).

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod cloudflare;
mod concurrency;
mod kubernetes;
mod rig;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cfgeo::cloudflare::types::{DnsRecordInput, RecordType};
use cfgeo::cloudflare::{ApiToken, Client, ClientSettings, TokenSource};
use cfgeo::emulator::{CallRecord, EmulatorHandle, FaultAction, FaultSpec};
use cfgeo::events::Reporter;
use cfgeo::geo::engine::GeoEngine;
use cfgeo::records::engine::{RecordEngine, resolve_zones};
use cfgeo::records::inputs::watch_inputs;
use cfgeo::records::sources::SourceKind;
use cfgeo::records::sources::SourceSettings;
use cfgeo::sources::kube_watch;
use common::evidence::*;
use common::{eventually, fast_timing, ingress, lb_pool_names, pools, settings, status};
use fake_kube::{FakeKube, FakeKubeHandle};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rig::*;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
