//! Kubernetes kinds that k8s-openapi does not ship: Gateway API objects and DNSEndpoint.
