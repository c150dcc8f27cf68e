/*
 * The gallery's Airflow react_apps bundle: a UMD library build (Airflow's React plugin template
 * conventions) whose React, ReactDOM, react-router-dom, Chakra UI and Emotion are the HOST page's
 * globals, so the app shares Airflow's router, theme and colour mode. Output:
 * ../include/image_pipeline/ui/static/main.umd.cjs plus build-info.json: the "sources" hash
 * (sourcesHash below) and the bundle's own sha256, which tests/unit/ui/test_bundle.py recomputes in
 * Python (no Node) to prove the committed bundle is built from the current sources, untouched.
 */
import react from "@vitejs/plugin-react-swc";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { defineConfig } from "vitest/config";

const here = import.meta.dirname;
const outDir = resolve(here, "../include/image_pipeline/ui/static");

// Hashed inputs: every file under src/ and public/, plus these (paths relative to ui/, "/"-separated).
const HASHED_FILES = ["package.json", "package-lock.json", "tsconfig.json", "vite.config.ts"];
const HASHED_DIRS = ["src", "public"];

const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );

/** sha256 over each file, in sorted path order: path, NUL, bytes, NUL. */
export const sourcesHash = (): { files: string[]; sha256: string } => {
  const files = [
    ...HASHED_FILES,
    ...HASHED_DIRS.flatMap((d) => walk(join(here, d)).map((f) => relative(here, f).split(sep).join("/"))),
  ]
    .filter((f) => !f.split("/").some((part) => part.startsWith(".")))
    .sort();
  const hash = createHash("sha256");

  for (const file of files) {
    hash.update(file, "utf8");
    hash.update("\0");
    hash.update(readFileSync(join(here, file)));
    hash.update("\0");
  }

  return { files, sha256: hash.digest("hex") };
};

// Module specifiers the host (Airflow's UI, airflow-core/src/airflow/ui/src/main.tsx) puts on globalThis.
const HOST_GLOBALS: Record<string, string> = {
  "@chakra-ui/react": "ChakraUI",
  "@emotion/react": "EmotionReact",
  react: "React",
  "react-dom": "ReactDOM",
  "react-router-dom": "ReactRouterDOM",
  "react/jsx-runtime": "ReactJSXRuntime",
};

export default defineConfig(({ command }) => {
  const sources = command === "build" ? sourcesHash() : { files: [], sha256: "dev" };

  return {
    base: "./",
    build: {
      chunkSizeWarningLimit: 1600,
      emptyOutDir: true,
      lib: {
        entry: resolve(here, "src", "main.tsx"),
        fileName: () => "main.umd.cjs",
        formats: ["umd"],
        name: "AirflowPlugin",
      },
      outDir,
      rollupOptions: {
        external: Object.keys(HOST_GLOBALS),
        output: {
          exports: "default",
          globals: HOST_GLOBALS,
        },
      },
    },
    define: {
      global: "globalThis",
      "process.env": "{}",
      "process.env.NODE_ENV": JSON.stringify("production"),
    },
    plugins: [
      react(),
      {
        closeBundle() {
          const bundle = createHash("sha256").update(readFileSync(join(outDir, "main.umd.cjs"))).digest("hex");
          const info = { bundle: "main.umd.cjs", bundle_sha256: bundle, files: sources.files, sources: sources.sha256 };

          writeFileSync(join(outDir, "build-info.json"), `${JSON.stringify(info, null, 2)}\n`);
        },
        apply: "build",
        name: "gallery-build-info",
      },
    ],
    resolve: { alias: { src: resolve(here, "src") } },
    test: { environment: "node", include: ["src/**/*.test.ts"] },
  };
});
