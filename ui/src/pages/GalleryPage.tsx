import {
  Alert,
  Badge,
  Box,
  Button,
  Field,
  Flex,
  HStack,
  Heading,
  Image,
  Input,
  Link,
  List,
  NativeSelect,
  SimpleGrid,
  Spinner,
  Stack,
  Text,
} from "@chakra-ui/react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link as RouterLink, useSearchParams } from "react-router-dom";

import { type BulkAction, type Facet, type ImageSummary, type ImagesQuery, type RunRef, api, apiUrl, downloadArchive, runHref } from "src/api";
import { BulkActions } from "src/components/BulkActions";
import { NativeCheckbox } from "src/components/NativeCheckbox";
import { useAppPath } from "src/components/root";
import { keys, useFacets, useGalleryChanged, useImagePages } from "src/queries";
import { formatDate, runName } from "src/types";

const PAGE = 60;
const FILTERS = ["keyword", "label", "tag", "source", "since", "until", "format", "status", "has_faces", "duplicates", "sort"] as const;
const STATUSES = ["raw", "processed", "quarantined"] as const;
const SORTS = ["newest", "oldest"] as const;

type Filter = (typeof FILTERS)[number];
type Filters = Record<Filter, string>;

/** The filters as a query string ("?label=sea&status=processed"): the grid's data-filters. */
const filtersText = (filters: Filters): string => {
  const search = new URLSearchParams(FILTERS.flatMap((f) => (filters[f] === "" ? [] : [[f, filters[f]]])));

  return search.size === 0 ? "" : `?${search.toString()}`;
};

/** The listing the API is asked for: the URL's filters, each only when set (an unknown value is none). */
const listing = (filters: Filters, trash: boolean): Omit<ImagesQuery, "cursor"> => ({
  duplicates: filters.duplicates === "true" ? true : undefined,
  format: filters.format || undefined,
  has_faces: filters.has_faces === "true" ? true : undefined,
  keyword: filters.keyword || undefined,
  label: filters.label || undefined,
  limit: PAGE,
  since: filters.since || undefined,
  sort: SORTS.find((s) => s === filters.sort) ?? "newest",
  source: filters.source || undefined,
  status: STATUSES.find((s) => s === filters.status),
  tag: filters.tag === "" ? undefined : [filters.tag],
  trashed: trash ? true : undefined,
  until: filters.until || undefined,
});

const FacetSelect = ({
  facets,
  label,
  onChange,
  value,
}: {
  facets: (Pick<Facet, "name"> & Partial<Pick<Facet, "count">>)[];
  label: string;
  onChange: (value: string) => void;
  value: string;
}) => (
  <Field.Root maxW="44" minW="32">
    <Field.Label fontSize="sm">{label}</Field.Label>
    <NativeSelect.Root size="sm">
      <NativeSelect.Field onChange={(e) => onChange(e.currentTarget.value)} value={value}>
        <option value="">Any</option>
        {facets.map((f) => (
          <option key={f.name} value={f.name}>
            {f.name}
            {f.count === undefined ? "" : ` (${f.count})`}
          </option>
        ))}
        {value !== "" && !facets.some((f) => f.name === value) ? <option value={value}>{value}</option> : null}
      </NativeSelect.Field>
      <NativeSelect.Indicator />
    </NativeSelect.Root>
  </Field.Root>
);

const EmptyState = ({ filtered, trash }: { filtered: boolean; trash: boolean }) => {
  const appPath = useAppPath();

  if (trash && !filtered) {
    return (
      <Box borderRadius="md" borderWidth="1px" data-testid="gallery-empty" p={6}>
        <Heading as="h2" mb={2} size="md">
          The trash is empty
        </Heading>
        <Text color="fg.muted">Images moved to the trash from the gallery or their page wait here until restored or purged.</Text>
      </Box>
    );
  }

  return (
    <Box borderRadius="md" borderWidth="1px" data-testid="gallery-empty" p={6}>
      <Heading as="h2" mb={2} size="md">
        {filtered ? "No image matches these filters" : "No images yet"}
      </Heading>
      {filtered ? (
        <Text color="fg.muted">Clear a filter or two to see more of the gallery.</Text>
      ) : (
        <Stack color="fg.muted" gap={2}>
          <Text>Images get into the gallery in three ways, and appear here once processed:</Text>
          <List.Root ps={5}>
            <List.Item>
              <Link asChild color="fg.info">
                <RouterLink to={appPath("upload")}>Upload</RouterLink>
              </Link>{" "}
              your own files: drop them on the Upload page; the inbox picks them up and processes them.
            </List.Item>
            <List.Item>
              Make a{" "}
              <Link asChild color="fg.info">
                <RouterLink to={appPath("request")}>request</RouterLink>
              </Link>
              : keywords, a count and your email; the images are searched, processed and emailed to you.
            </List.Item>
            <List.Item>
              Saved searches: the <code>gallery_retrieve</code> DAG and the subscriptions in{" "}
              <code>config/subscriptions.yaml</code> gather images on a schedule.
            </List.Item>
          </List.Root>
        </Stack>
      )}
    </Box>
  );
};

