#!/usr/bin/env python3
"""lagscale's closed-loop demo: traffic rises, lag rises, the coordinator scales, lag falls.

Starts on loopback: the V2 test server (per-model service time, a per-replica concurrency limit so
queues form), two sidecars in front of it as two pods of one server, and the coordinator with its
webhook actuator pointed at the test server's /admin/scale, so a decision really changes capacity.
An open-loop load generator drives a ramp, a burst and a quiet period. Every process started here
is stopped on exit, on Ctrl-C and on failure.

With --llm the models are LLMs behind OpenAI-compatible endpoints: every request is a streamed chat
completion (`stream_options.include_usage`) whose model is named only in the JSON body, answers
stream token by token for about a second, and the view adds tokens/s and time to first token.
"""

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

# model -> service time (ms) at the test server; each replica serves CONCURRENCY at once.
MODELS = {"iris": 50, "bert": 100}
CONCURRENCY = 2
TARGET = 1.6  # target concurrency per replica: 80 % of what a replica can hold

# (name, seconds, {model: (rps at start, rps at end)})
PHASES = [
    ("ramp", 20, {"iris": (5, 30), "bert": (3, 12)}),
    ("burst", 20, {"iris": (120, 120), "bert": (40, 40)}),
    ("quiet", 35, {"iris": (2, 2), "bert": (1, 1)}),
]

# --llm: model -> (time to first token ms, ms per further token, output tokens); each replica
# streams LLM_CONCURRENCY answers at once, so an answer holds a slot for about a second.
LLM_MODELS = {"chat": (150, 20, 32), "code": (300, 15, 64)}
LLM_CONCURRENCY = 4
LLM_TARGET = 3.2
LLM_PHASES = [
    ("ramp", 20, {"chat": (1, 6), "code": (0.5, 3)}),
    ("burst", 20, {"chat": (24, 24), "code": (10, 10)}),
    ("quiet", 35, {"chat": (0.3, 0.3), "code": (0.2, 0.2)}),
]


def use_llm_mode():
    """Switches the module's models and phases to the LLM ones."""
    global MODELS, PHASES, CONCURRENCY, TARGET
    MODELS, PHASES = dict(LLM_MODELS), LLM_PHASES
    CONCURRENCY, TARGET = LLM_CONCURRENCY, LLM_TARGET

CONFIG = """\
reportTTL: 5s
decisionInterval: 100ms
windows: [10s, 60s]
defaults:
  policy: target-tracking
  minReplicas: 1
  maxReplicas: 8
  targetConcurrency: {target}
  tolerance: 0.1
  stableWindow: 10s
  panicWindow: 2s
  panicThreshold: 2.0
  scaleDownDelay: 8s
  maxScaleUpRate: 10
  maxScaleDownRate: 2
servers:
  - name: demo
    placement: all
    minReplicas: 1
    maxReplicas: 8
    drainDelay: 5s
    target: {{apiVersion: apps/v1, kind: Deployment, name: demo, namespace: default}}
models:
{models}
"""

MODEL_CONFIG = """\
  - name: {name}
    server: demo
    target: {{apiVersion: mlops.seldon.io/v1alpha1, kind: Model, name: {name}, namespace: default}}
"""


