/*
 * The gallery's JSON API (/gallery/api/...) and Airflow's REST API (/api/v2/...), same-origin.
 *
 * Auth: Airflow's own UI calls its API with no Authorization header; the browser sends the
 * `_token` cookie set at login, which the API server (and the gallery's FastAPI app, through
 * airflow.api_fastapi.core_api.security) reads. We do the same: fetch with credentials
 * "same-origin". A 401 sends the user to Airflow's login page, as the host does.
 *
 * Base path: Airflow may be served under a prefix ([api] base_url); the host page carries it in
 * <base href>, so every URL here is resolved against document.baseURI, never "/".
 */
import type { Family, ParamValue } from "src/editor";
import { normOperations } from "src/editor";
import type { ImageDetail, ImagePage, Facets, MetricsDoc, Problems, Recipe } from "src/types";
import { normDetail, normFacets, normMetrics, normPage, normProblems, normRecipes } from "src/types";

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

/** The human message of an error body: FastAPI's {"detail": ...} (a string or a list), or text. */
export const errorMessage = (status: number, body: unknown, fallback = ""): string => {
  if (typeof body === "object" && body !== null && "detail" in body) {
    const { detail } = body as { detail: unknown };

    if (typeof detail === "string") {
      return detail;
    }
    if (Array.isArray(detail)) {
      return detail
        .map((d) => (typeof d === "object" && d !== null && "msg" in d ? String((d as { msg: unknown }).msg) : String(d)))
        .join("; ");
    }
    if (typeof detail === "object" && detail !== null && "message" in detail) {
      return String((detail as { message: unknown }).message);
    }
  }
  if (typeof body === "string" && body.trim() !== "") {
    return body.trim().slice(0, 300);
  }

  return fallback || `HTTP ${status}`;
};

const toLogin = () => {
  const next = globalThis.location.href;

  globalThis.location.replace(`${url("api/v2/auth/login")}?next=${encodeURIComponent(next)}`);
};

const parse = async (response: Response): Promise<unknown> => {
  const text = await response.text();

  try {
    return text === "" ? null : (JSON.parse(text) as unknown);
  } catch {
    return text;
  }
};

export const request = async (path: string, init: RequestInit = {}): Promise<unknown> => {
  const headers = new Headers(init.headers);

  headers.set("Accept", "application/json");
  if (init.body !== undefined && typeof init.body === "string") {
    headers.set("Content-Type", "application/json");
  }
  const response = await fetch(url(path), { credentials: "same-origin", ...init, headers });
  const body = await parse(response);

  if (!response.ok) {
    if (response.status === 401) {
      toLogin();
    }
    throw new ApiError(response.status, errorMessage(response.status, body, response.statusText));
  }

  return body;
};

export const query = (params: Record<string, string | number | boolean | undefined>): string => {
  const search = new URLSearchParams();

  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "" && value !== false) {
      search.set(key, String(value));
    }
  }
  const text = search.toString();

  return text === "" ? "" : `?${text}`;
};

export type OperationsList = Record<string, Record<string, ParamValue>>[];
export type RecipeOutput = Record<string, number | string>;
export type RecipeDraft = { description: string; name: string; operations: OperationsList; output: RecipeOutput };
export type RecipeCheck = { errors: string[]; yaml: string };
export type SavedRecipe = { name: string; version?: number | string; yaml?: string };
export type BulkAction = "restore" | "tag" | "trash" | "untag";

const imagePath = (sha: string, ...rest: string[]) =>
  ["gallery/api/images", encodeURIComponent(sha), ...rest].join("/");

/** The preview of a chain on an image: an object URL of the engine's JPEG/PNG, and its server time. */
export const preview = async (
  sha: string,
  operations: OperationsList,
  signal: AbortSignal,
  maxSide = 1024,
): Promise<{ ms?: number; objectUrl: string }> => {
  const response = await fetch(url(imagePath(sha, "preview")), {
    body: JSON.stringify({ max_side: maxSide, operations }),
    credentials: "same-origin",
    headers: { Accept: "image/*, application/json", "Content-Type": "application/json" },
    method: "POST",
    signal,
  });

  if (!response.ok) {
    if (response.status === 401) {
      toLogin();
    }
    throw new ApiError(response.status, errorMessage(response.status, await parse(response), response.statusText));
  }
  const ms = Number(response.headers.get("X-Preview-Ms"));

  return { ms: Number.isFinite(ms) && ms > 0 ? ms : undefined, objectUrl: URL.createObjectURL(await response.blob()) };
};

