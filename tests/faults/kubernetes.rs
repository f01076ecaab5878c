//! Kubernetes faults through the fake API server (watch drops, 410 Gone, stalls, relists), both engines.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KubeFault {
    DropWatches,
    Gone410,
    RestartNewHistory,
    PausedDeleteResume,
    PausedDeleteDrop,
}

impl KubeFault {
    const ALL: [KubeFault; 5] = [
        KubeFault::DropWatches,
        KubeFault::Gone410,
        KubeFault::RestartNewHistory,
        KubeFault::PausedDeleteResume,
        KubeFault::PausedDeleteDrop,
    ];

    fn key(self) -> &'static str {
        match self {
            KubeFault::DropWatches => "watch_streams_dropped",
            KubeFault::Gone410 => "410_gone",
            KubeFault::RestartNewHistory => "restart_new_history",
            KubeFault::PausedDeleteResume => "deleted_while_paused_then_resumed",
            KubeFault::PausedDeleteDrop => "deleted_while_paused_then_dropped",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            KubeFault::DropWatches => {
                "every watch stream dropped mid-stream; then one object deleted and one created"
            }
            KubeFault::Gone410 => {
                "history expired and streams dropped, the next 2 watches answer 410 Gone; an object deleted and one created meanwhile, history expired again"
            }
            KubeFault::RestartNewHistory => {
                "watches paused, an object deleted and one created, then the API server restarted with a new resourceVersion history (watches dropped, old versions Gone), then resumed"
            }
            KubeFault::PausedDeleteResume => {
                "watches paused (no event delivered), an object deleted and one created, watches resumed"
            }
            KubeFault::PausedDeleteDrop => {
                "watches paused, an object deleted and one created, streams dropped while paused, then resumed"
            }
        }
    }

    /// Applies the fault around `change` (which deletes the victim and creates the newcomer).
    fn inject(self, kube: &FakeKubeHandle, change: impl FnOnce()) {
        match self {
            KubeFault::DropWatches => {
                kube.drop_watches();
                change();
            }
            KubeFault::Gone410 => {
                kube.fail_next_watches(2);
                kube.expire_history();
                kube.drop_watches();
                change();
                kube.expire_history();
            }
            KubeFault::RestartNewHistory => {
                kube.pause_watches();
                change();
                kube.restart_with_new_history();
                kube.resume_watches();
            }
            KubeFault::PausedDeleteResume => {
                kube.pause_watches();
                change();
                kube.resume_watches();
            }
            KubeFault::PausedDeleteDrop => {
                kube.pause_watches();
                change();
                kube.drop_watches();
                kube.resume_watches();
            }
        }
    }
}

#[derive(Default)]
struct KubeFigures {
    samples: usize,
    bad_samples: usize,
    live_ids_changed: usize,
    ms_to_apply: u128,
}

