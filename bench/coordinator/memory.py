#!/usr/bin/python3
"""Coordinator memory at the report limits: resident set size while N pods each report M models.

Starts lagscale-coordinator on loopback with its default limits (limits.maxPods 500,
limits.maxModelsPerPod 1,000: the chart's defaults), then opens one report stream per pod from
Python grpcio (stubs generated from proto/ with python3-grpc-tools, independent of the C++ code).
Every pod reports the same M models once per --interval (the pods' phases spread over it, as pods
that started at different times), in order, with counters that grow every report (every model has traffic, so every model holds its demand ring: the worst case). /status
is fetched every second meanwhile, as the status page does. Reads the coordinator's VmRSS every
second and VmHWM (the peak) at the end, and prints them with the bytes per (pod, model) pair above
the idle process, against the chart's memory limit; and the reports sent against those applied,
with the CPU time of the decision loop's thread ("decide") over the run.

Usage: bench/coordinator/memory.py BIN_DIR [--pods 500] [--models 1000] [--groups 1] [--seconds 40]
Exit status 1 when the peak is above --limit-mib (default: the chart's 384).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

parser = argparse.ArgumentParser()
parser.add_argument("bin_dir")
parser.add_argument("--pods", type=int, default=500)
parser.add_argument("--models", type=int, default=1000)
parser.add_argument("--seconds", type=float, default=40)
parser.add_argument("--interval", type=float, default=1.0)
parser.add_argument("--groups", type=int, default=1,
                    help="pods are split into this many groups, each with its own M models "
                         "(5 groups of 1,000 models: limits.maxModels 5,000, the worst case)")
parser.add_argument("--limit-mib", type=float, default=384)
parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the coordinator")
parser.add_argument("--wrap", default="", help="a command to run the coordinator under, e.g. heaptrack")
args = parser.parse_args()

gen = tempfile.mkdtemp(prefix="lagscale-memory-")
subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "proto"),
                "--python_out=" + gen, os.path.join(ROOT, "proto", "lagscale", "v1", "lag.proto")],
               check=True)
sys.path.insert(0, gen)
from lagscale.v1 import lag_pb2 as pb  # noqa: E402


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def thread_cpu_s(pid, name):
    """CPU seconds (user + system) of the process's threads called `name`."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != name:
                    continue
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except FileNotFoundError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def start_coordinator():
    env = dict(os.environ)
    env.update(kv.split("=", 1) for kv in args.env)
    proc = subprocess.Popen(args.wrap.split() + [os.path.join(args.bin_dir, "lagscale-coordinator"), "--grpc-listen",
                             "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-level", "warn"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)  # its own session: coordinator_pid() finds it
    line = proc.stdout.readline()
    while args.wrap and line and not line.startswith("lagscale-coordinator ready"):
        line = proc.stdout.readline()  # what the wrapper prints first
    if not line.startswith("lagscale-coordinator ready"):
        raise SystemExit("lagscale-coordinator did not start")
    return proc, dict(w.split("=", 1) for w in line.split() if "=" in w)


def coordinator_pid(proc):
    """The coordinator's own pid: the process started, or under --wrap its child in the session."""
    if not args.wrap:
        return proc.pid
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "lagscale-coordi":  # comm is cut to 15 characters
                    continue
            if os.getsid(int(pid)) == proc.pid:
                return int(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    raise SystemExit("the wrapper's lagscale-coordinator was not found")


# The models part of a report, once per report index: the same for every pod (pods differ in
# their header), counters growing by 10 requests and 1 busy-second per model per report.
def models_part(group, index):
    r = pb.PodReport()
    now_ms = int(time.time() * 1000)
    for i in range(args.models):
        m = r.models.add()
        m.model = "model-%05d" % (group * args.models + i)
        m.arrivals = 10 * index
        m.outcomes.success = 10 * index - 1 if index else 0
        m.busy_seconds = float(index)
        m.inflight = 1 if index else 0
        m.last_request_unix_ms = now_ms
    return r.SerializeToString()


reports = int(args.seconds / args.interval) + 2
print(f"building {reports} reports of {args.models} models ...", file=sys.stderr)
bodies = [[models_part(g, i) for i in range(reports)] for g in range(args.groups)]
coordinator, addresses = start_coordinator()
pid = coordinator_pid(coordinator)
time.sleep(1)  # the process settles; RSS before any report
idle = proc_status(pid, "VmRSS")
stop = threading.Event()
acked = [0] * args.pods
sent = [0] * args.pods
errors = []


def pod_stream(i, channel):
    incarnation = (os.getpid() << 20) + i + 1

    def requests():
        # Pods start at different times, so their reports are spread over the interval.
        start = time.monotonic() + args.interval * i / args.pods
        stop.wait(max(0.0, start - time.monotonic()))
        for seq in range(1, reports):
            header = pb.PodReport(server="srv", pod="pod-%03d" % i, incarnation=incarnation,
                                  sequence=seq, report_unix_ms=int(time.time() * 1000),
                                  snapshot_monotonic_ns=time.monotonic_ns())
            yield header.SerializeToString() + bodies[i % args.groups][seq]
            sent[i] += 1
            # Reports on the interval grid from the stream's start, whatever sending took.
            delay = start + seq * args.interval - time.monotonic()
            if stop.wait(max(0.0, delay)):
                return

    call = channel.stream_stream("/lagscale.v1.LagService/Report",
                                 request_serializer=lambda b: b,
                                 response_deserializer=pb.ReportAck.FromString)
    try:
        for ack in call(requests()):
            acked[i] = ack.sequence
    except grpc.RpcError as e:
        if not stop.is_set():
            errors.append(f"pod {i}: {e.code().name} {e.details()}")


channels = [grpc.insecure_channel(addresses["grpc"], [("grpc.use_local_subchannel_pool", 1)])
            for _ in range(8)]
threads = [threading.Thread(target=pod_stream, args=(i, channels[i % len(channels)]), daemon=True)
           for i in range(args.pods)]
for t in threads:
    t.start()
samples = []
status_bytes = 0
loop_cpu = thread_cpu_s(pid, "decide")
began = time.monotonic()
end = began + args.seconds
while time.monotonic() < end:
    time.sleep(1)
    samples.append(proc_status(pid, "VmRSS"))
    with urllib.request.urlopen(f"http://{addresses['http']}/status", timeout=10) as r:
        status_bytes = len(r.read())
peak = proc_status(pid, "VmHWM")
loop_cpu = thread_cpu_s(pid, "decide") - loop_cpu
ran = time.monotonic() - began
with urllib.request.urlopen(f"http://{addresses['http']}/status", timeout=10) as r:
    status = json.load(r)
stop.set()
os.kill(pid, signal.SIGTERM)  # a wrapper then finishes its output and exits too
coordinator.wait()

mb = 1e6
steady = statistics.median(samples[len(samples) // 2:])
pairs = args.pods * args.models
print(f"coordinator memory, {args.pods} pods x {args.models} models every {args.interval:g} s "
      f"({args.groups * args.models} distinct models), {args.seconds:g} s")
print(f"  reports sent {sum(sent)}, applied {status['reports']['applied']}, refused pods "
      f"{status['reports']['refused_pods']}, refused models {status['reports']['refused_models']}, "
      f"pods acknowledged to the end {sum(1 for a in acked if a >= reports - 2)} of {args.pods}, "
      f"stream errors {len(errors)}")
print(f"  /status {status_bytes / mb:.1f} MB")
print(f"  decision loop busy {loop_cpu:.1f} s of CPU in {ran:.0f} s ({loop_cpu / ran:.0%}; its thread "
      f"can use one core of the machine's {os.cpu_count()})")
print(f"  RSS idle {idle / mb:.0f} MB, steady (median of the second half) {steady / mb:.0f} MB, "
      f"peak {peak / mb:.0f} MB; {(steady - idle) / pairs:.0f} bytes per (pod, model) pair")
limit = args.limit_mib * 1024 * 1024
print(f"  limit {args.limit_mib:g} MiB ({limit / mb:.0f} MB): peak at {peak / limit:.0%} of it")
for e in errors[:3]:
    print("  error:", e)
sys.exit(0 if peak <= limit else 1)
