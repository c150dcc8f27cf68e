import { Alert, Badge, Box, Button, Flex, Image, Progress, Stack, Text } from "@chakra-ui/react";
import { useQueries, useQuery } from "@tanstack/react-query";
import { type DragEvent, useRef, useState } from "react";
import { Link as RouterLink } from "react-router-dom";

import { type ImageDetail, ApiError, api, apiUrl, uploadFile } from "src/api";
import { useAppPath } from "src/components/root";
import { keys, pollDelay } from "src/queries";

type Phase = "uploading" | "refused" | "waiting" | "processed" | "quarantined";

/** A file as sent: its upload's progress and the API's answer (processing is followed apart). */
type Upload = {
  file: File;
  id: number;
  message?: string;
  phase: "uploading" | "refused" | "waiting";
  progress: number;
  sha256?: string;
};

/** What the row shows: the upload, or once processing has decided, the image's record. */
type Row = Upload & { detail?: ImageDetail; shown: Phase };

const statusText = (row: Row): string => {
  switch (row.shown) {
    case "uploading":
      return `uploading ${Math.round(row.progress * 100)}%`;
    case "waiting":
      return "uploaded, waiting for processing";
    case "processed":
      return "processed";
    case "quarantined":
      return `quarantined: ${row.detail?.quarantine?.reason ?? "no reason given"}`;
    case "refused":
      return `refused: ${row.message ?? ""}`;
  }
};

const PALETTE: Record<Phase, string> = {
  processed: "green",
  quarantined: "orange",
  refused: "red",
  uploading: "blue",
  waiting: "gray",
};

const DONE = new Set(["processed", "quarantined"]);
const REFUSALS = new Set([400, 403, 413, 422]);

