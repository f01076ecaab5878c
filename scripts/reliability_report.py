#!/usr/bin/env python3
"""Turns the fault suite's JSON lines into docs/reliability.md.

Each line (written by tests/faults/, tests/crash.rs and tests/secrets.rs when CFGEO_EVIDENCE_OUT is set) is one
case: what was injected, how many trials, which assertions held, figures, and the command that
reruns it. A line exists only when every assertion of its case held.

Usage: reliability_report.py --input FILE.jsonl --output docs/reliability.md
                             --profile full|quick --runtime SECONDS [--performance TEXT]
"""

import argparse
import datetime
import json
import subprocess
import sys

# The order and grouping of the report; cases not listed here are appended at the end.
SECTIONS = [
    ("Cloudflare faults", ["cloudflare_faults_geo", "cloudflare_faults_records"]),
    ("Kubernetes faults", ["kubernetes_faults_records", "kubernetes_faults_geo"]),
    ("Concurrency", ["concurrency_leader_takeover", "concurrency_four_clusters"]),
    ("Crash safety", ["crash_geo_engine", "crash_record_sync"]),
    ("Bad input", ["bad_input_configuration", "bad_input_objects", "bad_input_cloudflare_answers"]),
    ("Secrets", ["secrets_never_leak"]),
]

# Every case the suite has: a missing one means the run was incomplete.
EXPECTED = [c for _, cases in SECTIONS for c in cases]

# What the suite found in cfgeo while it was written, and what became of it.
FINDINGS = """\
- **`--interval 0` was accepted** and made the record synchronizer resync on every loop
  iteration: a hot loop of full zone listings, limited only by the rate budget. Fixed:
  `parse_secs` refuses 0 (`src/config.rs`); case *bad_input_configuration* keeps it refused.
- **A Cloudflare answer of the wrong type did not name its field**: a pool listing with
  `"enabled": "yes"` failed with `invalid type: string "yes", expected a boolean` and nothing
  else. Fixed: answers are decoded through `serde_path_to_error`, so the error now reads
  `[0].origins[0].enabled: invalid type: ...` (`src/cloudflare/client.rs`).
- **`Debug` of the parsed command line printed the API token** (`CloudflareArgs` derived
  `Debug`; a `{:?}` of the arguments, `dbg!` or a panic message carrying them would have leaked
  it). Fixed: `CloudflareArgs` has a `Debug` that redacts the token (`src/config.rs`).
- **A value in an `ip` field that is not an IP address** (`status.loadBalancer.ingress[].ip:
  999.1.1.1`, `spec.externalIPs[]: nope`) was taken by the record sources as a hostname target
  and planned as a CNAME, as external-dns does. Fixed: such fields must hold an IP; anything else
  gets an `InvalidTarget` Warning naming the field and is skipped, as the geo engine already did
  (`src/records/sources/mod.rs`, test `a_non_ip_in_an_ip_field_is_refused_not_a_cname`). The
  Kubernetes API server validates these fields, so only `--manifests` input could carry one.
"""

NOTES = """\
- The emulator, like any hyper server, usually drops a request whose client has gone (the
  connection closed while the request waited in its injected latency), so a write in flight at
  a SIGKILL is mostly never applied; the crash figures count the ones that completed anyway.
  Kills timed just after a write was applied cover the other side (the write landed, the
  process died before acting on the answer). Before each restart the test waits until every
  write that arrived was handled or dropped, as a real restart (seconds later) would.
- The budget check reads the emulator's call log (arrival times, in ms since it started) and
  counts every call made with cfgeo's token, the ones answered by an injected fault included.
  The budgets are deliberately small (20 and 10 requests per 3 s) so that the engines' demand
  under faults reaches them; each case asserts that at least one trial used the whole budget.
"""


# Column order of row tables (the JSON objects come with sorted keys).
PREFERRED = ["input", "source", "category", "field", "said", "bytes_scanned", "hits"]


def humanize(key):
    return key.replace("_", " ")


def cell(v):
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list)):
        return "`" + json.dumps(v, ensure_ascii=False) + "`"
    s = str(v).replace("|", "\\|").replace("\n", " ")
    return s


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        out.append("| " + " | ".join(cell(x) for x in r) + " |")
    return "\n".join(out)


