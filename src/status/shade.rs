//! Pure: where proximity steering sends a user at each point of the world. A user goes to the
//! nearest eligible pool by great-circle distance; when no pool is eligible, to the fallback
//! pool. The world is a grid of [`CELL_DEGREES`] cells, each judged at its centre.
//!
//! Eligible means what Cloudflare would send traffic to: listed in `default_pools`, enabled,
//! with an enabled origin, not leaving, not reported unhealthy, and with coordinates (proximity
//! steering cannot place a pool without them). Unknown health counts as eligible: Cloudflare
//! treats a pool without a monitor as healthy. Degraded counts too (some PoPs still see it up).

use std::collections::BTreeMap;

use super::land;
use super::model::{Health, LbStatus, PoolState, PoolStatus, Share};

/// Size of a grid cell, degrees.
pub const CELL_DEGREES: f64 = 2.0;

/// Land south of this latitude (Antarctica) is drawn but not counted in shares: nobody asks
/// which region serves it.
pub const SHARE_SOUTH_LIMIT: f64 = -60.0;

const EARTH_RADIUS_KM: f64 = 6371.0;

/// True when proximity steering may pick the pool.
pub fn eligible(p: &PoolStatus) -> bool {
    p.listed
        && p.enabled
        && !p.enabled_origins.is_empty()
        && !matches!(p.state, PoolState::Leaving | PoolState::Drained)
        && p.health != Health::Unhealthy
        && p.coordinates().is_some()
}

/// Great-circle distance (haversine), kilometres.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The row a user at (`lat`, `lon`) is sent to, with pool `excluded` treated as down: the
/// nearest eligible pool (ties to the first in name order, so the picture is stable), else the
/// fallback pool, which Cloudflare uses whatever its health.
pub fn pick(pools: &[PoolStatus], lat: f64, lon: f64, excluded: Option<usize>) -> Option<usize> {
    let mut best: Option<(f64, &str, usize)> = None;
    for (i, p) in pools.iter().enumerate() {
        if Some(i) == excluded || !eligible(p) {
            continue;
        }
        let Some(at) = p.coordinates() else { continue };
        let d = distance_km((lat, lon), at);
        let better = match best {
            None => true,
            Some((bd, bn, _)) => d < bd || (d == bd && p.name.as_str() < bn),
        };
        if better {
            best = Some((d, p.name.as_str(), i));
        }
    }
    best.map(|b| b.2)
        .or_else(|| pools.iter().position(|p| p.fallback))
}

/// The winner of every cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Width and height of a cell in degrees of latitude and longitude ([`CELL_DEGREES`] on the
    /// status page).
    pub step: f64,
    /// Rows, from the north.
    pub rows: usize,
    /// Columns, from the antimeridian eastwards.
    pub cols: usize,
    /// Row-major winners: an index into the load balancer's pools, or `None` (no pool at all).
    pub winners: Vec<Option<usize>>,
}

impl Grid {
    /// Centre (lat, lon) of a cell.
    pub fn centre(&self, row: usize, col: usize) -> (f64, f64) {
        (
            90.0 - (row as f64 + 0.5) * self.step,
            -180.0 + (col as f64 + 0.5) * self.step,
        )
    }

    /// The winner of a cell.
    pub fn winner(&self, row: usize, col: usize) -> Option<usize> {
        self.winners[row * self.cols + col]
    }

    /// The winner at a point.
    pub fn winner_at(&self, lat: f64, lon: f64) -> Option<usize> {
        let row = (((90.0 - lat) / self.step) as usize).min(self.rows - 1);
        let col = (((lon + 180.0) / self.step) as usize).min(self.cols - 1);
        self.winner(row, col)
    }
}

/// Shades the world for one load balancer.
pub fn grid(pools: &[PoolStatus], step: f64) -> Grid {
    let rows = (180.0 / step).round() as usize;
    let cols = (360.0 / step).round() as usize;
    let mut g = Grid {
        step,
        rows,
        cols,
        winners: Vec::with_capacity(rows * cols),
    };
    for r in 0..rows {
        for c in 0..cols {
            let (lat, lon) = g.centre(r, c);
            g.winners.push(pick(pools, lat, lon, None));
        }
    }
    g
}

