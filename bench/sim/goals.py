#!/usr/bin/env python3
"""Reads lagscale-sim --json results (files TRACE.SEED.json) and prints the results table and the
goals with PASS/FAIL (Markdown), every number the mean over the seeds. Exit status 1 when a goal
fails."""
import json
import os
import sys

BASELINES = ("hpa", "kpa", "seldon")
ORDER = ("step", "step_x2", "spike", "ramp", "square_10s", "square_30s", "square_120s", "diurnal", "flat")


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def mean_policies(results):
    """Per policy, the mean of every numeric field over the seeds (reaction: over the seeds that
    reacted, None if none did)."""
    out = {}
    for policy in results[0]:
        name = policy["name"]
        runs = [next(p for p in r if p["name"] == name) for r in results]
        merged = {"name": name}
        for key, value in policy.items():
            if key == "name":
                continue
            values = [r[key] for r in runs if r[key] is not None]
            merged[key] = sum(values) / len(values) if values else None
        out[name] = merged
    return out


def main(directory):
    seeds = {}
    for f in sorted(os.listdir(directory)):
        if f.endswith(".json"):
            with open(os.path.join(directory, f)) as fh:
                seeds.setdefault(f.split(".")[0], []).append(json.load(fh)["policies"])
    runs = {name: mean_policies(results) for name, results in seeds.items()}
    print(f"Mean over {max(len(r) for r in seeds.values())} seeds.\n")
    names = [n for n in ORDER if n in runs] + sorted(n for n in runs if n not in ORDER)

    print("| trace | policy | reaction s | ready s | reversals/5 min | scale events | "
          "replica-s (x oracle) | SLO-violation s | timed out |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in names:
        for p in runs[n].values():
            print(f"| {n} | {p['name']} | {fmt(p['reaction_s'], 2)} | {fmt(p['ready_s'])} | "
                  f"{p['reversals_per_5min']:.2f} | {p['scale_events']:.1f} | "
                  f"{p['replica_seconds']:.0f} ({fmt(p['replica_seconds_vs_oracle'], 2)}) | "
                  f"{p['slo_violation_s']:.1f} | {p['timed_out_requests']:.0f} |")

    goals = []

    def goal(text, ok, detail):
        goals.append((text, ok, detail))

    def ls(n):
        return runs[n]["lagscale"]

    if "step" in runs:
        r = ls("step")["reaction_s"]
        goal("step: reaction <= 1 s", r is not None and r <= 1.0, f"{fmt(r, 2)} s")
    for n in ("square_10s", "square_30s", "square_120s"):
        if n in runs:
            v = ls(n)["reversals_per_5min"]
            goal(f"{n}: <= 1 reversal / 5 min", v <= 1.0, f"{v:.2f}")
    if "flat" in runs:
        v = ls("flat")["scale_events"]
        goal("flat: 0 scale events", v == 0, f"{v:g}")
    if "diurnal" in runs:
        v = ls("diurnal")["replica_seconds_vs_oracle"]
        goal("diurnal: replica-seconds within 10 % of oracle", v is not None and abs(v - 1) <= 0.1,
             f"x{fmt(v, 3)}")
    for n in names:
        mine = round(ls(n)["slo_violation_s"], 2)
        theirs = {b: round(runs[n][b]["slo_violation_s"], 2) for b in BASELINES if b in runs[n]}
        worse = [b for b, v in theirs.items() if not (mine < v or mine == v == 0)]
        others = ", ".join(f"{b} {v:.2f}" for b, v in theirs.items())
        goal(f"{n}: fewer SLO-violation seconds than every baseline (or all zero)", not worse,
             f"lagscale {mine:.2f} vs {others}")

    print()
    print("| goal | result | measured |")
    print("| --- | --- | --- |")
    for text, ok, detail in goals:
        print(f"| {text} | {'PASS' if ok else 'FAIL'} | {detail} |")
    return 0 if all(ok for _, ok, _ in goals) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
