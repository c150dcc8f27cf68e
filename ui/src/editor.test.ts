import { describe, expect, it } from "vitest";

import type { ChainStep, Family, OperationSpec, ParamSpec } from "src/editor";
import {
  chainToOperations,
  choicesOf,
  clampNumber,
  controlFor,
  dragBox,
  moveStep,
  newStep,
  operationIndex,
  operationsToChain,
  outputForm,
  outputSpec,
  parseTags,
  stepOf,
} from "src/editor";

// A registry as GET /api/operations answers it (the generated types say what each field holds).
const param = (over: Partial<ParamSpec> & Pick<ParamSpec, "kind" | "name">): ParamSpec => ({
  default: null,
  description: null,
  nullable: true,
  required: false,
  title: over.name.charAt(0).toUpperCase() + over.name.slice(1),
  ...over,
});
const operation = (name: string, params: ParamSpec[], title = name.charAt(0).toUpperCase() + name.slice(1)): OperationSpec => ({
  colour: false,
  description: "",
  name,
  params,
  title,
});
const registry: Family[] = [
  {
    name: "colour",
    operations: [operation("grayscale", []), operation("blur", [param({ default: 2, kind: "number", max: 50, min: 0, name: "radius", step: 0.5 })])],
    title: "Colour and filters",
  },
  {
    name: "geometry",
    operations: [
      operation("crop", [
        param({ kind: "box", name: "box" }),
        param({ choices: ["center", "entropy", "face"], default: "center", kind: "select", name: "focus" }),
      ]),
    ],
    title: "Geometry",
  },
];
const ops = operationIndex(registry);

describe("the operations registry", () => {
  it("indexes operations by name", () => {
    expect([...ops.keys()]).toEqual(["grayscale", "blur", "crop"]);
    expect(ops.get("crop")?.params.map((p) => p.kind)).toEqual(["box", "select"]);
  });

  it("maps each parameter kind to its control", () => {
    expect(controlFor(param({ kind: "number", max: 50, min: 0, name: "r" }))).toBe("slider");
    expect(controlFor(param({ kind: "integer", min: 0, name: "n" }))).toBe("number");
    expect(controlFor(param({ kind: "integer", max: null, min: 0, name: "n" }))).toBe("number");
    expect(controlFor(param({ kind: "boolean", name: "b" }))).toBe("checkbox");
    expect(controlFor(param({ kind: "color", name: "c" }))).toBe("color");
    expect(controlFor(param({ choices: ["a"], kind: "select", name: "s" }))).toBe("select");
    expect(controlFor(param({ kind: "select", name: "s" }))).toBe("text");
    expect(controlFor(param({ choices: null, kind: "select", name: "s" }))).toBe("text");
    expect(controlFor(param({ kind: "box", name: "box" }))).toBe("box");
    expect(controlFor(param({ kind: "text", name: "t" }))).toBe("text");
  });

  it("offers choices as text", () => {
    expect(choicesOf(param({ choices: ["a", 2, null], kind: "select", name: "s" }))).toEqual(["a", "2", "null"]);
  });

  it("steps and clamps numbers", () => {
    const radius = param({ kind: "number", max: 50, min: 0, name: "radius" });
    const tiles = param({ kind: "integer", max: 64, min: 1, name: "tile" });

    expect(stepOf(radius)).toBeCloseTo(0.1);
    expect(stepOf(param({ kind: "number", max: 1, min: 0, name: "o" }))).toBeCloseTo(0.01);
    expect(stepOf(param({ kind: "number", max: 1, min: 0, name: "o", step: null }))).toBeCloseTo(0.01);
    expect(stepOf(tiles)).toBe(1);
    expect(clampNumber(radius, 80)).toBe(50);
    expect(clampNumber(param({ kind: "number", max: null, min: null, name: "free" }), 80)).toBe(80);
    expect(clampNumber(tiles, 0.4)).toBe(1);
    expect(clampNumber(tiles, 7.6)).toBe(8);
  });

  it("starts a step at the registry's defaults, a default no control holds as none", () => {
    const odd = operation("odd", [param({ default: { a: 1 }, kind: "text", name: "shape" }), param({ default: [1, 2], kind: "box", name: "box" })]);

    expect(newStep(odd).params).toEqual({ box: [1, 2], shape: null });
  });
});

