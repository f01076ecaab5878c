//! Pure: the text renderings of a status: the table `cfgeo status` prints by default, and the
//! JSON of `--output json` (the model as it is, for scripts).

use std::fmt::Write as _;

use super::model::{LbStatus, PoolStatus, Status};

/// A percent, rounded, with `<1%` for a small but non-zero share.
pub fn percent(f: f64) -> String {
    let p = (f * 100.0).round();
    if p == 0.0 && f > 0.0 {
        "<1%".into()
    } else {
        format!("{p}%")
    }
}

/// Where a pool's users go if it stops serving, e.g. `us_east 71%, asia 29%`.
pub fn if_down_text(p: &PoolStatus) -> String {
    if p.if_down.is_empty() {
        return "-".into();
    }
    p.if_down
        .iter()
        .take(3)
        .map(|s| format!("{} {}", s.label, percent(s.share)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the pool is referenced by its load balancer.
pub fn membership(p: &PoolStatus) -> &'static str {
    match (p.listed, p.fallback) {
        (true, true) => "listed, fallback",
        (true, false) => "listed",
        (false, true) => "fallback",
        (false, false) => "not listed",
    }
}

/// Coordinates as the pool advertises them.
pub fn coordinates(p: &PoolStatus) -> String {
    match p.coordinates() {
        Some((lat, lon)) => format!("{lat}, {lon}"),
        None => "-".into(),
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// The settings line of a load balancer.
pub fn lb_summary(lb: &LbStatus) -> String {
    if lb.id.is_none() {
        return "no load balancer with this hostname exists: these pools take no traffic".into();
    }
    format!(
        "steering {}, {}, fallback {}",
        lb.steering_policy.as_deref().unwrap_or("-"),
        if lb.proxied == Some(true) {
            "proxied"
        } else {
            "not proxied"
        },
        lb.fallback_pool.as_deref().unwrap_or("-")
    )
}

const HEADER: [&str; 12] = [
    "POOL",
    "REGION",
    "CLUSTER",
    "OWNER",
    "COORDINATES",
    "ENABLED ORIGINS",
    "DISABLED ORIGINS",
    "STATE",
    "HEALTH",
    "LB",
    "LAND",
    "IF DOWN, USERS GO TO",
];

fn row(p: &PoolStatus) -> [String; 12] {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    [
        p.name.clone(),
        dash(&p.region),
        dash(&p.cluster),
        dash(&p.owner),
        coordinates(p),
        list(&p.enabled_origins),
        list(&p.disabled_origins),
        p.state.as_str().into(),
        p.health.as_str().into(),
        membership(p).into(),
        percent(p.land_share),
        if_down_text(p),
    ]
}

/// The table: per load balancer a heading, its settings, and one aligned row per pool.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    if s.load_balancers.is_empty() {
        let _ = writeln!(
            out,
            "no load balancer with cfgeo pools in zone {} (read {})",
            s.zone, s.read_at
        );
        return out;
    }
    for (i, lb) in s.load_balancers.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{} (zone {}, read {})", lb.hostname, s.zone, s.read_at);
        let _ = writeln!(out, "  {}", lb_summary(lb));
        if lb.fallback_only && lb.id.is_some() {
            let _ = writeln!(
                out,
                "  no pool can take traffic: every user goes to the fallback pool"
            );
        }
        let rows: Vec<[String; 12]> = lb.pools.iter().map(row).collect();
        let mut widths = HEADER.map(str::len);
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut l = String::from(" ");
            for (k, (cell, w)) in cells.iter().zip(widths).enumerate() {
                l.push(' ');
                l.push_str(cell);
                if k + 1 < cells.len() {
                    l.push_str(&" ".repeat(w - cell.chars().count() + 1));
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(HEADER.to_vec()));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
        }
    }
    out
}

/// `--output json`: the model, pretty-printed, newline-terminated.
pub fn json(s: &Status) -> String {
    let mut out = serde_json::to_string_pretty(s).unwrap_or_else(|e| {
        // Every field is a plain string, number, bool or list: this cannot fail.
        format!("{{\"error\": {:?}}}", e.to_string())
    });
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::tests::{healthy, pool, status_of};

    fn sample() -> Status {
        let mut pools = vec![
            pool("eu", &[("203.0.113.20", true), ("2001:db8:20::1", true)]),
            pool("us_east", &[("203.0.113.30", true)]),
            pool("us_west", &[("203.0.113.40", true)]),
            pool("asia", &[("203.0.113.50", false)]),
        ];
        pools[0].name = "k8s-pool-fra1-eu".into();
        status_of(
            &pools,
            0,
            &[
                ("id-eu", healthy(true)),
                ("id-us_east", healthy(true)),
                ("id-us_west", healthy(false)),
            ],
        )
    }

    #[test]
    fn table_has_one_aligned_row_per_pool() {
        let t = render(&sample());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "app.example.com (zone example.com, read 2026-01-02T03:04:05Z)"
        );
        assert_eq!(
            lines[1],
            "  steering proximity, proxied, fallback k8s-pool-fra1-eu"
        );
        assert!(lines[2].starts_with("  POOL "), "{t}");
        assert_eq!(lines.len(), 7, "{t}");
        let eu = lines[3];
        for want in [
            "k8s-pool-fra1-eu",
            "eu ",
            "c1-eu",
            "owner-eu",
            "50.1109, 8.6821",
            "203.0.113.20, 2001:db8:20::1",
            "serving",
            "healthy",
            "listed, fallback",
        ] {
            assert!(eu.contains(want), "{want:?} not in {eu:?}");
        }
        let asia = lines[6];
        assert!(
            asia.contains("drained") && asia.contains("203.0.113.50"),
            "{asia}"
        );
        assert!(lines[5].contains("unhealthy"), "{}", lines[5]);
        // Columns line up: STATE starts at the same place in every row.
        let col = lines[2].find("STATE").unwrap();
        for l in &lines[3..] {
            let word = &l[col..col + 7];
            assert!(
                ["serving", "drained"].contains(&word),
                "{word:?} in {l:?}\n{t}"
            );
        }
        // eu's users would go to us_east first (Africa and Europe are closer to New York than
        // to Tokyo); us_west is unhealthy, so it takes nothing.
        assert!(eu.contains("us_east "), "{eu}");
        assert!(lines[5].contains(" 0% "), "{}", lines[5]);
    }

    #[test]
    fn empty_and_fallback_only() {
        let mut s = sample();
        s.load_balancers.clear();
        assert_eq!(
            render(&s),
            "no load balancer with cfgeo pools in zone example.com (read 2026-01-02T03:04:05Z)\n"
        );
        let pools = vec![pool("eu", &[("192.0.2.1", false)])];
        let t = render(&status_of(&pools, 0, &[]));
        assert!(t.contains("every user goes to the fallback pool"), "{t}");
    }

    #[test]
    fn json_is_the_model() {
        let s = sample();
        let v: serde_json::Value = serde_json::from_str(&json(&s)).unwrap();
        assert_eq!(v["zone"], "example.com");
        assert_eq!(v["read_at"], "2026-01-02T03:04:05Z");
        let lb = &v["load_balancers"][0];
        assert_eq!(lb["hostname"], "app.example.com");
        assert_eq!(lb["steering_policy"], "proximity");
        assert_eq!(lb["fallback_pool"], "k8s-pool-fra1-eu");
        let eu = &lb["pools"][0];
        assert_eq!(eu["state"], "serving");
        assert_eq!(eu["health"], "healthy");
        assert_eq!(eu["region"], "eu");
        assert_eq!(eu["latitude"], 50.1109);
        assert_eq!(eu["enabled_origins"][1], "2001:db8:20::1");
        assert_eq!(lb["pools"][3]["state"], "drained");
        assert_eq!(lb["pools"][2]["health"], "unhealthy");
        let shares: f64 = lb["pools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["land_share"].as_f64().unwrap())
            .sum();
        assert!((shares - 1.0).abs() < 1e-9);
        assert!(eu["if_down"][0]["label"].is_string());
    }

    #[test]
    fn percents() {
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.001), "<1%");
        assert_eq!(percent(0.714), "71%");
        assert_eq!(percent(1.0), "100%");
    }
}
