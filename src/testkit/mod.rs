//! Test support, compiled only with the `testkit` feature (tests and benchmarks turn it on;
//! the shipped binary never contains it): a fake Kubernetes API server.

pub mod fake_kube;
