/*
 * The gallery's API (/gallery/api/...) and Airflow's REST API (/api/v2/...), same-origin, through
 * openapi-fetch clients typed by the TypeScript generated from their OpenAPI documents (src/client/,
 * `npm run generate`): every path, parameter, body and answer here is the API's own, checked by tsc.
 *
 * Auth: Airflow's own UI calls its API with no Authorization header; the browser sends the
 * `_token` cookie set at login, which the API server (and the gallery's FastAPI app, through
 * airflow.api_fastapi.core_api.security) reads. We do the same: credentials "same-origin". A 401
 * sends the user to Airflow's login page, as the host does.
 *
 * Base path: Airflow may be served under a prefix ([api] base_url); the host page carries it in
 * <base href>, so every URL here is resolved against it, never "/".
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components as AirflowComponents, paths as AirflowPaths } from "src/client/airflow";
import type { components as GalleryComponents, paths as GalleryPaths } from "src/client/gallery";

/** The gallery API's documents, by their schema names (ImageDetail, ImagePage, Problems, ...). */
export type Schemas = GalleryComponents["schemas"];
export type ImageDetail = Schemas["ImageDetail"];
export type ImageSummary = Schemas["ImageSummary"];
export type ImagePage = Schemas["ImagePage"];
export type Facet = Schemas["Facet"];
export type Facets = Schemas["Facets"];
export type RunRef = Schemas["RunRef"];
export type Quarantine = Schemas["Quarantine"];
export type FailedOutput = Schemas["FailedOutput"];
export type Output = Schemas["Output"];
export type HistoryEntry = Schemas["HistoryEntry"];
export type SimilarImages = Schemas["SimilarImages"];
export type MetricsDoc = Schemas["DailyMetrics"];
export type Recipe = Schemas["RecipeItem"];
export type RecipeDraft = Schemas["RecipeBody"];
export type RecipeCheck = Schemas["RecipeCheck"];
export type SavedRecipe = Schemas["SavedRecipe"];
export type Problems = Schemas["Problems"];
export type ProblemGroup = Schemas["ProblemGroup"];
export type ProblemTotals = Schemas["ProblemTotals"];
export type UploadedFile = Schemas["UploadedFile"];
export type InboxEvent = Schemas["InboxEvent"];
export type UploadProgress = Schemas["UploadProgress"];
export type UploadedImage = Schemas["UploadedImage"];
export type Operations = Schemas["Operations"];
/** What POST /api/images/bulk takes: tags added or removed, or images moved to or from the trash. */
export type BulkChange = NonNullable<GalleryPaths["/api/images/bulk"]["post"]["requestBody"]>["content"]["application/json"];
export type BulkAction = BulkChange["action"];
export type ImagesQuery = NonNullable<GalleryPaths["/api/images"]["get"]["parameters"]["query"]>;
export type ImageChanges = Schemas["ImageChanges"];
export type OperationsList = RecipeDraft["operations"];

/** Airflow's REST API documents the UI reads. */
export type DagRun = AirflowComponents["schemas"]["DAGRunResponse"];
export type TaskInstance = AirflowComponents["schemas"]["TaskInstanceResponse"];
export type DagRunState = AirflowComponents["schemas"]["DagRunState"];

/** The host's base path, always ending in "/" (e.g. "/" or "/airflow/"). */
export const basePath = (): string => {
  const href = document.querySelector("head > base")?.getAttribute("href") ?? "/";
  const path = new URL(href, globalThis.location.origin).pathname;

  return path.endsWith("/") ? path : `${path}/`;
};

/** An absolute path under the host's base, for a path like "gallery/api/images". */
export const url = (path: string): string => `${basePath()}${path.replace(/^\//u, "")}`;

/** A URL the API returned: absolute URLs and base-relative paths are kept, bare paths are based. */
export const apiUrl = (value: string | null | undefined): string | undefined => {
  if (value === undefined || value === null || value === "") {
    return undefined;
  }
  if (/^[a-z]+:/iu.test(value) || value.startsWith(basePath())) {
    return value;
  }

  return url(value);
};

export class ApiError extends Error {
  public readonly status: number;

