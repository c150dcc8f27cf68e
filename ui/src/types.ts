/*
 * Pure helpers over the API's documents (typed by the generated client, src/api.ts): how the pages
 * order, count and word them, and the analytics' series shaped for the charts. No shape of the API's
 * is written here: the API's models are the one definition (include/image_pipeline/ui/schemas.py).
 */
import type { FailedOutput, ImageDetail, MetricsDoc, Output, ProblemGroup, ProblemTotals, RunRef } from "src/api";

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && v !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;

/** A run as people read it: "<dag> / <run>", or the run id alone when its DAG was not recorded. */
export const runName = (run: Pick<RunRef, "dag_id" | "run_id">): string => (run.dag_id === null ? run.run_id : `${run.dag_id} / ${run.run_id}`);

// -- an image's page ------------------------------------------------------------------------------

/** The Outputs table's rows: each recipe's output, and beside it (in recipe order) each failed one. */
export type OutputRow = { failure: FailedOutput; kind: "failed"; recipe: string } | { kind: "output"; output: Output; recipe: string };

export const outputRows = (detail: Pick<ImageDetail, "failures" | "outputs">): OutputRow[] =>
  [
    ...Object.entries(detail.outputs).map(([recipe, output]): OutputRow => ({ kind: "output", output, recipe })),
    ...Object.entries(detail.failures).map(([recipe, failure]): OutputRow => ({ failure, kind: "failed", recipe })),
  ].sort((a, b) => a.recipe.localeCompare(b.recipe) || (a.kind === b.kind ? 0 : a.kind === "output" ? -1 : 1));

/** The outputs in recipe order (the image's tabs). */
export const outputList = (detail: Pick<ImageDetail, "outputs">): (Output & { recipe: string })[] =>
  Object.entries(detail.outputs)
    .map(([recipe, output]) => ({ ...output, recipe }))
    .sort((a, b) => a.recipe.localeCompare(b.recipe));

/** Whether the image page offers Retry: a quarantine, a failed output or unexpected attempts. */
export const hasProblem = (detail: Pick<ImageDetail, "attempts" | "failures" | "quarantine">): boolean =>
  detail.quarantine !== null || Object.keys(detail.failures).length > 0 || (detail.attempts?.count ?? 0) > 0;

/** Newest change first (entries without a time last). */
export const newestFirst = <T extends { at?: string | null }>(entries: T[]): T[] =>
  [...entries].sort((a, b) => (b.at ?? "").localeCompare(a.at ?? ""));

// -- the Problems view --------------------------------------------------------------------------------

/** Largest group first, then by kind, recipe and reason: the same cause keeps its place between loads. */
export const sortGroups = (groups: ProblemGroup[]): ProblemGroup[] =>
  groups
    .filter((g) => g.count > 0)
    .sort(
      (a, b) =>
        b.count - a.count || a.kind.localeCompare(b.kind) || (a.recipe ?? "").localeCompare(b.recipe ?? "") || a.reason.localeCompare(b.reason),
    );

/** What a group is, in words: whose fault it was and what happens next. */
export const problemKind = (group: Pick<ProblemGroup, "kind" | "recipe">): string =>
  ({
    image: "the image's fault",
    recipe: group.recipe === null ? "a recipe failed" : `recipe ${group.recipe} failed`,
    retrying: "unexpected, tried again",
    unclassified: "quarantined before failures were classified",
    unexpected: "failed unexpectedly, repeatedly",
  })[group.kind] ?? group.kind;

/** One line for the totals: "4 images: 1 quarantined, 2 failed outputs on 2 images, 1 being retried". */
export const problemsSummary = (t: ProblemTotals): string => {
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const parts = [
    t.quarantined > 0 ? `${t.quarantined} quarantined` : "",
    t.failed_outputs > 0 ? `${plural(t.failed_outputs, "failed output")} on ${plural(t.failed_images, "image")}` : "",
    t.retrying > 0 ? `${t.retrying} being retried` : "",
  ].filter((p) => p !== "");

  return parts.length === 0 ? "No problems" : `${plural(t.images, "image")}: ${parts.join(", ")}`;
};

// -- analytics shaping ------------------------------------------------------------------------------
// A day's metrics document is free-form past its day (the analytics' own report): these read the
// parts the charts need, tolerating the ones a day lacks.

