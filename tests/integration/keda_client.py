#!/usr/bin/python3
"""A KEDA-like client of lagscale-coordinator's external scaler, independent of the C++ code:
Python grpcio with stubs generated at start from the project's proto (python3-grpc-tools).

It behaves as KEDA does with an `external-push` trigger: it holds StreamIsActive open (reopening
it when it breaks), polls GetMetricSpec and GetMetrics every --poll seconds, and applies the HPA
formula to decide replicas: ratio = value / (target * current); inside the 10 % tolerance the
replicas stay, otherwise they become ceil(value / target) within [--min, --max]. An error leaves
the replicas alone (the HPA holds). Every event is appended to --events as one JSON line with
time.monotonic() (CLOCK_MONOTONIC, the clock C++'s steady_clock reads on Linux).

With --ca-cert (and --client-cert/--client-key) it dials TLS as KEDA does when a
TriggerAuthentication supplies caCert (and tlsClientCert/tlsClientKey): PEM files, the host of
--address as the name the server's certificate must carry.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time

import grpc

parser = argparse.ArgumentParser()
parser.add_argument("--address", required=True)
parser.add_argument("--proto-dir", required=True)
parser.add_argument("--events", required=True)
parser.add_argument("--gen-dir", required=True, help="where the generated stubs go")
parser.add_argument("--metadata", action="append", default=[], help="key=value")
parser.add_argument("--poll", type=float, default=0.5)
parser.add_argument("--min", type=int, default=1)
parser.add_argument("--max", type=int, default=100)
parser.add_argument("--ca-cert", help="PEM file: trust only this CA (KEDA's caCert)")
parser.add_argument("--client-cert", help="PEM file: present this certificate (tlsClientCert)")
parser.add_argument("--client-key", help="PEM file: its private key (tlsClientKey)")
args = parser.parse_args()

gen = args.gen_dir
os.makedirs(gen, exist_ok=True)
subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", args.proto_dir,
                "--python_out=" + gen, "--grpc_python_out=" + gen,
                os.path.join(args.proto_dir, "externalscaler", "externalscaler.proto")],
               check=True)
sys.path.insert(0, gen)
from externalscaler import externalscaler_pb2 as pb  # noqa: E402
from externalscaler import externalscaler_pb2_grpc as pb_grpc  # noqa: E402

lock = threading.Lock()
out = open(args.events, "a", buffering=1)


def emit(event, **fields):
    fields.update(event=event, t=time.monotonic())
    with lock:
        out.write(json.dumps(fields) + "\n")


ref = pb.ScaledObjectRef(name="keda-client", namespace="test")
# KEDA passes the trigger's whole metadata on, the address it dials included.
ref.scalerMetadata["scalerAddress"] = args.address
for kv in args.metadata:
    key, _, value = kv.partition("=")
    ref.scalerMetadata[key] = value

def read(path):
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


if args.ca_cert:
    credentials = grpc.ssl_channel_credentials(root_certificates=read(args.ca_cert),
                                               private_key=read(args.client_key),
                                               certificate_chain=read(args.client_cert))
    channel = grpc.secure_channel(args.address, credentials)
else:
    channel = grpc.insecure_channel(args.address)
stub = pb_grpc.ExternalScalerStub(channel)


def watch_activity():
    while True:
        try:
            for response in stub.StreamIsActive(ref, wait_for_ready=True):
                emit("active", value=response.result)
            emit("stream-ended")
        except grpc.RpcError as e:
            emit("stream-error", code=e.code().name, message=e.details())
        time.sleep(args.poll)  # KEDA retries a broken stream after a pause


def hpa_replicas(current, value, target):
    if target <= 0:
        return current
    ratio = value / (target * current) if current > 0 else math.inf
    if current > 0 and abs(ratio - 1.0) <= 0.1:
        return current
    return max(args.min, min(args.max, math.ceil(value / target)))


threading.Thread(target=watch_activity, daemon=True).start()
emit("started")
replicas = args.min
while True:
    started = time.monotonic()
    try:
        spec = stub.GetMetricSpec(ref, timeout=2).metricSpecs[0]
        request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=spec.metricName)
        value = stub.GetMetrics(request, timeout=2).metricValues[0]
        replicas = hpa_replicas(replicas, value.metricValueFloat, spec.targetSizeFloat)
        emit("poll", value=value.metricValueFloat, target=spec.targetSizeFloat,
             metric=spec.metricName, replicas=replicas)
    except grpc.RpcError as e:
        emit("error", code=e.code().name, message=e.details(), replicas=replicas)
    time.sleep(max(0.0, args.poll - (time.monotonic() - started)))