  public constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The human message of an error body: the gallery's {"detail": "..."} (ErrorBody), Airflow's
 * {"detail": "..." | {...}} (HTTPExceptionResponse) or FastAPI's validation list, else the text.
 */
export const errorMessage = (status: number, body: unknown, fallback = ""): string => {
  if (typeof body === "object" && body !== null && "detail" in body) {
    const { detail } = body;

    if (typeof detail === "string") {
      return detail;
    }
    if (Array.isArray(detail)) {
      return detail
        .map((d: unknown) => (typeof d === "object" && d !== null && "msg" in d ? String(d.msg) : JSON.stringify(d)))
        .join("; ");
    }
    if (typeof detail === "object" && detail !== null && "message" in detail) {
      return String(detail.message);
    }
  }
  if (typeof body === "string" && body.trim() !== "") {
    return body.trim().slice(0, 300);
  }

  return fallback || `HTTP ${status}`;
};

export const toLogin = () => {
  const next = globalThis.location.href;

  globalThis.location.replace(`${url("api/v2/auth/login")}?next=${encodeURIComponent(next)}`);
};

const loginOn401: Middleware = {
  onResponse({ response }) {
    if (response.status === 401) {
      toLogin();
    }
  },
};

// Made on first use: the base path is read from the host page, which a module's import may precede.
let clients: { airflow: Client<AirflowPaths>; gallery: Client<GalleryPaths> } | undefined;

const client = () => {
  if (clients === undefined) {
    const options = { credentials: "same-origin" as const, headers: { Accept: "application/json" } };

    clients = {
      airflow: createClient<AirflowPaths>({ ...options, baseUrl: basePath().replace(/\/$/u, "") }),
      gallery: createClient<GalleryPaths>({ ...options, baseUrl: url("gallery") }),
    };
    clients.airflow.use(loginOn401);
    clients.gallery.use(loginOn401);
  }

  return clients;
};

/** The answer's body, or an ApiError with the API's message (a network failure stays a TypeError). */
const ok = async <T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> => {
  const { data, error, response } = await pending;

  if (!response.ok) {
    throw new ApiError(response.status, errorMessage(response.status, error, response.statusText));
  }

  return data as T;
};

const image = (sha256: string) => ({ params: { path: { sha256 } } });

export const api = {
  bulk: (body: BulkChange) => ok(client().gallery.POST("/api/images/bulk", { body })),
  checkRecipe: (body: RecipeDraft, signal?: AbortSignal) => ok(client().gallery.POST("/api/recipes/check", { body, signal })),
  facets: (signal?: AbortSignal) => ok(client().gallery.GET("/api/facets", { signal })),
  image: (sha256: string, signal?: AbortSignal) => ok(client().gallery.GET("/api/images/{sha256}", { ...image(sha256), signal })),
  images: (query: ImagesQuery, signal?: AbortSignal) => ok(client().gallery.GET("/api/images", { params: { query }, signal })),
  metrics: (query: { since?: string; until?: string }, signal?: AbortSignal) =>
    ok(client().gallery.GET("/api/metrics", { params: { query }, signal })),
  operations: (signal?: AbortSignal) => ok(client().gallery.GET("/api/operations", { signal })),
  patchImage: (sha256: string, body: ImageChanges) => ok(client().gallery.PATCH("/api/images/{sha256}", { ...image(sha256), body })),
  /** Quarantined images, failed outputs and images still being retried, grouped by cause. */
  problems: (samples: number, signal?: AbortSignal) =>
    ok(client().gallery.GET("/api/problems", { params: { query: { samples } }, signal })),
  recipes: (signal?: AbortSignal) => ok(client().gallery.GET("/api/recipes", { signal })),
  /** image_request started by the gallery for the logged-in user, rate-limited (429 says until when). */
  requestImages: (body: Schemas["ImageRequest"]) => ok(client().gallery.POST("/api/requests", { body })),
  restore: (sha256: string) => ok(client().gallery.POST("/api/images/{sha256}/restore", image(sha256))),
  /** The gallery_process conf that tries these images again (the API computes it; nothing changes). */
  retryConf: (sha256s: string[]) => ok(client().gallery.POST("/api/problems/conf", { body: { sha256s } })),
  saveRecipe: (body: RecipeDraft) => ok(client().gallery.POST("/api/recipes", { body })),
  similar: (sha256: string, signal?: AbortSignal) =>
    ok(client().gallery.GET("/api/images/{sha256}/similar", { params: { path: { sha256 }, query: { k: 12 } }, signal })),
  trash: (sha256: string) => ok(client().gallery.POST("/api/images/{sha256}/trash", image(sha256))),
  /** Where uploaded images are (inbox, gallery, processed) and the runs their uploads' events started. */
  uploadProgress: (sha256: string[], event: number[], signal?: AbortSignal) =>
    ok(client().gallery.GET("/api/uploads/progress", { params: { query: { event, sha256 } }, signal })),
};

/** The preview of a chain on an image: the engine's JPEG/PNG, and its server time. */
export const preview = async (
  sha256: string,
  operations: OperationsList,
  signal: AbortSignal,
  maxSide = 1024,
): Promise<{ blob: Blob; ms?: number }> => {
  const { data, error, response } = await client().gallery.POST("/api/images/{sha256}/preview", {
    ...image(sha256),
    body: { max_side: maxSide, operations },
    headers: { Accept: "image/*, application/json" },
    parseAs: "blob",
    signal,
  });

  if (!response.ok || data === undefined) {
    // parseAs applies to the error body too: read the JSON error back out of the blob.
    const text = error instanceof Blob ? await error.text() : "";
    let body: unknown = text;

    try {
      body = JSON.parse(text) as unknown;
    } catch {
      // not JSON: the text itself is the message
    }
    throw new ApiError(response.status, errorMessage(response.status, body, response.statusText));
  }
  const ms = Number(response.headers.get("X-Preview-Ms"));

  return { blob: data, ms: Number.isFinite(ms) && ms > 0 ? ms : undefined };
};

/** Build a ZIP of the images' outputs and save it (the API answers where to download it). */
export const downloadArchive = async (sha256s: string[]): Promise<string> => {
  const archive = await ok(client().gallery.POST("/api/archives", { body: { sha256s } }));
  const link = document.createElement("a");

  link.href = apiUrl(archive.url) ?? "";
  link.download = archive.name;
  document.body.append(link);
  link.click();
  link.remove();

  return archive.name;
};

/** POST one file to /gallery/api/uploads with XMLHttpRequest, for its upload progress: its answer, and the
 * inbox's Asset event the upload recorded (null when the file was refused). */
export const uploadFile = (
  file: File,
  onProgress: (fraction: number) => void,
): Promise<{ event: InboxEvent | null; file: UploadedFile }> =>
  new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const form = new FormData();