class Processes:
    """The processes this demo started; all of them are stopped by stop_all()."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, argv, ready_prefix):
        log = open(os.path.join(self.workdir, name + ".log"), "w")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
        self.procs.append((name, proc))
        deadline = time.time() + 30
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith(ready_prefix):
                # Keep draining stdout so the process never blocks on a full pipe.
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                return dict(w.split("=", 1) for w in line.split() if "=" in w)
        raise RuntimeError(f"{name} did not become ready; see {log.name}")

    def stop_all(self):
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()


def get_json(addr, path, timeout=2.0):
    with urllib.request.urlopen(f"http://{addr}{path}", timeout=timeout) as r:
        return json.loads(r.read())


class Load:
    """Open-loop arrivals: requests start on schedule whether or not earlier ones finished, so a
    short capacity shows up as lag (in flight at the sidecar), not as a slower client."""

    def __init__(self, sidecars, llm=False, seed=7):
        self.sidecars = sidecars
        self.llm = llm
        self.completion_tokens = {m: 0 for m in MODELS}  # from the streams' usage events
        self.pool = ThreadPoolExecutor(max_workers=600)
        self.local = threading.local()
        self.rng = random.Random(seed)
        self.sent = {m: 0 for m in MODELS}
        self.failed = {m: 0 for m in MODELS}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _conn(self, addr):
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        if addr not in conns:
            host, port = addr.rsplit(":", 1)
            conns[addr] = http.client.HTTPConnection(host, int(port), timeout=60)
        return conns[addr]

    def _infer(self, conn, model):
        body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]})
        conn.request("POST", f"/v2/models/{model}/infer", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200

    def _chat(self, conn, model):
        """One streamed chat completion, read event by event as a chat UI would; the model is
        named after the messages, as common SDKs send it."""
        body = json.dumps({"messages": [{"role": "user", "content": "say something about autoscaling"}],
                           "model": model, "stream": True, "stream_options": {"include_usage": True}})
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            resp.read()
            return False
        done = False
        for line in resp:  # http.client de-chunks; lines come as the tokens do
            if line.startswith(b"data: [DONE]"):
                done = True
            elif line.startswith(b"data: "):
                usage = json.loads(line[6:]).get("usage")
                if usage:
                    with self.lock:
                        self.completion_tokens[model] += usage["completion_tokens"]
        return done

    def _one(self, model, addr):
        try:
            conn = self._conn(addr)
            ok = self._chat(conn, model) if self.llm else self._infer(conn, model)
        except (OSError, http.client.HTTPException, ValueError):
            self.local.conns.pop(addr, None)
            ok = False
        if not ok:
            with self.lock:
                self.failed[model] += 1

    def rate(self, model, t):
        start = 0.0
        for _, seconds, rates in PHASES:
            if t < start + seconds:
                a, b = rates[model]
                return a + (b - a) * (t - start) / seconds
            start += seconds
        return 0.0

    def run(self, t0):
        """Schedules arrivals until every phase is over (or stop is set)."""
        total = sum(p[1] for p in PHASES)
        next_at = {m: t0 for m in MODELS}
        i = 0
        while not self.stop.is_set():
            now = time.time()
            if now - t0 >= total:
                break
            for model in MODELS:
                while next_at[model] <= now:
                    r = max(self.rate(model, next_at[model] - t0), 0.1)
                    self.pool.submit(self._one, model, self.sidecars[i % len(self.sidecars)])
                    i += 1
                    with self.lock:
                        self.sent[model] += 1
                    next_at[model] += self.rng.expovariate(r)
            time.sleep(0.002)


def phase_at(t):
    start = 0.0
    for name, seconds, _ in PHASES:
        if t < start + seconds:
            return name
        start += seconds
    return "done"


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values, width=30):
    """The last `width` values as block characters scaled to their own maximum (blank: no data)."""
    values = values[-width:]
    top = max([v for v in values if v is not None] + [1e-9])
    return "".join(" " if v is None else SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))]
                   for v in values).rjust(width)


def replica_bar(current, desired, limit):
    """current replicas as filled blocks, the ones still to come (desired > current) as light ones."""
    current, desired = max(current, 0), max(desired, 0)
    bar = "█" * min(current, limit) + "░" * max(0, min(desired, limit) - current)
    return bar.ljust(limit)


def live_view(header, coord_http, rows, status, load, t, timeline, t0):
    """The TTY view: one table redrawn in place, the latest decisions below it."""
    out = [header, ""]
    out.append(f"{'model':12s} {'rps':>5s} {'in-flight':>9s} {'conc(10s)':>9s} {'desired/current':>15s}  "
               f"{'replicas':8s}  in flight, last 30 s")
    for name in MODELS:
        m = rows.get(name, {})
        conc = (m.get("concurrency") or {}).get("10s") or 0
        try:
            hist = get_json(coord_http, f"/status/models/{name}/history?seconds=30", timeout=1.0)
            series = hist["series"]["inflight"]
        except (OSError, KeyError, ValueError):
            series = []
        desired, current = m.get("desired_replicas", 0), m.get("current_replicas", 0)
        out.append(f"{name:12s} {load.rate(name, t):5.0f} {m.get('inflight', 0):9.0f} {conc:9.2f} "
                   f"{f'{desired}/{current}':>15s}  {replica_bar(current, desired, 8)}  {sparkline(series)}"
                   f"{llm_text(m)}")
    for v in status.get("servers", []):
        out.append(f"{'server ' + v['name']:12s} {'':5s} {v.get('inflight', 0):9.0f} {'':9s} "
                   f"{str(v.get('desired_replicas', 0)) + '/' + str(v.get('current_replicas', 0)):>15s}  "
                   f"{replica_bar(v.get('current_replicas', 0), v.get('desired_replicas', 0), 8)}")
    out += ["", "decisions (newest last):"]
    for when, kind, name, frm, to, reason in sorted(timeline)[-8:]:
        out.append(f"  {when - t0:6.1f}s  {kind:6s} {name:6s} {frm} -> {to}   {reason}")
    return out


def server_models(llm):
    """The test server's flags that declare the models and their timing."""
    if llm:
        return sum((["--llm-model", f"{m}:{ttft}:{tok}:{n}:{CONCURRENCY}"]
                    for m, (ttft, tok, n) in MODELS.items()), [])
    return sum((["--model", f"{m}:{ms}"] for m, ms in MODELS.items()), [])


