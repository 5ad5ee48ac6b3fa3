// Chart tests: helm lint/template for the default values and every option, schema validation of
// every rendered object, and assertions on what users and the cluster depend on.
import fs from "node:fs";
import path from "node:path";
import {
  YAML, assert, chartDir, envOf, eq, finish, find, helm, lint, one, podSpecs, portsOf, render,
  renderFails, sha256, test, tmp, validateAll,
} from "./lib.mjs";
import { dockerfileTests } from "./dockerfiles.mjs";
import { injectorTests } from "./injector.mjs";
import { kedaTests } from "./keda.mjs";
import { reportTlsTests } from "./report-tls.mjs";
import { leaderTests } from "./leader.mjs";
import { networkPolicyTests } from "./networkpolicy.mjs";

const defaults = YAML.parse(fs.readFileSync(path.join(chartDir, "values.yaml"), "utf8"));
const NS = "ml";
const FULL = "rel-lagscale";
const configOf = (objs) => YAML.parse(one(objs, "ConfigMap", FULL).data["config.yaml"]);
const roles = (objs) => [...find(objs, "Role"), ...find(objs, "ClusterRole")];
const sidecarOf = (spec) => spec.containers.find((c) => c.name === "lagscale-sidecar");

// Checks every render gets: schema-valid objects, consistent pods, secure chart-owned containers.
async function common(objs) {
  await validateAll(objs);
  for (const o of objs) {
    assert(o.metadata.labels?.["app.kubernetes.io/instance"] === "rel", `${o.kind} ${o.metadata.name} lacks instance label`);
  }
  for (const { owner, spec } of podSpecs(objs)) {
    const numbers = spec.containers.flatMap((c) => (c.ports || []).map((p) => p.containerPort));
    const names = spec.containers.flatMap((c) => (c.ports || []).map((p) => p.name));
    assert(new Set(numbers).size === numbers.length, `${owner}: two containers claim one port: ${numbers}`);
    assert(new Set(names).size === names.length, `${owner}: duplicate port names: ${names}`);
    for (const c of spec.containers.filter((c) => ["coordinator", "lagscale-sidecar", "server"].includes(c.name))) {
      const sc = c.securityContext || {};
      assert(sc.readOnlyRootFilesystem === true, `${owner}/${c.name}: root filesystem not read-only`);
      assert(sc.allowPrivilegeEscalation === false, `${owner}/${c.name}: privilege escalation allowed`);
      eq(sc.capabilities?.drop, ["ALL"], `${owner}/${c.name}: capabilities dropped`);
      assert(sc.runAsNonRoot === true || spec.securityContext?.runAsNonRoot === true, `${owner}/${c.name}: may run as root`);
      assert(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${owner}/${c.name}: no resource requests`);
      assert(!/:latest$/.test(c.image), `${owner}/${c.name}: image uses :latest`);
    }
  }
  for (const r of roles(objs)) {
    for (const rule of r.rules) {
      for (const field of ["apiGroups", "resources", "verbs", "resourceNames"]) {
        assert(!(rule[field] || []).includes("*"), `${r.kind} ${r.metadata.name}: wildcard in ${field}`);
      }
    }
  }
  return objs;
}
// Renders with lint and the common checks.
async function build(values, opts) {
  lint(values);
  return common(render(values, opts));
}
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

await test("PodMonitor and ServiceMonitor: valid against the prometheus-operator CRDs, right ports", async () => {
  const objs = await build({ server: { enabled: true }, metrics: { podMonitor: { enabled: true, labels: { release: "kps" } }, serviceMonitor: { enabled: true, labels: { release: "kps" } } } });
  const pm = one(objs, "PodMonitor");
  eq(pm.spec.podMetricsEndpoints.map((e) => [e.port, e.path]), [["lagscale-admin", "/metrics"]], "pod endpoints");
  eq(pm.metadata.labels.release, "kps", "podmonitor labels");
  const sm = one(objs, "ServiceMonitor");
  eq(sm.spec.endpoints.map((e) => [e.port, e.path]), [["http", "/metrics"]], "service endpoints");
  eq(sm.spec.selector.matchLabels, one(objs, "Service", FULL).spec.selector, "selects the coordinator service");
  assert(one(objs, "Service", FULL).metadata.labels["app.kubernetes.io/component"] === "coordinator", "service label");
});

await test("prometheus-adapter rules: concurrency from busy seconds, lag from in-flight", async () => {
  const objs = await build({ prometheusAdapter: { enabled: true, namespace: "monitoring" } });
  const cm = one(objs, "ConfigMap", `${FULL}-adapter-rules`);
  eq(cm.metadata.namespace, "monitoring", "namespace");
  const rules = YAML.parse(cm.data["config.yaml"]).rules;
  const byName = Object.fromEntries(rules.map((r) => [r.name.as, r]));
  eq(Object.keys(byName).sort(), ["lagscale_model_concurrency", "lagscale_model_lag"], "metrics");
  eq(byName.lagscale_model_concurrency.metricsQuery, "sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)", "concurrency query");
  assert(byName.lagscale_model_concurrency.seriesQuery.startsWith("lagscale_model_busy_seconds_total{"), "concurrency series");
  assert(byName.lagscale_model_lag.seriesQuery.startsWith("lagscale_model_inflight_requests{"), "lag series");
  eq(byName.lagscale_model_lag.resources.overrides.model, { group: "mlops.seldon.io", resource: "models" }, "model resource");
});

const hpaModels = [{ name: "iris", server: "mlserver-iris", maxReplicas: 5, averageValue: "2" }, { name: "wine", server: "mlserver-wine", minReplicas: 2, maxReplicas: 4, metric: "lagscale_model_lag" }];
await test("HPA approach 2: one HPA per Model on its custom metric", async () => {
  const objs = await build({ hpa: { enabled: true, approach: 2, models: hpaModels } });
  const hpas = find(objs, "HorizontalPodAutoscaler");
  eq(hpas.map((h) => [h.metadata.namespace, h.spec.scaleTargetRef.kind, h.spec.scaleTargetRef.name, h.spec.minReplicas, h.spec.maxReplicas]), [["seldon-mesh", "Model", "iris", 1, 5], ["seldon-mesh", "Model", "wine", 2, 4]], "HPAs");
  eq(hpas[0].spec.metrics, [{ type: "Object", object: { metric: { name: "lagscale_model_concurrency" }, describedObject: { apiVersion: "mlops.seldon.io/v1alpha1", kind: "Model", name: "iris" }, target: { type: "AverageValue", averageValue: "2" } } }], "metric");
  eq(hpas[1].spec.metrics[0].object.metric.name, "lagscale_model_lag", "lag metric");
});

await test("HPA approach 3: matching HPAs on each Model and its Server", async () => {
  const objs = await build({ hpa: { enabled: true, approach: 3, models: hpaModels } });
  const hpas = find(objs, "HorizontalPodAutoscaler");
  eq(hpas.map((h) => `${h.spec.scaleTargetRef.kind}/${h.spec.scaleTargetRef.name}`), ["Model/iris", "Server/mlserver-iris", "Model/wine", "Server/mlserver-wine"], "targets");
  eq(hpas.map((h) => h.metadata.name), [`${FULL}-model-iris`, `${FULL}-server-mlserver-iris`, `${FULL}-model-wine`, `${FULL}-server-mlserver-wine`], "names");
  eq(hpas[1].spec.metrics, hpas[0].spec.metrics, "server follows the model's metric");
  eq([hpas[1].spec.minReplicas, hpas[1].spec.maxReplicas], [hpas[0].spec.minReplicas, hpas[0].spec.maxReplicas], "same bounds");
  const err = renderFails({ hpa: { enabled: true, approach: 3, models: [{ name: "iris", maxReplicas: 3 }] } });
  assert(err.includes("hpa.models[iris].server is required with hpa.approach 3"), err);
});

const LONG_RELEASE = "team-inference-autoscaler-production-eu-west";
await test("HPA names cut to 63 characters stay distinct; two HPAs on one object are refused", async () => {
  const values = { coordinator: { actuator: "dry-run" }, hpa: { enabled: true, models: [{ name: "iris-classifier-a", maxReplicas: 3 }, { name: "iris-classifier-b", maxReplicas: 3 }] } };
  const objs = render(values, { release: LONG_RELEASE });
  await validateAll(objs);
  const names = find(objs, "HorizontalPodAutoscaler").map((h) => h.metadata.name);
  eq(names.length, 2, "HPAs");
  assert(names[0] !== names[1], `one name for two HPAs: ${names}`);
  for (const n of names) assert(n.length <= 63 && n.startsWith(`${LONG_RELEASE}-lagscale-`), `name ${n}`);
  eq(find(render(values), "HorizontalPodAutoscaler").map((h) => h.metadata.name), [`${FULL}-model-iris-classifier-a`, `${FULL}-model-iris-classifier-b`], "short names unchanged");
  const err = renderFails({ hpa: { enabled: true, approach: 3, models: [{ name: "iris", server: "shared", maxReplicas: 3 }, { name: "wine", server: "shared", maxReplicas: 3 }] } });
  assert(err.includes("hpa.models: two HPAs would scale Server shared (for iris and for wine); one HPA per object"), err);
});

await test("Grafana dashboard: labelled ConfigMap with the five panels' queries", async () => {
  const objs = await build({ dashboard: { folder: "ML" } });
  const cm = one(objs, "ConfigMap", `${FULL}-dashboard`);
  eq(cm.metadata.labels.grafana_dashboard, "1", "label");
  const dash = JSON.parse(cm.data["lagscale.json"]);
  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).join("\n");
  for (const want of ["lagscale_model_inflight_requests", "rate(lagscale_model_busy_seconds_total{", "rate(lagscale_model_arrivals_total{",
    "histogram_quantile(0.99, sum by (le, model) (rate(lagscale_model_request_duration_seconds_bucket{", "lagscale_coordinator_model_desired_replicas", "lagscale_coordinator_model_current_replicas"]) {
    assert(exprs.includes(want), `dashboard lacks ${want}`);
  }
  eq(find(render({ dashboard: { enabled: false } }), "ConfigMap", `${FULL}-dashboard`).length, 0, "disabled");
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

await dockerfileTests();
await injectorTests();
await kedaTests();
await reportTlsTests();
await leaderTests();
await networkPolicyTests();

finish();
