#!/usr/bin/env python3
"""Writes the demand traces in bench/traces/ (deterministic: no randomness here; the simulator
draws Poisson arrivals around these rates with its own seed).

Every trace but the llm_ ones is one model `m` with a 200 ms service time. With the simulator's
defaults (4 concurrent requests per replica, 70 % target utilization) 50 rps needs 4 replicas.

The llm_ traces are LLM-like: answers of `output_tokens` tokens decoded at MS_PER_TOKEN each, so a
request's service time is tokens x MS_PER_TOKEN (seconds, not milliseconds), and the trace carries
the fifth column the simulator counts completion tokens from."""
import math
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "traces")
SERVICE_MS = 200
MS_PER_TOKEN = 20  # 50 tokens/s per request; 4 at once per replica: 200 tokens/s per replica


def write(name, rows, comment):
    with open(os.path.join(OUT, name + ".csv"), "w") as f:
        f.write(f"# {comment}\n")
        f.write("t_seconds,model,arrival_rate_rps,service_time_ms\n")
        for t, rate in rows:
            f.write(f"{t:g},m,{rate:.3f},{SERVICE_MS}\n")


def write_llm(name, rows, comment, out=OUT):
    """rows: (t, model, rate, output_tokens)."""
    with open(os.path.join(out, name + ".csv"), "w") as f:
        f.write(f"# {comment}\n")
        f.write("t_seconds,model,arrival_rate_rps,service_time_ms,output_tokens\n")
        for t, model, rate, tokens in rows:
            f.write(f"{t:g},{model},{rate:.3f},{tokens * MS_PER_TOKEN:.0f},{tokens:.0f}\n")


def llm_traces():
    # Output length grows 3x (100 -> 300 tokens, 2 s -> 6 s) at a flat 2 rps, then the rate steps.
    grow = [(0, "chat", 2, 100)] + [(60 + 10 * i, "chat", 2, 100 + 200 * i / 30) for i in range(31)]
    grow += [(480, "chat", 4, 300), (780, "chat", 2, 300), (1080, "chat", 2, 300)]
    write_llm("llm_tokens", grow,
              "LLM: answers grow 100 -> 300 tokens (2 s -> 6 s) over 5 min at 2 rps, "
              "then 4 rps at 480 s for 5 min; 18 minutes")
    # Issue 20's shape: one model at 6 s per request stepping 2 -> 6 rps and back, another whose
    # answers grow from 3 s to 9 s at a flat rate.
    rows = [(0, "a", 2, 300), (0, "b", 1.5, 150), (120, "a", 6, 300)]
    rows += [(120 + 30 * i, "b", 1.5, 150 + 300 * i / 10) for i in range(1, 11)]
    rows += [(480, "a", 2, 300), (900, "a", 2, 300), (900, "b", 1.5, 450)]
    write_llm("llm_step", rows,
              "LLM: model a (6 s answers) 2 -> 6 rps at 120 s, back at 480 s; model b at 1.5 rps "
              "with answers growing 3 s -> 9 s from 120 s to 420 s; 15 minutes")


