#!/usr/bin/env python3
"""LLM traffic through lagscale-sidecar, measured against nginx in the same run.

1. Streams: h2load (HTTP/1.1) sends streamed chat completions (`stream_options.include_usage`, 64
   tokens each, as fast as lagscale-testserver writes them) directly, through the sidecar and
   through nginx (`proxy_buffering off`, so tokens are not held back). Per path: streams/s, and the
   proxy's CPU per stream and per token (utime+stime from /proc of the proxy process over the run).
   The sidecar must count every stream and every token exactly: its /stats are checked.
2. The body scanner's share: 1 MiB chat requests whose "model" comes after the messages, once with
   the model found by the scanner and once named in a header (the scanner then does not run),
   non-streamed, same answer. The difference in the sidecar's CPU per request is what the scan
   costs; the goal is under 5 % of the proxy's CPU on such a request.

The proxies run pinned to CPU 0, the load generator and the test server to CPU 1 (2+ cores).

    bench/llm/run.py --bin-dir build-release/bin            # defaults
    STREAMS=4000 BIG=300 bench/llm/run.py --bin-dir ...      # sizes
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKENS = 64
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cpu):
    return ["taskset", "-c", str(cpu)] if os.cpu_count() >= 2 and shutil.which("taskset") else []


def cpu_seconds(pid):
    """utime + stime of a process (all its threads) and its children (nginx's workers), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / TICKS
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return total + sum(cpu_seconds(int(child)) for child in f.read().split())


class Procs:
    def __init__(self, work):
        self.work, self.procs = work, []

    def start(self, name, argv, ready=None):
        out = open(os.path.join(self.work, name + ".out"), "w+")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        if ready is None:
            return proc, {}
        for _ in range(400):
            out.seek(0)
            for line in out.read().splitlines():
                if line.startswith(ready):
                    return proc, dict(w.split("=", 1) for w in line.split() if "=" in w)
            if proc.poll() is not None:
                break
            time.sleep(0.025)
        raise RuntimeError(f"{name} did not become ready; see {out.name}")

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_port(port):
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.025)
    raise RuntimeError(f"nothing listens on {port}")


def start_nginx(procs, work, upstream):
    port = free_port()
    d = os.path.join(work, "nginx")
    os.makedirs(d)
    conf = f"""worker_processes 1;
daemon off;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
  uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_max_body_size 8m;
  upstream llm {{ server {upstream}; keepalive 512; keepalive_requests 100000000; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://llm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
"""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    proc, _ = procs.start("nginx", pinned(0) + ["nginx", "-c", f"{d}/nginx.conf", "-p", d])
    wait_port(port)
    return proc, f"127.0.0.1:{port}"


def h2load(address, body_file, n, conns, headers=()):
    argv = pinned(1) + ["h2load", "--h1", "-n", str(n), "-c", str(conns), "-d", body_file,
                        "-H", "content-type: application/json"]
    for h in headers:
        argv += ["-H", h]
    out = subprocess.run(argv + [f"http://{address}/v1/chat/completions"], capture_output=True,
                         text=True, check=True).stdout
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    if not done or int(done.group(1)) != n:
        raise RuntimeError("h2load: not every request succeeded:\n" + out)
    return float(re.search(r"finished in ([\d.]+)s", out).group(1))


def run_measured(pid, fn):
    """(seconds the load took, CPU seconds the process `pid` spent meanwhile; 0 without pid)."""
    before = cpu_seconds(pid) if pid else 0
    elapsed = fn()
    return elapsed, (cpu_seconds(pid) - before) if pid else 0


