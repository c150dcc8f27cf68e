import { describe, expect, it } from "vitest";

import { ApiError } from "src/api";
import { followDelay, pollDelay, retryDelay, runEnded, shouldRetry } from "src/queries";

describe("retries", () => {
  it("tries again what may pass: the network, time-outs, the server's try-again-later", () => {
    for (const status of [0, 408, 429, 502, 503, 504]) {
      expect(shouldRetry(0, new ApiError(status, "x")), String(status)).toBe(true);
    }
    expect(shouldRetry(0, new TypeError("Failed to fetch"))).toBe(true);
  });

  it("never repeats a refusal or a bug, and gives up after three tries", () => {
    for (const status of [400, 401, 403, 404, 409, 422, 500]) {
      expect(shouldRetry(0, new ApiError(status, "x")), String(status)).toBe(false);
    }
    expect(shouldRetry(2, new ApiError(503, "x"))).toBe(true);
    expect(shouldRetry(3, new ApiError(503, "x"))).toBe(false);
  });

  it("waits longer each time, up to 8 s", () => {
    expect([0, 1, 2, 3, 4].map(retryDelay)).toEqual([1000, 2000, 4000, 8000, 8000]);
  });
});

describe("following a run", () => {
  it("polls sooner at first, then backs off to every 4 s", () => {
    const delays = [0, 1, 2, 3, 4, 5, 10].map(pollDelay);

    expect(delays.slice(0, 3)).toEqual([500, 750, 1125]);
    expect(delays.every((d, i) => i === 0 || d >= (delays[i - 1] ?? 0))).toBe(true);
    expect(delays.at(-1)).toBe(4000);
  });

  it("backs off while the answers stay the same, and starts again at the shortest wait when one changes", () => {
    const first = { done: false, status: "inbox" };
    const moved = { done: false, status: "raw" };
    const query = { state: { data: first as unknown, dataUpdateCount: 1 } };
    const next = (data: unknown) => {
      query.state = { data, dataUpdateCount: query.state.dataUpdateCount + 1 };

      return followDelay(query);
    };

    expect(followDelay(query)).toBe(500);
    // The same object again (structural sharing keeps an equal answer as it was): waits grow.
    expect([next(first), next(first), next(first)]).toEqual([750, 1125, 1687.5]);
    expect(next(moved)).toBe(500);
    expect(next(moved)).toBe(750);
    // Another query's back-off is its own.
    expect(followDelay({ state: { data: moved, dataUpdateCount: 9 } })).toBe(500);
  });

  it("stops when the run has ended", () => {
    expect(["success", "failed"].map(runEnded)).toEqual([true, true]);
    expect(["queued", "running", undefined].map(runEnded)).toEqual([false, false, false]);
  });
});
