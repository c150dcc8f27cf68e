/*
 * The editor's pure helpers: the control each parameter of the operations registry (GET
 * gallery/api/operations, typed by the generated client) gets, and the chain the user builds turned
 * into the recipe's operations list (the YAML's form: one {name: params} mapping per step).
 */
import type { Schemas } from "src/api";

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

export type ParamSpec = Schemas["OperationParam"];
export type OperationSpec = Schemas["OperationInfo"];
export type Family = Schemas["OperationFamily"];
export type ParamValue = boolean | number | number[] | string | null;

/** A value a control can hold: the API's default (any JSON) where it is one, else none. */
export const paramValue = (v: unknown): ParamValue => {
  if (typeof v === "boolean" || typeof v === "string" || (typeof v === "number" && Number.isFinite(v))) {
    return v;
  }
  if (Array.isArray(v) && v.every((x) => typeof x === "number")) {
    return v;
  }

  return null;
};

/** A parameter's choices as the select's options. */
export const choicesOf = (param: ParamSpec): string[] => (param.choices ?? []).map((c) => (typeof c === "string" ? c : JSON.stringify(c)));

/** A bound or step the registry may leave out (absent or null). */
const given = (v: number | null | undefined): v is number => v !== undefined && v !== null;

// -- controls -------------------------------------------------------------------------------------

export type Control = "box" | "checkbox" | "color" | "number" | "select" | "slider" | "text";

/** The control a parameter gets: a slider (with its number box) when a number has both bounds. */
export const controlFor = (param: ParamSpec): Control => {
  switch (param.kind) {
    case "boolean":
      return "checkbox";
    case "box":
      return "box";
    case "color":
      return "color";
    case "select":
      return choicesOf(param).length > 0 ? "select" : "text";
    case "integer":
    case "number":
      return given(param.min) && given(param.max) ? "slider" : "number";
    case "text":
      return "text";
  }
};

/** The step of a number control: the declared one, else 1 for integers and a hundredth of the range. */
export const stepOf = (param: ParamSpec): number => {
  if (given(param.step) && param.step > 0) {
    return param.step;
  }
  if (param.kind === "integer") {
    return 1;
  }
  if (given(param.min) && given(param.max) && param.max > param.min) {
    const raw = (param.max - param.min) / 100;

    return 10 ** Math.floor(Math.log10(raw));
  }

  return 0.1;
};

/** A number typed or slid, kept within the bounds and, for integers, whole. */
export const clampNumber = (param: ParamSpec, value: number): number => {
  let v = param.kind === "integer" ? Math.round(value) : value;

  if (given(param.min)) {
    v = Math.max(param.min, v);
  }
  if (given(param.max)) {
    v = Math.min(param.max, v);
  }

  return v;
};

// -- the chain ------------------------------------------------------------------------------------

export type ChainStep = { id: number; name: string; params: Record<string, ParamValue> };

let nextId = 1;

/** A new step of an operation, its parameters at their defaults. */
export const newStep = (op: OperationSpec): ChainStep => ({
  id: nextId++,
  name: op.name,
  params: Object.fromEntries(op.params.map((p) => [p.name, paramValue(p.default)])),
});

const same = (a: unknown, b: unknown): boolean =>
  JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * The recipe's operations list: each step {name: params}, with only the parameters that differ from
 * their defaults (an empty mapping when none does), so the YAML says what the user chose.
 */
export const chainToOperations = (chain: ChainStep[], ops: Map<string, OperationSpec>): Record<string, Record<string, ParamValue>>[] =>
  chain.map((step) => {
    const spec = ops.get(step.name);
    const params: Record<string, ParamValue> = {};

    for (const [key, value] of Object.entries(step.params)) {
      const declared = spec?.params.find((p) => p.name === key);
      const empty = value === null || value === "" || (Array.isArray(value) && value.length === 0);

      if (!empty && (declared === undefined || declared.required || !same(value, declared.default))) {
        params[key] = value;
      }
    }

    return { [step.name]: params };
  });

/**
 * A recipe's operations list (names or {name: params}, as in its YAML) back into steps, with the
 * defaults for the parameters it leaves out; operations the registry does not know are skipped.
 */
export const operationsToChain = (operations: unknown[], ops: Map<string, OperationSpec>): ChainStep[] =>
  operations.flatMap((item) => {
    const [name, raw] = typeof item === "string" ? [item, {}] : (Object.entries(obj(item))[0] ?? ["", {}]);
    const spec = ops.get(name);

    if (spec === undefined) {
      return [];
    }
    const step = newStep(spec);

    for (const [key, value] of Object.entries(obj(raw))) {
      step.params[key] = paramValue(value);
    }

    return [step];
  });

/** The chain with one step moved by delta places (clamped to the list's ends). */
export const moveStep = <T>(list: T[], index: number, delta: number): T[] => {
  const target = Math.min(list.length - 1, Math.max(0, index + delta));

  if (index < 0 || index >= list.length || target === index) {
    return list;
  }
  const next = [...list];
  const [item] = next.splice(index, 1);

  next.splice(target, 0, item);

  return next;
};

/** Operations indexed by name. */
export const operationIndex = (families: Family[]): Map<string, OperationSpec> =>
  new Map(families.flatMap((f) => f.operations.map((op) => [op.name, op] as const)));

// -- output ----------------------------------------------------------------------------------------

export type OutputForm = { format: string; metadata: string; quality: number; targetKb: string };

/**
 * The recipe's output keys from the form: format and quality always, a target size (KB → bytes)
 * and kept metadata only when asked for (the recipe's defaults otherwise: no target, strip).
 */
/** The form's values from a recipe's output keys (the recipe defaults where it leaves one out). */
export const outputForm = (output: unknown): OutputForm => {
  const o = obj(output);
  const target = num(o.target_bytes);

  return {
    format: str(o.format) ?? "jpeg",
    metadata: str(o.metadata) ?? "strip",
    quality: num(o.quality) ?? 85,
    targetKb: target === undefined ? "" : String(Math.round(target / 1024)),
  };
};

export const outputSpec = (form: OutputForm): Record<string, number | string> => {
  const out: Record<string, number | string> = { format: form.format, quality: form.quality };
  const kb = Number(form.targetKb);

  if (form.targetKb.trim() !== "" && Number.isFinite(kb) && kb > 0) {
    out.target_bytes = Math.round(kb * 1024);
  }
  if (form.metadata !== "strip") {
    out.metadata = form.metadata;
  }

  return out;
};

// -- boxes ----------------------------------------------------------------------------------------

/** A box dragged from (x0, y0) to (x1, y1) on a shown image, in the original's pixels, ordered and clamped. */
export const dragBox = (
  from: [number, number],
  to: [number, number],
  shown: { height: number; width: number },
  original: { height: number; width: number },
): [number, number, number, number] => {
  const sx = original.width / shown.width;
  const sy = original.height / shown.height;
  const cx = (v: number) => Math.round(Math.min(original.width, Math.max(0, v * sx)));
  const cy = (v: number) => Math.round(Math.min(original.height, Math.max(0, v * sy)));
  const [left, right] = [cx(Math.min(from[0], to[0])), cx(Math.max(from[0], to[0]))];
  const [top, bottom] = [cy(Math.min(from[1], to[1])), cy(Math.max(from[1], to[1]))];

  return [left, top, right, bottom];
};

// -- tags -----------------------------------------------------------------------------------------

/** Tags typed as "a, b c" or one per line: trimmed, lower-cased, unique, in order. */
export const parseTags = (text: string): string[] => [
  ...new Set(
    text
      .split(/[,\n]/u)
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ""),
  ),
];
