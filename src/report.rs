//! What `cfgeo run --once`, `plan` and `decommission` print: plans as diffs, pass reports and
//! the resulting Cloudflare state. Pure formatting; the wiring prints the strings.

use std::fmt::Write as _;

use crate::geo::apply::Report;
use crate::geo::{Action, Observed, Plan};
use crate::model::Notice;
use crate::records::Op;
use crate::records::engine::{PassReport, ZoneState, describe_op};

fn paint(color: bool, sign: char, line: &str) -> String {
    if !color {
        return line.to_string();
    }
    let code = match sign {
        '+' => "32",
        '-' => "31",
        _ => "33",
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

/// A record pass as a diff: `+` create, `-` delete, `~` update.
pub fn records(report: &PassReport, notices: &[Notice], color: bool) -> String {
    let mut out = String::new();
    for n in notices {
        let _ = writeln!(out, "records: warning: {}", n.message);
    }
    for (zone, p) in &report.plans {
        for n in &p.notices {
            let _ = writeln!(out, "records: warning: {}", n.message);
        }
        if p.is_empty() {
            let _ = writeln!(out, "records: {}: no changes", zone.name);
            continue;
        }
        let verb = if report.dry_run {
            "would change"
        } else {
            "changed"
        };
        let _ = writeln!(
            out,
            "records: {}: {verb} {} records",
            zone.name,
            p.op_count()
        );
        for g in &p.groups {
            for op in &g.ops {
                let sign = match op {
                    Op::Create(_) => '+',
                    Op::Delete(_) => '-',
                    Op::Update { .. } => '~',
                };
                let line = describe_op(op);
                let _ = writeln!(out, "  {}", paint(color, sign, &line));
            }
        }
    }
    for (zone, a) in &report.applied {
        for r in &a.rejected {
            let _ = writeln!(
                out,
                "records: {}: refused {}: {}",
                zone.name, r.name, r.message
            );
        }
    }
    out
}
/// The complete geo plan: each step, in order, with the state it expects.
pub fn geo_plan(plan: &Plan, obs: &Observed, color: bool) -> String {
    let mut out = String::new();
    let names: std::collections::BTreeMap<String, String> = obs
        .pools
        .iter()
        .map(|p| (p.id.clone(), p.name.clone()))
        .chain(obs.lbs.iter().map(|l| (l.id.clone(), l.name.clone())))
        .collect();
    for p in &plan.problems {
        let _ = writeln!(out, "geo: warning: {}", p.message);
    }
    if plan.is_empty() {
        let _ = writeln!(out, "geo: no changes");
    }
    for (i, st) in plan.steps.iter().enumerate() {
        let sign = match &st.action {
            Action::CreateMonitor { .. } | Action::CreatePool { .. } | Action::CreateLb { .. } => {
                '+'
            }
            Action::DeleteLb { .. } | Action::DeletePool { .. } | Action::DeleteMonitor { .. } => {
                '-'
            }
            _ => '~',
        };
        let _ = writeln!(
            out,
            "{}",
            paint(
                color,
                sign,
                &format!(
                    "geo: {}. [{:?}] {} ({})",
                    i + 1,
                    st.phase,
                    st.action.describe(),
                    st.expects.describe(&names)
                )
            )
        );
    }
    if let Some(w) = plan.requeue_after {
        let _ = writeln!(out, "geo: a retiring pool may be deleted in {w} s");
    }
    out
}

/// What a geo pass did and, if asked, the resulting pools and load balancers.
pub fn geo_report(r: &Report, state: bool) -> String {
    let mut out = String::new();
    if r.written.is_empty() {
        let _ = writeln!(out, "geo: no change needed");
    }
    for a in &r.written {
        let _ = writeln!(out, "geo: {}", a.describe());
    }
    for s in &r.skipped {
        let _ = writeln!(out, "geo: skipped {s}");
    }
    for f in &r.refused {
        let _ = writeln!(out, "geo: refused: {}", f.error);
    }
    for p in &r.problems {
        let _ = writeln!(out, "geo: warning: {}", p.message);
    }
    if !state {
        return out;
    }
    let names: std::collections::BTreeMap<&str, &str> = r
        .observed
        .pools
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let _ = writeln!(out, "\npools:");
    let mut pools: Vec<_> = r.observed.pools.iter().collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    for p in pools {
        let _ = writeln!(
            out,
            "  {} ({}, {}) monitor={}",
            p.name,
            p.latitude.map(|v| v.to_string()).unwrap_or("-".into()),
            p.longitude.map(|v| v.to_string()).unwrap_or("-".into()),
            p.monitor.as_deref().unwrap_or("none")
        );
        for o in &p.origins {
            let _ = writeln!(
                out,
                "    {} {} weight={} {}",
                o.name,
                o.address,
                o.weight,
                if o.enabled { "enabled" } else { "disabled" }
            );
        }
    }
    let _ = writeln!(out, "load balancers:");
    for lb in &r.observed.lbs {
        let list: Vec<&str> = lb
            .default_pools
            .iter()
            .map(|id| names.get(id.as_str()).copied().unwrap_or(id))
            .collect();
        let _ = writeln!(
            out,
            "  {} steering={} proxied={} fallback={}\n    pools: {}",
            lb.name,
            lb.steering_policy
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            lb.proxied,
            names
                .get(lb.fallback_pool.as_str())
                .copied()
                .unwrap_or(&lb.fallback_pool),
            list.join(", ")
        );
    }
    out
}

/// The records of each zone after a `--once` pass (`--print-state`).
pub fn records_state(zones: &[ZoneState]) -> String {
    let mut out = String::new();
    for z in zones {
        let _ = writeln!(out, "\nrecords in {}:", z.zone.name);
        for r in z.records.iter().flatten() {
            let _ = writeln!(
                out,
                "  {} {} {} ttl={} proxied={}",
                r.record_type, r.name, r.content, r.ttl, r.proxied
            );
        }
    }
    out
}

/// What `cfgeo decommission` deleted, or with --dry-run would delete.
pub fn decommission(done: &[Action], dry_run: bool) -> String {
    let mut out = String::new();
    for a in done {
        if dry_run {
            let _ = writeln!(out, "geo: dry run, not written: {}", a.describe());
        } else {
            let _ = writeln!(out, "geo: {}", a.describe());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_geo_plan_says_no_changes() {
        let text = geo_plan(&Plan::default(), &Observed::default(), false);
        assert_eq!(text, "geo: no changes\n");
    }

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(paint(false, '+', "x"), "x");
        assert_eq!(paint(true, '+', "x"), "\x1b[32mx\x1b[0m");
        assert_eq!(paint(true, '-', "x"), "\x1b[31mx\x1b[0m");
        assert_eq!(paint(true, '~', "x"), "\x1b[33mx\x1b[0m");
    }

    #[test]
    fn an_empty_decommission_prints_nothing() {
        assert_eq!(decommission(&[], true), "");
    }
}
