import { describe, expect, it } from "vitest";

import { ApiError } from "src/api";
import { pollDelay, retryDelay, runEnded, shouldRetry } from "src/queries";

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
  it("polls sooner at first, then backs off to every 5 s", () => {
    const delays = [0, 1, 2, 3, 4, 5, 10].map(pollDelay);

    expect(delays.slice(0, 3)).toEqual([1000, 1500, 2250]);
    expect(delays.every((d, i) => i === 0 || d >= (delays[i - 1] ?? 0))).toBe(true);
    expect(delays.at(-1)).toBe(5000);
  });

  it("stops when the run has ended", () => {
    expect(["success", "failed"].map(runEnded)).toEqual([true, true]);
    expect(["queued", "running", undefined].map(runEnded)).toEqual([false, false, false]);
  });
});