def render_figures(figures):
    """Scalars as a list; dicts of dicts and lists of dicts as tables."""
    out = []
    scalars = [(k, v) for k, v in figures.items() if not isinstance(v, (dict, list))]
    nested = [(k, v) for k, v in figures.items() if isinstance(v, dict)]
    lists = [(k, v) for k, v in figures.items() if isinstance(v, list)]
    if nested:
        cols = []
        for _, v in nested:
            for c in v:
                if c not in cols:
                    cols.append(c)
        rows = [[humanize(k)] + [v.get(c, "") for c in cols] for k, v in nested]
        out.append(table(["fault"] + [humanize(c) for c in cols], rows))
        out.append("")
    for k, v in scalars:
        out.append(f"- {humanize(k)}: **{cell(v)}**")
    if scalars:
        out.append("")
    for k, v in lists:
        if v and all(isinstance(x, dict) for x in v):
            cols = []
            for x in v:
                for c in x:
                    if c not in cols:
                        cols.append(c)
            cols.sort(key=lambda c: PREFERRED.index(c) if c in PREFERRED else len(PREFERRED))
            out.append(f"{humanize(k).capitalize()}:")
            out.append("")
            out.append(table([humanize(c) for c in cols], [[x.get(c, "") for c in cols] for x in v]))
            out.append("")
        else:
            out.append(f"- {humanize(k)}: {cell(v)}")
    return "\n".join(out).rstrip()


def headline(case):
    """The one or two figures that matter most, for the summary table."""
    f = case["figures"]
    keys = [
        "max_requests_in_any_window_overall",
        "overlapping_writes",
        "samples_with_a_pool_lost",
        "orphans_after_final_run",
        "kill_points_with_a_foreign_object_changed",
        "kill_points_with_an_unpaired_or_foreign_change",
        "cases",
        "total_hits",
    ]
    parts = [f"{humanize(k)} {f[k]}" for k in keys if k in f]
    if case["case"].startswith("cloudflare_faults"):
        parts.append(f"budget {f.get('budget', '')}")
    if case["case"].startswith("kubernetes_faults"):
        missing = sum(v.get("samples_missing_a_live_object", 0) for v in f.values() if isinstance(v, dict))
        changed = sum(v.get("live_ids_changed", 0) for v in f.values() if isinstance(v, dict))
        parts.append(f"samples missing a live object {missing}; live ids changed {changed}")
    return "; ".join(parts)


