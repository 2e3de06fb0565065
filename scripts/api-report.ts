/**
 * The public API report: one `api/<entry>.api.md` per package export, written by API Extractor
 * from the declarations `tsc` emits. `npm run api` checks the committed reports against the code
 * and fails when they differ; `npm run api -- --update` rewrites them after an intended change.
 * A refactor that leaves the reports untouched changed no exported type.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { CompilerState, Extractor, ExtractorConfig, type IConfigFile } from "@microsoft/api-extractor";

const root = resolve(import.meta.dirname, "..");
const update = process.argv.includes("--update");
/**
 * `--from-build`: read the declarations `npm run build` left in dist/ (same tsconfig) instead of
 * emitting them again, which is most of this script's time. CI passes it right after `npm test`,
 * whose pretest builds.
 */
const fromBuild = process.argv.includes("--from-build");
const work = join(root, ".tmp/api");
const declarations = fromBuild ? join(root, "dist") : join(work, "dist");
const reportFolder = join(root, "api");

/** Each export of package.json as (report name, declaration file); `./stores/*` expands to every store. */
function entryPoints(): { name: string; file: string }[] {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    exports: Record<string, { types: string }>;
  };
  const stores = readdirSync(join(root, "src/stores")).filter(
    (name) => name !== "shared" && statSync(join(root, "src/stores", name)).isDirectory(),
  );
  return Object.entries(pkg.exports).flatMap(([subpath, { types }]) => {
    const expand = subpath.includes("*") ? stores : [""];
    return expand.map((store) => {
      const path = subpath.replace("*", store);
      const name = path === "." ? "frontdesk" : `frontdesk${path.slice(1).replaceAll("/", "-")}`;
      return { name, file: join(declarations, types.replace("*", store).replace(/^\.\/dist\//, "")) };
    });
  });
}

rmSync(work, { recursive: true, force: true });
mkdirSync(reportFolder, { recursive: true });
if (fromBuild) {
  if (!existsSync(join(declarations, "index.d.ts"))) {
    console.error("--from-build reads dist/, which holds no declarations: run `npm run build` first.");
    process.exit(1);
  }
} else {
  execFileSync(
    process.execPath,
    [
      join(root, "node_modules/typescript/bin/tsc"),
      "-p",
      "tsconfig.build.json",
      "--outDir",
      declarations,
      "--emitDeclarationOnly",
    ],
    { cwd: root, stdio: "inherit" },
  );
}

const silent = { logLevel: "none" } as const;
const configFor = (entry: { name: string; file: string }): IConfigFile => ({
  projectFolder: root,
  mainEntryPointFilePath: entry.file,
  compiler: { tsconfigFilePath: join(root, "tsconfig.build.json") },
  apiReport: { enabled: true, reportFolder, reportTempFolder: join(work, "reports"), reportFileName: entry.name },
  docModel: { enabled: false },
  dtsRollup: { enabled: false },
  tsdocMetadata: { enabled: false },
  messages: {
    compilerMessageReporting: { default: { logLevel: "warning" } },
    extractorMessageReporting: { default: silent },
    tsdocMessageReporting: { default: silent },
  },
});

const entries = entryPoints();
const configs = entries.map((entry) =>
  ExtractorConfig.prepare({
    configObject: configFor(entry),
    configObjectFullPath: undefined,
    packageJsonFullPath: join(root, "package.json"),
  }),
);
// One TypeScript program for every entry: building it is most of the time.
const compilerState = CompilerState.create(configs[0] as ExtractorConfig, {
  additionalEntryPoints: entries.map((entry) => entry.file),
});
const changed: string[] = [];
for (const [index, config] of configs.entries()) {
  const result = Extractor.invoke(config, { localBuild: update, compilerState, showVerboseMessages: false });
  if (!result.succeeded || result.apiReportChanged) changed.push(entries[index]?.name as string);
}
if (changed.length > 0 && !update) {
  console.error(
    `The public API differs from the committed report for: ${changed.join(", ")}.\n` +
      "If the change is intended, run `npm run api -- --update` and commit api/.",
  );
  process.exit(1);
}
console.log(
  update ? `API reports written to api/ (${entries.length} entries)` : `API unchanged (${entries.length} entries)`,
);
