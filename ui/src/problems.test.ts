import { describe, expect, it } from "vitest";

import type { FailedOutput, ImageDetail, Output, ProblemGroup } from "src/api";
import { hasProblem, outputList, outputRows, problemKind, problemsSummary, sortGroups } from "src/types";

const group = (over: Partial<ProblemGroup>): ProblemGroup => ({
  count: 1,
  kind: "image",
  reason: "r",
  recipe: null,
  runs: [],
  samples: [],
  sha256s: ["a"],
  ...over,
});

describe("the Problems view's data", () => {
  it("orders groups largest first, the same cause in the same place, and drops empty ones", () => {
    const groups = sortGroups([
      group({ count: 2, kind: "recipe", reason: "brand_mark: watermark: missing", recipe: "brand_mark", sha256s: ["a", "b"] }),
      group({ count: 5, kind: "recipe", reason: "web: resize: too small", recipe: "web" }),
      group({ count: 0 }),
      group({ count: 2, kind: "recipe", reason: "a recipe", recipe: "alpha" }),
    ]);

    expect(groups.map((g) => [g.count, g.recipe])).toEqual([[5, "web"], [2, "alpha"], [2, "brand_mark"]]);
  });

  it("sums up the totals in words", () => {
    expect(problemsSummary({ failed_images: 3, failed_outputs: 3, images: 5, quarantined: 1, retrying: 1 })).toBe(
      "5 images: 1 quarantined, 3 failed outputs on 3 images, 1 being retried",
    );
    expect(problemsSummary({ failed_images: 1, failed_outputs: 1, images: 1, quarantined: 0, retrying: 0 })).toBe("1 image: 1 failed output on 1 image");
    expect(problemsSummary({ failed_images: 0, failed_outputs: 0, images: 0, quarantined: 0, retrying: 0 })).toBe("No problems");
  });

  it("says whose fault a group is", () => {
    expect(problemKind({ kind: "recipe", recipe: "brand_mark" })).toBe("recipe brand_mark failed");
    expect(problemKind({ kind: "recipe", recipe: null })).toBe("a recipe failed");
    expect(problemKind({ kind: "image", recipe: null })).toBe("the image's fault");
    expect(problemKind({ kind: "something new", recipe: null })).toBe("something new");
  });
});

describe("an image's problems", () => {
  const output = (url: string): Output => ({
    bytes: 10,
    format: "JPEG",
    height: 1,
    processed_at: null,
    quality: 85,
    seconds: 0.1,
    timings: {},
    url,
    version: 1,
    width: 1,
  });
  const failed = (reason: string, over: Partial<FailedOutput> = {}): FailedOutput => ({
    at: null,
    operation: null,
    reason,
    run: null,
    run_id: null,
    version: null,
    ...over,
  });
  const detail: Pick<ImageDetail, "attempts" | "failures" | "outputs" | "quarantine"> = {
    attempts: { at: "2026-11-02T10:00:00+00:00", count: 2, reason: "RuntimeError: boom", runs: [{ airflow_url: null, dag_id: "gallery_process", run_id: "r2" }] },
    failures: {
      alpha: failed("alpha: resize: no"),
      brand_mark: failed("brand_mark: watermark: missing", { operation: "watermark", version: 2 }),
    },
    outputs: { brand_mark: output("/old"), thumb: output("/t"), web: output("/w") },
    quarantine: null,
  };

  it("lists each failed output beside the outputs that worked, in recipe order", () => {
    expect(outputRows(detail).map((r) => `${r.recipe}:${r.kind}`)).toEqual(["alpha:failed", "brand_mark:output", "brand_mark:failed", "thumb:output", "web:output"]);
    expect(outputList({ outputs: { web: output("/w"), a: output("/a") } }).map((o) => [o.recipe, o.url])).toEqual([["a", "/a"], ["web", "/w"]]);
  });

  it("offers Retry for a failed output, unexpected attempts or a quarantine, and not otherwise", () => {
    expect(hasProblem(detail)).toBe(true);
    const fine = { attempts: null, failures: {}, quarantine: null };

    expect(hasProblem(fine)).toBe(false);
    expect(hasProblem({ ...fine, attempts: { at: null, count: 0, reason: null, runs: [] } })).toBe(false);
    expect(hasProblem({ ...fine, attempts: { at: null, count: 1, reason: null, runs: [] } })).toBe(true);
    expect(hasProblem({ ...fine, failures: { web: failed("x") } })).toBe(true);
    expect(
      hasProblem({
        ...fine,
        quarantine: { at: null, attempts: null, kind: "image", reason: "bad", release: null, run: null, run_id: null, stage: "process" },
      }),
    ).toBe(true);
  });
});