export type DayPoint = { day: string; values: Record<string, number> };

/** Oldest day first. */
export const byDay = (docs: MetricsDoc[]): MetricsDoc[] => [...docs].sort((a, b) => a.day.localeCompare(b.day));

/** Images retrieved per day by engine (metrics.by.engine.<engine>.retrieved). */
export const perDayBy = (docs: MetricsDoc[], dimension: string, fieldName = "retrieved"): { keys: string[]; points: DayPoint[] } => {
  const keys = new Set<string>();
  const points = docs.map((doc) => {
    const table = obj(obj(doc.by)[dimension]);
    const values: Record<string, number> = {};

    for (const [name, row] of Object.entries(table)) {
      const value = num(obj(row)[fieldName]) ?? 0;

      if (value > 0) {
        values[name] = value;
        keys.add(name);
      }
    }

    return { day: doc.day, values };
  });

  return { keys: [...keys].sort(), points };
};

/** Headline counts per day: retrieved, processed, quarantined. */
export const perDayCounts = (docs: MetricsDoc[], fields: string[]): DayPoint[] =>
  docs.map((doc) => ({ day: doc.day, values: Object.fromEntries(fields.map((f) => [f, num(doc[f]) ?? 0])) }));

/** Top labels over the docs (metrics.labels.top[{label, images}]), summed, largest first. */
export const topLabels = (docs: MetricsDoc[], n = 15): { name: string; value: number }[] => {
  const totals = new Map<string, number>();

  for (const doc of docs) {
    for (const entry of arr(obj(doc.labels).top)) {
      const name = str(obj(entry).label) ?? str(obj(entry).name);

      if (name !== undefined) {
        totals.set(name, (totals.get(name) ?? 0) + (num(obj(entry).images) ?? 0));
      }
    }
  }

  return [...totals.entries()]
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => b.value - a.value || a.name.localeCompare(b.name))
    .slice(0, n);
};

/** Mean processing seconds per recipe per day (metrics.processing.<recipe>.seconds.mean). */
export const recipeSeconds = (docs: MetricsDoc[], stat = "mean"): { keys: string[]; points: DayPoint[] } => {
  const keys = new Set<string>();
  const points = docs.map((doc) => {
    const values: Record<string, number> = {};

    for (const [recipe, row] of Object.entries(obj(doc.processing))) {
      const value = num(obj(obj(row).seconds)[stat]);

      if (value !== undefined) {
        values[recipe] = value;
        keys.add(recipe);
      }
    }

    return { day: doc.day, values };
  });

  return { keys: [...keys].sort(), points };
};

const at = (value: unknown, path: string[]): unknown => path.reduce((v, key) => obj(v)[key], value);

/** A number inside a document, e.g. field(doc, "storage", "total"). */
export const field = (value: unknown, ...path: string[]): number | undefined => num(at(value, path));

/** A table inside a document as [name, row] pairs, e.g. entries(doc, "by", "engine"). */
export const entries = (value: unknown, ...path: string[]): [string, unknown][] => Object.entries(obj(at(value, path)));

/** A list of rows inside a document, e.g. rows(doc, "labels", "top"). */
export const rows = (value: unknown, ...path: string[]): Json[] => arr(at(value, path)).map(obj);

/** A label's name in a top-labels row ({label} or {name}). */
export const labelName = (row: Json): string => str(row.label) ?? str(row.name) ?? "";

// -- formatting --------------------------------------------------------------------------------------

export const formatBytes = (n?: number | null): string => {
  if (n === undefined || n === null) {
    return "–";
  }
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;

  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }

  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
};

export const formatDate = (iso?: string | null): string => {
  if (iso === undefined || iso === null) {
    return "–";
  }
  const date = new Date(iso);

  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
};

export const formatSeconds = (s?: number | null): string =>
  s === undefined || s === null ? "–" : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;

/** An exposure time in seconds as photographers write it: 1/250 s, 0.5 s, 2 s. */
export const formatExposure = (s?: number | null): string | undefined =>
  s === undefined || s === null || s <= 0 ? undefined : s < 0.5 ? `1/${Math.round(1 / s)} s` : `${Number(s.toFixed(1))} s`;