def git_commit():
    """The commit, marked when the working tree has changes (read-only git commands)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return f"`{head}`" + (" with uncommitted changes" if dirty else "")
    except Exception:
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--profile", required=True, choices=["full", "quick"])
    ap.add_argument("--runtime", type=float, required=True, help="seconds the suite took")
    ap.add_argument("--performance", default="", help="one line about scripts/performance.sh")
    ap.add_argument("--churn", default="", help="directory with churn-*.json from tests/geo_churn.rs")
    a = ap.parse_args()

    cases = {}
    with open(a.input) as f:
        for line in f:
            line = line.strip()
            if line:
                c = json.loads(line)
                cases[c["case"]] = c
    missing = [c for c in EXPECTED if c not in cases]
    if missing:
        sys.exit(f"reliability_report: no results for {', '.join(missing)} (a case failed?)")
    wrong = [c for c in cases.values() if c.get("profile") != a.profile]
    if wrong:
        sys.exit(f"reliability_report: {wrong[0]['case']} ran in profile {wrong[0].get('profile')}")

    script = "scripts/evidence.sh" + (" --quick" if a.profile == "quick" else "")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    out.append("# Reliability evidence")
    out.append("")
    out.append(
        "What the fault suite (`tests/faults/`, `tests/crash.rs`, `tests/secrets.rs`) injected into cfgeo, how many "
        "trials it ran, and what held. Every statement under *What held* is an assertion of the "
        "suite: a case appears here only when all of its assertions passed."
    )
    out.append("")
    out.append(f"- Generated by `{script}` on {now}, commit {git_commit()}.")
    out.append(
        f"- Profile: **{a.profile}** ({'more trials, seeds and kills' if a.profile == 'full' else 'the CI profile'}); "
        f"the suite took {a.runtime:.0f} s on this machine (both test binaries, build excluded)."
    )
    out.append(
        "- Regenerate: `scripts/evidence.sh` (full profile) or `scripts/evidence.sh --quick` (CI "
        "profile). `cargo test` (and so `scripts/test.sh` and CI) runs the same cases in the quick "
        "profile; `CFGEO_EVIDENCE=full` selects the full one, `CFGEO_EVIDENCE_OUT=FILE` collects "
        "the results."
    )
    if a.performance:
        out.append(f"- {a.performance}")
    out.append("")
    out.append("## Summary")
    out.append("")
    rows = []
    ordered = [c for _, cs in SECTIONS for c in cs] + sorted(set(cases) - set(EXPECTED))
    for name in ordered:
        c = cases[name]
        rows.append([f"[{name}](#{name})", c["trials"], f"all {len(c['held'])}", headline(c)])
    out.append(table(["case", "trials", "assertions held", "figures"], rows))
    out.append("")
    churn = []
    if a.churn:
        import glob
        import os
        for f in sorted(glob.glob(os.path.join(a.churn, "churn-*.json"))):
            with open(f) as fh:
                churn.append(json.load(fh))
    if churn:
        out.append("## Churn on one shared token")
        out.append("")
        out.append(
            "`tests/geo_churn.rs`: four clusters (eu, us_east, us_west, asia), each with its own "
            "fake API server and production timing (200/800 ms debounce, 300 s resync), join, leave "
            "and change address at random, while a record synchronizer with 20 Ingresses writes the "
            "same account. All five share one API token; latency is injected on every call. A "
            "sampler reads the LB every 5 ms. The `shared-token` run uses Cloudflare's rate (1,200 "
            "per 300 s at full length); the `fast-ordering` run raises the limit and checks the "
            "ordering properties alone."
        )
        out.append("")
        rows = []
        for c in churn:
            rows.append([
                c["profile"], c["run_secs"], f"{c['gap_ms'][0] / 1000:g}-{c['gap_ms'][1] / 1000:g} s",
                f"{c['limit']} / {c['window_secs']} s", c["latency_ms"], c["events"], c["samples"],
                c["calls"], c["missing"], c["lb_ids"], c["status_429"], f"{c['settle_secs']:.1f} s",
            ])
        out.append(table([
            "run", "seconds", "gap per cluster", "limit", "latency ms", "events", "LB samples",
            "Cloudflare calls", "samples missing a serving cluster", "LB ids seen", "429s",
            "settled after churn in",
        ], rows))
        out.append("")
        out.append(
            "Rerun: `CFGEO_CHURN_SECS=300 cargo test --test geo_churn -- --nocapture` "
            "(CI runs 45 s and 30 s)."
        )
        out.append("")
    out.append("## Bugs the suite found")
    out.append("")
    out.append(FINDINGS.rstrip())
    out.append("")
    out.append("## Notes on method")
    out.append("")
    out.append(NOTES.rstrip())
    out.append("")
    sections = list(SECTIONS)
    extra = sorted(set(cases) - set(EXPECTED))
    if extra:
        sections.append(("Other cases", extra))
    for title, names in sections:
        out.append(f"## {title}")
        out.append("")
        for name in names:
            c = cases[name]
            out.append(f'<a id="{name}"></a>')
            out.append(f"### {c['title']}")
            out.append("")
            out.append(f"Case `{name}`: {c['trials']} trials, {c['duration_s']} s.")
            out.append("")
            out.append("**Injected**")
            out.append("")
            for i in c["injected"]:
                out.append(f"- {i}")
            out.append("")
            out.append("**What held**")
            out.append("")
            for h in c["held"]:
                out.append(f"- {h}")
            out.append("")
            out.append("**Figures**")
            out.append("")
            out.append(render_figures(c["figures"]))
            out.append("")
            out.append(f"Command: `{c['command']}`")
            out.append("")
    text = "\n".join(out).rstrip() + "\n"
    with open(a.output, "w") as f:
        f.write(text)
    print(f"reliability_report: wrote {a.output} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
