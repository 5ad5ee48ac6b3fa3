// Harness for the chart tests: runs the real helm, parses its output with the `yaml` package,
// validates every object against the Kubernetes / prometheus-operator OpenAPI schemas shipped by
// the pinned `kubernetes-models` packages, and counts passes and failures.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const chartDir = path.join(repo, "charts/lagscale");
const tools = process.env.LAGSCALE_TOOLS_DIR || path.join(repo, ".tools");
const helmBin = path.join(tools, "bin/helm");
const nodeModules = path.join(tools, "node/node_modules");
// CommonJS packages from the pinned tool tree (ESM ones are imported by file path below).
export const toolsRequire = createRequire(path.join(tools, "node/package.json"));
export const YAML = toolsRequire("yaml");

export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lagscale-chart-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- tiny test runner -----------------------------------------------------------------------
let passed = 0;
let failed = 0;
export async function test(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(e.message || e).split("\n").join("\n     ")}`);
  }
}
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
export function eq(actual, expected, what) {
  const a = JSON.stringify(sortKeys(actual));
  const b = JSON.stringify(sortKeys(expected));
  if (a !== b) throw new Error(`${what}:\n  got      ${a}\n  expected ${b}`);
}
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}
export const sha256 = (s) => createHash("sha256").update(s).digest("hex");

// ---- helm -----------------------------------------------------------------------------------
let valuesSeq = 0;
function valuesArgs(values) {
  if (!values) return [];
  const file = path.join(tmp, `values-${valuesSeq++}.json`);
  // JSON, not YAML: Helm reads YAML 1.1, where an unquoted yes would become true.
  fs.writeFileSync(file, JSON.stringify(values));
  return ["-f", file];
}
export function helm(args) {
  const r = spawnSync(helmBin, args, { encoding: "utf8", env: { ...process.env, HELM_CACHE_HOME: path.join(tmp, "cache"), HELM_CONFIG_HOME: path.join(tmp, "config"), HELM_DATA_HOME: path.join(tmp, "data") } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
export function lint(values, chart = chartDir) {
  const r = helm(["lint", "--strict", chart, ...valuesArgs(values)]);
  assert(r.code === 0, `helm lint --strict failed:\n${r.stdout}${r.stderr}`);
}
// Renders the chart; returns the list of objects (comment-only documents dropped).
export function render(values, { release = "rel", namespace = "ml", chart = chartDir } = {}) {
  const r = helm(["template", release, chart, "-n", namespace, ...valuesArgs(values)]);
  assert(r.code === 0, `helm template failed:\n${r.stderr}`);
  const docs = YAML.parseAllDocuments(r.stdout);
  for (const d of docs) assert(d.errors.length === 0, `invalid YAML from helm: ${d.errors[0]}`);
  return docs.map((d) => d.toJS()).filter((o) => o != null);
}
// Lints, renders and strictly validates every object: what most chart tests start from.
export async function renderValid(values) {
  lint(values);
  const objs = render(values);
  await validateAll(objs);
  return objs;
}
// Renders expecting failure; returns helm's error output.
export function renderFails(values) {
  const r = helm(["template", "rel", chartDir, "-n", "ml", ...valuesArgs(values)]);
  assert(r.code !== 0, "helm template succeeded but should have rejected the values");
  return r.stderr;
}
export const find = (objs, kind, name) =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
export function one(objs, kind, name) {
  const found = find(objs, kind, name);
  assert(found.length === 1, `expected exactly one ${kind}${name ? " " + name : ""}, found ${found.length}`);
  return found[0];
}

export const roles = (objs) => [...find(objs, "Role"), ...find(objs, "ClusterRole")];

// Checks every render gets: schema-valid objects, consistent pods, secure chart-owned containers.
export async function common(objs) {
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
export async function build(values, opts) {
  lint(values);
  return common(render(values, opts));
}

// ---- schema validation ----------------------------------------------------------------------
const modelCache = new Map();
async function modelFor(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!modelCache.has(key)) {
    const pkg = apiVersion.startsWith("monitoring.coreos.com/")
      ? "@kubernetes-models/prometheus-operator"
      : apiVersion.startsWith("cert-manager.io/")
        ? "@kubernetes-models/cert-manager"
      : apiVersion.startsWith("keda.sh/")
        ? "@kubernetes-models/keda"
        : "kubernetes-models";
    const file = path.join(nodeModules, pkg, apiVersion, `${kind}.js`);
    assert(fs.existsSync(file), `no schema for ${key} (looked for ${file})`);
    const mod = await import(pathToFileURL(file).href);
    modelCache.set(key, mod[kind]);
  }
  return modelCache.get(key);
}
async function validateAs(apiVersion, kind, obj, what) {
  const Model = await modelFor(apiVersion, kind);
  try {
    new Model(obj).validate();
  } catch (e) {
    throw new Error(`${what} does not match the ${apiVersion} ${kind} schema: ${e.message}`);
  }
  const unknown = unknownFields(Model, obj);
  assert(unknown.length === 0, `${what}: fields unknown to the ${apiVersion} ${kind} schema (the API server would drop or reject them): ${unknown.join(", ")}`);
}
// The schemas accept unknown fields (as the API server does without strict field validation), so
// a misspelt field would pass silently. The compiled validators read every property their schema
// knows, so running one over a recording proxy tells which of the object's fields it never looked
// at: those are the unknown ones (like `kubectl --validate=strict`).
function unknownFields(Model, obj) {
  const read = new Map(); // object -> Set of keys the validator read
  const proxies = new WeakMap();
  const track = (v) => {
    if (!v || typeof v !== "object") return v;
    if (!proxies.has(v)) {
      read.set(v, new Set());
      proxies.set(v, new Proxy(v, {
        get(target, key, receiver) {
          if (typeof key === "string" && Object.hasOwn(target, key)) read.get(target).add(key);
          return track(Reflect.get(target, key, receiver));
        },
      }));
    }
    return proxies.get(v);
  };
  Model.prototype.validate.call(track(obj));
  const unknown = [];
  const walk = (v, at) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
    else if (v && typeof v === "object") {
      for (const k of Object.keys(v)) {
        if (!read.get(v)?.has(k)) unknown.push(`${at}.${k}`);
        else walk(v[k], `${at}.${k}`);
      }
    }
  };
  walk(obj, "");
  return unknown;
}
// Seldon Core 2 ships no npm schema: check the ServerConfig's shape and validate its pod spec
// and claim templates with the core/v1 schemas.
async function validateServerConfig(o, what) {
  const extra = Object.keys(o.spec || {}).filter((k) => !["podSpec", "volumeClaimTemplates"].includes(k));
  assert(extra.length === 0, `${what}: unknown ServerConfig spec fields ${extra}`);
  await validateAs("v1", "Pod", { apiVersion: "v1", kind: "Pod", metadata: { name: "x" }, spec: o.spec.podSpec }, `${what} podSpec`);
  for (const t of o.spec.volumeClaimTemplates || []) {
    await validateAs("v1", "PersistentVolumeClaim", { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: t.name }, spec: t.spec }, `${what} claim ${t.name}`);
  }
}
export async function validateAll(objs) {
  for (const o of objs) {
    const what = `${o.kind} ${o.metadata?.name}`;
    assert(o.apiVersion && o.kind && o.metadata?.name, `object without apiVersion/kind/name: ${JSON.stringify(o).slice(0, 200)}`);
    if (o.apiVersion === "mlops.seldon.io/v1alpha1" && o.kind === "ServerConfig") await validateServerConfig(o, what);
    else await validateAs(o.apiVersion, o.kind, o, what);
  }
}

// Pod specs of every workload-like object, with where they came from.
export function podSpecs(objs) {
  const out = [];
  for (const o of objs) {
    if (o.spec?.template?.spec) out.push({ owner: `${o.kind} ${o.metadata.name}`, spec: o.spec.template.spec, meta: o.spec.template.metadata });
    if (o.kind === "ServerConfig") out.push({ owner: `ServerConfig ${o.metadata.name}`, spec: o.spec.podSpec, meta: {} });
  }
  return out;
}
export const envOf = (container) => Object.fromEntries((container.env || []).map((e) => [e.name, e.value ?? e.valueFrom]));
export const portsOf = (container) => Object.fromEntries((container.ports || []).map((p) => [p.name, p.containerPort]));

// Kubernetes label-selector semantics: matchLabels, and In / NotIn / Exists / DoesNotExist over
// matchExpressions; an empty selector selects everything.
export function selectorMatches(selector, labels) {
  return (selector.matchExpressions || []).every(({ key, operator, values }) => {
    const has = Object.hasOwn(labels, key);
    if (operator === "In") return has && values.includes(labels[key]);
    if (operator === "NotIn") return !has || !values.includes(labels[key]);
    if (operator === "Exists") return has;
    return !has;
  }) && Object.entries(selector.matchLabels || {}).every(([k, v]) => labels[k] === v);
}
