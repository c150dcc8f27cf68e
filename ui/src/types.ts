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
export type Exif = {
  camera?: string;
  exposure?: string;
  gps?: { lat?: number; lon?: number; mapUrl?: string };
  lens?: string;
  takenAt?: string;
};
export type ImageDetail = {
  blur?: number;
  brightness?: number;
  bytes?: number;
  colors: string[];
  contrast?: number;
  description?: string;
  exif: Exif;
  faces: { boxes: number[][]; count?: number };
  format?: string;
  height?: number;
  history: HistoryEntry[];
  keywords: string[];
  labels: Label[];
  nearDuplicates: { sha256: string; thumbUrl?: string }[];
  outputs: Output[];
  quarantine?: { at?: string; reason?: string; stage?: string };
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
  const outputs = obj(o.outputs);

  return {
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
    quarantine: quarantine && { at: str(quarantine.at), reason: str(quarantine.reason), stage: str(quarantine.stage) },
    rawUrl: str(o.raw_url),
    runs: arr(o.run_ids)
      .map((r) => (typeof r === "string" ? { runId: r } : { airflowUrl: str(obj(r).airflow_url), dagId: str(obj(r).dag_id), runId: str(obj(r).run_id) ?? "" }))
      .filter((r) => r.runId !== ""),
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
