"""The side-by-side section of docs/performance.md, and its plot, from the JSON files that
benches/side_by_side.rs writes (side-by-side-<N>.json). Imported by scripts/performance.py;
`python3 scripts/side_by_side.py EVIDENCE_DIR` prints the section alone."""

import glob
import json
import math
import os
import sys

# Why cfgeo is behind where it is; keyed by figure. Shown only when the measurement says so.
WORSE_BECAUSE = {
    "burst_total": (
        "the calls of the burst itself, retried inside cfgeo's pass (see the row above)"
    ),
    "burst_calls": (
        "cfgeo's client retries a 5xx call at once with a backoff (200 ms doubling to 10 s) and "
        "its engine retries a failed pass after 2 s (doubling to 60 s), so a 5xx burst costs it "
        "more calls but it converges seconds after the burst; external-dns abandons the sync at "
        "the first error and waits for its next event or `--interval`"
    ),
    "storm_total": (
        "cfgeo's full pass after the storm re-reads the zone before it writes"
    ),
    "storm_calls": (
        "cfgeo re-reads after a 429 once the `Retry-After` has passed, as external-dns's client "
        "does; a difference of a call or two is that timing"
    ),
    "rest_calls": (
        "cfgeo's resync reads the zone once per `--interval`; a higher count here would be a "
        "watch event or a retry inside the window"
    ),
}


def load(evidence):
    out = {}
    for path in sorted(glob.glob(os.path.join(evidence, "side-by-side-*.json"))):
        with open(path) as f:
            d = json.load(f)
        out[d["n"]] = d
    return out


def by_program(d):
    return {r["program"]: r for r in d["results"]}


def fnum(v, unit=""):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and v < 10 and unit != "":
        return f"{v:.2f}{unit}"
    if isinstance(v, float):
        return f"{v:,.0f}{unit}"
    return f"{v:,}{unit}"


def rat(a, b):
    """cfgeo / external-dns, lower is better for every figure here."""
    if a is None or b is None:
        return None
    if b == 0:
        return 0.0 if a == 0 else math.inf
    return a / b


def fratio(r):
    if r is None:
        return "-"
    if math.isinf(r):
        return "∞ (external-dns: 0)"
    if r == 0:
        return "0"
    return f"{r:.2f}" if r < 10 else f"{r:.0f}"


def rows(d):
    """(key, label, cfgeo value, external-dns value, unit) per figure."""
    p = by_program(d)
    c, e = p["cfgeo"], p["external-dns"]
    n = d["n"]
    mib = lambda kib: kib / 1024 if kib else None
    out = [
        ("paid_calls", f"calls to converge {n:,} new hostnames, paid zone (batches of 3,500)",
         c["converge_paid"]["calls"], e["converge_paid"]["calls"], ""),
        ("paid_s", "seconds to converge, paid zone",
         c["converge_paid"]["seconds"], e["converge_paid"]["seconds"], " s"),
        ("free_calls", f"calls to converge {n:,} new hostnames, free zone (batches of 200)",
         c["converge_free"]["calls"], e["converge_free"]["calls"], ""),
        ("free_s", "seconds to converge, free zone",
         c["converge_free"]["seconds"], e["converge_free"]["seconds"], " s"),
        ("rest_calls", f"calls at rest in a {d['rest_window_s']} s window "
         f"(resync `--interval` {d['interval_s']} s for both)",
         c["rest"]["calls"], e["rest"]["calls"], ""),
        ("rest_hour", "the same, per hour",
         c["rest"]["calls_per_hour"], e["rest"]["calls_per_hour"], ""),
        ("p50", f"Ingress status change → record written, p50 ({c['latency']['samples']} / "
         f"{e['latency']['samples']} samples)",
         c["latency"]["p50_ms"], e["latency"]["p50_ms"], " ms"),
        ("p99", "the same, p99", c["latency"]["p99_ms"], e["latency"]["p99_ms"], " ms"),
        ("peak", f"peak RSS (VmHWM), {n:,} Ingresses + {n:,} Services watched",
         mib(c["peak_rss_kib"]), mib(e["peak_rss_kib"]), " MiB"),
        ("steady", "steady RSS at rest", mib(c["rest"]["steady_rss_kib"]),
         mib(e["rest"]["steady_rss_kib"]), " MiB"),
        ("cpu", "CPU seconds over the whole run (user + system)", c["cpu_s"], e["cpu_s"], " s"),
        ("storm_calls", f"calls during a {c['storm_429']['window_s']:.0f} s 429 storm on every "
         f"zone call ({d['fault_changes']} Ingresses changed in it)",
         c["storm_429"]["calls_during"], e["storm_429"]["calls_during"], ""),
        ("storm_total", "calls from the storm's start until converged and quiet",
         c["storm_429"]["calls_total"], e["storm_429"]["calls_total"], ""),
        ("storm_s", "seconds to converge once the storm ends",
         c["storm_429"]["seconds_after_fault"], e["storm_429"]["seconds_after_fault"], " s"),
        ("burst_calls", f"calls during a {c['burst_5xx']['window_s']:.0f} s burst of 503 on "
         f"every zone call ({d['fault_changes']} Ingresses changed in it)",
         c["burst_5xx"]["calls_during"], e["burst_5xx"]["calls_during"], ""),
        ("burst_total", "calls from the burst's start until converged and quiet",
         c["burst_5xx"]["calls_total"], e["burst_5xx"]["calls_total"], ""),
        ("burst_s", "seconds to converge once the burst ends",
         c["burst_5xx"]["seconds_after_fault"], e["burst_5xx"]["seconds_after_fault"], " s"),
    ]
    return out


