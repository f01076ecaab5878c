//! Table-style tests of the pure geo planner, driven to a fixed point like the executor does.

use super::*;
use crate::cloudflare::types::SteeringPolicy;
use crate::geo::desired::{DesiredPool, ObjectRef};

fn settings() -> GeoSettings {
    GeoSettings::for_tests()
}

fn desired(pools: &[(&str, &[&str])]) -> DesiredGeo {
    let mut d = DesiredGeo::default();
    for (cluster, addrs) in pools {
        let name = format!("k8s-pool-{cluster}-eu");
        d.pools.insert(
            name.clone(),
            DesiredPool {
                name,
                cluster: cluster.to_string(),
                lb_host: "app.example.com".into(),
                origins: addrs.iter().map(|a| (a.to_string(), true)).collect(),
                hold: addrs.is_empty(),
                sources: [ObjectRef {
                    kind: "Ingress".into(),
                    namespace: "ns".into(),
                    name: "web".into(),
                    uid: None,
                }]
                .into(),
            },
        );
    }
    d
}

/// Applies actions to the observed state the way Cloudflare would, with fresh ids.
fn apply(obs: &mut Observed, actions: &[Action], next_id: &mut u32) {
    let mut id = || {
        *next_id += 1;
        format!("{:032x}", *next_id)
    };
    for a in actions {
        match a {
            Action::CreateMonitor { input, .. } | Action::PatchMonitor { input, .. } => {
                let mid = match a {
                    Action::PatchMonitor { id, .. } => id.clone(),
                    _ => id(),
                };
                obs.monitors.retain(|m| m.id != mid);
                obs.monitors.push(Monitor {
                    id: mid,
                    description: input.description.clone(),
                    monitor_type: input.monitor_type.clone(),
                    path: input.path.clone(),
                    expected_codes: input.expected_codes.clone(),
                    interval: input.interval,
                    timeout: input.timeout,
                    retries: input.retries,
                    port: input.port,
                });
            }
            Action::CreatePool { input } => obs.pools.push(Pool {
                id: id(),
                name: input.name.clone(),
                description: input.description.clone(),
                enabled: input.enabled,
                origins: input.origins.clone(),
                latitude: input.latitude,
                longitude: input.longitude,
                monitor: input.monitor.clone(),
                minimum_origins: None,
                modified_on: None,
            }),
            Action::PatchPool { id, patch, .. } => {
                let p = obs.pools.iter_mut().find(|p| &p.id == id).unwrap();
                if let Some(o) = &patch.origins {
                    p.origins = o.clone();
                }
                if let Some(d) = &patch.description {
                    p.description = Some(d.clone());
                }
                if let Some(l) = patch.latitude {
                    p.latitude = Some(l);
                }
                if let Some(l) = patch.longitude {
                    p.longitude = Some(l);
                }
                if let Some(m) = &patch.monitor {
                    p.monitor = m.clone();
                }
            }
            Action::CreateLb { input } => obs.lbs.push(LoadBalancer {
                id: id(),
                name: input.name.clone(),
                default_pools: input.default_pools.clone(),
                fallback_pool: input.fallback_pool.clone(),
                steering_policy: Some(input.steering_policy.clone()),
                proxied: input.proxied,
                ttl: input.ttl,
                enabled: Some(true),
                description: None,
                region_pools: None,
                country_pools: None,
                pop_pools: None,
            }),
            Action::PatchLb { id, patch, .. } => {
                let lb = obs.lbs.iter_mut().find(|l| &l.id == id).unwrap();
                if let Some(d) = &patch.default_pools {
                    lb.default_pools = d.clone();
                }
                if let Some(f) = &patch.fallback_pool {
                    lb.fallback_pool = f.clone();
                }
                if let Some(s) = &patch.steering_policy {
                    lb.steering_policy = Some(s.clone());
                }
                if let Some(p) = patch.proxied {
                    lb.proxied = p;
                }
            }
            Action::DeleteLb { id, .. } => obs.lbs.retain(|l| &l.id != id),
            Action::DeletePool { id, .. } => obs.pools.retain(|p| &p.id != id),
            Action::DeleteMonitor { id, .. } => obs.monitors.retain(|m| &m.id != id),
        }
    }
}

/// Plans and applies until the planner has nothing left; returns every action taken.
fn converge(d: &DesiredGeo, obs: &mut Observed, s: &GeoSettings) -> Vec<Action> {
    let mut all = Vec::new();
    let mut next = 1000;
    for _ in 0..20 {
        let p = plan(d, obs, s, 100);
        if p.is_empty() {
            return all;
        }
        apply(obs, &p.actions, &mut next);
        all.extend(p.actions);
    }
    panic!("planner did not converge: {all:#?}");
}