const json = (body: unknown, method = "POST"): RequestInit => ({ body: JSON.stringify(body), method });

export const api = {
  bulk: async (sha256s: string[], action: BulkAction, tags: string[] = []): Promise<number> => {
    const body = (await request("gallery/api/images/bulk", json({ action, sha256s, tags }))) as { changed?: number } | null;

    return body?.changed ?? 0;
  },
  checkRecipe: async (draft: RecipeDraft, signal?: AbortSignal): Promise<RecipeCheck> => {
    const body = (await request("gallery/api/recipes/check", { ...json(draft), signal })) as Partial<RecipeCheck> | null;

    return { errors: Array.isArray(body?.errors) ? body.errors.map(String) : [], yaml: String(body?.yaml ?? "") };
  },
  facets: async (): Promise<Facets> => normFacets(await request("gallery/api/facets")),
  image: async (sha: string): Promise<ImageDetail> =>
    normDetail(await request(`gallery/api/images/${encodeURIComponent(sha)}`)),
  images: async (params: Record<string, string | number | boolean | undefined>): Promise<ImagePage> =>
    normPage(await request(`gallery/api/images${query(params)}`)),
  operations: async (): Promise<Family[]> => normOperations(await request("gallery/api/operations")),
  /** Quarantined images, failed outputs and images still being retried, grouped by cause. */
  problems: async (samples?: number): Promise<Problems> => normProblems(await request(`gallery/api/problems${query({ samples })}`)),
  /** The gallery_process conf that tries these images again (the API computes it; nothing changes). */
  retryConf: async (sha256s: string[]): Promise<Record<string, unknown>> =>
    (await request("gallery/api/problems/conf", json({ sha256s }))) as Record<string, unknown>,
  patchImage: async (sha: string, changes: { description?: string | null; tags?: string[]; title?: string | null }): Promise<ImageDetail> =>
    normDetail(await request(imagePath(sha), json(changes, "PATCH"))),
  restore: async (sha: string): Promise<ImageDetail> => normDetail(await request(imagePath(sha, "restore"), { method: "POST" })),
  saveRecipe: async (draft: RecipeDraft): Promise<SavedRecipe> => (await request("gallery/api/recipes", json(draft))) as SavedRecipe,
  trash: async (sha: string): Promise<ImageDetail> => normDetail(await request(imagePath(sha, "trash"), { method: "POST" })),
  metrics: async (since?: string, until?: string): Promise<MetricsDoc[]> =>
    normMetrics(await request(`gallery/api/metrics${query({ since, until })}`)),
  recipes: async (): Promise<Recipe[]> => normRecipes(await request("gallery/api/recipes")),
  similar: async (sha: string): Promise<ImagePage> =>
    normPage(await request(`gallery/api/images/${encodeURIComponent(sha)}/similar?k=12`)),
};

/** Whether the gallery API offers a route (from its OpenAPI schema), e.g. POST /api/archives. */
export const hasRoute = async (path: string, method: string): Promise<boolean> => {
  try {
    const schema = (await request("gallery/openapi.json")) as { paths?: Record<string, Record<string, unknown>> };
    const paths = schema.paths ?? {};

    return Object.entries(paths).some(
      ([p, methods]) => (p === path || p === `/gallery${path}`) && method.toLowerCase() in methods,
    );
  } catch {
    return false;
  }
};