const Thumb = ({
  item,
  onRestore,
  onToggle,
  selected,
}: {
  item: ImageSummary;
  onRestore?: (sha: string) => void;
  onToggle: (sha: string) => void;
  selected: boolean;
}) => {
  const appPath = useAppPath();
  const short = item.sha256.slice(0, 12);
  const title = item.title ?? item.keywords[0] ?? item.labels[0] ?? short;

  return (
    <Box
      borderColor={selected ? "colorPalette.solid" : "border"}
      borderRadius="md"
      borderWidth={selected ? "2px" : "1px"}
      colorPalette="blue"
      data-sha256={item.sha256}
      data-status={item.status ?? undefined}
      data-tags={item.tags.join(",")}
      data-testid="gallery-item"
      overflow="hidden"
      position="relative"
    >
      <RouterLink aria-label={`Open image ${title} (${short})`} to={appPath("images", item.sha256)}>
        <Box aspectRatio={1} bg="bg.muted">
          {item.thumb_url === null ? (
            <Flex align="center" color="fg.muted" h="full" justify="center">
              {item.status ?? "no thumbnail"}
            </Flex>
          ) : (
            <Image alt={title} h="full" loading="lazy" objectFit="cover" src={apiUrl(item.thumb_url)} w="full" />
          )}
        </Box>
      </RouterLink>
      <Box position="absolute" left={1.5} top={1.5}>
        <Box bg="bg.panel" borderRadius="sm" lineHeight={0} p={1}>
          <NativeCheckbox ariaLabel={`Select image ${short}`} checked={selected} onChange={() => onToggle(item.sha256)} />
        </Box>
      </Box>
      <Box fontSize="xs" px={2} py={1}>
        <Text lineClamp={1} title={item.keywords.join(", ")}>
          {title}
        </Text>
        <HStack color="fg.muted" gap={1} justify="space-between">
          <Text>{item.width !== null && item.height !== null ? `${item.width}×${item.height}` : item.format}</Text>
          {item.status !== null && item.status !== "processed" ? (
            <Badge colorPalette={item.status === "quarantined" ? "red" : "gray"} size="xs">
              {item.status}
            </Badge>
          ) : (
            <Text title={item.retrieved_at ?? undefined}>{item.retrieved_at === null ? "" : formatDate(item.retrieved_at).split(",")[0]}</Text>
          )}
        </HStack>
        {item.tags.length === 0 ? null : (
          <HStack gap={1} mt={1} wrap="wrap">
            {item.tags.slice(0, 4).map((t) => (
              <Badge colorPalette="purple" key={t} size="xs">
                {t}
              </Badge>
            ))}
          </HStack>
        )}
        {onRestore === undefined ? null : (
          <Button aria-label={`Restore image ${short}`} colorPalette="green" mt={1} onClick={() => onRestore(item.sha256)} size="xs" variant="outline" w="full">
            Restore
          </Button>
        )}
      </Box>
    </Box>
  );
};