describe("the chain as the recipe's operations list", () => {
  const gray = newStep(ops.get("grayscale")!);
  const blur = newStep(ops.get("blur")!);
  const crop = newStep(ops.get("crop")!);

  it("writes one {name: params} per step, only the parameters that differ from their defaults", () => {
    const chain: ChainStep[] = [gray, { ...blur, params: { radius: 4 } }, { ...blur, params: { radius: 2 } }];

    expect(chainToOperations(chain, ops)).toEqual([{ grayscale: {} }, { blur: { radius: 4 } }, { blur: {} }]);
  });

  it("leaves unset (null or empty) parameters out and keeps a drawn box", () => {
    expect(chainToOperations([crop], ops)).toEqual([{ crop: {} }]);
    expect(chainToOperations([{ ...crop, params: { box: [10, 20, 300, 200], focus: "face" } }], ops)).toEqual([
      { crop: { box: [10, 20, 300, 200], focus: "face" } },
    ]);
  });

  it("reads a recipe's operations back into steps, with defaults, skipping unknown ones", () => {
    const chain = operationsToChain(["grayscale", { blur: { radius: 5 } }, { mystery: {} }, { crop: { box: [1, 2, 3, 4] } }], ops);

    expect(chain.map((s) => [s.name, s.params])).toEqual([
      ["grayscale", {}],
      ["blur", { radius: 5 }],
      ["crop", { box: [1, 2, 3, 4], focus: "center" }],
    ]);
    expect(chainToOperations(chain, ops)).toEqual([{ grayscale: {} }, { blur: { radius: 5 } }, { crop: { box: [1, 2, 3, 4] } }]);
  });

  it("gives each new step its own id", () => {
    expect(newStep(ops.get("blur")!).id).not.toBe(blur.id);
    expect(blur.params).toEqual({ radius: 2 });
  });

  it("moves a step up and down, clamped at the ends", () => {
    expect(moveStep(["a", "b", "c"], 2, -1)).toEqual(["a", "c", "b"]);
    expect(moveStep(["a", "b", "c"], 0, 1)).toEqual(["b", "a", "c"]);
    expect(moveStep(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(moveStep(["a", "b", "c"], 0, 5)).toEqual(["b", "c", "a"]);
  });
});

describe("helpers", () => {
  it("turns a drag on a shown image into a box in the original's pixels", () => {
    const shown = { height: 300, width: 400 };
    const original = { height: 600, width: 800 };

    expect(dragBox([300, 250], [100, 50], shown, original)).toEqual([200, 100, 600, 500]);
    expect(dragBox([-10, -5], [500, 400], shown, original)).toEqual([0, 0, 800, 600]);
  });

  it("writes the output keys asked for", () => {
    expect(outputSpec({ format: "jpeg", metadata: "strip", quality: 85, targetKb: "" })).toEqual({ format: "jpeg", quality: 85 });
    expect(outputSpec({ format: "webp", metadata: "keep", quality: 70, targetKb: "150" })).toEqual({
      format: "webp",
      metadata: "keep",
      quality: 70,
      target_bytes: 153600,
    });
    expect(outputSpec({ format: "png", metadata: "strip", quality: 85, targetKb: "-3" })).toEqual({ format: "png", quality: 85 });
  });

  it("reads a recipe's output into the form", () => {
    expect(outputForm({})).toEqual({ format: "jpeg", metadata: "strip", quality: 85, targetKb: "" });
    expect(outputForm({ format: "webp", metadata: "keep", quality: 70, target_bytes: 153600 })).toEqual({
      format: "webp",
      metadata: "keep",
      quality: 70,
      targetKb: "150",
    });
  });

  it("parses tags", () => {
    expect(parseTags(" Harbour, dusk\nharbour,, boats ")).toEqual(["harbour", "dusk", "boats"]);
  });
});
