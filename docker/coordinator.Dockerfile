# syntax=docker/dockerfile:1
# lagscale-coordinator: the scaling coordinator (gRPC LagService :7070, HTTP status/metrics :8080).
#   docker build -f docker/coordinator.Dockerfile -t lagscale/lagscale-coordinator .    (from the repository root)
# Two stages: a Debian 12 build stage with the project's toolchain (scripts/install-deps.sh), and a
# slim Debian 12 runtime stage with only the shared libraries the binary loads, as a non-root user.

ARG DEBIAN_IMAGE=debian:12-slim

FROM ${DEBIAN_IMAGE} AS build
# Dependencies first, as their own layer: rebuilt only when the dependency list changes.
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN bash /src/scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
# Only the folders the binaries are built from (no tests, benchmarks, build trees or tools).
COPY CMakeLists.txt /src/
COPY cmake /src/cmake
COPY base /src/base
COPY proto /src/proto
COPY metrics /src/metrics
COPY proxy /src/proxy
COPY scaler-client /src/scaler-client
COPY coordinator /src/coordinator
COPY sidecar /src/sidecar
COPY tools /src/tools
COPY docker/runtime-packages.sh /src/docker/runtime-packages.sh
WORKDIR /src
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DLAGSCALE_BUILD_TESTS=OFF -DLAGSCALE_BUILD_BENCH=OFF \
 && ninja -C /build lagscale-coordinator \
 && strip /build/bin/lagscale-coordinator \
 && install -D -m 0755 /build/bin/lagscale-coordinator /out/usr/local/bin/lagscale-coordinator \
 && bash docker/runtime-packages.sh /build/bin/lagscale-coordinator > /out/runtime-packages \
 && cat /out/runtime-packages

FROM ${DEBIAN_IMAGE}
# Runtime libraries exactly as the binary needs them (computed from ldd in the build stage).
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && groupadd --system --gid 65532 lagscale \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin lagscale
COPY --from=build /out/usr/local/bin/lagscale-coordinator /usr/local/bin/lagscale-coordinator
# Fails the image build if a shared library is missing.
RUN /usr/local/bin/lagscale-coordinator --version
# Numeric user so Kubernetes can verify runAsNonRoot.
USER 65532:65532
EXPOSE 7070 8080
ENTRYPOINT ["/usr/local/bin/lagscale-coordinator"]
CMD ["--config=/etc/lagscale/config.yaml"]
