// Chart tests for networkPolicy.enabled: the coordinator's NetworkPolicy, validated against the
// kubernetes-models schema and evaluated the way the NetworkPolicy API defines its peers, on pods
// a cluster would have: who may reach the gRPC port (reports, KEDA) and who the HTTP port.
import { assert, eq, find, one, portsOf, renderFails, renderValid, selectorMatches, test } from "./lib.mjs";

// A NetworkPolicyPeer: podSelector alone means pods of the policy's namespace; namespaceSelector
// alone, every pod of the namespaces it selects; both, the pods it selects in those namespaces.
function peerAdmits(peer, policyNs, pod) {
  const nsOk = peer.namespaceSelector ? selectorMatches(peer.namespaceSelector, pod.nsLabels) : pod.ns === policyNs;
  return nsOk && (!peer.podSelector || selectorMatches(peer.podSelector, pod.labels));
}

// Whether the policy admits `pod` to the named port: some rule lists the port and either has no
// peers (everyone) or a peer that admits the pod.
function admits(policy, port, pod) {
  return policy.spec.ingress.some((rule) =>
    (rule.ports || []).some((p) => p.port === port) &&
    (!rule.from || rule.from.length === 0 || rule.from.some((peer) => peerAdmits(peer, policy.metadata.namespace, pod))));
}

const ns = (name, labels = {}) => ({ "kubernetes.io/metadata.name": name, ...labels });
const pods = {
  injectedByNamespace: { ns: "serving", nsLabels: ns("serving", { "lagscale.io/inject": "enabled" }), labels: { app: "iris" } },
  injectedByPodLabel: { ns: "team-a", nsLabels: ns("team-a"), labels: { "lagscale.io/inject": "true" } },
  exampleServer: { ns: "ml", nsLabels: ns("ml"), labels: { "lagscale.io/sidecar": "true" } },
  kedaOperator: { ns: "keda", nsLabels: ns("keda"), labels: { app: "keda-operator" } },
  kedaMetricsServer: { ns: "keda", nsLabels: ns("keda"), labels: { app: "keda-operator-metrics-apiserver" } },
  anyPod: { ns: "default", nsLabels: ns("default"), labels: { app: "curl" } },
  sidecarLabelElsewhere: { ns: "team-b", nsLabels: ns("team-b"), labels: { "lagscale.io/sidecar": "true" } },
  prometheus: { ns: "monitoring", nsLabels: ns("monitoring"), labels: { "app.kubernetes.io/name": "prometheus" } },
};

export async function networkPolicyTests() {
  await test("NetworkPolicy: none unless networkPolicy.enabled", async () => {
    eq(find(await renderValid({}), "NetworkPolicy").length, 0, "NetworkPolicies");
  });

  await test("NetworkPolicy: the gRPC port admits reporters and KEDA's operator only, the HTTP port anyone", async () => {
    const objs = await renderValid({ networkPolicy: { enabled: true } });
    const policy = one(objs, "NetworkPolicy", "rel-lagscale");
    eq(policy.metadata.namespace, "ml", "namespace");
    eq(policy.spec.policyTypes, ["Ingress"], "ingress only");
    // It selects the coordinator's pods, by the labels their template carries, and names their ports.
    const deployment = one(objs, "Deployment", "rel-lagscale");
    eq(policy.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels, "podSelector");
    assert(selectorMatches(policy.spec.podSelector, deployment.spec.template.metadata.labels), "selects the coordinator's pods");
    const coordinator = deployment.spec.template.spec.containers.find((c) => portsOf(c).grpc && portsOf(c).http);
    assert(coordinator, "the coordinator container names its grpc and http ports");
    const ports = policy.spec.ingress.flatMap((r) => r.ports.map((p) => p.port));
    eq(ports, ["grpc", "http"], "ports (no webhook without the injector)");
    const expected = {
      injectedByNamespace: true, injectedByPodLabel: true, exampleServer: true, kedaOperator: true,
      kedaMetricsServer: false, anyPod: false, sidecarLabelElsewhere: false, prometheus: false,
    };
    for (const [name, pod] of Object.entries(pods)) {
      eq(admits(policy, "grpc", pod), expected[name], `gRPC port for ${name}`);
      eq(admits(policy, "http", pod), true, `HTTP port for ${name}`);
    }
  });

  await test("NetworkPolicy: httpFrom limits the HTTP port; the webhook port stays open to the API server", async () => {
    const objs = await renderValid({
      injector: { enabled: true, namespaces: ["team"] },
      networkPolicy: {
        enabled: true,
        httpFrom: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
      },
    });
    const policy = one(objs, "NetworkPolicy", "rel-lagscale");
    eq(admits(policy, "http", pods.prometheus), true, "Prometheus's namespace");
    eq(admits(policy, "http", pods.anyPod), false, "another namespace");
    eq(admits(policy, "webhook", pods.anyPod), true, "webhook from anywhere");
    const container = one(objs, "Deployment", "rel-lagscale").spec.template.spec.containers.find((c) => portsOf(c).webhook);
    assert(container, "the coordinator container names its webhook port");
  });

  await test("NetworkPolicy: the chart's Seldon ServerConfig namespace reaches the gRPC port", async () => {
    const seldonPod = { ns: "seldon-mesh", nsLabels: ns("seldon-mesh"), labels: { "app.kubernetes.io/name": "mlserver" } };
    const without = one(await renderValid({ networkPolicy: { enabled: true } }), "NetworkPolicy", "rel-lagscale");
    eq(admits(without, "grpc", seldonPod), false, "without the ServerConfig");
    const objs = await renderValid({ seldon: { enabled: true, serverConfig: { enabled: true } }, networkPolicy: { enabled: true } });
    const policy = one(objs, "NetworkPolicy", "rel-lagscale");
    eq(admits(policy, "grpc", seldonPod), true, "with it");
    eq(admits(policy, "grpc", pods.anyPod), false, "other pods still not");
  });

  await test("NetworkPolicy: an empty grpcFrom is refused (it would admit everyone)", async () => {
    const err = renderFails({ networkPolicy: { enabled: true, grpcFrom: [] } });
    assert(err.includes("grpcFrom"), `error names grpcFrom: ${err}`);
  });
}