def extra_traces():
    """bench/traces/extra/, which bench/sim/run.sh reads only when asked (TRACES=extra): square
    waves of seconds-long requests, 3 rps +-30 % of 6 s answers (18 in flight at the mean), the
    shape that costs the clear fall for seconds-long requests a reversal (docs/policies.md); and
    bursts of 6 s answers that come back every 280-400 s, longer than a scale-down delay that only
    doubles on a reversal holds their replicas (llm_onoff); and a step down of 6 s answers, whose
    clear fall must not end under the lower rate's need on a window that read low
    (llm_step_down); and a ramp and a diurnal curve of 6 s answers (llm_ramp, llm_diurnal)."""
    out = os.path.join(OUT, "extra")
    os.makedirs(out, exist_ok=True)
    for period in (20, 60, 120, 240):
        rows = [(0, "m", 3, 300)]
        for t in range(60, 1860, period // 2):
            high = ((t - 60) // (period // 2)) % 2 == 0
            rows.append((t, "m", 3.9 if high else 2.1, 300))
        rows.append((1860, "m", 3, 300))
        write_llm(f"llm_square_{period}s", rows,
                  f"LLM square wave: 3 rps +-30 % of 6 s answers with a {period} s period after "
                  "60 s at the mean; 31 minutes", out)
    rows = [(0, "m", 2, 300)]
    for start, length in [(120, 30), (400, 60), (700, 20), (1000, 90), (1400, 45)]:
        rows += [(start, "m", 6, 300), (start + length, "m", 2, 300)]
    rows.append((1800, "m", 2, 300))
    write_llm("llm_onoff", rows,
              "LLM on/off: 2 rps of 6 s answers with five bursts to 6 rps of 20-90 s, 240-310 s "
              "apart; 30 minutes", out)
    write_llm("llm_step_down", [(0, "m", 6, 300), (300, "m", 2, 300), (900, "m", 2, 300)],
              "LLM step down: 6 rps of 6 s answers, 2 rps from 300 s; 15 minutes", out)
    ramp = [(0, "m", 1, 300)] + [(60 + 5 * i, "m", 1 + 7 * i / 120, 300) for i in range(121)]
    write_llm("llm_ramp", ramp + [(900, "m", 8, 300)],
              "LLM ramp: 6 s answers, 1 -> 8 rps from 60 s to 660 s, then flat; 15 minutes", out)
    write_llm("llm_diurnal", [(t, "m", 1 + 7 * (1 - math.cos(2 * math.pi * t / 3600)) / 2, 300)
                              for t in range(0, 3601, 5)],
              "LLM diurnal: 6 s answers, 1 rps at night, 8 rps at noon, a cosine between; an hour",
              out)


def main():
    os.makedirs(OUT, exist_ok=True)
    write("step", [(0, 50), (60, 200), (360, 50), (600, 50)],
          "step x4: 50 rps, 200 rps at 60 s for 5 minutes, back to 50 rps; 10 minutes")
    write("step_x2", [(0, 50), (60, 100), (360, 50), (600, 50)],
          "step x2: 50 rps, 100 rps at 60 s for 5 minutes, back to 50 rps; 10 minutes")
    write("ramp", [(0, 20)] + [(60 + i, 20 + 180 * i / 600) for i in range(601)] + [(900, 200)],
          "linear ramp 20 -> 200 rps from 60 s to 660 s, then flat; 15 minutes")
    for period in (10, 30, 120):
        rows = [(0, 100)]
        for t in range(60, 1860, period // 2):
            rows.append((t, 130 if ((t - 60) // (period // 2)) % 2 == 0 else 70))
        rows.append((1860, 100))
        write(f"square_{period}s", rows,
              f"square wave 100 rps +-30 % with a {period} s period after 60 s at the mean; 31 minutes")
    write("diurnal", [(t, 20 + 180 * (1 - math.cos(2 * math.pi * t / 3600)) / 2)
                      for t in range(0, 3601, 5)],
          "a day compressed into an hour: 20 rps at night, 200 rps at noon, a cosine between")
    write("spike", [(0, 50), (120, 400), (140, 50), (600, 50)],
          "short spike: 50 rps, 400 rps for 20 s at 120 s; 10 minutes")
    write("flat", [(0, 100), (1800, 100)], "flat 100 rps for 30 minutes")
    write("spike_tall", [(0, 50), (120, 800), (130, 50), (600, 50)],
          "tall narrow spike: 50 rps, 800 rps for 10 s at 120 s; 10 minutes")
    write("spike_wide", [(0, 50), (120, 150), (180, 50), (600, 50)],
          "wide low spike: 50 rps, 150 rps for 60 s at 120 s; 10 minutes")
    onoff, t = [(0, 20)], 60
    for on, off in [(15, 45), (40, 80), (10, 30), (25, 95), (60, 60), (20, 100)]:
        onoff += [(t, 160), (t + on, 20)]
        t += on + off
    onoff.append((t, 20))
    write("onoff", onoff, "bursty on/off: 20 rps with six bursts of 160 rps lasting 10-60 s")
    llm_traces()
    extra_traces()


if __name__ == "__main__":
    main()
