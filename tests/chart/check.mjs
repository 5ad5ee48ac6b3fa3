// Chart tests: helm lint/template for the default values and every option, schema validation of
// every rendered object, and assertions on what users and the cluster depend on.
import fs from "node:fs";
import path from "node:path";
import {
  YAML, assert, build, chartDir, common, envOf, eq, finish, find, helm, one, portsOf, render,
  renderFails, roles, sha256, test, tmp,
} from "./lib.mjs";
import { dockerfileTests } from "./dockerfiles.mjs";
import { injectorTests } from "./injector.mjs";
import { kedaTests } from "./keda.mjs";
import { reportTlsTests } from "./report-tls.mjs";
import { leaderTests } from "./leader.mjs";
import { hpaModels, monitoringTests } from "./monitoring.mjs";
import { networkPolicyTests } from "./networkpolicy.mjs";
import { valuesTests } from "./values.mjs";

const defaults = YAML.parse(fs.readFileSync(path.join(chartDir, "values.yaml"), "utf8"));
const NS = "ml";
const FULL = "rel-lagscale";
const configOf = (objs) => YAML.parse(one(objs, "ConfigMap", FULL).data["config.yaml"]);
const sidecarOf = (spec) => spec.containers.find((c) => c.name === "lagscale-sidecar");

// The sidecar contract: ports, env (POD_NAME from the downward API, coordinator address), probes.
function checkSidecar(c, { http = 8000, grpc = 8001, admin = 9090, upHttp = 9000, upGrpc = 9001, coordinator = `${FULL}.${NS}.svc:7070`, server, grpcEngine = "frames", idleTimeout = "60s" } = {}) {
  assert(c, "no lagscale-sidecar container");
  const want = { "lagscale-http": http, "lagscale-admin": admin };
  if (grpc) want["lagscale-grpc"] = grpc;
  eq(portsOf(c), want, "sidecar ports");
  const env = envOf(c);
  eq(env.POD_NAME, { fieldRef: { fieldPath: "metadata.name" } }, "POD_NAME from the downward API");
  eq(env.LAGSCALE_LISTEN, `0.0.0.0:${http}`, "LAGSCALE_LISTEN");
  eq(env.LAGSCALE_UPSTREAM, `127.0.0.1:${upHttp}`, "LAGSCALE_UPSTREAM");
  eq(env.LAGSCALE_ADMIN, `0.0.0.0:${admin}`, "LAGSCALE_ADMIN");
  eq(env.LAGSCALE_COORDINATOR, coordinator, "LAGSCALE_COORDINATOR");
  eq(env.LAGSCALE_GRPC_LISTEN, grpc ? `0.0.0.0:${grpc}` : "", "LAGSCALE_GRPC_LISTEN");
  eq(env.LAGSCALE_GRPC_UPSTREAM, grpc ? `127.0.0.1:${upGrpc}` : undefined, "LAGSCALE_GRPC_UPSTREAM");
  eq(env.LAGSCALE_GRPC_ENGINE, grpc ? grpcEngine : undefined, "LAGSCALE_GRPC_ENGINE");
  eq(env.LAGSCALE_IDLE_TIMEOUT, idleTimeout, "LAGSCALE_IDLE_TIMEOUT");
  eq(env.LAGSCALE_SERVER_NAME, server, "LAGSCALE_SERVER_NAME");
  for (const name of Object.keys(env)) assert(name === "POD_NAME" || name.startsWith("LAGSCALE_"), `unexpected env ${name}`);
  eq(c.readinessProbe.httpGet, { path: "/readyz", port: "lagscale-admin" }, "sidecar readiness probe");
  eq(c.livenessProbe.httpGet, { path: "/healthz", port: "lagscale-admin" }, "sidecar liveness probe");
}
// RBAC as {namespace or "<cluster>": [rules]} for compact exact comparisons.
function rbacByNs(objs) {
  return Object.fromEntries(roles(objs).map((r) => [r.metadata.namespace ?? "<cluster>", r.rules]));
}
const scaleRule = (group, resource, names) => ({
  apiGroups: [group], resources: [`${resource}/scale`], verbs: ["get", "patch"], ...(names ? { resourceNames: names } : {}),
});
// The coordinator GETs each target object itself (spec.replicas, a Seldon kind's bounds).
const getRule = (group, resource, names) => ({
  apiGroups: [group], resources: [resource], verbs: ["get"], ...(names ? { resourceNames: names } : {}),
});
const targetRules = (group, resource, names) => [getRule(group, resource, names), scaleRule(group, resource, names)];
// Leader election (on by default): get/update on the Lease by name, create without names (RBAC
// cannot limit create by name), in the release namespace. tests/chart/leader.mjs checks the rest.
const leaseRules = [
  { apiGroups: ["coordination.k8s.io"], resourceNames: [FULL], resources: ["leases"], verbs: ["get", "update"] },
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
];
const seldonRead = { apiGroups: ["mlops.seldon.io"], resources: ["models", "servers"], verbs: ["get", "list", "watch"] };

