/*
 * The API's shapes, and normalisers that tolerate missing optional fields: every page reads these
 * normalised values, never the raw JSON.
 */

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && v !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
const strs = (v: unknown): string[] =>
  arr(v).map((x) => (typeof x === "string" ? x : str(obj(x).name) ?? "")).filter((x) => x !== "");

export type Label = { name: string; score?: number; source?: string };

export type Trashed = { at?: string; by?: string };
export type HistoryEntry = { action: string; at?: string; by?: string; changes: Record<string, unknown> };

export type ImageItem = {
  format?: string;
  height?: number;
  keywords: string[];
  labels: string[];
  retrievedAt?: string;
  sha256: string;
  status?: string;
  tags: string[];
  thumbUrl?: string;
  title?: string;
  trashed?: Trashed;
  width?: number;
};

export type ImagePage = { count?: number; items: ImageItem[]; nextCursor?: string };

export type Facet = { count?: number; name: string };
export type Facets = { formats: Facet[]; keywords: Facet[]; labels: Facet[]; sources: Facet[]; statuses: Facet[]; tags: Facet[] };

export type RunRef = { airflowUrl?: string; dagId?: string; runId: string };
export type Provenance = {
  creator?: string;
  keyword?: string;
  licence?: string;
  pageUrl?: string;
  retrievedAt?: string;
  source?: string;
  uploadedBy?: string;
  uri?: string;
};
export type Output = {
  bytes?: number;
  format?: string;
  height?: number;
  recipe: string;
  seconds?: number;
  url?: string;
  version?: string;
  width?: number;
};
/** A recipe's output that failed for the image (the recipe's fault): the image keeps its other outputs. */
export type Failure = { at?: string; operation?: string; reason: string; recipe: string; run?: RunRef; version?: string };
/** Unexpected failures still being tried again by later runs (quarantined after too many). */
export type Attempts = { at?: string; count: number; reason?: string; runs: RunRef[] };
export type Quarantine = {
  at?: string;
  attempts?: number;
  kind?: string;
  reason?: string;
  release?: string;
  run?: RunRef;
  stage?: string;
};
export type Exif = {
  camera?: string;
  exposure?: string;
  gps?: { lat?: number; lon?: number; mapUrl?: string };
  lens?: string;
  takenAt?: string;
};
export type ImageDetail = {
  attempts?: Attempts;
  blur?: number;
  brightness?: number;
  bytes?: number;
  colors: string[];
  contrast?: number;
  description?: string;
  exif: Exif;
  faces: { boxes: number[][]; count?: number };
  failures: Failure[];
  format?: string;
  height?: number;
  history: HistoryEntry[];
  keywords: string[];
  labels: Label[];
  nearDuplicates: { sha256: string; thumbUrl?: string }[];
  outputs: Output[];
  quarantine?: Quarantine;
  rawUrl?: string;
  runs: RunRef[];
  sha256: string;
  sources: Provenance[];
  status?: string;
  tags: string[];
  title?: string;
  trashed?: Trashed;
  width?: number;
};

export type Recipe = {
  description?: string;
  name: string;
  operations: unknown[];
  origin?: string;
  output: Json;
  version?: string;
  yaml?: string;
};
export type MetricsDoc = Json & { day: string };

const normTrashed = (v: unknown): Trashed | undefined =>
  v === null || v === undefined || v === false ? undefined : { at: str(obj(v).at), by: str(obj(v).by) };

const text = (v: unknown): string | undefined => str(v) ?? (num(v) === undefined ? undefined : String(v));

/** A run reference as the API gives it ({run_id, dag_id, airflow_url}, or a bare run id). */
export const normRun = (raw: unknown): RunRef | undefined => {
  if (typeof raw === "string") {
    return raw === "" ? undefined : { runId: raw };
  }
  const o = obj(raw);
  const runId = str(o.run_id);

  return runId === undefined ? undefined : { airflowUrl: str(o.airflow_url), dagId: str(o.dag_id), runId };
};

const normRuns = (v: unknown): RunRef[] => arr(v).map(normRun).filter((r): r is RunRef => r !== undefined);