export const GalleryPage = ({ trash = false }: { trash?: boolean }) => {
  const [params, setParams] = useSearchParams();
  const queryClient = useQueryClient();
  const galleryChanged = useGalleryChanged();
  const { data: facets } = useFacets();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [zipMessage, setZipMessage] = useState<string>();
  const [runs, setRuns] = useState<RunRef[]>();
  const [keywordText, setKeywordText] = useState(params.get("keyword") ?? "");
  const sentinel = useRef<HTMLDivElement>(null);

  const filters = useMemo(() => Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ""])) as Filters, [params]);
  const filtered = FILTERS.some((f) => f !== "sort" && filters[f] !== "");
  const pages = useImagePages(listing(filters, trash), filtersText(filters));
  const { fetchNextPage, hasNextPage, isFetching: loading } = pages;
  const items = pages.data?.pages.flatMap((page) => page.items) ?? [];
  const count = pages.data?.pages[0]?.count;
  // The filters the shown items were listed with (the grid's data-filters: a test waits for it).
  const shownFilters = pages.data?.pages[0]?.listedWith;
  const error = pages.error?.message;

  const setFilter = (name: Filter, value: string) => {
    const next = new URLSearchParams(params);

    if (value === "") {
      next.delete(name);
    } else {
      next.set(name, value);
    }
    setParams(next, { replace: true });
  };

  // After a bulk change: the grid, its facets and the records again; trashed or restored images leave this view.
  const changed = (action: BulkAction) => {
    if (action === "trash" || action === "restore") {
      setSelected(new Set());
    }
    void galleryChanged();
  };

  const restore = useMutation({ mutationFn: api.restore, onSuccess: () => changed("restore") });
  const restoreError = restore.error === null ? undefined : `Not restored: ${restore.error.message}`;

  // Infinite scroll: the sentinel below the grid loads the next page when it comes into view.
  useEffect(() => {
    const node = sentinel.current;

    if (node === null || !hasNextPage || loading || typeof IntersectionObserver === "undefined") {
      return undefined;
    }
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        void fetchNextPage();
      }
    });

    observer.observe(node);

    return () => observer.disconnect();
  }, [fetchNextPage, hasNextPage, loading]);

  const toggle = (sha: string) =>
    setSelected((previous) => {
      const next = new Set(previous);

      if (next.has(sha)) {
        next.delete(sha);
      } else {
        next.add(sha);
      }

      return next;
    });

  const zip = async () => {
    setZipMessage("Preparing the ZIP…");
    try {
      const name = await downloadArchive([...selected]);

      setZipMessage(`Downloaded ${name}`);
    } catch (error_) {
      setZipMessage(`ZIP refused: ${error_ instanceof Error ? error_.message : String(error_)}`);
    }
  };

  // The selected images' records (from the cache when their page was open) and the runs they name.
  const openRuns = async () => {
    const details = await Promise.all(
      [...selected].slice(0, 60).map((sha) =>
        queryClient.fetchQuery({ queryFn: ({ signal }) => api.image(sha, signal), queryKey: keys.image(sha) }).catch(() => undefined),
      ),
    );
    const seen = new Map<string, RunRef>();

    for (const detail of details) {
      for (const run of detail?.run_ids ?? []) {
        seen.set(runName(run), run);
      }
    }
    setRuns([...seen.values()]);
  };

  return (
    <Stack gap={4}>
      {trash ? (
        <Text color="fg.muted" data-testid="gallery-trash-note">
          The trash: these images are hidden from the gallery and not retrieved again; restore them, or they are
          purged for good after the retention period.
        </Text>
      ) : null}
      <Flex align="end" as="form" gap={3} onSubmit={(e) => { e.preventDefault(); setFilter("keyword", keywordText.trim()); }} wrap="wrap">
        <Field.Root maxW="48">
          <Field.Label fontSize="sm">Keyword</Field.Label>
          <Input
            list="gallery-keywords"
            onBlur={() => setFilter("keyword", keywordText.trim())}
            onChange={(e) => setKeywordText(e.currentTarget.value)}
            placeholder="any"
            size="sm"
            value={keywordText}
          />
          <datalist id="gallery-keywords">
            {facets?.keywords.map((k) => <option key={k.name} value={k.name} />)}
          </datalist>
        </Field.Root>
        <FacetSelect facets={facets?.labels ?? []} label="Label" onChange={(v) => setFilter("label", v)} value={filters.label} />
        <FacetSelect facets={facets?.tags ?? []} label="Tag" onChange={(v) => setFilter("tag", v)} value={filters.tag} />
        <FacetSelect facets={facets?.sources ?? []} label="Source" onChange={(v) => setFilter("source", v)} value={filters.source} />
        <FacetSelect facets={facets?.formats ?? []} label="Format" onChange={(v) => setFilter("format", v)} value={filters.format} />
        <FacetSelect
          facets={facets?.statuses.length ? facets.statuses : [{ name: "processed" }, { name: "quarantined" }]}
          label="Status"
          onChange={(v) => setFilter("status", v)}
          value={filters.status}
        />
        <Field.Root maxW="40">
          <Field.Label fontSize="sm">Retrieved since</Field.Label>
          <Input onChange={(e) => setFilter("since", e.currentTarget.value)} size="sm" type="date" value={filters.since} />
        </Field.Root>
        <Field.Root maxW="40">
          <Field.Label fontSize="sm">Retrieved until</Field.Label>
          <Input onChange={(e) => setFilter("until", e.currentTarget.value)} size="sm" type="date" value={filters.until} />
        </Field.Root>
        <Field.Root maxW="36">
          <Field.Label fontSize="sm">Sort</Field.Label>
          <NativeSelect.Root size="sm">
            <NativeSelect.Field onChange={(e) => setFilter("sort", e.currentTarget.value === "newest" ? "" : e.currentTarget.value)} value={filters.sort || "newest"}>
              <option value="newest">Newest first</option>
              <option value="oldest">Oldest first</option>
            </NativeSelect.Field>
            <NativeSelect.Indicator />
          </NativeSelect.Root>
        </Field.Root>
        <Stack gap={1} pb={1}>
          <NativeCheckbox checked={filters.has_faces === "true"} onChange={(on) => setFilter("has_faces", on ? "true" : "")}>
            Has faces
          </NativeCheckbox>
          <NativeCheckbox checked={filters.duplicates === "true"} onChange={(on) => setFilter("duplicates", on ? "true" : "")}>
            Near-duplicates only
          </NativeCheckbox>
        </Stack>
        {filtered ? (
          <Button onClick={() => { setKeywordText(""); setParams(new URLSearchParams(), { replace: true }); }} size="sm" variant="ghost">
            Clear filters
          </Button>
        ) : null}
      </Flex>

      <Flex align="center" gap={3} minH={9} wrap="wrap">
        <Text aria-live="polite" data-testid="gallery-count" fontWeight="semibold">
          {count === undefined ? (loading ? "Loading…" : `${items.length} images shown`) : `${count} ${count === 1 ? "image" : "images"}`}
        </Text>
        {selected.size > 0 ? (
          <>
            <Text color="fg.muted" data-testid="gallery-selected">
              {selected.size} selected
            </Text>
            <Button colorPalette="blue" onClick={() => void zip()} size="sm">
              Download ZIP
            </Button>
            <Button onClick={() => void openRuns()} size="sm" variant="outline">
              Open in Airflow
            </Button>
            <Button onClick={() => { setSelected(new Set()); setRuns(undefined); }} size="sm" variant="ghost">
              Clear selection
            </Button>
          </>
        ) : (
          <Text color="fg.muted" fontSize="sm">
            {trash
              ? "Tick images to restore them together."
              : "Tick images to tag, reprocess, retry, download (ZIP), trash them or open their runs in Airflow."}
          </Text>
        )}
        {zipMessage === undefined ? null : (
          <Text data-testid="gallery-zip-status" fontSize="sm">
            {zipMessage}
          </Text>
        )}
      </Flex>

      {selected.size > 0 ? <BulkActions inTrash={trash} onChanged={changed} selected={[...selected]} /> : null}
      {restoreError === undefined ? null : (
        <Text color="fg.error" data-testid="gallery-bulk-status">
          {restoreError}
        </Text>
      )}

      {runs === undefined ? null : (
        <Box borderRadius="md" borderWidth="1px" data-testid="gallery-selected-runs" p={3}>
          <Text fontWeight="semibold" mb={1}>
            Runs of the selected images
          </Text>
          {runs.length === 0 ? (
            <Text color="fg.muted">No Airflow run is recorded for these images (uploads before any run, or old records).</Text>
          ) : (
            <List.Root ps={5}>
              {runs.map((run) => (
                <List.Item key={runName(run)}>
                  <Link color="fg.info" href={runHref(run)} target="_blank">
                    {runName(run)}
                  </Link>
                </List.Item>
              ))}
            </List.Root>
          )}
        </Box>
      )}

      {error === undefined ? null : (
        <Alert.Root status="error">
          <Alert.Indicator />
          <Alert.Title>Could not load the gallery: {error}</Alert.Title>
        </Alert.Root>
      )}

      {!loading && error === undefined && items.length === 0 ? <EmptyState filtered={filtered} trash={trash} /> : null}

      <SimpleGrid aria-busy={loading} data-filters={shownFilters} data-testid="gallery-grid" gap={3} templateColumns="repeat(auto-fill, minmax(160px, 1fr))">
        {items.map((item) => (
          <Thumb item={item} key={item.sha256} onRestore={trash ? (sha) => restore.mutate(sha) : undefined} onToggle={toggle} selected={selected.has(item.sha256)} />
        ))}
      </SimpleGrid>

      <Box ref={sentinel} />
      <Flex justify="center">
        {loading ? <Spinner aria-label="Loading images" /> : null}
        {!loading && hasNextPage ? (
          <Button onClick={() => void fetchNextPage()} size="sm" variant="outline">
            Load more
          </Button>
        ) : null}
      </Flex>
    </Stack>
  );
};
