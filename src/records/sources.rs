//! Record sources: Kubernetes objects to desired endpoints. Pure functions over snapshots.
