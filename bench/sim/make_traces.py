#!/usr/bin/env python3
"""Writes the demand traces in bench/traces/ (deterministic: no randomness here; the simulator
draws Poisson arrivals around these rates with its own seed).

Every trace is one model `m` with a 200 ms service time. With the simulator's defaults
(4 concurrent requests per replica, 70 % target utilization) 50 rps needs 4 replicas."""
import math
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "traces")
SERVICE_MS = 200


def write(name, rows, comment):
    with open(os.path.join(OUT, name + ".csv"), "w") as f:
        f.write(f"# {comment}\n")
        f.write("t_seconds,model,arrival_rate_rps,service_time_ms\n")
        for t, rate in rows:
            f.write(f"{t:g},m,{rate:.3f},{SERVICE_MS}\n")


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


if __name__ == "__main__":
    main()