    form.append("files", file, file.name);
    xhr.open("POST", url("gallery/api/uploads"));
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        onProgress(event.loaded / event.total);
      }
    });
    xhr.addEventListener("load", () => {
      let body: unknown = xhr.responseText;

      try {
        body = JSON.parse(xhr.responseText) as unknown;
      } catch {
        // keep the text: errorMessage shows it
      }
      if (xhr.status < 200 || xhr.status >= 300) {
        if (xhr.status === 401) {
          toLogin();
        }
        reject(new ApiError(xhr.status, errorMessage(xhr.status, body, xhr.statusText)));

        return;
      }
      const { event, files } = body as Schemas["Uploads"];

      resolve({
        event,
        file: files.find((f) => f.name === file.name) ?? files[0] ?? { name: file.name, reason: "no answer for the file", sha256: null, status: "refused" },
      });
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network error")));
    xhr.send(form);
  });

// -- Airflow's REST API ----------------------------------------------------------------------------

const run = (dagId: string, runId: string) => ({ dag_id: dagId, dag_run_id: runId });

export const airflow = {
  dagRun: (dagId: string, runId: string, signal?: AbortSignal) =>
    ok(client().airflow.GET("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", { params: { path: run(dagId, runId) }, signal })),
  taskInstances: async (dagId: string, runId: string, signal?: AbortSignal): Promise<TaskInstance[]> => {
    const body = await ok(
      client().airflow.GET("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", {
        params: { path: run(dagId, runId), query: { limit: 1000 } },
        signal,
      }),
    );

    return body.task_instances;
  },
  trigger: (dagId: string, conf: Record<string, unknown>) =>
    ok(client().airflow.POST("/api/v2/dags/{dag_id}/dagRuns", { body: { conf, logical_date: null }, params: { path: { dag_id: dagId } } })),
  xcom: async (dagId: string, runId: string, taskId: string, signal?: AbortSignal, key = "return_value"): Promise<unknown> => {
    const body = await ok(
      client().airflow.GET("/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}", {
        params: { path: { ...run(dagId, runId), task_id: taskId, xcom_key: key }, query: { deserialize: true } },
        signal,
      }),
    );

    return body.value;
  },
};

/** The host UI's page of a DAG run (a path under the host's base). */
export const runPage = (dagId: string, runId: string): string =>
  url(`dags/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(runId)}`);

/** Where a run of an image opens in Airflow: the API's airflow_url, else the host's run page. */
export const runHref = (ref: RunRef): string | undefined =>
  apiUrl(ref.airflow_url) ?? (ref.dag_id === null ? undefined : runPage(ref.dag_id, ref.run_id));