async fn records_kube_trial(fault: KubeFault, seed: u64, ev: &mut Evidence) -> KubeFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = Arc::new(emulator_with(1200, Duration::from_secs(300), vec![]).await);
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.expect("fake kube");
    let mut hosts: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut addr = || format!("192.0.2.{}", rng.random_range(1..250));
    for i in 0..3 {
        let (h, a) = (format!("live{i}.example.com"), addr());
        kube.apply(plain_ingress(&format!("live{i}"), &[&h], &[&a]));
        hosts.insert(h, (a, format!("ingress/shop/live{i}")));
    }
    let a = addr();
    kube.apply(lb_service("svc", "svc.example.com", &[&a]));
    hosts.insert("svc.example.com".into(), (a, "service/shop/svc".into()));
    let victim_addr = addr();
    kube.apply(plain_ingress(
        "victim",
        &["victim.example.com"],
        &[&victim_addr],
    ));
    let client = common::client(&emu);
    let run = spawn_records(
        kube.client().await.unwrap(),
        client,
        &zone,
        record_settings(OWNER),
        &[SourceKind::Ingress, SourceKind::Service],
    )
    .await;
    let mut with_victim = hosts.clone();
    with_victim.insert(
        "victim.example.com".into(),
        (victim_addr, "ingress/shop/victim".into()),
    );
    eventually("records before the fault", T, || {
        record_set(&emu, &zone) == desired_records(OWNER, &with_victim)
    })
    .await;
    // The ids of the live objects' records: any deletion (or delete-and-recreate) changes them.
    let z = zone.clone();
    let live_ids = move |emu: &EmulatorHandle, hosts: &BTreeMap<String, (String, String)>| {
        emu.records(&z)
            .into_iter()
            .filter(|r| {
                hosts.contains_key(&r.name)
                    || r.name
                        .strip_prefix("a-")
                        .is_some_and(|n| hosts.contains_key(n))
            })
            .map(|r| r.id)
            .collect::<BTreeSet<String>>()
    };
    let before = live_ids(&emu, &hosts);
    assert_eq!(
        before.len(),
        hosts.len() * 2,
        "an A and a TXT per live host"
    );
    let sampler = {
        let (emu, hosts, before) = (emu.clone(), hosts.clone(), before.clone());
        let live_ids = live_ids.clone();
        Sampler::start(move || live_ids(&emu, &hosts) == before)
    };

    let new_addr = addr();
    let started = Instant::now();
    fault.inject(&kube, || {
        assert!(kube.delete("networking.k8s.io/v1", "Ingress", Some("shop"), "victim"));
        kube.apply(plain_ingress(
            "newcomer",
            &["new.example.com"],
            &[&new_addr],
        ));
    });
    let mut after = hosts.clone();
    after.insert(
        "new.example.com".into(),
        (new_addr, "ingress/shop/newcomer".into()),
    );
    let want = desired_records(OWNER, &after);
    let applied = wait_for(T, || record_set(&emu, &zone) == want).await;
    let ms_to_apply = started.elapsed().as_millis();
    ev.check(
        applied,
        "no deletion missed: the deleted object's A and ownership TXT are gone, and the object created meanwhile got its records",
        format!("have {:?}", record_set(&emu, &zone)),
    );
    // The next full resync (a fresh read of the zone) must not delete anything either.
    let seen = emu.call_log().last().map_or(0, |c| c.seq);
    let resynced = wait_for(T, || {
        emu.call_log()
            .iter()
            .any(|c| c.seq > seen && c.method == "GET" && c.path.ends_with("/dns_records"))
    })
    .await;
    ev.check(
        resynced && record_set(&emu, &zone) == want,
        "the next full resync after the fault changed nothing",
        format!("resync seen: {resynced}"),
    );
    let (samples, bad) = sampler.finish().await;
    ev.check(
        bad == 0,
        "no record deleted wrongly: sampled every 3 ms, the live objects' records were always present",
        format!("{bad} of {samples} samples missed a live record"),
    );
    let changed = before.symmetric_difference(&live_ids(&emu, &hosts)).count();
    ev.check(
        changed == 0,
        "the live objects' records kept their ids (never deleted and recreated)",
        format!("{changed} ids changed"),
    );
    run.stop(ev).await;
    KubeFigures {
        samples,
        bad_samples: bad,
        live_ids_changed: changed,
        ms_to_apply,
    }
}

