/*
 * Data fetching through TanStack Query: what each page reads, keyed so that pages share it (an
 * image's record is fetched once for its page, its editor and the upload that made it), retried when
 * the failure may pass, and polled while a DAG run is going (with back-off, stopped when it ends).
 */
import { QueryClient, keepPreviousData, skipToken, useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { ApiError, type DagRun, type ImagesQuery, airflow, api } from "src/api";

/** Failures worth another try: the network, a time-out, the server's "try again later". */
const TRANSIENT = new Set([408, 429, 502, 503, 504]);
const MAX_RETRIES = 3;

export const shouldRetry = (failures: number, error: unknown): boolean =>
  failures < MAX_RETRIES && (!(error instanceof ApiError) || TRANSIENT.has(error.status) || error.status === 0);

/** 1 s, 2 s, 4 s between tries (a 503's Retry-After of 30 s is longer than a page should sit). */
export const retryDelay = (failures: number): number => Math.min(1000 * 2 ** failures, 8000);

export const newQueryClient = () =>
  new QueryClient({
    defaultOptions: {
      // A mutation (a trigger, a save, a tag) is never sent twice by itself.
      mutations: { retry: false },
      queries: { refetchOnWindowFocus: false, retry: shouldRetry, retryDelay, staleTime: 30_000 },
    },
  });

export const keys = {
  dagRun: (dagId: string, runId: string) => ["airflow", "dagRun", dagId, runId] as const,
  facets: ["facets"] as const,
  image: (sha256: string) => ["image", sha256] as const,
  images: ["images"] as const,
  metrics: (since: string, until: string) => ["metrics", since, until] as const,
  operations: ["operations"] as const,
  problems: ["problems"] as const,
  recipes: ["recipes"] as const,
  runProgress: (dagId: string, runId: string) => ["airflow", "runProgress", dagId, runId] as const,
  uploadProgress: (sha256s: string[], events: number[]) => ["uploads", "progress", sha256s, events] as const,
  // Under the image's key: refreshing an image refreshes its similar images too.
  similar: (sha256: string) => ["image", sha256, "similar"] as const,
};

/**
 * After a change to the gallery (a run of gallery_process ended, images tagged, trashed or restored):
 * every listing, record, facet and problem read before may be out of date. Those on screen are
 * fetched again at once, the others when next shown.
 */
export const galleryChanged = (queryClient: QueryClient) =>
  Promise.all(
    [keys.images, ["image"], keys.facets, keys.problems].map((queryKey) => queryClient.invalidateQueries({ queryKey })),
  );

export const useGalleryChanged = () => {
  const queryClient = useQueryClient();

  return () => galleryChanged(queryClient);
};

// -- following a DAG run ------------------------------------------------------------------------------

/** A run the UI triggered and follows. */
export type RunHandle = { dagId: string; runId: string };

export const RUN_ENDED: ReadonlySet<string> = new Set(["success", "failed"]);
export const runEnded = (state: string | undefined): boolean => state !== undefined && RUN_ENDED.has(state);

// A run of the pipeline moves every second or two (a task queued, started, ended): the first polls
// come soon, then back off while nothing changes.
const POLL_FIRST_MS = 500;
const POLL_FACTOR = 1.5;
const POLL_MAX_MS = 4000;

/** The wait before the next poll after `polls` unchanged answers: 0.5 s, 0.75 s, 1.1 s, ... up to 4 s. */
export const pollDelay = (polls: number): number => Math.min(POLL_FIRST_MS * POLL_FACTOR ** polls, POLL_MAX_MS);

/** What refetchInterval is given: a query's state (TanStack Query's Query, or a test's stand-in). */
type Followed = { state: { data?: unknown; dataUpdateCount: number } };

// Per query, the answer last seen and the answer count when it arrived. TanStack Query's structural
// sharing keeps an answer equal to the one before as the same object, so a new object is a change.
const lastChange = new WeakMap<Followed, { at: number; data: unknown }>();

/**
 * The wait before the next poll of something followed (a run, an upload): the back-off counts the
 * answers since the last one that changed, so each change starts it again at its shortest wait.
 */
export const followDelay = (query: Followed): number => {
  const { data, dataUpdateCount } = query.state;
  const seen = lastChange.get(query);

  if (seen === undefined || seen.data !== data) {
    lastChange.set(query, { at: dataUpdateCount, data });

    return pollDelay(0);
  }

  return pollDelay(dataUpdateCount - seen.at);
};

/** A run's state, polled with back-off until it ends. */
export const useDagRun = (run: RunHandle | undefined) =>
  useQuery({
    queryFn: run === undefined ? skipToken : ({ signal }) => airflow.dagRun(run.dagId, run.runId, signal),
    queryKey: keys.dagRun(run?.dagId ?? "", run?.runId ?? ""),
    refetchInterval: (query) => (runEnded(query.state.data?.state) ? false : followDelay(query)),
    staleTime: 0,
  });

/** A run and its task instances together (the Request page's live steps), polled until the run ends. */
export const useRunProgress = (run: RunHandle | undefined) =>
  useQuery({
    queryFn:
      run === undefined
        ? skipToken
        : async ({ signal }): Promise<{ run: DagRun; tasks: Awaited<ReturnType<typeof airflow.taskInstances>> }> => {
            const [current, tasks] = await Promise.all([
              airflow.dagRun(run.dagId, run.runId, signal),
              airflow.taskInstances(run.dagId, run.runId, signal),
            ]);

            return { run: current, tasks };
          },
    queryKey: keys.runProgress(run?.dagId ?? "", run?.runId ?? ""),
    refetchInterval: (query) => (runEnded(query.state.data?.run.state) ? false : followDelay(query)),
    staleTime: 0,
  });

/**
 * Uploaded images followed from the inbox to processed, with the runs their uploads' events started:
 * polled with back-off (again from the shortest wait whenever something moved), stopped when every
 * image is processed or quarantined.
 */
export const useUploadProgress = (sha256s: string[], events: number[]) =>
  useQuery({
    enabled: sha256s.length > 0,
    placeholderData: keepPreviousData,
    queryFn: ({ signal }) => api.uploadProgress(sha256s, events, signal),
    queryKey: keys.uploadProgress(sha256s, events),
    refetchInterval: (query) => (query.state.data?.done === true ? false : followDelay(query)),
    staleTime: 0,
  });

// -- the gallery ----------------------------------------------------------------------------------

export const useImage = (sha256: string, enabled = true) =>
  useQuery({ enabled, queryFn: ({ signal }) => api.image(sha256, signal), queryKey: keys.image(sha256) });

export const useSimilar = (sha256: string) =>
  useQuery({ queryFn: ({ signal }) => api.similar(sha256, signal), queryKey: keys.similar(sha256) });

export const useFacets = () => useQuery({ queryFn: ({ signal }) => api.facets(signal), queryKey: keys.facets });

export const useRecipes = () => useQuery({ queryFn: ({ signal }) => api.recipes(signal), queryKey: keys.recipes });

export const useOperations = () =>
  useQuery({ queryFn: ({ signal }) => api.operations(signal), queryKey: keys.operations, staleTime: Infinity });

export const useProblems = (samples: number) =>
  useQuery({ queryFn: ({ signal }) => api.problems(samples, signal), queryKey: [...keys.problems, samples], staleTime: 0 });

export const useMetrics = (since: string, until: string) =>
  useQuery({
    placeholderData: keepPreviousData,
    queryFn: ({ signal }) => api.metrics({ since: since || undefined, until: until || undefined }, signal),
    queryKey: keys.metrics(since, until),
  });

/**
 * The gallery's pages for a listing, cursor after cursor. Each page records the listing it belongs
 * to (`listedWith`), so while another listing loads the grid can say which one it still shows.
 */
export const useImagePages = (query: Omit<ImagesQuery, "cursor">, listedWith: string) =>
  useInfiniteQuery({
    initialPageParam: undefined as string | undefined,
    placeholderData: keepPreviousData,
    queryKey: [...keys.images, "pages", query, listedWith],
    staleTime: 0,
    // (queryFn before getNextPageParam: the page's type is inferred from it)
    queryFn: async ({ pageParam, signal }) => ({ ...(await api.images({ ...query, cursor: pageParam }, signal)), listedWith }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

/** A value once it has stopped changing for `ms` (what a query typed into is keyed on). */
export const useDebounced = <T>(value: T, ms: number): T => {
  const [settled, setSettled] = useState(value);

  useEffect(() => {
    const timer = globalThis.setTimeout(() => setSettled(value), ms);

    return () => globalThis.clearTimeout(timer);
  }, [value, ms]);

  return settled;
};
