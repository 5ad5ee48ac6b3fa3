#!/usr/bin/env python3
"""Sidecar memory: resident set size idle and with 1,000 / 10,000 open client connections.

Starts the V2 test server and one sidecar (one I/O thread) on loopback, then opens connections that
each carry one keep-alive request and stay open, and reads the sidecar's VmRSS.
Usage: bench/memory/run.py BIN_DIR
"""
import json
import os
import resource
import socket
import subprocess
import sys
import time


def start(argv, prefix):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        raise SystemExit(f"{argv[0]} did not start")
    return proc, dict(w.split("=", 1) for w in line.split() if "=" in w)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    bins = sys.argv[1]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 30000), hard))
    ts, ts_addr = start([f"{bins}/lagscale-testserver", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"],
                        "lagscale-testserver ready")
    sc, sc_addr = start([f"{bins}/lagscale-sidecar", "--listen", "127.0.0.1:0", "--upstream", ts_addr["http"],
                         "--admin", "127.0.0.1:0", "--grpc-listen", "", "--threads", "1"],
                        "lagscale-sidecar ready")
    host, port = sc_addr["http"].rsplit(":", 1)
    results = {}
    try:
        time.sleep(0.5)  # settle after start-up, before the idle reading
        results["idle"] = rss_kib(sc.pid)
        conns = []
        body = b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}'
        req = (b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        for target in (1000, 10000):
            while len(conns) < target:
                s = socket.create_connection((host, int(port)))
                s.sendall(req)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(65536)
                conns.append(s)
            time.sleep(0.2)
            results[f"{target}_connections"] = rss_kib(sc.pid)
        for s in conns:
            s.close()
    finally:
        for p in (sc, ts):
            p.terminate()
            p.wait(timeout=10)
    print(json.dumps({"rss_kib": results}))
    # What one more idle keep-alive connection costs: the growth from 1,000 to 10,000 connections,
    # so start-up and the first connections' one-off allocations do not count.
    per_conn = (results["10000_connections"] - results["1000_connections"]) / 9000
    print(f"| sidecar RSS | idle | 1,000 connections | 10,000 connections | per idle connection |")
    print(f"| --- | --- | --- | --- | --- |")
    print(f"| MiB | {results['idle'] / 1024:.1f} | {results['1000_connections'] / 1024:.1f} | "
          f"{results['10000_connections'] / 1024:.1f} | {per_conn:.2f} KiB |")


if __name__ == "__main__":
    main()
