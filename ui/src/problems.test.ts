import { describe, expect, it } from "vitest";

import { hasProblem, normDetail, normProblems, normRun, outputRows, problemKind, problemsSummary } from "src/types";

const group = (over: Record<string, unknown>) => ({ count: 1, kind: "image", reason: "r", runs: [], samples: [], sha256s: ["a"], ...over });

describe("the Problems view's data", () => {
  it("reads groups, largest first, the same cause in the same place", () => {
    const problems = normProblems({
      failed_outputs: [
        group({ count: 2, kind: "recipe", reason: "brand_mark: watermark: missing", recipe: "brand_mark", sha256s: ["a", "b"] }),
        group({ count: 5, kind: "recipe", reason: "web: resize: too small", recipe: "web" }),
        group({ count: 2, kind: "recipe", reason: "a recipe", recipe: "alpha" }),
      ],
      quarantined: [group({ count: 0 }), group({ kind: undefined, reason: undefined, samples: [{ sha256: "s", thumb_url: "/t" }, { title: "no sha" }] })],
      totals: { failed_images: 2, failed_outputs: 9, images: 3, quarantined: 1, retrying: 0 },
      truncated: true,
    });

    expect(problems.failedOutputs.map((g) => [g.count, g.recipe])).toEqual([[5, "web"], [2, "alpha"], [2, "brand_mark"]]);
    expect(problems.quarantined).toHaveLength(1); // an empty group is no group
    expect(problems.quarantined[0]).toMatchObject({ kind: "unclassified", reason: "no reason recorded", samples: [{ sha256: "s", thumbUrl: "/t" }] });
    expect(problems.retrying).toEqual([]);
    expect(problems.totals).toEqual({ failedImages: 2, failedOutputs: 9, images: 3, quarantined: 1, retrying: 0 });
    expect(problems.truncated).toBe(true);
  });

  it("reads an empty or broken answer as no problems", () => {
    expect(normProblems(null)).toEqual({
      failedOutputs: [],
      quarantined: [],
      retrying: [],
      totals: { failedImages: 0, failedOutputs: 0, images: 0, quarantined: 0, retrying: 0 },
      truncated: false,
    });
    expect(problemsSummary(normProblems({}).totals)).toBe("No problems");
  });

  it("sums up the totals in words", () => {
    expect(problemsSummary({ failedImages: 3, failedOutputs: 3, images: 5, quarantined: 1, retrying: 1 })).toBe(
      "5 images: 1 quarantined, 3 failed outputs on 3 images, 1 being retried",
    );
    expect(problemsSummary({ failedImages: 1, failedOutputs: 1, images: 1, quarantined: 0, retrying: 0 })).toBe("1 image: 1 failed output on 1 image");
  });

  it("says whose fault a group is", () => {
    expect(problemKind({ kind: "recipe", recipe: "brand_mark" })).toBe("recipe brand_mark failed");
    expect(problemKind({ kind: "image" })).toBe("the image's fault");
    expect(problemKind({ kind: "something new" })).toBe("something new");
  });

  it("reads run references in either shape", () => {
    expect(normRun("manual__1")).toEqual({ runId: "manual__1" });
    expect(normRun({ airflow_url: "/dags/gallery_process/runs/r", dag_id: "gallery_process", run_id: "r" })).toEqual({
      airflowUrl: "/dags/gallery_process/runs/r",
      dagId: "gallery_process",
      runId: "r",
    });
    expect(normRun({ dag_id: "x" })).toBeUndefined();
    expect(normRun("")).toBeUndefined();
  });
});

describe("an image's problems", () => {
  const detail = normDetail({
    attempts: { at: "2026-11-02T10:00:00+00:00", count: 2, reason: "RuntimeError: boom", runs: [{ dag_id: "gallery_process", run_id: "r2" }] },
    failures: {
      brand_mark: { at: "2026-11-02T10:00:00+00:00", operation: "watermark", reason: "brand_mark: watermark: missing", run: { run_id: "r1" }, version: 2 },
      alpha: { reason: "alpha: resize: no", run_id: "r0" },
    },
    outputs: { thumb: { url: "/t" }, brand_mark: { url: "/old" }, web: {} },
    quarantine: { attempts: 3, kind: "unexpected", reason: "failed 3 times: x", run: { dag_id: "gallery_process", run_id: "r3" }, stage: "process" },
    sha256: "x",
  });

  it("reads failures, attempts and the quarantine's kind", () => {
    expect(detail.failures).toEqual([
      { at: undefined, operation: undefined, reason: "alpha: resize: no", recipe: "alpha", run: { runId: "r0" }, version: undefined },
      { at: "2026-11-02T10:00:00+00:00", operation: "watermark", reason: "brand_mark: watermark: missing", recipe: "brand_mark", run: { airflowUrl: undefined, dagId: undefined, runId: "r1" }, version: "2" },
    ]);
    expect(detail.attempts).toEqual({ at: "2026-11-02T10:00:00+00:00", count: 2, reason: "RuntimeError: boom", runs: [{ airflowUrl: undefined, dagId: "gallery_process", runId: "r2" }] });
    expect(detail.quarantine).toMatchObject({ attempts: 3, kind: "unexpected", run: { dagId: "gallery_process", runId: "r3" }, stage: "process" });
    expect(hasProblem(detail)).toBe(true);
  });

  it("lists each failed output beside the outputs that worked, in recipe order", () => {
    expect(outputRows(detail).map((r) => `${r.recipe}:${r.kind}`)).toEqual(["alpha:failed", "brand_mark:output", "brand_mark:failed", "thumb:output", "web:output"]);
  });

  it("offers no Retry to an image without a problem", () => {
    const fine = normDetail({ attempts: null, failures: {}, outputs: { thumb: {} }, quarantine: null, sha256: "y" });

    expect(fine.failures).toEqual([]);
    expect(fine.attempts).toBeUndefined();
    expect(hasProblem(fine)).toBe(false);
    expect(hasProblem({ ...fine, attempts: { count: 0, runs: [] } })).toBe(false);
    expect(outputRows(fine).map((r) => r.kind)).toEqual(["output"]);
  });
});