def stats(admin):
    with urllib.request.urlopen(f"http://{admin}/stats", timeout=5) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    args = ap.parse_args()
    streams = int(os.environ.get("STREAMS", "6000"))
    big = int(os.environ.get("BIG", "400"))
    reps = int(os.environ.get("REPS", "3"))
    bins = os.path.abspath(args.bin_dir)
    work = tempfile.mkdtemp(prefix="lagscale-llm-bench-")
    procs = Procs(work)
    try:
        _, ts = procs.start("testserver", pinned(1) + [
            f"{bins}/lagscale-testserver", "--http", "127.0.0.1:0", "--grpc", "", "--threads", "1",
            "--queue-limit", "100000", "--llm-model", f"chat:0:0:{TOKENS}:100000"],
            "lagscale-testserver ready")
        sidecar, sc = procs.start("sidecar", pinned(0) + [
            f"{bins}/lagscale-sidecar", "--listen", "127.0.0.1:0", "--upstream", ts["http"],
            "--admin", "127.0.0.1:0", "--grpc-listen", "", "--threads", "1"],
            "lagscale-sidecar ready")
        nginx, ng = start_nginx(procs, work, ts["http"])

        stream_body = os.path.join(work, "stream.json")
        with open(stream_body, "w") as f:
            json.dump({"messages": [{"role": "user", "content": "write a haiku about queues"}],
                       "model": "chat", "stream": True, "stream_options": {"include_usage": True}}, f)
        print(f"## Streamed chat completions: {streams} streams x {TOKENS} tokens, 16 connections, "
              f"median of {reps}")
        paths = [("direct", ts["http"], None), ("sidecar", sc["http"], sidecar.pid),
                 ("nginx", ng, nginx.pid)]
        results = {name: [] for name, _, _ in paths}
        for _ in range(reps):
            for name, address, pid in paths:
                elapsed, cpu = run_measured(pid, lambda: h2load(address, stream_body, streams, 16))
                results[name].append((streams / elapsed, cpu / streams))
        print(f"{'path':8s} {'streams/s':>10s} {'proxy CPU/stream':>17s} {'proxy CPU/token':>16s}")
        med = {}
        for name, _, _ in paths:
            rows = sorted(results[name])
            rate = rows[len(rows) // 2][0]
            cpu = sorted(c for _, c in rows)[len(rows) // 2]
            med[name] = (rate, cpu)
            cpu_text = "—" if name == "direct" else f"{cpu * 1e6:.1f} µs"
            tok_text = "—" if name == "direct" else f"{cpu * 1e9 / TOKENS:.0f} ns"
            print(f"{name:8s} {rate:10.0f} {cpu_text:>17s} {tok_text:>16s}")
        print(f"sidecar/nginx: streams/s {med['sidecar'][0] / med['nginx'][0]:.2f}x, "
              f"CPU per token {med['sidecar'][1] / med['nginx'][1]:.2f}x")
        s = stats(sc["admin"])["models"].get("chat", {})
        want = reps * streams
        exact = (s.get("arrivals") == want and s.get("completions") == want and
                 s.get("completion_tokens") == want * TOKENS and s.get("ttfb_count") == want)
        print(f"sidecar ledger: {s.get('arrivals')} streams, {s.get('completion_tokens')} completion "
              f"tokens, {s.get('ttfb_count')} first bytes, expected {want} / {want * TOKENS} / {want}: "
              + ("exact" if exact else "NOT EXACT"))

        # The scanner's share on a 1 MiB chat request with the model last.
        messages, size = [], 0
        while size < 1 << 20:
            text = "lorem ipsum dolor sit amet " * 40
            messages.append({"role": "user", "content": text})
            size += len(text) + 32
        big_body = os.path.join(work, "big.json")
        with open(big_body, "w") as f:
            json.dump({"messages": messages, "max_tokens": 1, "model": "chat"}, f)
        mib = os.path.getsize(big_body) / (1 << 20)
        print()
        print(f"## Model scan on a {mib:.2f} MiB chat request, model last: sidecar CPU per request "
              f"with the body scanned vs the model in a header, {big} requests, 4 connections, "
              f"median of {reps}")
        scanned, header = [], []
        for _ in range(reps):
            scanned.append(run_measured(sidecar.pid, lambda: h2load(sc["http"], big_body, big, 4))[1] / big)
            header.append(run_measured(sidecar.pid, lambda: h2load(
                sc["http"], big_body, big, 4, ["seldon-model: chat"]))[1] / big)
        a, b = sorted(scanned)[reps // 2], sorted(header)[reps // 2]
        share = (a - b) / a if a > 0 else 0
        print(f"scanned {a * 1e6:.0f} µs/request, header {b * 1e6:.0f} µs/request: the scan is "
              f"{share * 100:.1f} % of the proxy's CPU on this request (goal < 5 %), "
              f"{(a - b) * 1e6 / mib:.0f} µs per MiB")
        return 0 if exact else 1
    finally:
        procs.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