def llm_text(m):
    """Tokens/s and time to first byte from a model's /status entry ("" for non-LLM models)."""
    llm = m.get("llm")
    if not llm:
        return ""
    first = llm["time_to_first_byte"]
    p50, p99 = first["p50_seconds"], first["p99_seconds"]
    return (f" tokens/s={llm['completion_tokens_per_second']:.0f}"
            + (f" ttft p50={p50 * 1000:.0f}ms p99={p99 * 1000:.0f}ms" if p50 is not None else ""))


def check_tokens(coord_http, load):
    """The coordinator's token totals must equal what the clients' usage events said, exactly."""
    deadline = time.time() + 10
    while True:
        rows = model_rows(get_json(coord_http, "/status"))
        seen = {m: (rows.get(m, {}).get("llm") or {}).get("completion_tokens_total") for m in MODELS}
        if all(seen[m] == load.completion_tokens[m] for m in MODELS) or time.time() > deadline:
            break
        time.sleep(0.2)
    ok = True
    print("\nCompletion tokens, clients' usage events vs the coordinator:")
    for m in MODELS:
        same = seen[m] == load.completion_tokens[m]
        ok = ok and same
        print(f"  {m:6s} {load.completion_tokens[m]} vs {seen[m]}  {'exact' if same else 'DIFFERENT'}"
              f"{llm_text(rows.get(m, {}))}")
    return ok


