import { describe, expect, it } from "vitest";

import type { MetricsDoc } from "src/api";
import { byDay, entries, field, formatExposure, labelName, perDayBy, perDayCounts, recipeSeconds, rows, runName, topLabels } from "src/types";

describe("analytics shaping", () => {
  const docs: MetricsDoc[] = [
    { day: "2026-11-02", labels: { top: [{ images: 1, label: "sea" }, { images: 2, label: "boat" }] }, processed: 4 },
    {
      by: { engine: { bing: { retrieved: 2 }, inbox: { retrieved: 0 } } },
      day: "2026-11-01",
      labels: { top: [{ images: 3, label: "sea" }] },
      processed: "3",
      processing: { thumb: { seconds: { mean: 0.5 } } },
    },
  ];
  const ordered = byDay(docs);

  it("puts the days in order", () => {
    expect(ordered.map((d) => d.day)).toEqual(["2026-11-01", "2026-11-02"]);
  });

  it("counts per day by engine, without empty series", () => {
    expect(perDayBy(ordered, "engine")).toEqual({ keys: ["bing"], points: [{ day: "2026-11-01", values: { bing: 2 } }, { day: "2026-11-02", values: {} }] });
  });

  it("reads headline counts, missing ones as 0", () => {
    expect(perDayCounts(ordered, ["processed", "quarantined"])).toEqual([
      { day: "2026-11-01", values: { processed: 3, quarantined: 0 } },
      { day: "2026-11-02", values: { processed: 4, quarantined: 0 } },
    ]);
  });

  it("sums top labels over days", () => {
    expect(topLabels(ordered)).toEqual([{ name: "sea", value: 4 }, { name: "boat", value: 2 }]);
  });

  it("takes recipe timings where present", () => {
    expect(recipeSeconds(ordered).points[0]?.values).toEqual({ thumb: 0.5 });
  });

  it("reads numbers, tables and rows inside a document, none where a day lacks them", () => {
    const [first, second] = ordered;

    expect(field(first, "by", "engine", "bing", "retrieved")).toBe(2);
    expect(field(second, "by", "engine", "bing", "retrieved")).toBeUndefined();
    expect(entries(first, "by", "engine").map(([name]) => name)).toEqual(["bing", "inbox"]);
    expect(entries(second, "by", "engine")).toEqual([]);
    expect(rows(second, "labels", "top").map(labelName)).toEqual(["sea", "boat"]);
    expect(labelName({ name: "old-style" })).toBe("old-style");
  });
});

describe("words", () => {
  it("names a run by its DAG when it was recorded", () => {
    expect(runName({ dag_id: "gallery_process", run_id: "r1" })).toBe("gallery_process / r1");
    expect(runName({ dag_id: null, run_id: "r1" })).toBe("r1");
  });

  it("writes exposure times as photographers do", () => {
    expect(formatExposure(1 / 250)).toBe("1/250 s");
    expect(formatExposure(0.5)).toBe("0.5 s");
    expect(formatExposure(2)).toBe("2 s");
    expect(formatExposure(null)).toBeUndefined();
    expect(formatExposure(0)).toBeUndefined();
  });
});
