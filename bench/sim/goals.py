#!/usr/bin/env python3
"""Reads lagscale-sim --json results (files TRACE.SEED.json) and prints the results table and the
goals with PASS/FAIL (Markdown), every number the mean over the seeds (SLO-violation and
replica-seconds also with their standard deviation over the seeds). Every SLO goal shows the
oracle's SLO-violation seconds, and one that fails shows lagscale's minus the winner's per seed with
its standard error: whether the loss is beyond the seeds' noise. Exit status 1 when a goal fails."""
import json
import os
import statistics
import sys

BASELINES = ("hpa", "kpa", "keda", "seldon")
ORDER = ("step", "step_x2", "spike", "spike_tall", "spike_wide", "onoff", "ramp", "square_10s",
         "square_30s", "square_120s", "diurnal", "flat", "llm_step", "llm_tokens")
SPREAD = ("replica_seconds", "slo_violation_s")
# A rival for cost is a baseline whose SLO violation is within this factor of lagscale's: one
# that starves its model is cheap but no rival.
RIVAL_SLO_FACTOR = 2
LLM_ORACLE_FACTOR = 1.3  # replica-seconds over the oracle's on traces of seconds-long requests


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
            if key in SPREAD:
                merged[key + "_sd"] = statistics.pstdev(values) if values else 0
        out[name] = merged
    return out


def paired_difference(per_seed, baseline):
    """lagscale's SLO-violation seconds minus the baseline's, seed by seed (both saw the same
    arrivals): their mean and its standard error, or None under two seeds."""
    diffs = [seed["lagscale"]["slo_violation_s"] - seed[baseline]["slo_violation_s"]
             for seed in per_seed]
    if len(diffs) < 2:
        return None
    return statistics.mean(diffs), statistics.stdev(diffs) / len(diffs) ** 0.5


def slo_goal(goal, n, run, per_seed):
    mine = round(run["lagscale"]["slo_violation_s"], 2)
    theirs = {b: round(run[b]["slo_violation_s"], 2) for b in BASELINES if b in run}
    worse = [b for b, v in theirs.items() if not (mine < v or mine == v == 0)]
    detail = f"lagscale {mine:.2f} vs " + ", ".join(f"{b} {v:.2f}" for b, v in theirs.items())
    if "oracle" in run:
        detail += f" (oracle {run['oracle']['slo_violation_s']:.2f})"
    # Whether a loss is beyond the seeds' noise: the paired difference with its standard error.
    for b in worse:
        diff = paired_difference(per_seed, b)
        if diff is not None:
            detail += f"; lagscale - {b} per seed {diff[0]:+.2f} ± {diff[1]:.2f}"
    goal(f"{n}: fewer SLO-violation seconds than every baseline (or all zero)", not worse, detail)


def cost_goal(goal, n, run):
    mine = run["lagscale"]
    slo = round(mine["slo_violation_s"], 2)
    rivals = {b: run[b]["replica_seconds"] for b in BASELINES
              if b in run and round(run[b]["slo_violation_s"], 2) <= RIVAL_SLO_FACTOR * slo}
    cheaper = [b for b, v in rivals.items() if v < mine["replica_seconds"]]
    others = ", ".join(f"{b} {v:.0f}" for b, v in rivals.items()) or "no rival"
    goal(f"{n}: fewest replica-seconds among baselines within {RIVAL_SLO_FACTOR}x its SLO violation",
         not cheaper, f"lagscale {mine['replica_seconds']:.0f} vs {others}")


def is_square(name):
    """Square waves (square_*, llm_square_*): not flapping matters more there than cost."""
    return "square_" in name


def main(directory):
    seeds = {}
    for f in sorted(os.listdir(directory)):
        if f.endswith(".json"):
            with open(os.path.join(directory, f)) as fh:
                seeds.setdefault(f.split(".")[0], []).append(json.load(fh)["policies"])
    runs = {name: mean_policies(results) for name, results in seeds.items()}
    per_seed = {name: [{p["name"]: p for p in result} for result in results]
                for name, results in seeds.items()}
    print(f"Mean over {max(len(r) for r in seeds.values())} seeds.\n")
    names = [n for n in ORDER if n in runs] + sorted(n for n in runs if n not in ORDER)

    print("| trace | policy | reaction s | ready s | reversals/5 min | scale events | "
          "replica-s ± sd (x oracle) | SLO-violation s ± sd | timed out |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in names:
        for p in runs[n].values():
            print(f"| {n} | {p['name']} | {fmt(p['reaction_s'], 2)} | {fmt(p['ready_s'])} | "
                  f"{p['reversals_per_5min']:.2f} | {p['scale_events']:.1f} | "
                  f"{p['replica_seconds']:.0f} ± {p['replica_seconds_sd']:.0f} "
                  f"({fmt(p['replica_seconds_vs_oracle'], 2)}) | "
                  f"{p['slo_violation_s']:.1f} ± {p['slo_violation_s_sd']:.1f} | "
                  f"{p['timed_out_requests']:.0f} |")

    goals = []

    def goal(text, ok, detail):
        goals.append((text, ok, detail))

    def ls(n):
        return runs[n]["lagscale"]

    if "step" in runs:
        r = ls("step")["reaction_s"]
        goal("step: reaction <= 1 s", r is not None and r <= 1.0, f"{fmt(r, 2)} s")
    for n in names:
        if is_square(n):
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
        slo_goal(goal, n, runs[n], per_seed[n])
        if is_square(n):  # the cost rules are waived there
            continue
        cost_goal(goal, n, runs[n])
        if n.startswith("llm_"):
            v = ls(n)["replica_seconds_vs_oracle"]
            goal(f"{n}: replica-seconds <= {LLM_ORACLE_FACTOR}x oracle",
                 v is not None and v <= LLM_ORACLE_FACTOR, f"x{fmt(v, 3)}")

    print()
    print("| goal | result | measured |")
    print("| --- | --- | --- |")
    for text, ok, detail in goals:
        print(f"| {text} | {'PASS' if ok else 'FAIL'} | {detail} |")
    return 0 if all(ok for _, ok, _ in goals) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
