#!/usr/bin/env python3
"""What a Prometheus-like scraper costs a loaded sidecar, in requests per second.

Comparing two separate wrk runs (scraped, not scraped) cannot resolve 2 %: on a shared 2-core VM
consecutive runs of the same cell differ by 10 % or more. So this measures inside one run. While
wrk loads the sidecar for the whole run (started by the caller), time is cut into phases of
--phase seconds that alternate between "scraped" (GET /metrics every 100 ms on one keep-alive
connection, as Prometheus does at scrape_interval 100ms) and "quiet" (no scrape). The sidecar's
own ledger, read from /stats at every phase boundary on a second keep-alive connection (in both
kinds of phase alike), gives the completions of each phase exactly. Each scraped phase is compared
with the mean of the quiet phases on either side, so drift slower than a phase cancels out.

  scrape_cost.py ADMIN_HOST:PORT --duration 60 --phase 2

Prints the per-triple ratios' median and quartiles and the pooled ratio (all scraped phases'
completions per second over all quiet phases'), and exits 1 if a scrape or a read fails.

Requests per second on a VM swing by 10-30 % from one 2-s phase to the next, so with --pid the
same is done for the sidecar's CPU time per completed request (every thread's run time from
/proc/PID/task/*/schedstat, in nanoseconds): with the proxy's core saturated, its requests per
second are one core over that, and it moves far less with the machine's weather.
"""
import os
import re
import socket
import argparse
import http.client
import json
import statistics
import sys
import time