export const normItem = (raw: unknown): ImageItem => {
  const o = obj(raw);

  return {
    format: str(o.format),
    height: num(o.height),
    keywords: strs(o.keywords),
    labels: strs(o.labels),
    retrievedAt: str(o.retrieved_at),
    sha256: str(o.sha256) ?? "",
    status: str(o.status),
    tags: strs(o.tags),
    thumbUrl: str(o.thumb_url),
    title: str(o.title),
    trashed: normTrashed(o.trashed),
    width: num(o.width),
  };
};

export const normPage = (raw: unknown): ImagePage => {
  const o = obj(raw);

  return {
    count: num(o.count),
    items: arr(Array.isArray(raw) ? raw : o.items).map(normItem).filter((i) => i.sha256 !== ""),
    nextCursor: str(o.next_cursor),
  };
};

const facetList = (v: unknown): Facet[] =>
  arr(v)
    .map((x) => (typeof x === "string" ? { name: x } : { count: num(obj(x).count), name: str(obj(x).name) ?? "" }))
    .filter((f) => f.name !== "");

export const normFacets = (raw: unknown): Facets => {
  const o = obj(raw);

  return {
    formats: facetList(o.formats),
    keywords: facetList(o.keywords),
    labels: facetList(o.labels),
    sources: facetList(o.sources),
    statuses: facetList(o.statuses),
    tags: facetList(o.tags),
  };
};

export const normDetail = (raw: unknown): ImageDetail => {
  const o = obj(raw);
  const features = obj(o.features);
  const exif = obj(features.exif);
  const gps = obj(exif.gps);
  const faces = obj(features.faces);
  const quarantine = o.quarantine === null || o.quarantine === undefined ? undefined : obj(o.quarantine);
  const attempts = o.attempts === null || o.attempts === undefined ? undefined : obj(o.attempts);
  const outputs = obj(o.outputs);

  return {
    attempts: attempts && {
      at: str(attempts.at),
      count: num(attempts.count) ?? 0,
      reason: str(attempts.reason),
      runs: normRuns(attempts.runs),
    },
    blur: num(features.blur),
    brightness: num(features.brightness),
    bytes: num(o.bytes),
    colors: arr(features.colors).filter((c): c is string => typeof c === "string"),
    contrast: num(features.contrast),
    description: str(o.description),
    exif: {
      camera: str(exif.camera),
      exposure: str(exif.exposure) ?? (num(exif.exposure) === undefined ? undefined : String(exif.exposure)),
      gps:
        num(gps.lat) === undefined || num(gps.lon) === undefined
          ? undefined
          : { lat: num(gps.lat), lon: num(gps.lon), mapUrl: str(gps.map_url) },
      lens: str(exif.lens),
      takenAt: str(exif.taken_at),
    },
    faces: {
      boxes: arr(faces.boxes)
        .map((b) => arr(b).map((x) => num(x) ?? Number.NaN))
        .filter((b) => b.length === 4 && b.every((x) => Number.isFinite(x))),
      count: num(faces.count),
    },
    failures: Object.entries(obj(o.failures))
      .map(([recipe, v]) => {
        const f = obj(v);

        return {
          at: str(f.at),
          operation: str(f.operation),
          reason: str(f.reason) ?? "no reason recorded",
          recipe,
          run: normRun(f.run) ?? normRun(f.run_id),
          version: text(f.version),
        };
      })
      .sort((a, b) => a.recipe.localeCompare(b.recipe)),
    format: str(o.format),
    height: num(o.height),
    history: arr(o.history)
      .map((h) => ({ action: str(obj(h).action) ?? "", at: str(obj(h).at), by: str(obj(h).by), changes: obj(obj(h).changes) }))
      .filter((h) => h.action !== "")
      .sort((a, b) => (b.at ?? "").localeCompare(a.at ?? "")),
    keywords: strs(o.keywords),
    labels: arr(features.labels)
      .map((l) => (typeof l === "string" ? { name: l } : { name: str(obj(l).name) ?? "", score: num(obj(l).score), source: str(obj(l).source) }))
      .filter((l) => l.name !== ""),
    nearDuplicates: arr(o.near_duplicates)
      .map((d) => (typeof d === "string" ? { sha256: d } : { sha256: str(obj(d).sha256) ?? "", thumbUrl: str(obj(d).thumb_url) }))
      .filter((d) => d.sha256 !== ""),
    outputs: Object.entries(outputs)
      .map(([recipe, v]) => {
        const out = obj(v);

        return {
          bytes: num(out.bytes),
          format: str(out.format),
          height: num(out.height),
          recipe,
          seconds: num(out.seconds),
          url: str(out.url),
          version: str(out.version) ?? (num(out.version) === undefined ? undefined : String(out.version)),
          width: num(out.width),
        };
      })
      .sort((a, b) => a.recipe.localeCompare(b.recipe)),
    quarantine: quarantine && {
      at: str(quarantine.at),
      attempts: num(quarantine.attempts),
      kind: str(quarantine.kind),
      reason: str(quarantine.reason),
      release: str(quarantine.release),
      run: normRun(quarantine.run) ?? normRun(quarantine.run_id),
      stage: str(quarantine.stage),
    },
    rawUrl: str(o.raw_url),
    runs: normRuns(o.run_ids),
    sha256: str(o.sha256) ?? "",
    sources: arr(o.sources).map((s) => {
      const p = obj(s);

      return {
        creator: str(p.creator),
        keyword: str(p.keyword),
        licence: str(p.licence),
        pageUrl: str(p.page_url),
        retrievedAt: str(p.retrieved_at),
        source: str(p.source) ?? str(p.engine),
        uploadedBy: str(p.uploaded_by),
        uri: str(p.uri),
      };
    }),
    status: str(o.status),
    tags: strs(o.tags),
    title: str(o.title),
    trashed: normTrashed(o.trashed),
    width: num(o.width),
  };
};

