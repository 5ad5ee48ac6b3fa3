#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_report_sequence (corpus/report_sequence/): readable report
sequences encoded the way report_sequence_fuzz.cc reads them with FuzzedDataProvider, which takes
integers and booleans from the END of the input, most significant byte first."""
import os


class Seq:
    def __init__(self):
        self.consumed = []  # bytes in the order the target consumes them

    def int(self, value, range_size):
        n = (range_size.bit_length() + 7) // 8
        self.consumed += [(value >> (8 * (n - 1 - i))) & 0xFF for i in range(n)]

    def bool(self, b):
        self.consumed.append(1 if b else 0)

    def report(self, pod, server, incarnation, plausible_seq=True, snap_step=1_000_000_000,
               models=()):
        self.int(0, 3)                 # op: a report
        self.int(pod, 2)
        self.bool(server == 0)         # s0 when true
        self.int(incarnation - 1, 1)
        self.bool(plausible_seq)       # Wild(sequence)
        if not plausible_seq:
            self.int(0, 2**64 - 1)
        self.int(snap_step, 3_000_000_000)
        self.bool(True)                # Wild(snapshot)
        self.bool(True)                # Wild(report_unix_ms)
        self.bool(False)               # early
        self.int(len(models), 3)
        for m, arrivals, completions, inflight_wild in models:
            self.int(m, 2)
            self.int(arrivals, 50)
            self.int(completions, 50)
            self.int(2**62, 2**64 - 1)  # busy delta: ConsumeProbability (8 bytes)
            self.bool(True)             # Wild(arrivals)
            self.bool(True)             # Wild(success)
            self.bool(True)             # timeout 0
            self.bool(True)             # plausible busy seconds
            self.bool(inflight_wild is None)
            if inflight_wild is not None:
                self.int((inflight_wild + 2**63) % 2**64, 2**64 - 1)  # int64: min + value
            self.bool(True)             # Wild(last_request_unix_ms)

    def decide(self, ns):
        self.int(3, 3)
        self.int(ns, 20_000_000_000)

    def bytes(self):
        return bytes(reversed(self.consumed))


def write(name, seq):
    path = os.path.join(os.path.dirname(__file__), "corpus", "report_sequence", name)
    with open(path, "wb") as f:
        f.write(seq.bytes())


s = Seq()  # one pod, steady load on two models, decided every second
for i in range(6):
    s.report(0, 0, 1, models=[(0, 10, 9, None), (1, 5, 5, None)])
    s.decide(1_000_000_000)
write("steady", s)

s = Seq()  # a pod restarts (new incarnation) and a second pod joins
s.report(0, 1, 1, models=[(0, 20, 10, None)])
s.decide(1_000_000_000)
s.report(0, 1, 2, models=[(0, 1, 0, None)])
s.report(1, 1, 1, models=[(0, 3, 3, None), (2, 7, 1, None)])
s.decide(1_000_000_000)
write("restart", s)

s = Seq()  # absurd in-flight, then silence past the TTL
s.report(2, 0, 1, models=[(1, 0, 0, 2**40)])
s.report(2, 0, 1, models=[(1, 1, 0, -5)])
s.decide(500_000_000)
s.decide(15_000_000_000)
write("absurd_inflight_then_expiry", s)

s = Seq()  # a duplicate and an out-of-order sequence number
s.report(0, 0, 1, models=[(2, 4, 4, None)])
s.report(0, 0, 1, plausible_seq=False, models=[(2, 8, 8, None)])
s.decide(2_000_000_000)
write("out_of_order", s)