class Scraper:
    """GET /metrics on one keep-alive connection, reading the answer into one reused buffer: the
    scraper shares a core with wrk and the upstream, so it must cost them as little as it can
    (http.client parses every answer's headers with the email package)."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.buffer = bytearray(1 << 20)
        self.request = b"GET /metrics HTTP/1.1\r\nHost: scraper\r\n\r\n"

    def scrape(self):
        self.sock.sendall(self.request)
        got, need = 0, None
        while need is None or got < need:
            if got == len(self.buffer):
                self.buffer.extend(bytes(len(self.buffer)))
            n = self.sock.recv_into(memoryview(self.buffer)[got:])
            if n == 0:
                sys.exit("the sidecar closed the scrape connection")
            got += n
            if need is None:
                end = self.buffer.find(b"\r\n\r\n", 0, got)
                if end >= 0:
                    head = bytes(self.buffer[:end]).lower()
                    if not head.startswith(b"http/1.1 200"):
                        sys.exit("GET /metrics answered %r" % head.split(b"\r\n")[0])
                    length = re.search(rb"\r\ncontent-length: *(\d+)", head)
                    if not length:
                        sys.exit("GET /metrics answered without a Content-Length")
                    need = end + 4 + int(length.group(1))
        if got != need:
            sys.exit("GET /metrics answered more than its Content-Length")


def completions(conn):
    conn.request("GET", "/stats")
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit("GET /stats answered %d" % response.status)
    return sum(m["completions"] for m in json.loads(body)["models"].values())


def cpu_ns(pid):
    """Run time of every thread of pid and of its thread named "admin" (the one that serves
    /metrics), in nanoseconds; (0, 0) without a pid."""
    if pid is None:
        return 0, 0
    total = admin = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                ns = int(f.read().split()[0])
            with open("/proc/%d/task/%s/comm" % (pid, task)) as f:
                name = f.read().strip()
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        total += ns
        if name == "admin":
            admin += ns
    return total, admin


def triples(values, scraped):
    """Each scraped phase's value over the mean of the quiet phases on either side of it."""
    out = []
    for i in range(1, len(values) - 1):
        if scraped[i] and not scraped[i - 1] and not scraped[i + 1]:
            out.append(values[i] / ((values[i - 1] + values[i + 1]) / 2))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("admin", help="the sidecar's admin address, host:port")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--phase", type=float, default=2.0)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between scrapes")
    parser.add_argument("--pid", type=int, help="the sidecar's pid: also compare CPU per request")
    args = parser.parse_args()

    host, port = args.admin.rsplit(":", 1)
    scraper = Scraper(host, int(port))
    reader = http.client.HTTPConnection(host, int(port))

    # Start once the load is there: completions rising over 100 ms.
    count = completions(reader)
    for _ in range(100):
        time.sleep(0.1)
        previous, count = count, completions(reader)
        if count > previous:
            break
    else:
        sys.exit("the sidecar completed no request in 10 s: is the load running?")

    phases = []  # (scraped, completions, seconds, cpu nanoseconds, admin thread's nanoseconds)
    scrapes = 0
    scraper_cpu = 0.0
    count, at, cpu = completions(reader), time.monotonic(), cpu_ns(args.pid)
    end = at + args.duration
    scraped = False
    while at + args.phase <= end:
        phase_end = at + args.phase
        if scraped:
            next_scrape = at
            while next_scrape < phase_end:
                before = time.process_time()
                scraper.scrape()
                scraper_cpu += time.process_time() - before
                scrapes += 1
                next_scrape += args.interval
                time.sleep(max(0.0, min(next_scrape, phase_end) - time.monotonic()))
        time.sleep(max(0.0, phase_end - time.monotonic()))
        new_count, new_at, new_cpu = completions(reader), time.monotonic(), cpu_ns(args.pid)
        phases.append((scraped, new_count - count, new_at - at, new_cpu[0] - cpu[0],
                       new_cpu[1] - cpu[1]))
        count, at, cpu = new_count, new_at, new_cpu
        scraped = not scraped

    kinds = [p[0] for p in phases]
    ratios = triples([p[1] / p[2] for p in phases], kinds)
    if len(ratios) < 3:
        sys.exit("too few phases: raise --duration or lower --phase")
    pooled_scraped = sum(p[1] for p in phases if p[0]) / sum(p[2] for p in phases if p[0])
    pooled_quiet = sum(p[1] for p in phases if not p[0]) / sum(p[2] for p in phases if not p[0])
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    print("scrape cost: %d phases of %.0f s, %d scrapes of /metrics every %.0f ms in the scraped ones"
          % (len(phases), args.phase, scrapes, args.interval * 1000))
    print("scrape cost: scraped / quiet RPS: median %.3fx (quartiles %.3fx-%.3fx over %d triples), "
          "pooled %.3fx (%.0f against %.0f rps)"
          % (median, q1, q3, len(ratios), pooled_scraped / pooled_quiet, pooled_scraped, pooled_quiet))

    if args.pid is not None:
        cpu = triples([p[3] / p[1] / 1000 for p in phases], kinds)
        q1, median, q3 = statistics.quantiles(cpu, n=4)
        us_scraped = sum(p[3] for p in phases if p[0]) / sum(p[1] for p in phases if p[0]) / 1000
        us_quiet = sum(p[3] for p in phases if not p[0]) / sum(p[1] for p in phases if not p[0]) / 1000
        print("scrape cost: scraped / quiet CPU per request: median %.3fx (quartiles %.3fx-%.3fx), "
              "pooled %.3fx (%.2f against %.2f us)"
              % (median, q1, q3, us_scraped / us_quiet, us_scraped, us_quiet))
        # The scrapes' own CPU: the admin thread's, above what it spent in quiet phases (where
        # it answered only the boundary reads), over the whole process's. On a saturated core
        # the requests per second lose that share.
        def per_second(scraped, k):
            chosen = [p for p in phases if p[0] == scraped]
            return sum(p[k] for p in chosen) / sum(p[2] for p in chosen)
        admin_extra = per_second(True, 4) - per_second(False, 4)
        share = admin_extra / per_second(True, 3)
        print("scrape cost: the admin thread's CPU for the scrapes: %.3f ms a scrape, %.2f %% of the "
              "sidecar's CPU (so RPS %.4fx with the core saturated)"
              % (admin_extra / 1e6 * args.interval, 100 * share, 1 - share))
    print("scrape cost: the scraper's own CPU, on the core wrk and the upstream share: %.3f ms a "
          "scrape" % (1000 * scraper_cpu / max(1, scrapes)))


if __name__ == "__main__":
    main()
