// Chart and end-to-end tests of the sidecar injection webhook (injector.enabled): the rendered
// MutatingWebhookConfiguration, TLS from Helm or cert-manager, and the golden AdmissionReviews of
// tests/integration/injector_reviews/ sent over HTTPS to the real lagscale-coordinator, whose
// JSON Patches are applied by python3-jsonpatch; every patched pod must be schema-valid and carry
// exactly the container the "lagscale.sidecar" named template renders for the same settings.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import readline from "node:readline";
import {
  assert, chartDir, eq, find, helm, lint, one, render, renderFails, repo, selectorMatches, test, tmp, validateAll,
} from "./lib.mjs";

const NS = "ml";
const FULL = "rel-lagscale";
const reviewsDir = path.join(repo, "tests/integration/injector_reviews");
const binDir = process.env.LAGSCALE_BIN_DIR || path.join(repo, "build/bin");
const E2E_VALUES = { injector: { enabled: true }, auth: { existingSecret: "lagscale-token" } };
// The generated token (the default) is copied into each injected namespace.
const INJECT = { injector: { enabled: true, namespaces: ["team"] } };

const webhooksOf = (objs) => one(objs, "MutatingWebhookConfiguration").webhooks;
const coordinatorOf = (objs) => one(objs, "Deployment", FULL).spec.template.spec;
const sidecarTemplateOf = (objs) => JSON.parse(one(objs, "ConfigMap", `${FULL}-injector`).data["sidecar.json"]);

function openssl(args, cwd) {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  assert(r.status === 0, `openssl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

// The "lagscale.sidecar" named template rendered for each case's settings, through a copy of the
// chart with one extra template calling it exactly as a user's own pod template would.
function namedTemplateContainers(values, cases) {
  const chart = path.join(tmp, "named-template-chart");
  fs.rmSync(chart, { recursive: true, force: true });
  fs.cpSync(chartDir, chart, { recursive: true });
  const docs = cases.map(({ name, settings }) => {
    const args = Object.entries(settings).map(([k, v]) => `${JSON.stringify(k)} ${JSON.stringify(v)}`).join(" ");
    return `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: case-${name}
data:
  container.json: {{ include "lagscale.sidecar" (dict "root" $ ${args}) | fromYamlArray | first | toJson | quote }}
`;
  });
  fs.writeFileSync(path.join(chart, "templates/zz-named-template-cases.yaml"), docs.join(""));
  const objs = render(values, { chart });
  return Object.fromEntries(cases.map(({ name }) => [name, JSON.parse(one(objs, "ConfigMap", `case-${name}`).data["container.json"])]));
}

function post(address, body, ca) {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), address.slice(address.lastIndexOf(":") + 1)];
  return new Promise((resolve, reject) => {
    const req = https.request({ host, port, path: "/inject", method: "POST", ca, minVersion: "TLSv1.2", headers: { "content-type": "application/json" }, timeout: 10000 }, (res) => {
      let data = "";
      res.on("data", (c) => (data += c));
      res.on("end", () => resolve({ status: res.statusCode, body: data }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end(body);
  });
}

// Applies a JSON Patch with python3-jsonpatch (Debian's RFC 6902 implementation).
function applyPatch(doc, patch) {
  const r = spawnSync("python3", ["-c", "import json, sys, jsonpatch; d = json.load(sys.stdin); print(json.dumps(jsonpatch.apply_patch(d['doc'], d['patch'])))"], { input: JSON.stringify({ doc, patch }), encoding: "utf8" });
  assert(r.status === 0, `python3-jsonpatch rejected the patch: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function startCoordinator(templateFile, dir) {
  const bin = path.join(binDir, "lagscale-coordinator");
  assert(fs.existsSync(bin), `${bin} is not built (set LAGSCALE_BIN_DIR or build lagscale-coordinator)`);
  const child = spawn(bin, ["--grpc-listen=127.0.0.1:0", "--http-listen=127.0.0.1:0", "--webhook-listen=127.0.0.1:0",
    `--webhook-cert=${dir}/tls.crt`, `--webhook-key=${dir}/tls.key`, `--webhook-sidecar-template=${templateFile}`], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  const lines = readline.createInterface({ input: child.stdout });
  const ready = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 30000);
    lines.on("line", (l) => { if (l.startsWith("lagscale-coordinator ready")) { clearTimeout(timer); resolve(l); } });
    child.on("exit", () => { clearTimeout(timer); resolve(null); });
  });
  if (!ready) { child.kill("SIGKILL"); throw new Error(`coordinator did not become ready:\n${stderr}`); }
  const webhook = /webhook=(\S+)/.exec(ready)?.[1];
  assert(webhook, `ready line names no webhook: ${ready}`);
  return { child, webhook, stderr: () => stderr };
}

