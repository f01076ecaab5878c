//! Four clusters (eu, us_east, us_west, asia), each with its own fake API server, share one
//! emulated account with latency injected and flip their addresses at random. The shared LB
//! must end with exactly the four pools and the live addresses, and must never lose a pool
//! once it has settled.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cfgeo::emulator::{FaultAction, FaultSpec};
use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const REGIONS: [(&str, &str); 4] = [
    ("eu", "fra1"),
    ("us_east", "nyc1"),
    ("us_west", "lax1"),
    ("asia", "tyo1"),
];

async fn run(seed: u64, flips: usize) -> usize {
    let emu = Arc::new(emulator().await);
    // Latency on every call widens the read-modify-write windows.
    emu.inject_fault(FaultSpec::new(
        "*",
        "/client/v4/**",
        100_000,
        FaultAction::latency(5),
    ))
    .unwrap();
    let mut clusters = Vec::new();
    for (region, cluster) in REGIONS {
        let c = start_cluster(
            &emu,
            settings(&emu, region, &format!("owner-{region}")),
            fast_timing(),
        )
        .await;
        c.kube.apply(ingress("web", cluster, &["198.51.100.1"]));
        clusters.push((region, cluster, c));
    }
    let all: Vec<String> = REGIONS
        .iter()
        .map(|(r, c)| format!("k8s-pool-{c}-{r}"))
        .collect();
    let settled = |emu: &cfgeo::emulator::EmulatorHandle| {
        lb_pool_names(emu, "app.example.com").is_some_and(|mut l| {
            l.sort();
            let mut want = all.clone();
            want.sort();
            l == want
        })
    };
    eventually("first settle", Duration::from_secs(30), || settled(&emu)).await;

    // From here on, any sample of the LB with fewer than four pools is a lost pool.
    let lost = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (emu, lost, stop) = (emu.clone(), lost.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if lb_pool_names(&emu, "app.example.com").map_or(0, |l| l.len()) < 4 {
                    lost.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut live: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..flips {
        let i = rng.random_range(0..clusters.len());
        let addr = format!("198.51.100.{}", rng.random_range(2..250));
        let (region, cluster, c) = &clusters[i];
        c.kube.set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web",
            status(&[&addr]),
        );
        live.insert(format!("k8s-pool-{cluster}-{region}"), addr);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
    }
    eventually("live addresses everywhere", Duration::from_secs(30), || {
        let p = pools(&emu);
        live.iter()
            .all(|(pool, addr)| p.get(pool) == Some(&vec![(addr.clone(), true)]))
            && settled(&emu)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();
    for (_, _, c) in &clusters {
        c.shutdown.cancel();
    }
    lost.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_clusters_never_lose_a_pool() {
    let seeds: Vec<u64> = std::env::var("CFGEO_CONCURRENCY_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3]);
    let mut runs_losing = 0;
    for seed in &seeds {
        let lost = run(*seed, 50).await;
        println!("seed {seed}: samples with a lost pool after settling: {lost}");
        if lost > 0 {
            runs_losing += 1;
        }
    }
    println!(
        "concurrency: {runs_losing} of {} runs lost a pool after settling",
        seeds.len()
    );
    assert_eq!(runs_losing, 0);
}
