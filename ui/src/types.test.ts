import { describe, expect, it } from "vitest";

import { normDetail, normPage, perDayBy, recipeSeconds, topLabels } from "src/types";

describe("normalisers tolerate missing fields", () => {
  it("reads a page with missing optional fields", () => {
    const page = normPage({ items: [{ sha256: "a" }, { width: 3 }], next_cursor: null });

    expect(page.items).toEqual([{ format: undefined, height: undefined, keywords: [], labels: [], retrievedAt: undefined, sha256: "a", status: undefined, tags: [], thumbUrl: undefined, width: undefined }]);
    expect(page.nextCursor).toBeUndefined();
    expect(page.count).toBeUndefined();
  });

  it("reads a bare detail", () => {
    const detail = normDetail({ sha256: "b", quarantine: null, features: { faces: { boxes: [[1, 2, 3, 4], [1, 2]] } }, outputs: { web: { url: "x" }, a: {} } });

    expect(detail.quarantine).toBeUndefined();
    expect(detail.faces.boxes).toEqual([[1, 2, 3, 4]]);
    expect(detail.outputs.map((o) => o.recipe)).toEqual(["a", "web"]);
    expect(detail.exif.gps).toBeUndefined();
    expect(detail.labels).toEqual([]);
  });
});

describe("analytics shaping", () => {
  const docs = [
    { by: { engine: { bing: { retrieved: 2 }, inbox: { retrieved: 0 } } }, day: "2026-11-01", labels: { top: [{ images: 3, label: "sea" }] }, processing: { thumb: { seconds: { mean: 0.5 } } } },
    { day: "2026-11-02", labels: { top: [{ images: 1, label: "sea" }, { images: 2, label: "boat" }] } },
  ];

  it("counts per day by engine, without empty series", () => {
    expect(perDayBy(docs, "engine")).toEqual({ keys: ["bing"], points: [{ day: "2026-11-01", values: { bing: 2 } }, { day: "2026-11-02", values: {} }] });
  });

  it("sums top labels over days", () => {
    expect(topLabels(docs)).toEqual([{ name: "sea", value: 4 }, { name: "boat", value: 2 }]);
  });

  it("takes recipe timings where present", () => {
    expect(recipeSeconds(docs).points[0]?.values).toEqual({ thumb: 0.5 });
  });
});