/** The Outputs table's rows: each recipe's output, and beside it (in recipe order) each failed one. */
export type OutputRow = { failure: Failure; kind: "failed"; recipe: string } | { kind: "output"; output: Output; recipe: string };

export const outputRows = (detail: Pick<ImageDetail, "failures" | "outputs">): OutputRow[] =>
  [
    ...detail.outputs.map((output): OutputRow => ({ kind: "output", output, recipe: output.recipe })),
    ...detail.failures.map((failure): OutputRow => ({ failure, kind: "failed", recipe: failure.recipe })),
  ].sort((a, b) => a.recipe.localeCompare(b.recipe) || (a.kind === b.kind ? 0 : a.kind === "output" ? -1 : 1));

/** Whether the image page offers Retry: a quarantine, a failed output or unexpected attempts. */
export const hasProblem = (detail: Pick<ImageDetail, "attempts" | "failures" | "quarantine">): boolean =>
  detail.quarantine !== undefined || detail.failures.length > 0 || (detail.attempts?.count ?? 0) > 0;

// -- the Problems view --------------------------------------------------------------------------------

export type ProblemSample = { keyword?: string; sha256: string; thumbUrl?: string; title?: string };
export type ProblemGroup = {
  count: number;
  kind: string;
  reason: string;
  recipe?: string;
  runs: RunRef[];
  samples: ProblemSample[];
  sha256s: string[];
};
export type ProblemTotals = { failedImages: number; failedOutputs: number; images: number; quarantined: number; retrying: number };
export type Problems = {
  failedOutputs: ProblemGroup[];
  quarantined: ProblemGroup[];
  retrying: ProblemGroup[];
  totals: ProblemTotals;
  truncated: boolean;
};

const normGroup = (raw: unknown): ProblemGroup => {
  const o = obj(raw);
  const sha256s = arr(o.sha256s).filter((s): s is string => typeof s === "string" && s !== "");

  return {
    count: num(o.count) ?? sha256s.length,
    kind: str(o.kind) ?? "unclassified",
    reason: str(o.reason) ?? "no reason recorded",
    recipe: str(o.recipe),
    runs: normRuns(o.runs),
    samples: arr(o.samples)
      .map((x) => ({ keyword: str(obj(x).keyword), sha256: str(obj(x).sha256) ?? "", thumbUrl: str(obj(x).thumb_url), title: str(obj(x).title) }))
      .filter((x) => x.sha256 !== ""),
    sha256s,
  };
};

/** Largest group first, then by kind, recipe and reason: the same cause keeps its place between loads. */
const byCount = (a: ProblemGroup, b: ProblemGroup): number =>
  b.count - a.count || a.kind.localeCompare(b.kind) || (a.recipe ?? "").localeCompare(b.recipe ?? "") || a.reason.localeCompare(b.reason);