// A config with targets of three kinds in two namespaces.
const targetsConfig = {
  servers: [
    { name: "mlserver", placement: "scheduled", minReplicas: 1, maxReplicas: 8, capacityMemory: "16Gi", drainDelay: "30s",
      target: { apiVersion: "mlops.seldon.io/v1alpha1", kind: "Server", name: "mlserver", namespace: "seldon-mesh" } },
    { name: "triton", placement: "all", minReplicas: 2, maxReplicas: 6,
      target: { apiVersion: "apps/v1", kind: "StatefulSet", name: "triton" } },
    { name: "kserve", placement: "one-to-one", maxReplicas: 3,
      target: { apiVersion: "apps/v1", kind: "Deployment", name: "sklearn-predictor", namespace: "serving" } },
  ],
  models: [
    { name: "iris", server: "mlserver", minReplicas: 1, maxReplicas: 5, targetConcurrency: 2, memory: "2Gi",
      target: { apiVersion: "mlops.seldon.io/v1alpha1", kind: "Model", name: "iris", namespace: "seldon-mesh" } },
    { name: "wine", server: "mlserver", policy: "lag-threshold", lagThreshold: 10, idleWindow: "5m",
      target: { apiVersion: "mlops.seldon.io/v1alpha1", kind: "Model", name: "wine", namespace: "seldon-mesh" } },
    { name: "resnet", server: "triton", targetConcurrency: 4 },
  ],
};