fn foreign_pool(id: &str, name: &str) -> Pool {
    Pool {
        id: id.into(),
        name: name.into(),
        description: Some("hand made".into()),
        enabled: true,
        origins: vec![Origin {
            name: "o".into(),
            address: "192.0.2.99".into(),
            enabled: true,
            weight: 1.0,
            header: None,
        }],
        latitude: Some(1.0),
        longitude: Some(2.0),
        monitor: None,
        minimum_origins: None,
        modified_on: None,
    }
}

#[test]
fn first_run_creates_pool_then_lb_and_second_pass_is_empty() {
    let s = settings();
    let d = desired(&[("prod", &["203.0.113.10", "2001:db8::1"])]);
    let mut obs = Observed::default();
    let actions = converge(&d, &mut obs, &s);
    assert!(
        matches!(actions[0], Action::CreatePool { .. }),
        "{actions:?}"
    );
    assert!(matches!(actions[1], Action::CreateLb { .. }), "{actions:?}");
    assert_eq!(actions.len(), 2);
    let pool = &obs.pools[0];
    assert_eq!(pool.name, "k8s-pool-prod-eu");
    assert_eq!(
        (pool.latitude, pool.longitude),
        (Some(50.1109), Some(8.6821))
    );
    assert!(pool.origins.iter().all(|o| o.weight == 0.33 && o.enabled));
    let lb = &obs.lbs[0];
    assert_eq!(lb.default_pools, vec![pool.id.clone()]);
    assert_eq!(lb.steering_policy, Some(SteeringPolicy::Proximity));
    assert!(lb.proxied);
    assert!(plan(&d, &obs, &s, 100).is_empty());
}

#[test]
fn address_change_replaces_the_origin() {
    let s = settings();
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let actions = converge(&desired(&[("prod", &["203.0.113.20"])]), &mut obs, &s);
    assert_eq!(actions.len(), 1, "{actions:?}");
    let addrs: Vec<_> = obs.pools[0]
        .origins
        .iter()
        .map(|o| o.address.as_str())
        .collect();
    assert_eq!(addrs, vec!["203.0.113.20"]);
}

#[test]
fn removal_disables_then_leaves_lb_then_deletes() {
    let s = settings();
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let actions = converge(&DesiredGeo::default(), &mut obs, &s);
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| match a {
            Action::PatchPool { .. } => "patch_pool",
            Action::DeleteLb { .. } => "delete_lb",
            Action::DeletePool { .. } => "delete_pool",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["patch_pool", "delete_lb", "delete_pool"]);
    if let Action::PatchPool { patch, .. } = &actions[0] {
        assert!(patch.origins.as_ref().unwrap().iter().all(|o| !o.enabled));
    }
    assert!(obs.pools.is_empty() && obs.lbs.is_empty());
}

#[test]
fn removal_waits_for_the_delay() {
    let mut s = settings();
    s.removal_delay_secs = 30;
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    converge(&DesiredGeo::default(), &mut obs, &s);
    // Out of the LB (deleted, as it was the last pool), but the pool waits.
    assert!(obs.lbs.is_empty());
    assert_eq!(obs.pools.len(), 1);
    assert_eq!(
        plan(&DesiredGeo::default(), &obs, &s, 110).requeue_after,
        Some(20)
    );
    let p = plan(&DesiredGeo::default(), &obs, &s, 130);
    assert!(
        matches!(p.actions[..], [Action::DeletePool { .. }]),
        "{p:?}"
    );
}

#[test]
fn foreign_pool_keeps_its_place_and_is_never_written() {
    let s = settings();
    let mut obs = Observed::default();
    obs.pools.push(foreign_pool("f1", "hand-made"));
    obs.pools.push(Pool {
        description: None,
        ..foreign_pool("seed1", "k8s-pool-old-us_east")
    });
    obs.lbs.push(LoadBalancer {
        id: "lb1".into(),
        name: "app.example.com".into(),
        default_pools: vec!["f1".into(), "seed1".into()],
        fallback_pool: "f1".into(),
        steering_policy: Some(SteeringPolicy::Proximity),
        proxied: true,
        ttl: None,
        enabled: None,
        description: Some("custom".into()),
        region_pools: None,
        country_pools: None,
        pop_pools: None,
    });
    let before_foreign = obs.pools[0].clone();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let own = obs
        .pools
        .iter()
        .find(|p| p.name == "k8s-pool-prod-eu")
        .unwrap()
        .id
        .clone();
    let lb = &obs.lbs[0];
    // Foreign stays first and stays the fallback; the seed's pool and ours follow, by name
    // ("k8s-pool-old-us_east" sorts before "k8s-pool-prod-eu").
    assert_eq!(
        lb.default_pools,
        vec!["f1".to_string(), "seed1".into(), own]
    );
    assert_eq!(lb.fallback_pool, "f1");
    assert_eq!(obs.pools[0], before_foreign);
    // Removing our pool leaves the LB with the others, never deletes it.
    converge(&DesiredGeo::default(), &mut obs, &s);
    assert_eq!(
        obs.lbs[0].default_pools,
        vec!["f1".to_string(), "seed1".into()]
    );
    assert_eq!(obs.pools.len(), 2);
}

