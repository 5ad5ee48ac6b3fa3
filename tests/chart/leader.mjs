// Chart checks for coordinator high availability: two replicas electing a leader through a Lease,
// with the RBAC, PodDisruptionBudget, anti-affinity and flags that needs.
import { assert, envOf, eq, find, one, renderFails, renderValid, test } from "./lib.mjs";

const FULL = "rel-lagscale";
const NS = "ml";
const coordinatorLabels = { "app.kubernetes.io/component": "coordinator", "app.kubernetes.io/instance": "rel", "app.kubernetes.io/name": "lagscale" };
const leaseRule = (name) => ({ apiGroups: ["coordination.k8s.io"], resourceNames: [name], resources: ["leases"], verbs: ["get", "update"] });
const leaseCreate = { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] };
const roleRules = (objs) => Object.fromEntries(find(objs, "Role").map((r) => [r.metadata.namespace, r.rules]));
const deploymentOf = (objs) => one(objs, "Deployment", FULL);
const containerOf = (objs) => deploymentOf(objs).spec.template.spec.containers[0];

export async function leaderTests() {
  await test("leader election: 2 replicas, --leader-elect flags, POD_NAME as the identity", async () => {
    const objs = await renderValid(undefined);
    const d = deploymentOf(objs);
    eq(d.spec.replicas, 2, "replicas");
    eq(d.spec.strategy, { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }, "strategy");
    const c = containerOf(objs);
    eq(c.args.filter((a) => a.startsWith("--leader-elect")), [
      "--leader-elect", `--leader-elect-resource-name=${FULL}`, `--leader-elect-resource-namespace=${NS}`,
      "--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s", "--leader-elect-retry-period=2s",
    ], "leader election flags (client-go's defaults)");
    eq(envOf(c).POD_NAME, { fieldRef: { fieldPath: "metadata.name" } }, "POD_NAME from the downward API");
    eq(c.readinessProbe.httpGet, { path: "/readyz", port: "http" }, "readiness probe on /readyz");
    eq(d.spec.template.spec.automountServiceAccountToken, true, "the Lease needs the API token");
  });

  await test("leader election RBAC: get/update on the Lease by name, create without names, release namespace only", async () => {
    const objs = await renderValid({ coordinator: { actuator: "dry-run", leaderElection: { leaseName: "my-lease" } } });
    // dry-run touches no scale subresource: the Lease is all the coordinator may touch.
    eq(roleRules(objs), { [NS]: [leaseRule("my-lease"), leaseCreate] }, "rules, exactly");
    eq(find(objs, "ClusterRole").length, 0, "no cluster-wide access");
    const binding = one(objs, "RoleBinding", FULL);
    eq(binding.metadata.namespace, NS, "binding namespace");
    eq(binding.subjects, [{ kind: "ServiceAccount", name: FULL, namespace: NS }], "binding subject");
    assert(containerOf(objs).args.includes("--leader-elect-resource-name=my-lease"), "the flag names the same Lease");
    // No rule grants delete, list, watch or patch on leases, nor update on any other Lease.
    for (const rule of roleRules(objs)[NS]) {
      for (const verb of rule.verbs) assert(["get", "update", "create"].includes(verb), `unexpected verb ${verb}`);
      if (rule.verbs.includes("get") || rule.verbs.includes("update")) eq(rule.resourceNames, ["my-lease"], "names");
    }
  });

  await test("leader election RBAC stays namespaced when rbac.clusterWide", async () => {
    const objs = await renderValid({ rbac: { clusterWide: true }, coordinator: { actuator: "dry-run" } });
    eq(roleRules(objs), { [NS]: [leaseRule(FULL), leaseCreate] }, "Lease rules in a Role");
    eq(find(objs, "ClusterRole").length, 0, "dry-run needs nothing cluster-wide");
  });

  await test("PodDisruptionBudget: maxUnavailable 1 over the coordinator pods", async () => {
    const objs = await renderValid(undefined);
    const pdb = one(objs, "PodDisruptionBudget", FULL);
    eq(pdb.spec, { maxUnavailable: 1, selector: { matchLabels: coordinatorLabels } }, "spec");
    eq(pdb.spec.selector.matchLabels, deploymentOf(objs).spec.selector.matchLabels, "selects the Deployment's pods");
    const single = await renderValid({ coordinator: { replicas: 1 } });
    eq(find(single, "PodDisruptionBudget").length, 0, "no PDB for one replica (it would block every drain)");
    eq(find(await renderValid({ coordinator: { podDisruptionBudget: { enabled: false } } }), "PodDisruptionBudget").length, 0, "disabled");
  });

  await test("pod anti-affinity: soft by default, hard on request, user affinity wins", async () => {
    const term = { labelSelector: { matchLabels: coordinatorLabels }, topologyKey: "kubernetes.io/hostname" };
    const soft = deploymentOf(await renderValid(undefined)).spec.template.spec.affinity;
    eq(soft, { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } }, "soft");
    const hardDeployment = deploymentOf(await renderValid({ coordinator: { podAntiAffinity: "hard" } }));
    eq(hardDeployment.spec.template.spec.affinity, { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } }, "hard");
    // A surge pod would have no node left when nodes == replicas, and maxUnavailable 0 would then
    // wait for it for ever: with hard anti-affinity one old pod goes first.
    eq(hardDeployment.spec.strategy, { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } }, "hard: replace, never surge");
    const none = deploymentOf(await renderValid({ coordinator: { podAntiAffinity: "none" } })).spec.template.spec.affinity;
    eq(none, undefined, "none");
    const mine = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "pool", operator: "In", values: ["infra"] }] }] } } };
    eq(deploymentOf(await renderValid({ coordinator: { affinity: mine } })).spec.template.spec.affinity, mine, "user affinity");
  });

  await test("leader election off: one replica, Recreate, no Lease access, no flags", async () => {
    const objs = await renderValid({ coordinator: { replicas: 1, leaderElection: { enabled: false }, actuator: "dry-run" } });
    const d = deploymentOf(objs);
    eq(d.spec.strategy, { type: "Recreate" }, "strategy (never two writers)");
    eq(containerOf(objs).args.filter((a) => a.startsWith("--leader-elect")), [], "flags");
    eq(find(objs, "Role").length, 0, "roles");
    eq(envOf(containerOf(objs)).POD_NAME, undefined, "no POD_NAME");
  });

  await test("two coordinators without leader election are refused", async () => {
    const err = renderFails({ coordinator: { replicas: 3, leaderElection: { enabled: false } } });
    assert(err.includes("coordinator.replicas is 3: more than one coordinator needs coordinator.leaderElection.enabled=true"), err);
    const bad = renderFails({ coordinator: { leaderElection: { leaseDuration: "soon" } } });
    assert(bad.includes("/coordinator/leaderElection/leaseDuration"), bad);
  });
}