/// Area weight of a counted land cell (cells shrink towards the poles), or 0.
fn weight(g: &Grid, mask: &[bool], row: usize, col: usize) -> f64 {
    let (lat, _) = g.centre(row, col);
    if !mask[row * g.cols + col] || lat < SHARE_SOUTH_LIMIT {
        return 0.0;
    }
    lat.to_radians().cos()
}

/// Fills each pool's land share and where its land would go if it stopped serving, and
/// whether everything goes to the fallback.
pub fn annotate(lb: &mut LbStatus) {
    lb.fallback_only = !lb.pools.iter().any(eligible);
    let g = grid(&lb.pools, CELL_DEGREES);
    let mask = land::mask(CELL_DEGREES);
    let mut won = vec![0.0; lb.pools.len()];
    let mut total = 0.0;
    // Per pool, the weight its land sends to each other row when it is down.
    let mut moved: Vec<BTreeMap<Option<usize>, f64>> = vec![BTreeMap::new(); lb.pools.len()];
    for r in 0..g.rows {
        for c in 0..g.cols {
            let w = weight(&g, &mask, r, c);
            if w == 0.0 {
                continue;
            }
            total += w;
            let Some(i) = g.winner(r, c) else { continue };
            won[i] += w;
            let (lat, lon) = g.centre(r, c);
            *moved[i]
                .entry(pick(&lb.pools, lat, lon, Some(i)))
                .or_default() += w;
        }
    }
    let labels: Vec<(String, String)> = lb
        .pools
        .iter()
        .map(|p| (p.name.clone(), p.label.clone()))
        .collect();
    for (i, p) in lb.pools.iter_mut().enumerate() {
        p.land_share = if total > 0.0 { won[i] / total } else { 0.0 };
        let mut shares: Vec<Share> = moved[i]
            .iter()
            .map(|(to, w)| {
                let (pool, label) = match to {
                    // Nothing else can take it: the fallback keeps it, down or not.
                    Some(j) if *j == i => {
                        (labels[i].0.clone(), format!("{} (fallback)", labels[i].1))
                    }
                    Some(j) => labels[*j].clone(),
                    None => (String::new(), "nowhere".into()),
                };
                Share {
                    pool,
                    label,
                    share: if won[i] > 0.0 { w / won[i] } else { 0.0 },
                }
            })
            .collect();
        shares.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.label.cmp(&b.label)));
        p.if_down = shares;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::tests::{custom_pool, healthy, pool, status_of};

    fn four() -> Vec<crate::cloudflare::types::Pool> {
        ["eu", "us_east", "us_west", "asia"]
            .iter()
            .enumerate()
            .map(|(i, r)| pool(r, &[(&format!("192.0.2.{}", i + 1), true)]))
            .collect()
    }

    fn labels_at(lb: &LbStatus, g: &Grid, places: &[(f64, f64)]) -> Vec<String> {
        places
            .iter()
            .map(|&(lat, lon)| {
                g.winner_at(lat, lon)
                    .map(|i| lb.pools[i].label.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    const PARIS: (f64, f64) = (48.9, 2.3);
    const LAGOS: (f64, f64) = (6.5, 3.4);
    const CHICAGO: (f64, f64) = (41.9, -87.6);
    const DENVER: (f64, f64) = (39.7, -105.0);
    const SAO_PAULO: (f64, f64) = (-23.5, -46.6);
    const DELHI: (f64, f64) = (28.6, 77.2);
    const SYDNEY: (f64, f64) = (-33.9, 151.2);
    const TEHRAN: (f64, f64) = (35.7, 51.4);

    #[test]
    fn four_regions_split_the_world() {
        let s = status_of(&four(), 0, &[]);
        let lb = &s.load_balancers[0];
        let g = grid(&lb.pools, CELL_DEGREES);
        assert_eq!(
            labels_at(
                lb,
                &g,
                &[PARIS, LAGOS, CHICAGO, DENVER, SAO_PAULO, DELHI, SYDNEY]
            ),
            ["eu", "eu", "us_east", "us_west", "us_east", "asia", "asia"]
        );
        let total: f64 = lb.pools.iter().map(|p| p.land_share).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(lb.pools.iter().all(|p| p.land_share > 0.05), "{lb:#?}");
        assert!(!lb.fallback_only);
        // If eu went down, its land would split between its neighbours, never stay with eu.
        let eu = &lb.pools[0];
        assert!(
            eu.if_down.iter().all(|s| s.label != "eu"),
            "{:?}",
            eu.if_down
        );
        let sum: f64 = eu.if_down.iter().map(|s| s.share).sum();
        assert!((sum - 1.0).abs() < 1e-9);
    }

    #[test]
    fn drained_eu_goes_to_its_neighbours() {
        let mut pools = four();
        pools[0].origins[0].enabled = false;
        let before = status_of(&four(), 0, &[]);
        let s = status_of(&pools, 0, &[]);
        let lb = &s.load_balancers[0];
        assert_eq!(lb.pools[0].state, PoolState::Drained);
        assert_eq!(lb.pools[0].land_share, 0.0);
        let g = grid(&lb.pools, CELL_DEGREES);
        let got = labels_at(lb, &g, &[PARIS, LAGOS, TEHRAN, DELHI]);
        assert_eq!(got, ["us_east", "us_east", "asia", "asia"]);
        // What the eu row predicted before the drain is what happened.
        let predicted: BTreeMap<String, f64> = before.load_balancers[0].pools[0]
            .if_down
            .iter()
            .map(|s| (s.label.clone(), s.share))
            .collect();
        let eu_before = before.load_balancers[0].pools[0].land_share;
        for p in &lb.pools[1..] {
            let was = before.load_balancers[0]
                .pools
                .iter()
                .find(|q| q.name == p.name)
                .unwrap()
                .land_share;
            let gained = p.land_share - was;
            let want = predicted.get(&p.label).copied().unwrap_or(0.0) * eu_before;
            assert!(
                (gained - want).abs() < 1e-9,
                "{}: {gained} vs {want}",
                p.label
            );
        }
    }

    #[test]
    fn all_unhealthy_sends_everything_to_the_fallback() {
        let health: Vec<(String, _)> = four()
            .iter()
            .map(|p| (p.id.clone(), healthy(false)))
            .collect();
        let health: Vec<(&str, _)> = health
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        // us_west is the fallback.
        let s = status_of(&four(), 2, &health);
        let lb = &s.load_balancers[0];
        assert!(lb.fallback_only);
        let g = grid(&lb.pools, CELL_DEGREES);
        assert!(g.winners.iter().all(|w| *w == Some(2)));
        assert!((lb.pools[2].land_share - 1.0).abs() < 1e-9);
        assert_eq!(lb.pools[2].if_down[0].label, "us_west (fallback)");
        // One healthy pool again takes the whole world, fallback or not.
        let mut health = health;
        health[3].1 = healthy(true);
        let s = status_of(&four(), 2, &health);
        let lb = &s.load_balancers[0];
        assert!(!lb.fallback_only);
        assert!((lb.pools[3].land_share - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_custom_region_takes_its_part_of_the_world() {
        let mut pools = four();
        pools.push(custom_pool("sa_east", -23.5, -46.6, &[("192.0.2.9", true)]));
        let s = status_of(&pools, 0, &[]);
        let lb = &s.load_balancers[0];
        let g = grid(&lb.pools, CELL_DEGREES);
        assert_eq!(
            labels_at(lb, &g, &[SAO_PAULO, (-34.6, -58.4), CHICAGO, PARIS]),
            ["sa_east", "sa_east", "us_east", "eu"]
        );
        let sa = lb.pools.iter().find(|p| p.label == "sa_east").unwrap();
        assert!(sa.land_share > 0.05, "{}", sa.land_share);
        assert_eq!(sa.if_down[0].label, "us_east");
    }

    #[test]
    fn unlisted_leaving_and_uncoordinated_pools_never_win() {
        let mut pools = four();
        pools[1].latitude = None;
        let s = status_of(&pools, 0, &[]);
        let mut lb = s.load_balancers[0].clone();
        lb.pools[2].listed = false;
        lb.pools[3].state = PoolState::Leaving;
        annotate(&mut lb);
        assert!((lb.pools[0].land_share - 1.0).abs() < 1e-9, "{lb:#?}");
    }

    #[test]
    fn distances() {
        let frankfurt = (50.1109, 8.6821);
        let new_york = (40.7128, -74.0060);
        let d = distance_km(frankfurt, new_york);
        assert!((d - 6200.0).abs() < 50.0, "{d}");
        assert_eq!(distance_km(frankfurt, frankfurt), 0.0);
    }
}
