//! Test support shipped with the library so integration tests, benchmarks and the fault suite
//! share it: a fake Kubernetes API server.

pub mod fake_kube;