async fn geo_kube_trial(fault: KubeFault, seed: u64, ev: &mut Evidence) -> KubeFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = Arc::new(emulator_with(1200, Duration::from_secs(300), vec![]).await);
    let kube = FakeKube::start().await.expect("fake kube");
    let live_addr = format!("203.0.113.{}", rng.random_range(1..250));
    kube.apply(ingress("live", "fra1", &[&live_addr]));
    kube.apply(ingress("victim", "ams1", &["198.51.100.7"]));
    let run = spawn_geo(
        kube.client().await.unwrap(),
        common::client(&emu),
        settings(&emu, "eu", OWNER),
        fast_timing(),
    );
    let both = vec![
        "k8s-pool-ams1-eu".to_string(),
        "k8s-pool-fra1-eu".to_string(),
    ];
    eventually("both pools in the LB", T, || {
        lb_pool_names(&emu, "app.example.com") == Some(both.clone())
    })
    .await;
    let live_id = emu
        .pools()
        .into_iter()
        .find(|p| p.name == "k8s-pool-fra1-eu")
        .map(|p| p.id)
        .expect("live pool");
    let sampler = {
        let (emu, live_id, live_addr) = (emu.clone(), live_id.clone(), live_addr.clone());
        Sampler::start(move || {
            let in_lb = emu
                .load_balancers()
                .iter()
                .any(|l| l.name == "app.example.com" && l.default_pools.contains(&live_id));
            let serving = emu.pools().iter().any(|p| {
                p.id == live_id
                    && p.origins
                        .iter()
                        .any(|o| o.address == live_addr && o.enabled)
            });
            in_lb && serving
        })
    };
    let started = Instant::now();
    fault.inject(&kube, || {
        assert!(kube.delete("networking.k8s.io/v1", "Ingress", Some("shop"), "victim"));
        kube.apply(ingress("newcomer", "lon1", &["198.51.100.9"]));
    });
    let want = vec![
        "k8s-pool-fra1-eu".to_string(),
        "k8s-pool-lon1-eu".to_string(),
    ];
    let settled = || {
        let p = pools(&emu);
        lb_pool_names(&emu, "app.example.com") == Some(want.clone())
            && p.len() == 2
            && p.contains_key("k8s-pool-lon1-eu")
    };
    let applied = wait_for(T, settled).await;
    let ms_to_apply = started.elapsed().as_millis();
    ev.check(
        applied,
        "no deletion missed: the deleted Ingress's pool left the LB and was deleted; the new Ingress's pool joined",
        format!(
            "pools {:?}, LB {:?}",
            pools(&emu),
            lb_pool_names(&emu, "app.example.com")
        ),
    );
    let seen = emu.call_log().last().map_or(0, |c| c.seq);
    let resynced = wait_for(T, || {
        emu.call_log()
            .iter()
            .any(|c| c.seq > seen && c.method == "GET" && c.path.ends_with("/pools"))
    })
    .await;
    ev.check(
        resynced && settled(),
        "the next full resync after the fault changed nothing",
        format!("resync seen: {resynced}"),
    );
    let (samples, bad) = sampler.finish().await;
    ev.check(
        bad == 0,
        "no pool removed wrongly: sampled every 3 ms, the live Ingress's pool stayed in the LB with its origin enabled",
        format!("{bad} of {samples} samples"),
    );
    let still = emu.pools().iter().any(|p| p.id == live_id);
    ev.check(
        still,
        "the live pool kept its id (never deleted and recreated)",
        "the live pool id is gone",
    );
    run.stop(ev).await;
    KubeFigures {
        samples,
        bad_samples: bad,
        live_ids_changed: usize::from(!still),
        ms_to_apply,
    }
}

fn kube_figures(ev: &mut Evidence, per: &BTreeMap<&'static str, Vec<KubeFigures>>) {
    for (k, figs) in per {
        ev.figure(
            k,
            json!({
                "trials": figs.len(),
                "samples": figs.iter().map(|f| f.samples).sum::<usize>(),
                "samples_missing_a_live_object": figs.iter().map(|f| f.bad_samples).sum::<usize>(),
                "live_ids_changed": figs.iter().map(|f| f.live_ids_changed).sum::<usize>(),
                "max_ms_until_applied": figs.iter().map(|f| f.ms_to_apply).max(),
            }),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_faults_records() {
    let mut ev = Evidence::new(
        "kubernetes_faults_records",
        "Kubernetes faults, record synchronizer (watchers over the fake API server)",
    );
    let trials = by_profile(1, 4);
    let mut per: BTreeMap<&'static str, Vec<KubeFigures>> = BTreeMap::new();
    for fault in KubeFault::ALL {
        ev.injected(format!("{}: {}", fault.key(), fault.describe()));
        for t in 0..trials {
            let f = records_kube_trial(fault, 300 + t as u64, &mut ev).await;
            per.entry(fault.key()).or_default().push(f);
            ev.trials += 1;
        }
    }
    kube_figures(&mut ev, &per);
    ev.write();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_faults_geo() {
    let mut ev = Evidence::new(
        "kubernetes_faults_geo",
        "Kubernetes faults, geo engine (Ingress watcher over the fake API server)",
    );
    let trials = by_profile(1, 3);
    let mut per: BTreeMap<&'static str, Vec<KubeFigures>> = BTreeMap::new();
    for fault in KubeFault::ALL {
        ev.injected(format!("{}: {}", fault.key(), fault.describe()));
        for t in 0..trials {
            let f = geo_kube_trial(fault, 400 + t as u64, &mut ev).await;
            per.entry(fault.key()).or_default().push(f);
            ev.trials += 1;
        }
    }
    kube_figures(&mut ev, &per);
    ev.write();
}
