// Static checks of docker/*.Dockerfile (no container engine runs here): the Docker language
// server's validator (dockerfile-utils) plus the properties the images promise.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { assert, eq, repo, test, toolsRequire } from "./lib.mjs";

const { validate } = toolsRequire("dockerfile-utils");
const { DockerfileParser } = toolsRequire("dockerfile-ast");

const images = [
  { file: "sidecar", target: "lagscale-sidecar", ports: ["8000", "8001", "9090"] },
  { file: "coordinator", target: "lagscale-coordinator", ports: ["7070", "8080"] },
  { file: "testserver", target: "lagscale-testserver", ports: ["9000", "9001"] },
];
// Folders the root CMakeLists.txt adds: the build stage must copy each of them.
const cmakeFolders = [...fs.readFileSync(path.join(repo, "CMakeLists.txt"), "utf8").matchAll(/^add_subdirectory\((\S+)\)/gm)]
  .map((m) => m[1]).filter((d) => !["tests", "bench"].includes(d));

export async function dockerfileTests() {
  for (const { file, target, ports } of images) {
    await test(`docker/${file}.Dockerfile: valid, multi-stage Debian 12, non-root, ports ${ports}`, () => {
      const text = fs.readFileSync(path.join(repo, "docker", `${file}.Dockerfile`), "utf8");
      const problems = validate(text, {}).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
      eq(problems, [], "dockerfile-utils diagnostics");
      const df = DockerfileParser.parse(text);
      const froms = df.getFROMs();
      eq(froms.length, 2, "stages");
      const firstFrom = froms[0].getRange().start.line;
      const args = Object.fromEntries(df.getInstructions()
        .filter((i) => i.getKeyword() === "ARG" && i.getRange().start.line < firstFrom)
        .map((i) => i.getArgumentsContent().split("=")));
      for (const f of froms) {
        const image = f.getArguments()[0].getValue().replace(/^\$\{(\w+)\}$/, (_, v) => args[v]);
        assert(/^debian:(12|bookworm)(-slim)?$/.test(image), `stage base ${image} is not Debian 12`);
      }
      eq(froms[0].getBuildStage(), "build", "first stage name");
      const stageOf = (ins) => (froms[1].getRange().start.line < ins.getRange().start.line ? "runtime" : "build");
      const runs = (stage) => df.getInstructions().filter((i) => i.getKeyword() === "RUN" && stageOf(i) === stage).map((i) => i.getArgumentsContent()).join("\n");
      const build = runs("build");
      assert(build.includes("scripts/install-deps.sh"), "build stage does not use scripts/install-deps.sh");
      assert(build.includes("-DLAGSCALE_BUILD_TESTS=OFF -DLAGSCALE_BUILD_BENCH=OFF"), "tests/bench not disabled");
      assert(build.includes(`ninja -C /build ${target}`), `does not build ${target}`);
      assert(build.includes(`runtime-packages.sh /build/bin/${target}`), "runtime packages not derived from the binary");
      const runtime = runs("runtime");
      assert(!runtime.includes("install-deps") && runtime.includes("--no-install-recommends"), "runtime stage installs more than libraries");
      assert(runtime.includes("rm -rf /var/lib/apt/lists/*"), "runtime stage keeps apt lists");
      const copied = df.getInstructions().filter((i) => i.getKeyword() === "COPY" && !i.getFromFlag()).map((i) => i.getArguments()[0].getValue());
      for (const src of copied) assert(fs.existsSync(path.join(repo, src)), `COPY source ${src} does not exist`);
      for (const folder of cmakeFolders) assert(copied.includes(folder), `build stage does not copy ${folder}/ (added by CMakeLists.txt)`);
      const last = (kw) => df.getInstructions().filter((i) => i.getKeyword() === kw && stageOf(i) === "runtime").pop();
      const user = last("USER").getArgumentsContent();
      assert(/^[1-9][0-9]*(:[0-9]+)?$/.test(user), `final USER ${user} is not a numeric non-root uid`);
      eq(last("EXPOSE").getArguments().map((a) => a.getValue()), ports, "EXPOSE");
      eq(JSON.parse(last("ENTRYPOINT").getArgumentsContent()), [`/usr/local/bin/${target}`], "ENTRYPOINT");
      assert(fs.existsSync(path.join(repo, "docker", `${file}.Dockerfile.dockerignore`)), "no .dockerignore for the build context");
    });
  }
  await test("docker/runtime-packages.sh maps a binary's shared libraries to Debian packages", () => {
    const probe = ["/usr/bin/protoc", "/usr/bin/curl", "/bin/ls"].find((p) => fs.existsSync(p));
    const r = spawnSync("bash", [path.join(repo, "docker/runtime-packages.sh"), probe], { encoding: "utf8" });
    eq(r.status, 0, `exit status (${r.stderr})`);
    const pkgs = r.stdout.trim().split("\n");
    assert(pkgs.includes("libc6"), `libc6 missing from ${pkgs}`);
    assert(pkgs.every((p) => /^[a-z0-9][a-z0-9+.-]+$/.test(p) && !p.endsWith("-dev")), `bad package names ${pkgs}`);
  });
}