def outcome(x):
    exits = x["exits_during"] + x["exits_after"]
    return (f"{'converged' if x['converged'] else '**did not converge**'}, "
            f"{'exited ' + str(exits) + '× (restarted, as a Deployment would)' if exits else 'never exited'}")


def svg(d, path):
    """Bars of log2(cfgeo / external-dns) per figure: left of the axis cfgeo is better."""
    rs = [(label, rat(a, b)) for _, label, a, b, _ in rows(d)]
    rs = [(l, r) for l, r in rs if r is not None and not math.isinf(r) and r > 0]
    W, row_h, left, right = 980, 26, 470, 40
    H = 60 + row_h * len(rs) + 40
    span = max(4.0, max(abs(math.log2(r)) for _, r in rs) if rs else 4.0)
    plot_w = W - left - right
    x0 = left + plot_w / 2
    scale = (plot_w / 2) / span
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14">cfgeo / external-dns '
           f'{d.get("external_dns_version") or "v0.22.0"}, {d["n"]:,} Ingresses + {d["n"]:,} '
           f'Services, same run (log scale; left of 1 = cfgeo lower)</text>']
    for k in range(-int(span), int(span) + 1):
        x = x0 + k * scale
        lab = f"{2**k:g}" if k >= 0 else f"1/{2**-k:g}"
        out.append(f'<line x1="{x:.1f}" y1="40" x2="{x:.1f}" y2="{H-30}" '
                   f'stroke="{"#333" if k == 0 else "#ddd"}"/>')
        out.append(f'<text x="{x:.1f}" y="{H-14}" text-anchor="middle">{lab}</text>')
    for i, (label, r) in enumerate(rs):
        y = 48 + i * row_h
        v = math.log2(r) * scale
        x = x0 + min(0, v)
        colour = "#2b8a3e" if r <= 1 else "#c92a2a"
        out.append(f'<text x="{left-8}" y="{y+14}" text-anchor="end">'
                   f'{label.replace("&", "&amp;").replace("<", "&lt;")[:70]}</text>')
        out.append(f'<rect x="{x:.1f}" y="{y+3}" width="{max(abs(v), 1):.1f}" height="{row_h-8}" '
                   f'fill="{colour}"/>')
        out.append(f'<text x="{x0 + v + (6 if v >= 0 else -6):.1f}" y="{y+14}" '
                   f'text-anchor="{"start" if v >= 0 else "end"}">{fratio(r)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def section(sbs, w, svg_dir=None):
    w("## 0. Side by side with the real external-dns (measured)\n")
    if not sbs:
        w("Not run in this profile (`benches/side_by_side.rs`).\n")
        return
    first = sbs[min(sbs)]
    w(
        "**Method.** `benches/side_by_side.rs` (run by `scripts/performance.sh`; the quick profile "
        "at 1,000 also runs in CI through `scripts/test.sh`) starts one real kube-apiserver and "
        "etcd (`scripts/peers.sh`), creates N Ingresses (one hostname each) and N LoadBalancer "
        "Services through the real API, shaped as real clusters have them (Helm labels and "
        "annotations, a last-applied annotation, three managedFields entries; the Services carry "
        "no hostname, so N hostnames in all), and then measures each program in turn, as a "
        "process, against a fresh Cloudflare emulator: the release `cfgeo run --source ingress "
        "--source service`, and the real external-dns "
        f"{first.get('external_dns_version') or 'v0.22.0'} built from its Go module. Both use the "
        "same owner id, `%{record_type}-` TXT prefix, `--policy=sync`, domain filter and "
        "`--zone-id-filter`, and the same resync `--interval`. external-dns gets its best "
        "documented settings: `--cloudflare-dns-records-per-page=5000`, `--batch-change-size` at "
        "the zone's limit (3,500 paid, 200 free), `--events`. Calls are counted in the emulator's "
        "call log; memory is VmHWM and VmRSS from `/proc/<pid>/status`, CPU is utime + stime "
        "from `/proc/<pid>/stat`; nothing is computed from a formula. Converge: from the "
        "process's start until every hostname's A record and TXT are in the zone, plus the calls "
        "until it is quiet for 3 s. At rest: every call in a fixed window after convergence. "
        "Latency: one Ingress's `status.loadBalancer` is patched, and the time until its new A "
        "record is in the emulator is taken, polling every 20 ms; samples one after another. "
        "Faults: every call under `/zones/` is answered 429 (with `Retry-After` of a third of the "
        "window) or 503 for a fixed window while 10 Ingresses change; a program that exits is restarted "
        "as a Deployment would restart it. Ratio = cfgeo / external-dns: below 1, cfgeo is lower "
        "(better) on that figure.\n"
    )
    for n in sorted(sbs):
        d = sbs[n]
        p = by_program(d)
        w(f"### {n:,} Ingresses + {n:,} Services ({d['profile']} profile: resync "
          f"{d['interval_s']} s, rest window {d['rest_window_s']} s, "
          f"{d['latency_samples']} latency samples, fault window {d['fault_window_s']} s; "
          f"objects created in {d['load_s']:.0f} s)\n")
        w("| figure | cfgeo | external-dns | ratio cfgeo / external-dns |")
        w("|---|---|---|---|")
        worse = []
        for key, label, a, b, unit in rows(d):
            r = rat(a, b)
            w(f"| {label} | {fnum(a, unit)} | {fnum(b, unit)} | {fratio(r)} |")
            if r is not None and r > 1.05 and key in WORSE_BECAUSE:
                worse.append((label, WORSE_BECAUSE[key]))
            elif r is not None and r > 1.05:
                worse.append((label, "not explained by this report: see the logs in "
                              f"`target/evidence/*/side-by-side-{n}.work/`"))
        w(f"| 429 storm: outcome | {outcome(p['cfgeo']['storm_429'])} | "
          f"{outcome(p['external-dns']['storm_429'])} | |")
        w(f"| 5xx burst: outcome | {outcome(p['cfgeo']['burst_5xx'])} | "
          f"{outcome(p['external-dns']['burst_5xx'])} | |")
        w("")
        if svg_dir:
            name = f"side-by-side-{n}.svg"
            svg(d, os.path.join(svg_dir, name))
            w(f"![cfgeo / external-dns per figure, {n:,} objects](benchmarks/{name})\n")
        if worse:
            w("**Where external-dns does better here:**\n")
            for label, why in worse:
                w(f"- {label}: {why}.")
            w("")
        else:
            w("external-dns is not better than cfgeo on any figure of this run.\n")


if __name__ == "__main__":
    L = []
    section(load(sys.argv[1]), L.append)
    print("\n".join(L))
