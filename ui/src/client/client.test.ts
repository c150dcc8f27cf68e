import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ui = resolve(import.meta.dirname, "..", "..");
const committed = join(ui, "src", "client");
const fresh = mkdtempSync(join(tmpdir(), "gallery-client-"));

afterAll(() => rmSync(fresh, { force: true, recursive: true }));

describe("the committed client", () => {
  // The generator as `npm run generate` runs it, into a folder of its own.
  execFileSync(process.execPath, [join(ui, "scripts", "generate-client.mjs"), fresh], { cwd: ui, stdio: "pipe" });
  const generated = readdirSync(fresh).sort();

  it("is every file the documents generate, and no other", () => {
    expect(generated).toEqual(["airflow.d.ts", "gallery.d.ts"]);
    expect(readdirSync(committed).filter((name) => name.endsWith(".d.ts")).sort()).toEqual(generated);
  });

  it.each(generated)("%s is what ui/openapi.json and ui/airflow-openapi.json generate (else: npm run generate)", (name) => {
    expect(readFileSync(join(committed, name), "utf8")).toBe(readFileSync(join(fresh, name), "utf8"));
  });
});