#[test]
fn concurrent_clusters_compute_the_same_lb_value() {
    // Two owners, each with its own pool, plan against the same listing.
    let mut a = settings();
    a.owner_id = "a".into();
    let mut b = settings();
    b.owner_id = "b".into();
    let mut obs = Observed::default();
    converge(&desired(&[("alpha", &["192.0.2.1"])]), &mut obs, &a);
    let mut next = 5000;
    let pb = plan(&desired(&[("beta", &["192.0.2.2"])]), &obs, &b, 100);
    apply(&mut obs, &pb.actions, &mut next);
    let lb_a = plan(&desired(&[("alpha", &["192.0.2.1"])]), &obs, &a, 100);
    let lb_b = plan(&desired(&[("beta", &["192.0.2.2"])]), &obs, &b, 100);
    assert_eq!(
        lb_a.actions, lb_b.actions,
        "both clusters must write the same LB value"
    );
    assert!(
        matches!(&lb_a.actions[..], [Action::PatchLb { patch, .. }] if patch.default_pools.as_ref().unwrap().len() == 2)
    );
}

#[test]
fn other_owner_pool_with_same_name_is_left_alone() {
    let s = settings();
    let mut obs = Observed::default();
    obs.pools.push(Pool {
        description: Some(Marker::pool("someone-else", "prod", "eu", "app.example.com").render()),
        ..foreign_pool("x1", "k8s-pool-prod-eu")
    });
    let p = plan(&desired(&[("prod", &["203.0.113.10"])]), &obs, &s, 100);
    assert!(
        p.actions
            .iter()
            .all(|a| !matches!(a, Action::PatchPool { .. } | Action::CreatePool { .. }))
    );
    assert!(
        p.warnings.iter().any(|w| w.contains("someone-else")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn seed_pool_is_adopted_by_address_without_rewriting_origins() {
    let s = settings();
    let mut obs = Observed::default();
    obs.pools.push(Pool {
        description: None,
        origins: vec![Origin {
            name: "origin-eu".into(),
            address: "203.0.113.10".into(),
            enabled: true,
            weight: 0.33,
            header: None,
        }],
        latitude: Some(50.1109),
        longitude: Some(8.6821),
        ..foreign_pool("seed", "k8s-pool-prod-eu")
    });
    let p = plan(&desired(&[("prod", &["203.0.113.10"])]), &obs, &s, 100);
    match &p.actions[..] {
        [Action::PatchPool { patch, .. }] => {
            assert!(patch.origins.is_none(), "origins already right: {patch:?}");
            assert!(patch.description.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn drained_pool_keeps_origins_disabled_and_stays_in_lb() {
    let s = settings();
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let mut d = desired(&[("prod", &["203.0.113.10"])]);
    d.pools
        .values_mut()
        .for_each(|p| p.origins.values_mut().for_each(|e| *e = false));
    let actions = converge(&d, &mut obs, &s);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(obs.pools[0].origins.iter().all(|o| !o.enabled));
    assert_eq!(obs.lbs[0].default_pools.len(), 1);
}

#[test]
fn managed_monitor_comes_first_and_is_attached() {
    let mut s = settings();
    s.monitor = MonitorPolicy::Managed(MonitorInput {
        monitor_type: Some("https".into()),
        path: Some("/healthz".into()),
        expected_codes: Some("2xx".into()),
        interval: Some(60),
        ..Default::default()
    });
    let mut obs = Observed::default();
    let d = desired(&[("prod", &["203.0.113.10"])]);
    let actions = converge(&d, &mut obs, &s);
    assert!(matches!(actions[0], Action::CreateMonitor { .. }));
    assert_eq!(
        obs.pools[0].monitor.as_deref(),
        Some(obs.monitors[0].id.as_str())
    );
    converge(&DesiredGeo::default(), &mut obs, &s);
    assert!(
        obs.monitors.is_empty(),
        "monitor of a retired pool is deleted"
    );
}

#[test]
fn hold_keeps_an_existing_pool_untouched() {
    let s = settings();
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let before = obs.clone();
    assert!(plan(&desired(&[("prod", &[])]), &obs, &s, 100).is_empty());
    assert_eq!(obs, before);
}