export const normProblems = (raw: unknown): Problems => {
  const o = obj(raw);
  const totals = obj(o.totals);
  const groups = (v: unknown) => arr(v).map(normGroup).filter((g) => g.count > 0).sort(byCount);

  return {
    failedOutputs: groups(o.failed_outputs),
    quarantined: groups(o.quarantined),
    retrying: groups(o.retrying),
    totals: {
      failedImages: num(totals.failed_images) ?? 0,
      failedOutputs: num(totals.failed_outputs) ?? 0,
      images: num(totals.images) ?? 0,
      quarantined: num(totals.quarantined) ?? 0,
      retrying: num(totals.retrying) ?? 0,
    },
    truncated: o.truncated === true,
  };
};

/** What a group is, in words: whose fault it was and what happens next. */
export const problemKind = (group: Pick<ProblemGroup, "kind" | "recipe">): string =>
  ({
    image: "the image's fault",
    recipe: group.recipe === undefined ? "a recipe failed" : `recipe ${group.recipe} failed`,
    retrying: "unexpected, tried again",
    unclassified: "quarantined before failures were classified",
    unexpected: "failed unexpectedly, repeatedly",
  })[group.kind] ?? group.kind;

/** One line for the totals: "4 images: 1 quarantined, 2 failed outputs on 2 images, 1 being retried". */
export const problemsSummary = (t: ProblemTotals): string => {
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const parts = [
    t.quarantined > 0 ? `${t.quarantined} quarantined` : "",
    t.failedOutputs > 0 ? `${plural(t.failedOutputs, "failed output")} on ${plural(t.failedImages, "image")}` : "",
    t.retrying > 0 ? `${t.retrying} being retried` : "",
  ].filter((p) => p !== "");

  return parts.length === 0 ? "No problems" : `${plural(t.images, "image")}: ${parts.join(", ")}`;
};

export const normRecipes = (raw: unknown): Recipe[] =>
  arr(raw)
    .map((r) =>
      typeof r === "string"
        ? { name: r, operations: [], output: {} }
        : {
            description: str(obj(r).description),
            name: str(obj(r).name) ?? "",
            operations: arr(obj(r).operations),
            origin: str(obj(r).origin),
            output: obj(obj(r).output),
            version: str(obj(r).version) ?? (num(obj(r).version) === undefined ? undefined : String(obj(r).version)),
            yaml: str(obj(r).yaml),
          },
    )
    .filter((r) => r.name !== "");

export const normMetrics = (raw: unknown): MetricsDoc[] =>
  arr(raw)
    .map((m) => obj(m))
    .filter((m): m is MetricsDoc => typeof m.day === "string")
    .sort((a, b) => a.day.localeCompare(b.day));

// -- analytics shaping ------------------------------------------------------------------------------

export type DayPoint = { day: string; values: Record<string, number> };

/** Images retrieved per day by engine (metrics.by.engine.<engine>.retrieved). */
export const perDayBy = (docs: MetricsDoc[], dimension: string, field = "retrieved"): { keys: string[]; points: DayPoint[] } => {
  const keys = new Set<string>();
  const points = docs.map((doc) => {
    const table = obj(obj(doc.by)[dimension]);
    const values: Record<string, number> = {};

    for (const [name, row] of Object.entries(table)) {
      const value = num(obj(row)[field]) ?? 0;

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

export const field = (doc: MetricsDoc | undefined, ...path: string[]): number | undefined => {
  let value: unknown = doc;

  for (const key of path) {
    value = obj(value)[key];
  }

  return num(value);
};

export const entries = (doc: MetricsDoc | undefined, ...path: string[]): [string, unknown][] => {
  let value: unknown = doc;

  for (const key of path) {
    value = obj(value)[key];
  }

  return Object.entries(obj(value));
};

export const list = (doc: MetricsDoc | undefined, ...path: string[]): Json[] => {
  let value: unknown = doc;

  for (const key of path) {
    value = obj(value)[key];
  }

  return arr(value).map(obj);
};

// -- formatting --------------------------------------------------------------------------------------

export const formatBytes = (n?: number): string => {
  if (n === undefined) {
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

export const formatDate = (iso?: string): string => {
  if (iso === undefined) {
    return "–";
  }
  const date = new Date(iso);

  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
};

export const formatSeconds = (s?: number): string =>
  s === undefined ? "–" : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
