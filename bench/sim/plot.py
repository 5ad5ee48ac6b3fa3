#!/usr/bin/python3
"""Draws, per trace in bench/traces/, SLO-violation seconds against replica-seconds: lagscale's
curve over its target utilization (lagscale-sim --sweep) and every baseline as a point, each the
mean over the seeds, into one SVG (docs/sim/sweep.svg by default). Below and left is better.
  bench/sim/plot.py [--out docs/sim/sweep.svg] [--seeds 1,2,3,4,5]
  bench/sim/plot.py --traces extra      # bench/traces/extra/ into docs/sim/sweep_extra.svg
Start-up is drawn from 8-20 s as in bench/sim/run.sh unless LAGSCALE_STARTUP_DELAY(_MAX) say
otherwise. Needs Debian's python3-matplotlib (hence /usr/bin/python3)."""
import argparse
import glob
import json
import math
import os
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UTILIZATIONS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MARKERS = {"hpa": "s", "kpa": "^", "keda": "D", "seldon": "v", "oracle": "*"}


def run(sim, trace, seed):
    out = subprocess.run([sim, "--trace", trace, "--seed", str(seed), "--sweep",
                          ",".join(map(str, UTILIZATIONS))],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def mean_over_seeds(runs):
    """(lagscale curve [(util, rs, slo)], {baseline: (rs, slo)}), means over the seeds."""
    curve = []
    for i, u in enumerate(UTILIZATIONS):
        points = [r["sweep"][i] for r in runs]
        curve.append((u, mean(p["replica_seconds"] for p in points),
                      mean(p["slo_violation_s"] for p in points)))
    baselines = {}
    for p in runs[0]["policies"]:
        same = [next(q for q in r["policies"] if q["name"] == p["name"]) for r in runs]
        baselines[p["name"]] = (mean(q["replica_seconds"] for q in same),
                                mean(q["slo_violation_s"] for q in same))
    return curve, baselines


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def draw(ax, name, curve, baselines):
    ax.plot([c[1] for c in curve], [c[2] for c in curve], "o-", color="tab:blue", label="lagscale")
    for u, rs, slo in curve:
        ax.annotate(f"{u:g}", (rs, slo), fontsize=6, xytext=(2, 2), textcoords="offset points")
    for b, (rs, slo) in baselines.items():
        ax.plot([rs], [slo], MARKERS.get(b, "x"), label=b, markersize=7)
    ax.set_title(name, fontsize=9)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="both", alpha=0.3)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", default="", help="a folder under bench/traces/ (e.g. extra)")
    parser.add_argument("--out", help="default docs/sim/sweep.svg, or sweep_<traces>.svg")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--sim", default=os.path.join(ROOT, "build", "bin", "lagscale-sim"))
    args = parser.parse_args()
    os.environ.setdefault("LAGSCALE_STARTUP_DELAY", "8s")
    os.environ.setdefault("LAGSCALE_STARTUP_DELAY_MAX", "20s")
    traces = sorted(glob.glob(os.path.join(ROOT, "bench", "traces", args.traces, "*.csv")))
    if not traces:
        parser.error(f"no traces in bench/traces/{args.traces}")
    out = args.out or os.path.join(
        ROOT, "docs", "sim", f"sweep_{args.traces}.svg" if args.traces else "sweep.svg")
    cols = 4
    fig, axes = plt.subplots(math.ceil(len(traces) / cols), cols,
                             figsize=(4 * cols, 3.2 * math.ceil(len(traces) / cols)))
    axes = axes.flatten()
    for ax, trace in zip(axes, traces):
        runs = [run(args.sim, trace, s) for s in args.seeds.split(",")]
        curve, baselines = mean_over_seeds(runs)
        draw(ax, os.path.basename(trace)[:-4], curve, baselines)
    for ax in axes[len(traces):]:
        ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9)
    fig.supxlabel("replica-seconds (log)")
    fig.supylabel("SLO-violation seconds (symlog)")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(out, metadata={"Date": None})
    print(out)


if __name__ == "__main__":
    main()