def model_rows(status):
    """Per model name: the coordinator's /status entry (in-flight, concurrency, replicas, ...)."""
    return {m["name"]: m for m in status.get("models", [])}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--ci", action="store_true", help="non-interactive; fail if the loop did not work")
    ap.add_argument("--llm", action="store_true",
                    help="LLM models: streamed OpenAI-compatible chat completions")
    args = ap.parse_args()
    if args.llm:
        use_llm_mode()
    bins = os.path.abspath(args.bin_dir)
    workdir = tempfile.mkdtemp(prefix="lagscale-demo-")
    procs = Processes(workdir)
    load = None

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)  # the terminal closed: stop what was started too
    try:
        ts = procs.start("testserver", [f"{bins}/lagscale-testserver", "--http", "127.0.0.1:0",
                                        "--grpc", "127.0.0.1:0", "--concurrency", str(CONCURRENCY),
                                        "--replicas", "1", "--queue-limit", "100000"]
                         + server_models(args.llm),
                         "lagscale-testserver ready")
        config = os.path.join(workdir, "coordinator.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(target=TARGET,
                                  models="".join(MODEL_CONFIG.format(name=m) for m in MODELS)))
        coord = procs.start("coordinator", [f"{bins}/lagscale-coordinator", "--config", config,
                                            "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                                            "--actuator", "webhook",
                                            "--webhook-url", f"http://{ts['http']}/admin/scale"],
                            "lagscale-coordinator ready")
        sidecars = []
        for i in range(2):
            sc = procs.start(f"sidecar-{i}", [f"{bins}/lagscale-sidecar", "--listen", "127.0.0.1:0",
                                              "--upstream", ts["http"], "--grpc-listen", "127.0.0.1:0",
                                              "--grpc-upstream", ts["grpc"], "--admin", "127.0.0.1:0",
                                              "--threads", "1", "--server-name", "demo",
                                              "--pod-name", f"demo-{i}", "--coordinator", coord["grpc"],
                                              "--report-interval", "1s"],
                             "lagscale-sidecar ready")
            sidecars.append(sc["http"])

        status_url = f"http://{coord['http']}/"
        print(f"lagscale demo: test server {ts['http']}, sidecars {', '.join(sidecars)}, "
              f"coordinator {coord['http']}")
        print(f"status page: {status_url}   (logs in {workdir})\n")

        load = Load(sidecars, llm=args.llm)
        t0 = time.time()
        runner = threading.Thread(target=load.run, args=(t0,), daemon=True)
        runner.start()

        timeline, seen_decisions = [], set()
        burst_start = t0 + PHASES[0][1]
        quiet_start = burst_start + PHASES[1][1]
        lines_drawn = 0
        next_draw = 0.0
        while runner.is_alive():
            try:
                status = get_json(coord["http"], "/status")
            except OSError:
                status = {}
            now = time.time()
            rows = model_rows(status)
            # /status lists the latest decisions, newest first; keep each one once.
            for d in reversed(status.get("decisions", [])):
                key = (d.get("kind"), d.get("name"), d.get("time_unix_ms"), d.get("to"))
                if key not in seen_decisions:
                    seen_decisions.add(key)
                    timeline.append((d["time_unix_ms"] / 1000.0, d.get("kind", "model"), d["name"],
                                     d.get("from"), d.get("to"), d.get("reason", "")))
            if now >= next_draw:
                next_draw = now + (2.0 if args.ci else 0.5)
                header = f"t={now - t0:5.1f}s  phase={phase_at(now - t0):6s}"
                if args.ci or not sys.stdout.isatty():
                    print(" | ".join([header] + [
                        f"{n}: inflight={rows.get(n, {}).get('inflight', 0):.0f} "
                        f"desired={rows.get(n, {}).get('desired_replicas', 0)}{llm_text(rows.get(n, {}))}"
                        for n in MODELS]))
                else:
                    out = live_view(header, coord["http"], rows, status, load, now - t0, timeline, t0)
                    if lines_drawn:
                        sys.stdout.write(f"\x1b[{lines_drawn}A")
                    sys.stdout.write("".join(line + "\x1b[K\n" for line in out) + "\x1b[J")
                    sys.stdout.flush()
                    lines_drawn = len(out)
            time.sleep(0.25)

        print("\nDecision timeline (seconds from start):")
        for t, kind, name, frm, to, reason in sorted(timeline):
            print(f"  {t - t0:6.1f}s  {kind:6s} {name:6s} {frm} -> {to}   {reason}")

        ok = True
        print("\nReaction to the burst (burst starts at "
              f"{burst_start - t0:.1f}s; decision latency from the first burst request):")
        for name in MODELS:
            mine = [(t, frm, to) for t, kind, n, frm, to, _ in timeline if kind == "model" and n == name]
            ups = [t for t, frm, to in mine if t >= burst_start and to > frm]
            downs = [t for t, frm, to in mine if t >= quiet_start and to < frm]
            react = (ups[0] - burst_start) if ups else None
            print(f"  {name:6s} scale-up after {react:.2f}s" if react is not None
                  else f"  {name:6s} no scale-up during the burst")
            print(f"  {name:6s} scale-down after the burst: {'yes' if downs else 'no'}")
            if react is None or react > 2.0 or not downs:
                ok = False
        state = get_json(ts["http"], "/admin/state")
        print("\nTest server capacity now: " + ", ".join(
            f"{n}={m.get('replicas')} replicas" for n, m in state.get("models", {}).items()))
        sent = sum(load.sent.values())
        failed = sum(load.failed.values())
        print(f"Requests sent {sent}, failed {failed}")
        if args.llm:
            ok = check_tokens(coord["http"], load) and ok

        if args.ci:
            print("demo: closed loop " + ("worked" if ok else "DID NOT WORK"))
            return 0 if ok else 1
        print(f"\nStatus page still up at {status_url} - press Ctrl-C to stop.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping")
        return 0 if not args.ci else 1
    finally:
        if load:
            load.stop.set()
            load.pool.shutdown(wait=False, cancel_futures=True)
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
