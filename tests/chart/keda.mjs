// Chart tests for keda.enabled: one KEDA ScaledObject per model/server marked `actuator: keda`,
// validated against the @kubernetes-models/keda schema, pointed at the coordinator's gRPC port.
import { YAML, assert, eq, find, lint, one, render, renderFails, renderValid, test, validateAll } from "./lib.mjs";

const config = {
  servers: [
    { name: "mlserver", placement: "all", minReplicas: 2, maxReplicas: 6, actuator: "keda",
      target: { apiVersion: "apps/v1", kind: "Deployment", name: "mlserver", namespace: "serving" } },
  ],
  models: [
    { name: "iris", actuator: "keda", minReplicas: 0, maxReplicas: 7, targetConcurrency: 3,
      target: { apiVersion: "apps/v1", kind: "Deployment", name: "iris" } },
    { name: "bert_v2", actuator: "keda", target: { apiVersion: "apps/v1", kind: "StatefulSet", name: "bert" } },
    { name: "resnet", target: { apiVersion: "apps/v1", kind: "Deployment", name: "resnet" } },
  ],
};

export async function kedaTests() {
  await test("KEDA: no ScaledObject unless keda.enabled", async () => {
    const objs = await renderValid({ coordinator: { config } });
    eq(find(objs, "ScaledObject").length, 0, "ScaledObjects");
  });

  await test("KEDA: one valid ScaledObject per keda target, external-push to the coordinator's gRPC port", async () => {
    const objs = await renderValid({ coordinator: { config }, keda: { enabled: true, metricByName: { bert_v2: "concurrency" } } });
    const scaled = find(objs, "ScaledObject");
    eq(scaled.map((o) => o.metadata.name).sort(), ["rel-lagscale-model-bert-v2", "rel-lagscale-model-iris", "rel-lagscale-server-mlserver"], "ScaledObjects");
    const iris = one(objs, "ScaledObject", "rel-lagscale-model-iris");
    eq(iris.metadata.namespace, "ml", "namespace (the target's, default the release's)");
    eq(iris.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "iris" }, "scaleTargetRef");
    eq([iris.spec.minReplicaCount, iris.spec.maxReplicaCount], [0, 7], "min/max from the config");
    eq(iris.spec.triggers, [{ type: "external-push", metadata: { scalerAddress: "rel-lagscale.ml.svc:7070", model: "iris", metric: "desiredReplicas" } }], "trigger");
    const behavior = iris.spec.advanced.horizontalPodAutoscalerConfig.behavior;
    eq(behavior.scaleDown.stabilizationWindowSeconds, 0, "no second scale-down window on top of the coordinator's");
    eq(behavior.scaleUp.stabilizationWindowSeconds, 0, "scale-up at once");
    const bert = one(objs, "ScaledObject", "rel-lagscale-model-bert-v2");
    eq(bert.spec.triggers[0].metadata, { scalerAddress: "rel-lagscale.ml.svc:7070", model: "bert_v2", metric: "concurrency" }, "per-name metric");
    eq([bert.spec.minReplicaCount, bert.spec.maxReplicaCount], [1, 10], "bounds from defaults");
    const srv = one(objs, "ScaledObject", "rel-lagscale-server-mlserver");
    eq(srv.metadata.namespace, "serving", "server namespace");
    eq(srv.spec.triggers[0].metadata.server, "mlserver", "server metadata");
    eq([srv.spec.minReplicaCount, srv.spec.maxReplicaCount], [2, 6], "server bounds");
    // The coordinator gets the same marks, so it never writes these targets.
    const cfg = YAML.parse(one(objs, "ConfigMap", "rel-lagscale").data["config.yaml"]);
    eq(cfg.models.map((m) => m.actuator || "coordinator"), ["keda", "keda", "coordinator"], "actuators in the coordinator config");
  });

  await test("KEDA: targets KEDA writes get no scale permission, only the read of the object", async () => {
    const rule = (resource, verbs, names) => ({ apiGroups: ["apps"], resources: [resource], verbs, resourceNames: names });
    for (const enabled of [true, false]) {
      const objs = await renderValid({ coordinator: { config }, keda: { enabled } });
      const rules = Object.fromEntries(find(objs, "Role").map((r) => [r.metadata.namespace, r.rules.filter((x) => x.apiGroups[0] === "apps")]));
      eq(rules, {
        ml: [rule("deployments", ["get"], ["iris", "resnet"]), rule("deployments/scale", ["get", "patch"], ["resnet"]), rule("statefulsets", ["get"], ["bert"])],
        serving: [rule("deployments", ["get"], ["mlserver"])],
      }, `keda.enabled=${enabled}: the coordinator reads every target and writes only resnet`);
    }
  });

  await test("KEDA: a custom gRPC port and Seldon-derived targets", async () => {
    const objs = await renderValid({
      seldon: { enabled: true, namespace: "seldon-mesh" },
      coordinator: { grpcPort: 7443, config: { models: [{ name: "iris", actuator: "keda" }] } },
      keda: { enabled: true, metric: "inflight" },
    });
    const iris = one(objs, "ScaledObject", "rel-lagscale-model-iris");
    eq(iris.metadata.namespace, "seldon-mesh", "namespace");
    eq(iris.spec.scaleTargetRef, { apiVersion: "mlops.seldon.io/v1alpha1", kind: "Model", name: "iris" }, "Seldon Model");
    eq(iris.spec.triggers[0].metadata, { scalerAddress: "rel-lagscale.ml.svc:7443", model: "iris", metric: "inflight" }, "metadata");
  });

  await test("KEDA: ScaledObject names cut to 63 characters stay distinct; names that would clash are refused", async () => {
    const release = "team-inference-autoscaler-production-eu-west";
    const target = (name) => ({ apiVersion: "apps/v1", kind: "Deployment", name, namespace: "ml" });
    const models = [{ name: "iris-classifier-a", actuator: "keda", target: target("a") }, { name: "iris-classifier-b", actuator: "keda", target: target("b") }];
    const objs = render({ keda: { enabled: true }, coordinator: { config: { models } } }, { release });
    await validateAll(objs);
    const names = find(objs, "ScaledObject").map((o) => o.metadata.name);
    eq(names.length, 2, "ScaledObjects");
    assert(names[0] !== names[1], `one name for two ScaledObjects: ${names}`);
    for (const n of names) assert(n.length <= 63 && n.startsWith(`${release}-lagscale-`), `name ${n}`);
    const err = renderFails({ keda: { enabled: true }, coordinator: { config: { models: [
      { name: "iris.v1", actuator: "keda", target: target("a") }, { name: "iris-v1", actuator: "keda", target: target("b") }] } } });
    assert(err.includes("coordinator.config.models[1] (iris-v1): its ScaledObject would be named rel-lagscale-model-iris-v1 in ml, as iris.v1's is; rename one"), err);
  });

  await test("KEDA: a keda model without a target is refused, naming it", async () => {
    const err = renderFails({ keda: { enabled: true }, coordinator: { config: { models: [{ name: "iris", actuator: "keda" }] } } });
    assert(err.includes("coordinator.config.models[0] (iris): actuator keda needs a target"), err);
  });

  await test("KEDA: a target written by both KEDA and the coordinator is refused", async () => {
    const target = { apiVersion: "apps/v1", kind: "Deployment", name: "mlserver" };
    const err = renderFails({
      keda: { enabled: true },
      coordinator: { config: {
        servers: [{ name: "mlserver", placement: "all", target }],
        models: [{ name: "iris", actuator: "keda", target }],
      } },
    });
    assert(err.includes("coordinator.config.models[0] (iris): actuator keda, but its target Deployment ml/mlserver is also written by the coordinator for coordinator.config.servers \"mlserver\"; one writer per target"), err);
  });

  await test("KEDA over mutual TLS: each ScaledObject namespace gets a TriggerAuthentication and the client Secret it reads", async () => {
    const objs = await renderValid({ coordinator: { config }, keda: { enabled: true }, reportTls: { enabled: true, mutual: true } });
    const iris = one(objs, "ScaledObject", "rel-lagscale-model-iris");
    eq(iris.spec.triggers[0].authenticationRef, { name: "rel-lagscale-keda-tls" }, "trigger authenticationRef");
    const auths = find(objs, "TriggerAuthentication");
    eq(auths.map((a) => a.metadata.namespace).sort(), ["ml", "serving"], "one per ScaledObject namespace");
    for (const a of auths) {
      eq(a.spec.secretTargetRef, [
        { parameter: "caCert", name: "rel-lagscale-report-tls-client", key: "ca.crt" },
        { parameter: "tlsClientCert", name: "rel-lagscale-report-tls-client", key: "tls.crt" },
        { parameter: "tlsClientKey", name: "rel-lagscale-report-tls-client", key: "tls.key" },
      ], `${a.metadata.namespace}: KEDA's external-scaler TLS parameters from the client Secret`);
    }
    const clients = objs.filter((o) => o.kind === "Secret" && o.metadata.name === "rel-lagscale-report-tls-client");
    eq(clients.map((c) => c.metadata.namespace).sort(), ["ml", "serving"], "the client Secret is where each TriggerAuthentication reads it");
    const server = one(objs, "Secret", "rel-lagscale-report-tls");
    for (const c of clients) {
      eq(c.data["ca.crt"], server.data["ca.crt"], `${c.metadata.namespace}: the CA the coordinator requires client certificates from`);
      eq(c.data["tls.crt"], clients[0].data["tls.crt"], "the same client certificate everywhere");
    }
    const coordinatorArgs = one(objs, "Deployment", "rel-lagscale").spec.template.spec.containers[0].args;
    assert(coordinatorArgs.includes("--tls-client-ca=/var/run/lagscale/tls/ca.crt"), `the coordinator requires client certificates: ${coordinatorArgs}`);
  });

  await test("KEDA over TLS with a Seldon-derived target: the TriggerAuthentication is in the ScaledObject's namespace", async () => {
    const objs = await renderValid({
      seldon: { enabled: true, namespace: "seldon-mesh" },
      coordinator: { config: { models: [{ name: "iris", actuator: "keda" }] } },
      keda: { enabled: true },
      reportTls: { enabled: true, mutual: true },
    });
    const iris = one(objs, "ScaledObject", "rel-lagscale-model-iris");
    eq(iris.metadata.namespace, "seldon-mesh", "the Seldon Model's namespace");
    eq(find(objs, "TriggerAuthentication").map((a) => a.metadata.namespace), ["seldon-mesh"], "where the ScaledObject is");
    const clients = objs.filter((o) => o.kind === "Secret" && o.metadata.name === "rel-lagscale-report-tls-client");
    assert(clients.some((c) => c.metadata.namespace === "seldon-mesh"), `client Secret namespaces: ${clients.map((c) => c.metadata.namespace)}`);
  });

  await test("KEDA over TLS without client certificates: only the CA; without TLS no TriggerAuthentication", async () => {
    let objs = await renderValid({ coordinator: { config }, keda: { enabled: true }, reportTls: { enabled: true } });
    for (const a of find(objs, "TriggerAuthentication")) {
      eq(a.spec.secretTargetRef, [{ parameter: "caCert", name: "rel-lagscale-report-tls-client", key: "ca.crt" }], "CA only");
    }
    objs = await renderValid({ coordinator: { config }, keda: { enabled: true } });
    eq(find(objs, "TriggerAuthentication").length, 0, "no TriggerAuthentication");
    eq(one(objs, "ScaledObject", "rel-lagscale-model-iris").spec.triggers[0].authenticationRef, undefined, "no authenticationRef");
  });

  await test("KEDA over TLS with cert-manager: a client Certificate in each ScaledObject namespace", async () => {
    lint({ coordinator: { config }, keda: { enabled: true }, reportTls: { enabled: true, mutual: true, mode: "cert-manager", certManager: { issuerRef: { name: "ca", kind: "ClusterIssuer" } } } });
    const objs = render({ coordinator: { config }, keda: { enabled: true }, reportTls: { enabled: true, mutual: true, mode: "cert-manager", certManager: { issuerRef: { name: "ca", kind: "ClusterIssuer" } } } });
    await validateAll(objs.filter((o) => o.apiVersion !== "cert-manager.io/v1"));
    const certs = objs.filter((o) => o.kind === "Certificate" && o.metadata.name === "rel-lagscale-report-tls-client");
    eq(certs.map((c) => c.metadata.namespace).sort(), ["ml", "serving"], "client Certificates");
    for (const c of certs) eq(c.spec.secretName, "rel-lagscale-report-tls-client", "secretName");
  });

  await test("KEDA: schema rejects an unknown metric and actuator", async () => {
    let err = renderFails({ keda: { metric: "qps" } });
    assert(err.includes("at '/keda/metric': value must be one of 'desiredReplicas', 'concurrency', 'inflight'"), err);
    err = renderFails({ coordinator: { config: { models: [{ name: "m", actuator: "hpa" }] } } });
    assert(err.includes("at '/coordinator/config/models/0/actuator': value must be one of 'coordinator', 'keda'"), err);
  });
}
