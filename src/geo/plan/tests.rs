//! Table-style tests of the pure geo planner, driven to a fixed point like the executor does.

use super::*;
use crate::cloudflare::types::SteeringPolicy;
use crate::geo::desired::{DesiredPool, MonitorOverride};
use crate::model::ObjectRef;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn settings() -> GeoSettings {
    GeoSettings::for_tests()
}

fn with_owner(owner: &str) -> GeoSettings {
    let mut s = settings();
    s.owner_id = owner.into();
    s
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
                monitor: MonitorOverride::default(),
            },
        );
    }
    d
}

/// Plans and applies until the planner has nothing left; returns every action taken.
fn converge(d: &DesiredGeo, obs: &mut Observed, s: &GeoSettings) -> Vec<Action> {
    converge_at(d, obs, s, 100)
}

fn converge_at(d: &DesiredGeo, obs: &mut Observed, s: &GeoSettings, now: u64) -> Vec<Action> {
    let mut all = Vec::new();
    for _ in 0..20 {
        let p = plan(d, obs, s, now);
        if p.is_empty() {
            return all;
        }
        for st in &p.steps {
            simulate(obs, &st.action);
        }
        all.extend(p.actions());
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

fn lb(id: &str, pools: &[&str], fallback: &str) -> LoadBalancer {
    LoadBalancer {
        id: id.into(),
        name: "app.example.com".into(),
        default_pools: pools.iter().map(|p| p.to_string()).collect(),
        fallback_pool: fallback.into(),
        steering_policy: Some(SteeringPolicy::Proximity),
        proxied: true,
        ttl: None,
        enabled: None,
        description: Some("custom".into()),
        region_pools: None,
        country_pools: None,
        pop_pools: None,
    }
}

fn pool_id(obs: &Observed, name: &str) -> String {
    obs.pools
        .iter()
        .find(|p| p.name == name)
        .unwrap()
        .id
        .clone()
}

fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::CreateMonitor { .. } => "create_monitor",
            Action::PatchMonitor { .. } => "patch_monitor",
            Action::CreatePool { .. } => "create_pool",
            Action::PatchPool { .. } => "patch_pool",
            Action::CreateLb { .. } => "create_lb",
            Action::PatchLb { .. } => "patch_lb",
            Action::DeleteLb { .. } => "delete_lb",
            Action::DeletePool { .. } => "delete_pool",
            Action::DeleteMonitor { .. } => "delete_monitor",
        })
        .collect()
}

