// Chart checks on the values themselves: every value documented in values.yaml, and the values or
// combinations refused at render time (by the schema or by the chart's own checks), each with the
// message that names it.
import fs from "node:fs";
import path from "node:path";
import { YAML, assert, build, chartDir, eq, renderFails, test } from "./lib.mjs";

export async function valuesTests() {
  await test("values.yaml: every value carries a comment", () => {
    // Kubernetes objects passed through as they are are documented by the comment on their key.
    const passthrough = new Set(["resources", "podSecurityContext", "securityContext", "livenessProbe", "readinessProbe", "serverResources", "namespaceSelector", "selector", "behavior"]);
    const text = fs.readFileSync(path.join(chartDir, "values.yaml"), "utf8");
    const doc = YAML.parseDocument(text);
    const lines = text.split("\n");
    const lineOf = (offset) => text.slice(0, offset).split("\n").length - 1;
    const missing = [];
    // Each key's line must follow a comment line.
    const walk = (map, prefix) => map.items.forEach((pair) => {
      const key = `${prefix}${pair.key.value}`;
      if (!/^\s*#/.test(lines[lineOf(pair.key.range[0]) - 1] || "")) missing.push(key);
      if (YAML.isMap(pair.value) && !pair.value.flow && !passthrough.has(pair.key.value)) walk(pair.value, `${key}.`);
    });
    walk(doc.contents, "");
    eq(missing, [], "values without a comment");
  });

  const rejections = [
    [{ coordinator: { actuator: "kubectl" } }, "at '/coordinator/actuator': value must be one of 'kubernetes', 'webhook', 'dry-run'"],
    [{ coordinator: { replicas: 2, leaderElection: { enabled: false } } }, "coordinator.replicas is 2: more than one coordinator needs coordinator.leaderElection.enabled=true"],
    [{ coordinator: { actuator: "webhook" } }, "at '/coordinator/webhookUrl': '' does not match pattern '^https?://.+'"],
    [{ coordinator: { config: { reportTTL: 10 } } }, "at '/coordinator/config/reportTTL': got number, want string"],
    [{ coordinator: { config: { decisionInterval: "fast" } } }, "at '/coordinator/config/decisionInterval': 'fast' does not match pattern"],
    [{ coordinator: { config: { defaults: { policy: "magic" } } } }, "value must be one of 'target-tracking', 'lag-threshold'"],
    [{ coordinator: { config: { servers: [{ name: "s", placement: "everywhere" }] } } }, "at '/coordinator/config/servers/0/placement': value must be one of 'all', 'scheduled', 'one-to-one'"],
    [{ coordinator: { config: { models: [{ name: "m", target: { kind: "Model", name: "m" } }] } } }, "at '/coordinator/config/models/0/target': missing property 'apiVersion'"],
    [{ coordinator: { config: { models: [{ name: "m", maxReplicas: 0 }] } } }, "at '/coordinator/config/models/0/maxReplicas': minimum: got 0, want 1"],
    [{ coordinator: { config: { models: [{ name: "m", minReplicas: 3, maxReplicas: 2 }] } } }, "coordinator.config.models[0] (m): minReplicas (3) is greater than maxReplicas (2)"],
    [{ coordinator: { config: { models: [{ name: "m" }, { name: "m" }] } } }, "coordinator.config.models: \"m\" is listed twice"],
    // The coordinator scales these five kinds only (coordinator/src/config.cc) and refuses to start on
    // any other: the chart refuses them too, before anything is installed.
    [{ coordinator: { config: { models: [{ name: "iris", target: { apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", name: "iris", namespace: "ml" } }] } } }, "at '/coordinator/config/models/0/target/kind': value must be one of 'Model', 'Server', 'Deployment', 'StatefulSet', 'ReplicaSet'"],
    [{ coordinator: { config: { servers: [{ name: "s", placement: "all", target: { apiVersion: "v1", kind: "ReplicationController", name: "s" } }] } } }, "at '/coordinator/config/servers/0/target/kind': value must be one of 'Model', 'Server', 'Deployment', 'StatefulSet', 'ReplicaSet'"],
    [{ coordinator: { config: { servers: [{ name: "s", placement: "all", target: { apiVersion: "serving.kserve.io/v1beta1", kind: "InferenceService", name: "s" } }] } } }, "at '/coordinator/config/servers/0/target/kind': value must be one of"],
    [{ coordinator: { config: { models: [{ name: "iris", target: { apiVersion: "v1", kind: "Deployment", name: "iris" } }] } } }, "coordinator.config.models[0].target.apiVersion: invalid value \"v1\" (expected group/version: apps/v1 for Deployment, StatefulSet or ReplicaSet, mlops.seldon.io/v1alpha1 for Model or Server)"],
    [{ coordinator: { config: { models: [{ name: "iris", actuator: "keda", target: { apiVersion: "apps", kind: "Deployment", name: "iris" } }] } } }, "coordinator.config.models[0].target.apiVersion: invalid value \"apps\""],
    [{ rbac: { resourceOverrides: { Rollout: "rollouts" } } }, "at '/rbac': additional properties 'resourceOverrides' not allowed"],
    [{ coordinator: { confg: {} } }, "at '/coordinator': additional properties 'confg' not allowed"],
    [{ sidecar: { httpPort: 70000 } }, "at '/sidecar/httpPort': maximum: got 70,000, want 65,535"],
    [{ sidecar: { coordinatorAddress: "no-port" } }, "at '/sidecar/coordinatorAddress'"],
    [{ sidecar: { grpcEngine: "envoy" } }, "at '/sidecar/grpcEngine': value must be one of 'frames', 'calls'"],
    [{ sidecar: { idleTimeout: "forever" } }, "at '/sidecar/idleTimeout': 'forever' does not match pattern"],
    [{ hpa: { approach: 1 } }, "at '/hpa/approach': value must be one of 2, 3"],
    [{ hpa: { models: [{ name: "iris", maxReplicas: 3, metric: "cpu" }] } }, "at '/hpa/models/0/metric': value must be one of 'lagscale_model_concurrency', 'lagscale_model_lag'"],
    [{ seldon: { enabled: "yes" } }, "at '/seldon/enabled': got string, want boolean"],
  ];
  // Combinations each value allows but the cluster would not: refused at render time, naming the
  // values, instead of a crash-looping coordinator or a broken rollout.
  const noToken = { auth: { generate: false } };
  rejections.push(
    [{ coordinator: { leaderElection: { leaseDuration: "10s", renewDeadline: "15s" } } }, "coordinator.leaderElection.leaseDuration: 10s must exceed the renew deadline (coordinator.leaderElection.renewDeadline 15s)"],
    [{ coordinator: { leaderElection: { renewDeadline: "2s", retryPeriod: "5s" } } }, "coordinator.leaderElection.renewDeadline: 2s must exceed 1.2 x the retry period (coordinator.leaderElection.retryPeriod 5s)"],
    [{ coordinator: { leaderElection: { renewDeadline: "1200ms", retryPeriod: "1s" } } }, "coordinator.leaderElection.renewDeadline: 1200ms must exceed 1.2 x the retry period"],
    [{ coordinator: { leaderElection: { leaseDuration: "2h" } } }, "coordinator.leaderElection.leaseDuration: 2h is over the maximum of 1h"],
    [{ coordinator: { config: { models: [{ name: "iris", minReplicas: 30 }] } } }, "coordinator.config.models[0] (iris): minReplicas (30) is greater than maxReplicas (10, from coordinator.config.defaults)"],
    [{ coordinator: { config: { defaults: { minReplicas: 4 }, models: [{ name: "iris", maxReplicas: 3 }] } } }, "coordinator.config.models[0] (iris): minReplicas (4, from coordinator.config.defaults) is greater than maxReplicas (3)"],
    [{ coordinator: { config: { servers: [{ name: "s", placement: "all", minReplicas: 11 }] } } }, "coordinator.config.servers[0] (s): minReplicas (11) is greater than maxReplicas (10, from the coordinator's default)"],
    [{ coordinator: { grpcPort: 8080 } }, "coordinator.grpcPort and coordinator.httpPort are both 8080: the coordinator listens on each in one container, so they must all differ"],
    [{ ...noToken, injector: { enabled: true, port: 8080 } }, "coordinator.httpPort and injector.port are both 8080"],
    [{ server: { enabled: true }, sidecar: { httpPort: 9090 } }, "sidecar.httpPort and sidecar.adminPort are both 9090: the sidecar's ports and the inference server's it forwards to share the pod, so they must all differ"],
    [{ server: { enabled: true }, sidecar: { httpPort: 9000 } }, "sidecar.httpPort and sidecar.upstreamHttpPort are both 9000"],
    [{ sidecar: { grpcPort: 9001 } }, "sidecar.grpcPort and sidecar.upstreamGrpcPort are both 9001"],
    [{ ...noToken, injector: { enabled: true, tls: { source: "cert-manager", certManager: { issuerRef: { kind: "ClusterIssuer" } } } } }, "at '/injector/tls/certManager/issuerRef': missing property 'name'"],
    [{ coordinator: { enabled: false }, server: { enabled: true } }, "coordinator.enabled is false and sidecar.coordinatorAddress is empty: the sidecars of server.enabled would report to rel-lagscale.ml.svc:7070, a Service this release does not render; set sidecar.coordinatorAddress"],
    [{ coordinator: { enabled: false }, seldon: { serverConfig: { enabled: true } } }, "the sidecars of seldon.serverConfig.enabled would report to rel-lagscale.ml.svc:7070"],
    [{ coordinator: { enabled: false }, keda: { enabled: true } }, "keda.enabled needs coordinator.enabled"],
    [{ coordinator: { podDisruptionBudget: { maxUnavailable: 5 } } }, "coordinator.podDisruptionBudget.maxUnavailable (5) is not below coordinator.replicas (2): a drain could evict every coordinator at once"],
    [{ coordinator: { replicas: 3, podDisruptionBudget: { maxUnavailable: 3 } } }, "use at most 2, or podDisruptionBudget.enabled=false"],
    [{ ...noToken, injector: { enabled: true, failurePolicy: "Fail" }, coordinator: { replicas: 0 } }, "injector.failurePolicy is Fail and coordinator.replicas is 0: with no coordinator to answer the webhook, the API server would refuse every new pod the webhook selects"],
  );
  await test("combinations next to those refused still render", async () => {
    await build({ coordinator: { leaderElection: { leaseDuration: "1m", renewDeadline: "500ms", retryPeriod: "400ms" } } });
    await build({ coordinator: { config: { models: [{ name: "iris", minReplicas: 10 }], servers: [{ name: "s", placement: "all", maxReplicas: 1 }] } } });
    await build({ coordinator: { replicas: 3, podDisruptionBudget: { maxUnavailable: 2 } } });
    await build({ coordinator: { replicas: 0 }, injector: { enabled: true, failurePolicy: "Ignore" }, ...noToken });
    await build({ sidecar: { grpcPort: 0, upstreamGrpcPort: 8000 } });
    await build({ ...noToken, injector: { enabled: true, tls: { source: "cert-manager", certManager: { issuerRef: { name: "corp-ca", kind: "ClusterIssuer" } } } } });
  });

  for (const [values, message] of rejections) {
    await test(`schema rejects ${JSON.stringify(values)}`, async () => {
      const err = renderFails(values);
      assert(err.includes(message), `expected message containing:\n  ${message}\ngot:\n  ${err.trim()}`);
    });
  }
}