export const UploadPage = () => {
  const appPath = useAppPath();
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [dragging, setDragging] = useState(false);
  const [refusal, setRefusal] = useState<string>();
  const nextId = useRef(1);
  const picker = useRef<HTMLInputElement>(null);

  const update = (id: number, change: Partial<Upload>) =>
    setUploads((previous) => previous.map((r) => (r.id === id ? { ...r, ...change } : r)));

  const start = (files: File[]) => {
    const added = files.map((file): Upload => ({ file, id: nextId.current++, phase: "uploading", progress: 0 }));

    setUploads((previous) => [...added, ...previous]);
    for (const row of added) {
      uploadFile(row.file, (fraction) => update(row.id, { progress: fraction }))
        .then((result) => {
          if (result.status === "accepted" && result.sha256 !== null) {
            update(row.id, { phase: "waiting", progress: 1, sha256: result.sha256 });
          } else {
            update(row.id, { message: result.reason ?? result.status, phase: "refused", progress: 1 });
          }
        })
        .catch((error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);

          if (error instanceof ApiError && REFUSALS.has(error.status)) {
            setRefusal(message);
          }
          update(row.id, { message, phase: "refused" });
        });
    }
  };

  // Each uploaded image is followed until processing decides (processed or quarantined), without a
  // page reload: the newest page of the gallery is polled (always 200, so no console error while an
  // image is not in the catalog yet), and an image's record is asked for only once it is listed as done.
  const sent = [...new Set(uploads.flatMap((u) => (u.phase === "waiting" && u.sha256 !== undefined ? [u.sha256] : [])))];
  const records = useQueries({
    queries: sent.map((sha256) => ({ enabled: false, queryFn: () => api.image(sha256), queryKey: keys.image(sha256) })),
  });
  const decided = new Map(records.flatMap((r, index) => (r.data !== undefined && DONE.has(r.data.status ?? "") ? [[sent[index], r.data] as const] : [])));
  const pending = sent.filter((sha256) => !decided.has(sha256));
  const listed = useQuery({
    enabled: pending.length > 0,
    queryFn: ({ signal }) => api.images({ limit: 60, sort: "newest" }, signal),
    // A new set of images to follow starts again at the shortest wait.
    queryKey: [...keys.images, "uploads", pending],
    refetchInterval: (query) => pollDelay(query.state.dataUpdateCount),
    staleTime: 0,
  });
  const done = new Set(listed.data?.items.filter((item) => DONE.has(item.status ?? "")).map((item) => item.sha256));
  const ready = pending.filter((sha256) => done.has(sha256));

  useQueries({
    queries: ready.map((sha256) => ({ queryFn: ({ signal }: { signal: AbortSignal }) => api.image(sha256, signal), queryKey: keys.image(sha256) })),
  });

  const rows: Row[] = uploads.map((upload) => {
    const detail = upload.sha256 === undefined ? undefined : decided.get(upload.sha256);
    const shown: Phase = detail === undefined ? upload.phase : detail.status === "quarantined" ? "quarantined" : "processed";

    return { ...upload, detail, shown };
  });

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    start([...event.dataTransfer.files]);
  };

  return (
    <Stack gap={4}>
      <Box
        aria-label="Drop images here to upload them"
        bg={dragging ? "bg.emphasized" : "bg.subtle"}
        borderColor={dragging ? "colorPalette.solid" : "border.emphasized"}
        borderRadius="md"
        borderStyle="dashed"
        borderWidth="2px"
        colorPalette="blue"
        data-testid="upload-dropzone"
        onDragLeave={() => setDragging(false)}
        onDragOver={(e: DragEvent) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDrop={onDrop}
        p={10}
        role="region"
        textAlign="center"
      >
        <Text fontSize="lg" mb={3}>
          Drop images here
        </Text>
        <Text color="fg.muted" mb={4}>
          They go to the gallery's inbox; the inbox DAG picks them up and processes them. Each row below follows its
          file until it is processed.
        </Text>
        <Button onClick={() => picker.current?.click()} variant="outline">
          Choose files
        </Button>
        <input
          accept="image/*"
          aria-label="Files to upload"
          data-testid="upload-input"
          hidden
          multiple
          onChange={(e) => {
            start([...(e.currentTarget.files ?? [])]);
            e.currentTarget.value = "";
          }}
          ref={picker}
          type="file"
        />
      </Box>

      {refusal === undefined ? null : (
        <Alert.Root data-testid="upload-refused" status="error">
          <Alert.Indicator />
          <Alert.Title>Upload refused: {refusal}</Alert.Title>
        </Alert.Root>
      )}

      <Stack as="ul" gap={2} listStyleType="none" m={0} p={0}>
        {rows.map((row) => (
          <Flex
            align="center"
            as="li"
            borderRadius="md"
            borderWidth="1px"
            data-phase={row.shown}
            data-sha256={row.sha256}
            data-testid="upload-row"
            gap={3}
            key={row.id}
            p={2}
          >
            <Box bg="bg.muted" borderRadius="sm" flexShrink={0} h={12} overflow="hidden" w={12}>
              {row.shown !== "processed" || row.detail?.thumb_url === undefined || row.detail.thumb_url === null ? null : (
                <Image alt={`${row.file.name} thumbnail`} h="full" objectFit="cover" src={apiUrl(row.detail.thumb_url)} w="full" />
              )}
            </Box>
            <Box flex="1" minW={0}>
              <Text lineClamp={1}>
                {row.sha256 !== undefined && row.shown === "processed" ? (
                  <RouterLink to={appPath("images", row.sha256)}>{row.file.name}</RouterLink>
                ) : (
                  row.file.name
                )}
              </Text>
              {row.phase === "uploading" ? (
                <Progress.Root aria-label={`Upload of ${row.file.name}`} max={100} size="xs" value={Math.round(row.progress * 100)}>
                  <Progress.Track>
                    <Progress.Range />
                  </Progress.Track>
                </Progress.Root>
              ) : null}
            </Box>
            <Badge colorPalette={PALETTE[row.shown]} data-testid="upload-status" role="status">
              {statusText(row)}
            </Badge>
          </Flex>
        ))}
      </Stack>
    </Stack>
  );
};