#[test]
fn first_run_creates_pool_then_lb_and_second_pass_is_empty() {
    let s = settings();
    let d = desired(&[("prod", &["203.0.113.10", "2001:db8::1"])]);
    let mut obs = Observed::default();
    let actions = converge(&d, &mut obs, &s);
    assert_eq!(kinds(&actions), vec!["create_pool", "create_lb"]);
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
fn one_plan_holds_every_phase_in_order_with_new_ids() {
    let mut s = settings();
    s.monitor = MonitorPolicy::Managed(MonitorInput {
        monitor_type: Some("https".into()),
        path: Some("/healthz".into()),
        ..Default::default()
    });
    let d = desired(&[("prod", &["203.0.113.10"])]);
    let p = plan(&d, &Observed::default(), &s, 100);
    assert_eq!(
        kinds(&p.actions()),
        vec!["create_monitor", "create_pool", "create_lb"]
    );
    let phases: Vec<Phase> = p.steps.iter().map(|s| s.phase).collect();
    assert_eq!(phases, vec![Phase::Monitors, Phase::Pools, Phase::Lbs]);
    match (&p.steps[1].action, &p.steps[2].action) {
        (Action::CreatePool { input: pool }, Action::CreateLb { input: lb }) => {
            assert_eq!(
                pool.monitor.as_deref(),
                Some("(new) monitor k8s-pool-prod-eu")
            );
            assert_eq!(lb.default_pools, vec!["(new) pool k8s-pool-prod-eu"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(p.steps.iter().all(|s| s.expects == Expect::Absent));
}

#[test]
fn address_change_replaces_the_origin() {
    let s = settings();
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let actions = converge(&desired(&[("prod", &["203.0.113.20"])]), &mut obs, &s);
    assert_eq!(kinds(&actions), vec!["patch_pool"]);
    let addrs: Vec<_> = obs.pools[0]
        .origins
        .iter()
        .map(|o| o.address.as_str())
        .collect();
    assert_eq!(addrs, vec!["203.0.113.20"]);
}

#[test]
fn last_cluster_leaving_keeps_its_pool_drained_and_never_deletes_the_lb() {
    let s = settings();
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let lb_id = obs.lbs[0].id.clone();
    let actions = converge_at(&DesiredGeo::default(), &mut obs, &s, 1000);
    assert_eq!(kinds(&actions), vec!["patch_pool"], "{actions:#?}");
    assert_eq!(obs.lbs.len(), 1, "the LB stays");
    assert_eq!(obs.lbs[0].id, lb_id);
    let own = pool_id(&obs, "k8s-pool-prod-eu");
    assert_eq!(obs.lbs[0].default_pools, vec![own.clone()]);
    assert!(obs.pools[0].origins.iter().all(|o| !o.enabled), "drained");
    // Another cluster joins; a later pass of ours takes the placeholder out, then deletes it.
    let b = with_owner("owner-b");
    converge(&desired(&[("beta", &["192.0.2.2"])]), &mut obs, &b);
    let beta = pool_id(&obs, "k8s-pool-beta-eu");
    assert_eq!(obs.lbs[0].default_pools, vec![beta.clone(), own.clone()]);
    let actions = converge_at(&DesiredGeo::default(), &mut obs, &s, 2000);
    assert_eq!(kinds(&actions), vec!["patch_lb", "delete_pool"]);
    assert_eq!(obs.lbs[0].default_pools, vec![beta.clone()]);
    assert_eq!(obs.lbs[0].fallback_pool, beta);
    assert_eq!(obs.lbs[0].id, lb_id);
    // No plan of any state ever deletes an LB.
    assert!(
        plan(&DesiredGeo::default(), &obs, &b, 3000)
            .actions()
            .iter()
            .all(|a| !matches!(a, Action::DeleteLb { .. }))
    );
}

#[test]
fn removal_waits_for_the_delay() {
    let mut s = settings();
    s.removal_delay_secs = 30;
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    converge(
        &desired(&[("beta", &["192.0.2.2"])]),
        &mut obs,
        &with_owner("b"),
    );
    converge(&DesiredGeo::default(), &mut obs, &s);
    let own = pool_id(&obs, "k8s-pool-prod-eu");
    assert!(!obs.lbs[0].default_pools.contains(&own), "out of the LB");
    assert_eq!(obs.pools.len(), 2, "but not deleted yet");
    assert_eq!(
        plan(&DesiredGeo::default(), &obs, &s, 110).requeue_after,
        Some(20)
    );
    let p = plan(&DesiredGeo::default(), &obs, &s, 130);
    assert_eq!(kinds(&p.actions()), vec!["delete_pool"], "{p:?}");
}

#[test]
fn foreign_and_seed_pools_keep_their_places_and_unlisted_seed_pools_are_never_added() {
    let s = settings();
    let mut obs = Observed::default();
    obs.pools.push(foreign_pool("f1", "hand-made"));
    obs.pools.push(Pool {
        description: None,
        ..foreign_pool("seed1", "k8s-pool-old-us_east")
    });
    // A seed pool of another cluster that is not in the LB: never added by cfgeo.
    obs.pools.push(Pool {
        description: None,
        ..foreign_pool("seed2", "k8s-pool-other-asia")
    });
    obs.lbs.push(lb("lb1", &["f1", "seed1"], "f1"));
    let before: Vec<Pool> = obs.pools.clone();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let own = pool_id(&obs, "k8s-pool-prod-eu");
    assert_eq!(
        obs.lbs[0].default_pools,
        vec!["f1".to_string(), "seed1".into(), own]
    );
    assert_eq!(obs.lbs[0].fallback_pool, "f1");
    for p in &before {
        assert!(obs.pools.contains(p), "{} was written", p.name);
    }
    converge_at(&DesiredGeo::default(), &mut obs, &s, 1000);
    assert_eq!(
        obs.lbs[0].default_pools,
        vec!["f1".to_string(), "seed1".into()]
    );
}

#[test]
fn concurrent_clusters_compute_the_same_lb_value() {
    let a = with_owner("a");
    let b = with_owner("b");
    let mut obs = Observed::default();
    converge(&desired(&[("alpha", &["192.0.2.1"])]), &mut obs, &a);
    // b's pool appears; both plan against the same listing.
    let pb = plan(&desired(&[("beta", &["192.0.2.2"])]), &obs, &b, 100);
    simulate(&mut obs, &pb.steps[0].action);
    let lb_a = plan(&desired(&[("alpha", &["192.0.2.1"])]), &obs, &a, 100);
    let lb_b = plan(&desired(&[("beta", &["192.0.2.2"])]), &obs, &b, 100);
    assert_eq!(
        lb_a.actions(),
        lb_b.actions(),
        "both clusters must write the same LB value"
    );
    assert!(
        matches!(&lb_a.actions()[..], [Action::PatchLb { patch, .. }] if patch.default_pools.as_ref().unwrap().len() == 2)
    );
}

#[test]
fn a_stale_view_never_removes_another_clusters_pool() {
    let s = settings();
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    let own = pool_id(&obs, "k8s-pool-prod-eu");
    // The LB lists a pool our listing predates, and another owner's pool that is leaving.
    obs.pools.push(Pool {
        description: Some(
            Marker::from_fields([
                ("owner", "b"),
                ("geo", "eu"),
                ("deploy", "app.example.com"),
                ("lb", "app.example.com"),
                ("state", "leaving"),
                ("since", "5"),
            ])
            .render(),
        ),
        ..foreign_pool("leaving-b", "k8s-pool-beta-eu")
    });
    obs.lbs[0].default_pools = vec![own.clone(), "unknown-new".into(), "leaving-b".into()];
    // Our address changes, and later all our Ingresses go: neither removes their entries.
    for d in [
        desired(&[("prod", &["203.0.113.11"])]),
        DesiredGeo::default(),
    ] {
        let p = plan(&d, &obs, &s, 1000);
        for a in p.actions() {
            if let Action::PatchLb { patch, .. } = &a
                && let Some(list) = &patch.default_pools
            {
                assert!(list.contains(&"unknown-new".to_string()), "{list:?}");
                assert!(list.contains(&"leaving-b".to_string()), "{list:?}");
            }
            assert!(!matches!(a, Action::DeleteLb { .. }));
            simulate(&mut obs, &a);
        }
    }
}

#[test]
fn a_pool_missing_from_the_lb_is_restored() {
    let s = settings();
    let b = with_owner("b");
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    converge(&desired(&[("beta", &["192.0.2.2"])]), &mut obs, &b);
    // A stale writer dropped ours.
    let beta = pool_id(&obs, "k8s-pool-beta-eu");
    obs.lbs[0].default_pools = vec![beta.clone()];
    let p = plan(&desired(&[("prod", &["203.0.113.10"])]), &obs, &s, 100);
    assert_eq!(kinds(&p.actions()), vec!["patch_lb"]);
    // And the other cluster heals it too, from its own listing.
    let p = plan(&desired(&[("beta", &["192.0.2.2"])]), &obs, &b, 100);
    assert_eq!(kinds(&p.actions()), vec!["patch_lb"]);
}

#[test]
fn a_pool_of_another_owner_with_our_name_is_reported_and_left_alone() {
    let s = settings();
    let mut obs = Observed::default();
    let other = Identity {
        owner: "someone-else".into(),
        geo: "eu".into(),
        deploy: "app.example.com".into(),
    };
    obs.pools.push(Pool {
        description: Some(Marker::pool(&other, "prod", "app.example.com").render()),
        ..foreign_pool("x1", "k8s-pool-prod-eu")
    });
    let before = obs.pools.clone();
    let p = plan(&desired(&[("prod", &["203.0.113.10"])]), &obs, &s, 100);
    assert!(
        p.actions()
            .iter()
            .all(|a| !matches!(a, Action::PatchPool { .. } | Action::CreatePool { .. }))
    );
    let pr = p
        .problems
        .iter()
        .find(|pr| pr.reason == "PoolOwnedElsewhere")
        .expect("problem reported");
    assert_eq!(pr.pool.as_deref(), Some("k8s-pool-prod-eu"));
    assert!(pr.message.contains("someone-else"), "{}", pr.message);
    let mut after = obs.clone();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut after, &s);
    assert!(after.pools.contains(&before[0]));
}

#[test]
fn colliding_owner_ids_never_retire_each_others_pools() {
    // Two deployments in one cluster (same owner id, other hostname), and one owner id reused
    // in another region: none is "ours" to the other, so none retires the other.
    let a = settings();
    let mut other_deploy = settings();
    other_deploy.deployment_id = "shop.example.com".into();
    other_deploy.default_lb_host = "shop.example.com".into();
    let mut other_region = settings();
    other_region.region = crate::model::Region::resolve("asia", None, None).unwrap();
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &a);
    let snapshot = obs.clone();
    for s in [&other_deploy, &other_region] {
        let p = plan(&DesiredGeo::default(), &obs, s, 1000);
        assert!(p.is_empty(), "{:?}", p.actions());
    }
    assert_eq!(obs, snapshot);
}

#[test]
fn seed_pool_with_exactly_our_name_is_adopted_without_rewriting_origins() {
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
    obs.lbs.push(lb("lb1", &["seed"], "seed"));
    let p = plan(&desired(&[("prod", &["203.0.113.10"])]), &obs, &s, 100);
    match &p.actions()[..] {
        [Action::PatchPool { patch, .. }] => {
            assert!(patch.origins.is_none(), "origins already right: {patch:?}");
            assert!(patch.description.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_seed_pool_merging_two_clusters_is_not_adopted_and_loses_nothing() {
    let s = settings();
    let mut obs = Observed::default();
    let origin = |a: &str| Origin {
        name: format!("o-{a}"),
        address: a.into(),
        enabled: true,
        weight: 0.33,
        header: None,
    };
    obs.pools.push(Pool {
        description: None,
        origins: vec![origin("203.0.113.10"), origin("198.51.100.20")],
        latitude: Some(50.1109),
        longitude: Some(8.6821),
        ..foreign_pool("seed", "k8s-pool-prod-eu")
    });
    obs.lbs.push(lb("lb1", &["seed"], "seed"));
    let before = obs.clone();
    let p = plan(&desired(&[("prod", &["203.0.113.10"])]), &obs, &s, 100);
    assert!(p.is_empty(), "{:?}", p.actions());
    let pr = p
        .problems
        .iter()
        .find(|pr| pr.reason == "SeedPoolHasOtherOrigins")
        .expect("reported");
    assert!(pr.message.contains("198.51.100.20"), "{}", pr.message);
    let mut after = obs.clone();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut after, &s);
    assert_eq!(after, before);
}

#[test]
fn a_pool_without_coordinates_blocks_only_the_lb_write_and_is_reported() {
    let s = settings();
    let mut obs = Observed::default();
    obs.pools.push(Pool {
        latitude: None,
        longitude: None,
        description: None,
        ..foreign_pool("nocoord", "k8s-pool-legacy-eu")
    });
    obs.lbs.push(lb("lb1", &["nocoord"], "nocoord"));
    let p = plan(&desired(&[("prod", &["203.0.113.10"])]), &obs, &s, 100);
    assert_eq!(kinds(&p.actions()), vec!["create_pool"], "{p:#?}");
    let pr = p
        .problems
        .iter()
        .find(|pr| pr.reason == "PoolWithoutCoordinates")
        .expect("reported");
    assert_eq!(pr.host.as_deref(), Some("app.example.com"));
    assert!(pr.message.contains("k8s-pool-legacy-eu"), "{}", pr.message);
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

fn managed() -> MonitorPolicy {
    MonitorPolicy::Managed(MonitorInput {
        monitor_type: Some("https".into()),
        path: Some("/healthz".into()),
        expected_codes: Some("2xx".into()),
        interval: Some(60),
        allow_insecure: Some(false),
        ..Default::default()
    })
}

#[test]
fn managed_monitor_sends_the_lb_host_and_takes_overrides() {
    let mut s = settings();
    s.monitor = managed();
    let mut obs = Observed::default();
    let mut d = desired(&[("prod", &["203.0.113.10"])]);
    d.pools.values_mut().for_each(|p| {
        p.monitor = MonitorOverride {
            path: Some("/ready".into()),
            expected_codes: Some("200".into()),
            allow_insecure: Some(true),
        }
    });
    let actions = converge(&d, &mut obs, &s);
    assert_eq!(kinds(&actions)[0], "create_monitor");
    let m = &obs.monitors[0];
    assert_eq!(
        m.header.as_ref().and_then(|h| h.get("Host")),
        Some(&vec!["app.example.com".to_string()])
    );
    assert_eq!(m.path.as_deref(), Some("/ready"));
    assert_eq!(m.expected_codes.as_deref(), Some("200"));
    assert_eq!(m.allow_insecure, Some(true));
    assert_eq!(obs.pools[0].monitor.as_deref(), Some(m.id.as_str()));
    // The override goes away: the monitor is brought back to the flags.
    let actions = converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    assert_eq!(kinds(&actions), vec!["patch_monitor"]);
    assert_eq!(obs.monitors[0].path.as_deref(), Some("/healthz"));
}

#[test]
fn monitor_none_after_managed_detaches_then_deletes_our_monitor() {
    let mut s = settings();
    s.monitor = managed();
    let mut obs = Observed::default();
    let d = desired(&[("prod", &["203.0.113.10"])]);
    converge(&d, &mut obs, &s);
    assert!(obs.pools[0].monitor.is_some());
    s.monitor = MonitorPolicy::None;
    let actions = converge(&d, &mut obs, &s);
    assert_eq!(kinds(&actions), vec!["patch_pool", "delete_monitor"]);
    match &actions[0] {
        Action::PatchPool { patch, .. } => assert_eq!(patch.monitor, Some(None)),
        other => panic!("{other:?}"),
    }
    assert_eq!(obs.pools[0].monitor, None);
    assert!(obs.monitors.is_empty());
    // A monitor someone else attached is left attached.
    obs.pools[0].monitor = Some("theirs".into());
    assert!(plan(&d, &obs, &s, 100).is_empty());
}

#[test]
fn managed_monitor_of_a_retired_pool_is_deleted() {
    let mut s = settings();
    s.monitor = managed();
    let b = with_owner("b");
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    converge(&desired(&[("beta", &["192.0.2.2"])]), &mut obs, &b);
    converge_at(&DesiredGeo::default(), &mut obs, &s, 1000);
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

#[test]
fn decommission_refuses_while_others_serve_unless_forced() {
    let s = settings();
    let b = with_owner("b");
    let mut obs = Observed::default();
    converge(&desired(&[("prod", &["203.0.113.10"])]), &mut obs, &s);
    converge(&desired(&[("beta", &["192.0.2.2"])]), &mut obs, &b);
    let e = plan_decommission(&obs, &s, "app.example.com", false).unwrap_err();
    assert!(e.to_string().contains("k8s-pool-beta-eu"), "{e}");
    let actions = plan_decommission(&obs, &s, "app.example.com", true).unwrap();
    assert_eq!(kinds(&actions), vec!["delete_lb", "delete_pool"]);
    assert!(
        matches!(&actions[1], Action::DeletePool { name, .. } if name == "k8s-pool-prod-eu"),
        "only our own pool"
    );
    assert!(matches!(
        plan_decommission(&obs, &s, "nope.example.com", true),
        Err(DecommissionError::NoLb(_))
    ));
}

/// Random states and desires: an LB write never drops an entry that is not one of this
/// deployment's own pools, and no plan ever deletes an LB.
#[test]
fn property_lb_writes_never_drop_what_is_not_ours() {
    let s = settings();
    let owners = ["owner-eu", "b", "c"];
    for seed in 0..400u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut obs = Observed::default();
        let mut listed = Vec::new();
        for i in 0..rng.random_range(0..6) {
            let owner = owners[rng.random_range(0..owners.len())];
            let leaving = rng.random_bool(0.3);
            let id = Identity {
                owner: owner.into(),
                geo: "eu".into(),
                deploy: "app.example.com".into(),
            };
            let mut m = Marker::pool(&id, &format!("c{i}"), "app.example.com");
            if leaving {
                m = m.with_state(MarkerState::Leaving(1));
            }
            let marked = rng.random_bool(0.8);
            obs.pools.push(Pool {
                description: marked.then(|| m.render()),
                origins: vec![Origin {
                    name: "o".into(),
                    address: format!("192.0.2.{i}"),
                    enabled: !leaving && rng.random_bool(0.8),
                    weight: 1.0,
                    header: None,
                }],
                ..foreign_pool(&format!("p{i}"), &format!("k8s-pool-c{i}-eu"))
            });
            if rng.random_bool(0.7) {
                listed.push(format!("p{i}"));
            }
        }
        if rng.random_bool(0.3) {
            listed.push("not-in-listing".into());
        }
        if !listed.is_empty() || rng.random_bool(0.5) {
            let first = listed.first().cloned().unwrap_or_default();
            obs.lbs.push(lb("lb1", &[], &first));
            obs.lbs[0].default_pools = listed.clone();
        }
        let d = if rng.random_bool(0.5) {
            desired(&[("c0", &["203.0.113.1"])])
        } else {
            DesiredGeo::default()
        };
        let view = View::new(&obs, &s);
        let p = plan(&d, &obs, &s, 1000);
        for a in p.actions() {
            assert!(!matches!(a, Action::DeleteLb { .. }), "seed {seed}");
            if let Action::PatchLb { patch, .. } = &a
                && let Some(new) = &patch.default_pools
            {
                for old in &listed {
                    let ours = obs.pools.iter().any(|p| &p.id == old && view.owns_pool(p));
                    assert!(
                        ours || new.contains(old),
                        "seed {seed}: dropped {old} from {listed:?} -> {new:?}"
                    );
                }
                assert!(!new.is_empty(), "seed {seed}: emptied the LB");
            }
        }
    }
}