const podForSchema = (pod) => ({ ...pod, metadata: { ...pod.metadata, name: pod.metadata.name || `${pod.metadata.generateName}x1y2z` } });

export async function injectorTests() {
  await test("injector: off by default, nothing of the webhook is rendered", () => {
    const objs = render({});
    eq(find(objs, "MutatingWebhookConfiguration").length, 0, "webhook configurations");
    eq(find(objs, "ConfigMap", `${FULL}-injector`).length, 0, "injector ConfigMaps");
    assert(!coordinatorOf(objs).containers[0].args.some((a) => a.startsWith("--webhook-listen")), "webhook flag without injector.enabled");
  });

  await test("injector: Helm-generated TLS, schema-valid webhook configuration with the promised settings", async () => {
    lint(INJECT);
    const objs = render(INJECT);
    await validateAll(objs);
    const hooks = webhooksOf(objs);
    eq(hooks.map((h) => h.name), ["namespace.inject.lagscale.io", "pod.inject.lagscale.io"], "webhooks");
    for (const h of hooks) {
      eq([h.failurePolicy, h.sideEffects, h.timeoutSeconds, h.reinvocationPolicy, h.admissionReviewVersions], ["Ignore", "None", 5, "IfNeeded", ["v1"]], `${h.name} settings`);
      eq(h.rules, [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }], `${h.name} rules`);
      eq(h.clientConfig.service, { name: FULL, namespace: NS, path: "/inject", port: 443 }, `${h.name} service`);
    }
    const secret = one(objs, "Secret", `${FULL}-injector-tls`);
    eq(hooks[0].clientConfig.caBundle, secret.data["ca.crt"], "caBundle is the generated CA");
    const dir = fs.mkdtempSync(path.join(tmp, "helm-tls-"));
    for (const k of ["ca.crt", "tls.crt"]) fs.writeFileSync(path.join(dir, k), Buffer.from(secret.data[k], "base64"));
    openssl(["verify", "-CAfile", "ca.crt", "-verify_hostname", `${FULL}.${NS}.svc`, "tls.crt"], dir);
    const svc = one(objs, "Service", FULL).spec.ports.find((p) => p.name === "webhook");
    eq([svc.port, svc.targetPort], [443, "webhook"], "Service webhook port");
    const c = coordinatorOf(objs).containers[0];
    for (const flag of ["--webhook-listen=0.0.0.0:8443", "--webhook-sidecar-mode=native", "--webhook-sidecar-template=/etc/lagscale-injector/sidecar.json"]) {
      assert(c.args.includes(flag), `coordinator args lack ${flag}: ${c.args}`);
    }
    eq(c.ports.find((p) => p.name === "webhook").containerPort, 8443, "container port");
    assert(c.volumeMounts.some((m) => m.name === "webhook-tls" && !m.subPath), "TLS Secret mounted as a directory (rotation reaches the process)");
  });

  await test("injector: Helm TLS is new on every helm template, cert-manager's render is the same (what GitOps tools deploy)", () => {
    const caBundle = (values) => webhooksOf(render(values))[0].clientConfig.caBundle;
    assert(caBundle(INJECT) !== caBundle(INJECT), "helm template cannot look up the installed Secret, so each render has a new CA");
    const cm = { ...INJECT, injector: { ...INJECT.injector, tls: { source: "cert-manager" } } };
    const webhookAndCerts = (objs) => JSON.stringify(objs.filter((o) => ["MutatingWebhookConfiguration", "Certificate", "Issuer"].includes(o.kind)));
    eq(webhookAndCerts(render(cm)), webhookAndCerts(render(cm)), "cert-manager objects are the same on every render");
  });

  await test("injector: selectors pick namespace-labelled or pod-labelled pods exactly once, never the release namespace or kube-system", () => {
    // With an existing token Secret the user puts in every namespace, any labelled one is injected.
    const hooks = webhooksOf(render(E2E_VALUES));
    const calls = (ns, pod) => hooks.filter((h) => selectorMatches(h.namespaceSelector, ns) && selectorMatches(h.objectSelector, pod)).length;
    const plainNs = { "kubernetes.io/metadata.name": "team" };
    const enabledNs = { ...plainNs, "lagscale.io/inject": "enabled" };
    const releaseNs = { "kubernetes.io/metadata.name": NS, "lagscale.io/inject": "enabled" };
    const on = { "lagscale.io/inject": "true" };
    const off = { "lagscale.io/inject": "false" };
    eq([calls(enabledNs, {}), calls(enabledNs, on), calls(enabledNs, off)], [1, 1, 0], "labelled namespace: unlabelled, true, false pods");
    eq([calls(plainNs, {}), calls(plainNs, on), calls(plainNs, off)], [0, 1, 0], "plain namespace");
    eq([calls(releaseNs, {}), calls(releaseNs, on)], [0, 0], "release namespace");
    for (const name of ["kube-system", "kube-node-lease"]) {
      const controlPlane = { "kubernetes.io/metadata.name": name, "lagscale.io/inject": "enabled" };
      eq([calls(controlPlane, {}), calls(controlPlane, on), calls({ "kubernetes.io/metadata.name": name }, on)], [0, 0, 0], `${name}, even when labelled`);
    }
  });

  await test("injector: with a generated token and no injector.namespaces the render fails and says what to do", () => {
    let err = renderFails({ injector: { enabled: true } });
    for (const want of [
      "injector.enabled: the injected sidecar mounts the Secret(s) rel-lagscale-auth, which the chart creates only in the namespaces it renders into",
      "list the namespaces whose pods are injected in injector.namespaces",
      "or set auth.existingSecret to a token Secret you create in the release namespace and in each injected namespace",
    ]) assert(err.includes(want), `lacks ${JSON.stringify(want)}:\n${err}`);
    err = renderFails({ injector: { enabled: true }, auth: { existingSecret: "tok" }, reportTls: { enabled: true } });
    assert(err.includes("mounts the Secret(s) rel-lagscale-report-tls-client,") && err.includes("or use reportTls.mode=existing with a reportTls.existingClientSecret you create in each injected namespace"), err);
    // Secrets the user provides are theirs to place: nothing to copy, nothing to require.
    render({ injector: { enabled: true }, auth: { existingSecret: "tok" }, reportTls: { enabled: true, mode: "existing", existingSecret: "srv", existingClientSecret: "cli" } });
    render({ injector: { enabled: true }, auth: { generate: false } });
  });

  await test("injector: each of injector.namespaces gets the Secrets the sidecar mounts, the same as the release's, and only they are injected", async () => {
    const values = { injector: { enabled: true, namespaces: ["ml-serving", "team"] }, reportTls: { enabled: true, mutual: true } };
    lint(values);
    const objs = render(values);
    await validateAll(objs);
    const volumes = sidecarTemplateOf(objs).volumes;
    eq(volumes.map((v) => v.secret.secretName), [`${FULL}-auth`, `${FULL}-report-tls-client`], "Secrets the injected sidecar mounts");
    for (const { secret } of volumes) {
      const copies = find(objs, "Secret", secret.secretName);
      eq(copies.map((s) => s.metadata.namespace).sort(), [NS, "ml-serving", "team"], `${secret.secretName}: namespaces`);
      for (const s of copies) eq(s.data, copies[0].data, `${secret.secretName} in ${s.metadata.namespace}: the release namespace's token and certificates`);
    }
    const hooks = webhooksOf(objs);
    const calls = (ns, pod) => hooks.filter((h) => selectorMatches(h.namespaceSelector, { "kubernetes.io/metadata.name": ns, ...(pod ? {} : { "lagscale.io/inject": "enabled" }) }) && selectorMatches(h.objectSelector, pod || {})).length;
    const on = { "lagscale.io/inject": "true" };
    eq([calls("ml-serving"), calls("team"), calls("other")], [1, 1, 0], "labelled namespaces: listed, listed, not listed (no Secret there)");
    eq([calls("team", on), calls("other", on)], [1, 0], "labelled pods: in a listed namespace, elsewhere");
    // cert-manager: a client Certificate in each injected namespace, as for KEDA's.
    const cm = render({ injector: { enabled: true, namespaces: ["team"] }, auth: { existingSecret: "tok" }, reportTls: { enabled: true, mode: "cert-manager", certManager: { issuerRef: { name: "ca", kind: "ClusterIssuer" } } } });
    eq(find(cm, "Certificate", `${FULL}-report-tls-client`).map((c) => c.metadata.namespace).sort(), [NS, "team"], "client Certificates");
  });

  await test("injector: native sidecars are refused on clusters older than 1.29, with what to set", () => {
    const template = (kube, mode) => helm(["template", "rel", chartDir, "-n", NS, ...(kube ? ["--kube-version", kube] : []),
      "--set", "injector.enabled=true", "--set", "injector.namespaces={team}", "--set", `injector.sidecarMode=${mode}`]);
    for (const kube of ["1.28.9", "v1.27.3-eks-4f4795d"]) {
      const r = template(kube, "native");
      assert(r.code !== 0 && r.stderr.includes(`injector.sidecarMode is native, which needs Kubernetes 1.29 or later (an init container with restartPolicy Always), and the cluster is v${kube.replace(/^v/, "")}: set injector.sidecarMode=container`), `${kube}: ${r.code} ${r.stderr}`);
      eq(template(kube, "container").code, 0, `${kube}: container mode renders`);
    }
    for (const kube of [undefined, "1.29.0", "v1.30.2-gke.1"]) eq(template(kube, "native").code, 0, `native on ${kube || "helm's default version"}`);
  });

  await test("injector: cert-manager TLS: a CA chain (cert-manager schema) whose leaf renewals keep caBundle, inject-ca-from, no Helm secret", async () => {
    const objs = render({ ...E2E_VALUES, injector: { enabled: true, tls: { source: "cert-manager" } } });
    await validateAll(objs);
    // self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate.
    const selfSigned = one(objs, "Issuer", `${FULL}-injector-selfsigned`);
    eq(selfSigned.spec, { selfSigned: {} }, "the self-signed Issuer");
    const ca = one(objs, "Certificate", `${FULL}-injector-ca`);
    eq([ca.spec.isCA, ca.spec.duration, ca.spec.privateKey.rotationPolicy], [true, "87600h", "Never"], "a long-lived CA that keeps its key on renewal");
    eq(ca.spec.issuerRef, { name: selfSigned.metadata.name, kind: "Issuer", group: "cert-manager.io" }, "the CA is the only thing the self-signed Issuer signs");
    const caIssuer = one(objs, "Issuer", `${FULL}-injector`);
    eq(caIssuer.spec, { ca: { secretName: ca.spec.secretName } }, "the CA Issuer signs with the CA's Secret");
    const certs = find(objs, "Certificate");
    eq(certs.filter((c) => c.spec.issuerRef.name === selfSigned.metadata.name).map((c) => c.metadata.name), [ca.metadata.name], "no leaf is self-signed");
    const cert = one(objs, "Certificate", `${FULL}-injector`);
    eq(cert.spec.secretName, `${FULL}-injector-tls`, "secretName");
    assert(cert.spec.dnsNames.includes(`${FULL}.${NS}.svc`), "service DNS name in the certificate");
    eq(cert.spec.issuerRef, { name: caIssuer.metadata.name, kind: "Issuer", group: "cert-manager.io" }, "the serving certificate is the CA Issuer's");
    eq(cert.spec.isCA, undefined, "the serving certificate is no CA");
    eq(cert.spec.usages, ["server auth", "digital signature"], "usages of an ECDSA serving key (no key encipherment)");
    // cainjector takes ca.crt of the serving certificate's Secret: the CA, not the leaf.
    const mwc = one(objs, "MutatingWebhookConfiguration");
    eq(mwc.metadata.annotations["cert-manager.io/inject-ca-from"], `${NS}/${FULL}-injector`, "inject-ca-from");
    assert(mwc.webhooks.every((h) => !h.clientConfig.caBundle), "caBundle left to cainjector");
    eq(find(objs, "Secret").filter((x) => x.metadata.name.includes("injector")).length, 0, "injector Secrets");
    const own = render({ ...E2E_VALUES, injector: { enabled: true, tls: { source: "cert-manager", certManager: { issuerRef: { name: "corp-ca", kind: "ClusterIssuer", group: "cert-manager.io" } } } } });
    await validateAll(own);
    eq(find(own, "Issuer").length, 0, "no Issuer with an issuerRef");
    eq(one(own, "Certificate").spec.issuerRef.name, "corp-ca", "issuerRef used");
  });

  await test("injector: sidecarMode container and settings reach the coordinator; bad values are refused", () => {
    const c = coordinatorOf(render({ injector: { enabled: true, namespaces: ["team"], sidecarMode: "container", port: 9443 } })).containers[0];
    assert(c.args.includes("--webhook-sidecar-mode=container") && c.args.includes("--webhook-listen=0.0.0.0:9443"), `args ${c.args}`);
    assert(renderFails({ injector: { enabled: true, sidecarMode: "sidecar" } }).includes("at '/injector/sidecarMode'"), "sidecarMode checked");
    assert(renderFails({ injector: { enabled: true }, coordinator: { enabled: false } }).includes("injector.enabled needs coordinator.enabled"), "needs the coordinator");
  });

  await test("injector: the ConfigMap's sidecar is the named template's, and the C++ integration test's copy matches it", () => {
    const objs = render(E2E_VALUES);
    const rendered = sidecarTemplateOf(objs);
    const named = namedTemplateContainers(E2E_VALUES, [{ name: "defaults", settings: {} }]).defaults;
    eq(rendered.container, named, "template container vs lagscale.sidecar");
    eq(rendered, JSON.parse(fs.readFileSync(path.join(reviewsDir, "sidecar.json"), "utf8")), `${reviewsDir}/sidecar.json is stale; regenerate it from the chart (see docs/helm.md)`);
  });

  await test("injector: golden reviews through the running coordinator give schema-valid pods with the named template's sidecar", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, "webhook-"));
    const templateFile = path.join(dir, "sidecar.json");
    fs.writeFileSync(templateFile, JSON.stringify(sidecarTemplateOf(render(E2E_VALUES))));
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=ca", "-keyout", "ca.key", "-out", "ca.pem"], dir);
    fs.writeFileSync(path.join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=webhook", "-keyout", "tls.key", "-out", "tls.csr"], dir);
    openssl(["x509", "-req", "-in", "tls.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "tls.crt"], dir);
    const goldens = fs.readdirSync(reviewsDir).filter((f) => f !== "sidecar.json").map((f) => ({ name: f.replace(/\.json$/, ""), ...JSON.parse(fs.readFileSync(path.join(reviewsDir, f), "utf8")) }));
    const injected = goldens.filter((g) => g.expect.result === "injected");
    assert(injected.length >= 3, "golden injections");
    const named = namedTemplateContainers(E2E_VALUES, injected.map((g) => ({ name: g.name, settings: g.expect.settings })));
    const coordinator = await startCoordinator(templateFile, dir);
    try {
      const ca = fs.readFileSync(path.join(dir, "ca.pem"));
      for (const g of goldens) {
        const r = await post(coordinator.webhook, JSON.stringify(g.review), ca);
        eq(r.status, 200, `${g.name}: status`);
        const { response } = JSON.parse(r.body);
        eq([response.uid, response.allowed], [g.review.request.uid, true], `${g.name}: uid and allowed`);
        const pod = g.review.request.object;
        if (g.expect.result !== "injected") {
          assert(!response.patch && !response.patchType, `${g.name}: patched although ${g.expect.result}`);
          continue;
        }
        eq(response.patchType, "JSONPatch", `${g.name}: patchType`);
        const patched = applyPatch(pod, JSON.parse(Buffer.from(response.patch, "base64").toString("utf8")));
        await validateAll([podForSchema(patched)]);
        const sidecar = patched.spec.initContainers.at(-1);
        const { restartPolicy, startupProbe, ...rest } = sidecar;
        eq(rest, named[g.name], `${g.name}: injected container vs lagscale.sidecar with ${JSON.stringify(g.expect.settings)}`);
        eq(restartPolicy, "Always", `${g.name}: native sidecar`);
        eq(startupProbe.httpGet, { path: "/healthz", port: "lagscale-admin" }, `${g.name}: startup probe`);
        eq(patched.spec.containers, pod.spec.containers, `${g.name}: the pod's containers`);
        eq(patched.spec.initContainers.slice(0, -1), pod.spec.initContainers || [], `${g.name}: the pod's init containers, in order`);
        eq(patched.spec.volumes.at(-1), { name: "lagscale-auth", secret: { secretName: "lagscale-token" } }, `${g.name}: token volume`);
        eq(patched.metadata.annotations["prometheus.io/port"], String(g.expect.settings.adminPort ?? 9090), `${g.name}: scrape port`);
      }
    } finally {
      coordinator.child.kill("SIGTERM");
    }
  });
}
