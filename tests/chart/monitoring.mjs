// Chart checks for what watches lagscale: the PodMonitor and ServiceMonitor, prometheus-adapter's
// rules, the HPAs of approaches 2 and 3, and the Grafana dashboard.
import { YAML, assert, build, eq, find, one, render, renderFails, test, validateAll } from "./lib.mjs";

const FULL = "rel-lagscale";
export const hpaModels = [{ name: "iris", server: "mlserver-iris", maxReplicas: 5, averageValue: "2" }, { name: "wine", server: "mlserver-wine", minReplicas: 2, maxReplicas: 4, metric: "lagscale_model_lag" }];
const LONG_RELEASE = "team-inference-autoscaler-production-eu-west";

export async function monitoringTests() {
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
}