/** POST a ZIP request and save the returned file (or follow the URL the API answers with). */
export const downloadArchive = async (sha256s: string[]): Promise<string> => {
  const response = await fetch(url("gallery/api/archives"), {
    body: JSON.stringify({ sha256s }),
    credentials: "same-origin",
    headers: { Accept: "application/zip, application/json", "Content-Type": "application/json" },
    method: "POST",
  });

  if (!response.ok) {
    throw new ApiError(response.status, errorMessage(response.status, await parse(response), response.statusText));
  }
  const type = response.headers.get("Content-Type") ?? "";
  let href: string;
  let name = `gallery-${sha256s.length}-images.zip`;

  if (type.includes("json")) {
    const body = (await response.json()) as { url?: string; download_url?: string; name?: string };

    href = apiUrl(body.url ?? body.download_url) ?? "";
    name = body.name ?? name;
  } else {
    const disposition = /filename="?([^";]+)"?/u.exec(response.headers.get("Content-Disposition") ?? "");

    name = disposition?.[1] ?? name;
    href = URL.createObjectURL(await response.blob());
  }
  const link = document.createElement("a");

  link.href = href;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();

  return name;
};

export type UploadResult = { name: string; reason?: string; sha256?: string; status: string };

/** POST one file to /gallery/api/uploads with XMLHttpRequest, for its upload progress. */
export const uploadFile = (
  file: File,
  onProgress: (fraction: number) => void,
): Promise<UploadResult> =>
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
        // keep the text
      }
      if (xhr.status < 200 || xhr.status >= 300) {
        if (xhr.status === 401) {
          toLogin();
        }
        reject(new ApiError(xhr.status, errorMessage(xhr.status, body, xhr.statusText)));

        return;
      }
      // The API answers {"files": [...]}; a bare list is accepted too.
      const listed = Array.isArray(body) ? body : (body as { files?: unknown } | null)?.files;
      const rows = Array.isArray(listed) ? (listed as UploadResult[]) : [];
      const row = rows.find((r) => r.name === file.name) ?? rows[0];

      resolve(row ?? { name: file.name, status: "accepted" });
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network error")));
    xhr.send(form);
  });

// -- Airflow's REST API ----------------------------------------------------------------------------

export type DagRun = { dag_id: string; dag_run_id: string; state: string; start_date?: string; end_date?: string };
export type TaskInstance = {
  end_date?: string | null;
  map_index: number;
  start_date?: string | null;
  state: string | null;
  task_display_name?: string;
  task_id: string;
  try_number?: number;
};

export const airflow = {
  dagRun: async (dagId: string, runId: string): Promise<DagRun> =>
    (await request(`api/v2/dags/${dagId}/dagRuns/${encodeURIComponent(runId)}`)) as DagRun,
  taskInstances: async (dagId: string, runId: string): Promise<TaskInstance[]> => {
    const body = (await request(
      `api/v2/dags/${dagId}/dagRuns/${encodeURIComponent(runId)}/taskInstances?limit=1000`,
    )) as { task_instances?: TaskInstance[] };

    return body.task_instances ?? [];
  },
  trigger: async (dagId: string, conf: Record<string, unknown>): Promise<DagRun> =>
    (await request(`api/v2/dags/${dagId}/dagRuns`, {
      body: JSON.stringify({ conf, logical_date: null }),
      method: "POST",
    })) as DagRun,
  xcom: async (dagId: string, runId: string, taskId: string, key = "return_value"): Promise<unknown> => {
    const body = (await request(
      `api/v2/dags/${dagId}/dagRuns/${encodeURIComponent(runId)}/taskInstances/${taskId}/xcomEntries/${key}?deserialize=true`,
    )) as { value?: unknown };

    return body.value;
  },
};

/** The host UI's page of a DAG run (a path under the host's base). */
export const runPage = (dagId: string, runId: string): string =>
  url(`dags/${encodeURIComponent(dagId)}/runs/${encodeURIComponent(runId)}`);

/** Where a run of an image opens in Airflow: the API's airflow_url, else the host's run page. */
export const runHref = (run: { airflowUrl?: string; dagId?: string; runId: string }): string | undefined =>
  apiUrl(run.airflowUrl) ?? (run.dagId === undefined ? undefined : runPage(run.dagId, run.runId));