await test("default values: lint, render, schema-valid", async () => {
  const objs = await build(undefined);
  eq(objs.map((o) => o.kind).sort(), ["ConfigMap", "ConfigMap", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding", "Secret", "Service", "ServiceAccount"], "default objects (the Secret: the generated report token)");
});

await test("coordinator Deployment: non-root, read-only, probes, args, config checksum", async () => {
  const objs = render(undefined);
  const d = one(objs, "Deployment", FULL);
  const pod = d.spec.template;
  const c = pod.spec.containers[0];
  eq(d.spec.replicas, 2, "replicas (leader election on)");
  eq(d.spec.strategy.type, "RollingUpdate", "strategy (the Lease keeps one writer)");
  eq(pod.spec.securityContext.runAsNonRoot, true, "pod runAsNonRoot");
  eq(c.livenessProbe.httpGet, { path: "/healthz", port: "http" }, "liveness probe");
  eq(c.readinessProbe.httpGet, { path: "/readyz", port: "http" }, "readiness probe");
  eq(portsOf(c), { grpc: 7070, http: 8080 }, "container ports");
  eq(c.args.slice(0, 6), ["--config=/etc/lagscale/config.yaml", "--grpc-listen=0.0.0.0:7070", "--http-listen=0.0.0.0:8080", "--actuator=kubernetes", "--token-file=/var/run/lagscale/auth/token", "--log-level=info"], "args");
  const mount = c.volumeMounts.find((m) => m.mountPath === "/etc/lagscale");
  eq(pod.spec.volumes.find((v) => v.name === mount.name).configMap.name, FULL, "config volume");
  const text = one(objs, "ConfigMap", FULL).data["config.yaml"];
  eq(pod.metadata.annotations["checksum/config"], sha256(text.replace(/\n$/, "")), "checksum of the rendered config");
  const other = one(render({ coordinator: { config: { reportTTL: "20s" } } }), "Deployment", FULL);
  assert(other.spec.template.metadata.annotations["checksum/config"] !== pod.metadata.annotations["checksum/config"], "checksum does not change with the config");
  eq(pod.metadata.annotations["prometheus.io/scrape"], "true", "prometheus.io/scrape");
  eq(pod.metadata.annotations["prometheus.io/port"], "8080", "prometheus.io/port");
});

await test("coordinator Service: grpc 7070 and http 8080 to the named container ports", async () => {
  const objs = render(undefined);
  const s = one(objs, "Service", FULL);
  eq(s.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [["grpc", 7070, "grpc"], ["http", 8080, "http"]], "ports");
  eq(s.spec.selector, one(objs, "Deployment", FULL).spec.selector.matchLabels, "selector matches the pods");
});

await test("ConfigMap equals the default coordinator config plus the seldon section", async () => {
  eq(configOf(render(undefined)), { ...defaults.coordinator.config, seldon: { enabled: false, namespace: "seldon-mesh" } }, "config");
});

await test("ConfigMap equals the values asked for (servers, models, overrides)", async () => {
  const config = { ...targetsConfig, reportTTL: "5s", decisionInterval: "100ms", windows: ["5s"], defaults: { ...defaults.coordinator.config.defaults, maxReplicas: 20, tolerance: 0.25 } };
  const objs = await build({ coordinator: { config } });
  // triton's target names no namespace: the chart writes in the release's.
  const servers = config.servers.map((s) => (s.name === "triton" ? { ...s, target: { ...s.target, namespace: NS } } : s));
  eq(configOf(objs), { ...config, servers, limits: defaults.coordinator.config.limits, seldon: { enabled: false, namespace: "seldon-mesh" } }, "config");
});

await test("a target without a namespace is the release namespace's, in the config as in the RBAC", async () => {
  const target = { apiVersion: "apps/v1", kind: "Deployment", name: "iris" };
  const objs = await build({ coordinator: { config: {
    models: [{ name: "iris", minReplicas: 1, maxReplicas: 5, target }],
    servers: [{ name: "triton", placement: "all", target: { apiVersion: "apps/v1", kind: "StatefulSet", name: "triton", namespace: "serving" } }],
  } } });
  const cfg = configOf(objs);
  eq(cfg.models[0].target, { ...target, namespace: NS }, "the coordinator reads the release namespace, not its own default");
  eq(cfg.servers[0].target.namespace, "serving", "an explicit namespace is kept");
  eq(Object.keys(rbacByNs(objs)).sort(), [NS, "serving"], "RBAC in the same namespaces");
});

await test("RBAC: get on each target and get/patch on its scale, exactly the configured kinds and names, per namespace", async () => {
  const objs = await build({ coordinator: { config: targetsConfig } });
  eq(rbacByNs(objs), {
    ml: [...targetRules("apps", "statefulsets", ["triton"]), ...leaseRules],
    serving: targetRules("apps", "deployments", ["sklearn-predictor"]),
    "seldon-mesh": [...targetRules("mlops.seldon.io", "models", ["iris", "wine"]), ...targetRules("mlops.seldon.io", "servers", ["mlserver"])],
  }, "rules");
  for (const b of find(objs, "RoleBinding")) {
    eq(b.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: FULL }, "roleRef");
    eq(b.subjects, [{ kind: "ServiceAccount", name: FULL, namespace: NS }], "subjects");
  }
  eq(find(objs, "RoleBinding").map((b) => b.metadata.namespace).sort(), ["ml", "seldon-mesh", "serving"], "bindings");
  eq(one(objs, "Deployment", FULL).spec.template.spec.automountServiceAccountToken, true, "token mounted");
});

await test("RBAC: clusterWide gives one ClusterRole with the same rules", async () => {
  const objs = await build({ coordinator: { config: targetsConfig }, rbac: { clusterWide: true } });
  eq(find(objs, "Role").map((r) => [r.metadata.namespace, r.rules]), [[NS, leaseRules]], "only the Lease's Role is namespaced");
  eq(rbacByNs(objs), { ml: leaseRules, "<cluster>": [
    ...targetRules("apps", "deployments", ["sklearn-predictor"]), ...targetRules("apps", "statefulsets", ["triton"]),
    ...targetRules("mlops.seldon.io", "models", ["iris", "wine"]), ...targetRules("mlops.seldon.io", "servers", ["mlserver"]),
  ] }, "rules");
  const b = one(objs, "ClusterRoleBinding");
  eq(b.roleRef.name, one(objs, "ClusterRole").metadata.name, "binding refers to the role");
  eq(b.subjects, [{ kind: "ServiceAccount", name: FULL, namespace: NS }], "subjects");
});

await test("RBAC: a ServiceAccount not created by the chart must be named, never the namespace's default", async () => {
  const err = renderFails({ serviceAccount: { create: false } });
  assert(err.includes("serviceAccount.create is false and serviceAccount.name is empty: rbac.create would bind the coordinator's Role to the namespace's \"default\" ServiceAccount"), err);
  const named = await build({ serviceAccount: { create: false, name: "lagscale-coordinator" } });
  eq(find(named, "ServiceAccount").length, 0, "no ServiceAccount rendered");
  eq(one(named, "RoleBinding", FULL).subjects, [{ kind: "ServiceAccount", name: "lagscale-coordinator", namespace: NS }], "bound to the named one");
  eq(one(named, "Deployment", FULL).spec.template.spec.serviceAccountName, "lagscale-coordinator", "the coordinator runs as it");
  eq(roles(await build({ serviceAccount: { create: false }, rbac: { create: false } })).length, 0, "rbac.create=false: nothing is bound, so the default is allowed");
});

await test("RBAC: dry-run and webhook actuators get no API access", async () => {
  for (const coordinator of [{ actuator: "dry-run" }, { actuator: "webhook", webhookUrl: "http://hook.ml.svc:8080/admin/scale" }]) {
    const single = { replicas: 1, leaderElection: { enabled: false } };
    const objs = await build({ coordinator: { ...coordinator, ...single, config: targetsConfig } });
    eq(roles(objs).length, 0, `${coordinator.actuator}: roles`);
    eq(one(objs, "Deployment", FULL).spec.template.spec.automountServiceAccountToken, false, `${coordinator.actuator}: token mounted`);
    const args = one(objs, "Deployment", FULL).spec.template.spec.containers[0].args;
    assert(args.includes(`--actuator=${coordinator.actuator}`), `${coordinator.actuator}: args ${args}`);
    if (coordinator.webhookUrl) assert(args.includes(`--webhook-url=${coordinator.webhookUrl}`), "webhook url flag");
  }
});

await test("RBAC: the coordinator may read each target before it writes (a new leader holds every write until it has)", async () => {
  const objs = await build({ coordinator: { config: { models: [{ name: "iris", target: { apiVersion: "apps/v1", kind: "Deployment", name: "iris", namespace: "ml" } }] } } });
  // KubernetesActuator::Read GETs /apis/apps/v1/namespaces/ml/deployments/iris: the object, not /scale.
  const rules = rbacByNs(objs).ml;
  assert(rules.some((r) => r.resources.includes("deployments") && r.verbs.includes("get") && r.resourceNames?.includes("iris")), `no get on deployments/iris: ${JSON.stringify(rules)}`);
  assert(!rules.some((r) => r.resources.includes("deployments") && r.verbs.includes("patch")), "patch only on the scale subresource");
  eq(rbacByNs(await build({ rbac: { restrictToNames: false }, coordinator: { config: { models: [{ name: "iris", target: { apiVersion: "apps/v1", kind: "Deployment", name: "iris" } }] } } })).ml.slice(0, 2),
    targetRules("apps", "deployments"), "restrictToNames=false drops the names from both");
  // Seldon mode reads targets whatever the actuator: a Deployment elsewhere needs its own get; a
  // Model in the Seldon namespace is covered by the Seldon read rule.
  const dry = await build({ seldon: { enabled: true }, coordinator: { actuator: "dry-run", config: { models: [
    { name: "iris", target: { apiVersion: "apps/v1", kind: "Deployment", name: "iris", namespace: "serving" } },
    { name: "wine", target: { apiVersion: "mlops.seldon.io/v1alpha1", kind: "Model", name: "wine", namespace: "seldon-mesh" } },
  ] } } });
  eq(rbacByNs(dry), { ml: leaseRules, serving: [getRule("apps", "deployments", ["iris"])], "seldon-mesh": [seldonRead] }, "Seldon mode, dry-run: reads only");
});

await test("Seldon mode: read Models/Servers and scale any of them, only in the Seldon namespace", async () => {
  const objs = await build({ seldon: { enabled: true, namespace: "models" } });
  eq(rbacByNs(objs), { ml: leaseRules, models: [seldonRead, scaleRule("mlops.seldon.io", "models"), scaleRule("mlops.seldon.io", "servers")] }, "rules");
  eq(configOf(objs).seldon, { enabled: true, namespace: "models" }, "config seldon section");
  const dry = await build({ seldon: { enabled: true }, coordinator: { actuator: "dry-run" } });
  eq(rbacByNs(dry), { ml: leaseRules, "seldon-mesh": [seldonRead] }, "dry-run in Seldon mode only reads (and elects)");
});

await test("example server: sidecar injected with ports, env and coordinator address", async () => {
  const objs = await build({ server: { enabled: true } });
  const d = one(objs, "Deployment", `${FULL}-testserver`);
  const spec = d.spec.template.spec;
  checkSidecar(sidecarOf(spec), { server: "testserver" });
  const server = spec.containers.find((c) => c.name === "server");
  eq(server.image, "lagscale/lagscale-testserver:0.1.0", "test server image");
  eq(server.args, ["--http=127.0.0.1:9000", "--grpc=127.0.0.1:9001"], "test server listens where the sidecar forwards");
  eq(d.spec.template.metadata.annotations["prometheus.io/port"], "9090", "scrape the sidecar admin port");
  const svc = one(objs, "Service", `${FULL}-testserver`);
  eq(svc.spec.ports.map((p) => [p.port, p.targetPort]), [[8000, "lagscale-http"], [8001, "lagscale-grpc"], [9090, "lagscale-admin"]], "service goes through the sidecar");
  const cfg = configOf(objs);
  eq(cfg.servers, [{ name: "testserver", placement: "all", minReplicas: 1, maxReplicas: 5, target: { apiVersion: "apps/v1", kind: "Deployment", name: `${FULL}-testserver`, namespace: NS } }], "autoscaled server in the config");
  eq(rbacByNs(objs), { ml: [...targetRules("apps", "deployments", [`${FULL}-testserver`]), ...leaseRules] }, "rules");
});

await test("example server: gRPC off, custom image, address and idle limit, token secret", async () => {
  const objs = await build({
    server: { enabled: true, autoscale: false, image: { repository: "my/server", tag: "1.2" }, args: ["--port=9000"] },
    sidecar: { grpcPort: 0, coordinatorAddress: "lagscale.infra.svc:7070", idleTimeout: "5m" },
    auth: { existingSecret: "lagscale-token" },
  });
  const spec = one(objs, "Deployment", `${FULL}-testserver`).spec.template.spec;
  const c = sidecarOf(spec);
  checkSidecar(c, { grpc: 0, coordinator: "lagscale.infra.svc:7070", server: "testserver", idleTimeout: "5m" });
  eq(envOf(c).LAGSCALE_COORDINATOR_TOKEN_FILE, "/var/run/lagscale/auth/token", "token file env");
  eq(spec.volumes, [{ name: "lagscale-auth", secret: { secretName: "lagscale-token" } }], "token volume");
  eq(spec.containers.find((x) => x.name === "server").image, "my/server:1.2", "custom image");
  eq(configOf(objs).servers, [], "not autoscaled");
  const coord = one(objs, "Deployment", FULL).spec.template.spec;
  assert(coord.containers[0].args.includes("--token-file=/var/run/lagscale/auth/token"), "coordinator checks the token");
});

await test("image.registry prefixes lagscale's images, never a server image the user names in full", async () => {
  const spec = (values) => one(render(values), "Deployment", `${FULL}-testserver`).spec.template.spec;
  const image = (s, name) => s.containers.find((c) => c.name === name).image;
  let s = spec({ server: { enabled: true, image: { repository: "nvcr.io/nvidia/tritonserver", tag: "24.01-py3" } }, image: { registry: "reg.example.com/mirror/" } });
  eq(image(s, "server"), "nvcr.io/nvidia/tritonserver:24.01-py3", "the user's server image, as named");
  eq(image(s, "lagscale-sidecar"), "reg.example.com/mirror/lagscale/lagscale-sidecar:0.1.0", "the sidecar from the registry");
  s = spec({ server: { enabled: true }, image: { registry: "reg.example.com" } });
  eq(image(s, "server"), "reg.example.com/lagscale/lagscale-testserver:0.1.0", "the project's test server from the registry");
  const coordinator = one(render({ image: { registry: "reg.example.com" } }), "Deployment", FULL).spec.template.spec.containers[0];
  eq(coordinator.image, "reg.example.com/lagscale/lagscale-coordinator:0.1.0", "the coordinator from the registry");
});

await test("an image digest pins lagscale's images by digest; a digest in the tag is refused", async () => {
  const digest = `sha256:${"a1".repeat(32)}`;
  const objs = await build({ server: { enabled: true }, image: { registry: "reg.example.com", coordinator: { digest }, sidecar: { tag: "0.2.0", digest } } });
  eq(one(objs, "Deployment", FULL).spec.template.spec.containers[0].image, `reg.example.com/lagscale/lagscale-coordinator@${digest}`, "coordinator");
  const pod = one(objs, "Deployment", `${FULL}-testserver`).spec.template.spec;
  eq(pod.containers.map((c) => c.image).sort(), [`reg.example.com/lagscale/lagscale-sidecar@${digest}`, "reg.example.com/lagscale/lagscale-testserver:0.1.0"], "sidecar by digest, test server by tag");
  const err = renderFails({ image: { coordinator: { tag: `@${digest}` } } });
  assert(err.includes("at '/image/coordinator/tag'"), err);
});

await test("named template in a user's chart: include \"lagscale.sidecar\" .Subcharts.lagscale", async () => {
  const parent = path.join(tmp, "parent");
  fs.mkdirSync(path.join(parent, "templates"), { recursive: true });
  fs.cpSync(chartDir, path.join(parent, "charts/lagscale"), { recursive: true });
  fs.writeFileSync(path.join(parent, "Chart.yaml"), "apiVersion: v2\nname: serving\nversion: 1.0.0\ndependencies:\n  - name: lagscale\n    version: 0.1.0\n");
  fs.writeFileSync(path.join(parent, "templates/triton.yaml"), `apiVersion: apps/v1
kind: Deployment
metadata:
  name: triton
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
spec:
  selector: {matchLabels: {app: triton}}
  template:
    metadata:
      labels: {app: triton}
      annotations:
        {{- include "lagscale.sidecarPodAnnotations" .Subcharts.lagscale | nindent 8 }}
    spec:
      volumes:
        {{- include "lagscale.sidecarVolumes" .Subcharts.lagscale | nindent 8 }}
      containers:
        {{- include "lagscale.sidecar" (dict "root" .Subcharts.lagscale "serverName" "triton" "upstreamHttpPort" 8000 "upstreamGrpcPort" 8001 "httpPort" 9100 "grpcPort" 9101) | nindent 8 }}
        - name: triton
          image: nvcr.io/nvidia/tritonserver:24.01-py3
          ports: [{name: http, containerPort: 8000}, {name: grpc, containerPort: 8001}]
`);
  const objs = await common(render({ lagscale: { sidecar: { reportInterval: "2s", grpcEngine: "calls" }, auth: { existingSecret: "tok" } } }, { chart: parent }));
  const pod = one(objs, "Deployment", "triton").spec.template;
  const c = sidecarOf(pod.spec);
  eq(pod.metadata.annotations["prometheus.io/port"], "9090", "scrape annotations");
  eq(pod.spec.volumes, [{ name: "lagscale-auth", secret: { secretName: "tok" } }], "token volume");
  checkSidecar(c, { http: 9100, grpc: 9101, upHttp: 8000, upGrpc: 8001, server: "triton", grpcEngine: "calls" });
  eq(envOf(c).LAGSCALE_REPORT_INTERVAL, "2s", "parent's values reach the sidecar");
  one(objs, "Service", FULL);
});

await test("Seldon ServerConfig: sidecar between the agent and MLServer", async () => {
  const objs = await build({ seldon: { serverConfig: { enabled: true } } });
  const sc = one(objs, "ServerConfig", "mlserver-lagscale");
  eq(sc.metadata.namespace, "seldon-mesh", "namespace");
  const spec = sc.spec.podSpec;
  eq(spec.containers.map((c) => c.name), ["rclone", "agent", "lagscale-sidecar", "mlserver"], "containers");
  checkSidecar(sidecarOf(spec), { upHttp: 9000, upGrpc: 9500, server: { fieldRef: { fieldPath: "metadata.labels['seldon-server-name']" } } });
  const agent = envOf(spec.containers.find((c) => c.name === "agent"));
  eq([agent.SELDON_SERVER_HTTP_PORT, agent.SELDON_SERVER_GRPC_PORT], ["8000", "8001"], "agent talks to the sidecar");
  eq(portsOf(spec.containers.find((c) => c.name === "mlserver")), { "server-http": 9000, "server-grpc": 9500 }, "MLServer ports");
});

await test("everything at once renders, lints and validates", async () => {
  await build({
    coordinator: { config: targetsConfig }, server: { enabled: true }, seldon: { enabled: true, serverConfig: { enabled: true } },
    metrics: { podMonitor: { enabled: true }, serviceMonitor: { enabled: true } }, prometheusAdapter: { enabled: true },
    hpa: { enabled: true, approach: 3, models: hpaModels }, auth: { existingSecret: "tok" }, rbac: { clusterWide: true },
  });
});

await test("coordinator disabled: only the sidecar wiring, pointed at the given address", async () => {
  const objs = await build({ coordinator: { enabled: false }, server: { enabled: true, autoscale: false }, sidecar: { coordinatorAddress: "lagscale.infra.svc:7070" }, commonLabels: { team: "ml" } });
  eq(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [`ConfigMap/${FULL}-dashboard`, `Deployment/${FULL}-testserver`, `Service/${FULL}-testserver`], "objects");
  checkSidecar(sidecarOf(one(objs, "Deployment").spec.template.spec), { coordinator: "lagscale.infra.svc:7070", server: "testserver" });
  for (const o of objs) eq(o.metadata.labels.team, "ml", `commonLabels on ${o.kind}`);
});

await test("NOTES.txt says how to reach the status page", async () => {
  const r = helm(["install", "rel", chartDir, "-n", NS, "--dry-run=client", "--set", "server.enabled=true"]);
  eq(r.code, 0, `helm install --dry-run=client exit status (${r.stderr})`);
  const notes = r.stdout.slice(r.stdout.indexOf("NOTES:"));
  for (const want of [`kubectl -n ${NS} port-forward svc/${FULL} 8080:8080`, "/status", `Sidecars report to: ${FULL}.${NS}.svc:7070`, `svc/${FULL}-testserver 8000:8000`]) {
    assert(notes.includes(want), `NOTES lack ${want}:\n${notes}`);
  }
});

await monitoringTests();
await valuesTests();
await dockerfileTests();
await injectorTests();
await kedaTests();
await reportTlsTests();
await leaderTests();
await networkPolicyTests();

finish();
