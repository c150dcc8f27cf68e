import { Alert, Badge, Box, Button, Flex, Image, Link, Progress, Stack, Text } from "@chakra-ui/react";
import { useQueryClient } from "@tanstack/react-query";
import { type DragEvent, useEffect, useRef, useState } from "react";
import { Link as RouterLink } from "react-router-dom";

import { type UploadedImage, ApiError, apiUrl, uploadFile } from "src/api";
import { useAppPath } from "src/components/root";
import { galleryChanged, useUploadProgress } from "src/queries";

type Phase = "uploading" | "refused" | "waiting" | "processing" | "processed" | "quarantined";

/**
 * A file as sent: its upload's progress and the API's answer (processing is followed apart), and the
 * picture as the browser already has it (an object URL of the dropped file), shown until the
 * pipeline's thumbnail exists; undefined when the browser cannot show the file.
 */
type Upload = {
  event?: number;
  file: File;
  id: number;
  local?: string;
  message?: string;
  phase: "uploading" | "refused" | "waiting";
  progress: number;
  sha256?: string;
};

/** What the row shows: the upload, then where its image is (the inbox, processing, done). */
type Row = Upload & { image?: UploadedImage; shown: Phase };

const statusText = (row: Row): string => {
  switch (row.shown) {
    case "uploading":
      return `uploading ${Math.round(row.progress * 100)}%`;
    case "waiting":
      return "uploaded, waiting for the inbox";
    case "processing":
      return "in the gallery, processing";
    case "processed":
      return "processed";
    case "quarantined":
      return `quarantined: ${row.image?.reason ?? "no reason given"}`;
    case "refused":
      return `refused: ${row.message ?? ""}`;
  }
};

const PALETTE: Record<Phase, string> = {
  processed: "green",
  processing: "cyan",
  quarantined: "orange",
  refused: "red",
  uploading: "blue",
  waiting: "gray",
};

const SHOWN: Record<UploadedImage["status"], Phase> = {
  inbox: "waiting",
  processed: "processed",
  quarantined: "quarantined",
  raw: "processing",
};

const RUN_PALETTE: Record<string, string> = { failed: "red", queued: "gray", running: "cyan", success: "green" };
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

  // The dropped files' object URLs, released when the page goes.
  const objectUrls = useRef<string[]>([]);

  useEffect(
    () => () => {
      for (const local of objectUrls.current) {
        URL.revokeObjectURL(local);
      }
    },
    [],
  );

  const start = (files: File[]) => {
    const added = files.map((file): Upload => {
      const local = URL.createObjectURL(file);

      objectUrls.current.push(local);

      return { file, id: nextId.current++, local, phase: "uploading", progress: 0 };
    });

    setUploads((previous) => [...added, ...previous]);
    for (const row of added) {
      uploadFile(row.file, (fraction) => update(row.id, { progress: fraction }))
        .then(({ event, file: result }) => {
          if (result.status === "accepted" && result.sha256 !== null) {
            update(row.id, { event: event?.id ?? undefined, phase: "waiting", progress: 1, sha256: result.sha256 });
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

  // Each uploaded image is followed, without a page reload, until processing decides (processed or
  // quarantined): where it is (still in the inbox, in the gallery waiting for processing, done) and
  // the runs its upload's event started, polled with back-off and stopped when all are done.
  const sent = [...new Set(uploads.flatMap((u) => (u.phase === "waiting" && u.sha256 !== undefined ? [u.sha256] : [])))];
  const events = [...new Set(uploads.flatMap((u) => (u.event === undefined ? [] : [u.event])))];
  const { data: progress } = useUploadProgress(sent, events);
  const where = new Map(progress?.images.map((image) => [image.sha256, image]));
  const queryClient = useQueryClient();
  const decided = progress?.images.filter((image) => image.status === "processed" || image.status === "quarantined").length ?? 0;

  useEffect(() => {
    if (decided > 0) {
      void galleryChanged(queryClient); // the grid, facets and records read before now miss these images
    }
  }, [decided, queryClient]);

  const rows: Row[] = uploads.map((upload) => {
    const image = upload.sha256 === undefined || upload.phase !== "waiting" ? undefined : where.get(upload.sha256);

    return { ...upload, image, shown: image === undefined ? upload.phase : SHOWN[image.status] };
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
          They go to the gallery's inbox and the inbox DAG starts at once; processing follows. Each row below shows
          its file as dropped, then follows it until it is processed.
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
              {row.image?.thumb_url !== undefined && row.image.thumb_url !== null ? (
                <Image
                  alt={`${row.file.name} thumbnail`}
                  data-source="thumbnail"
                  data-testid="upload-picture"
                  h="full"
                  objectFit="cover"
                  src={apiUrl(row.image.thumb_url)}
                  w="full"
                />
              ) : row.local === undefined ? null : (
                <Image
                  alt={`${row.file.name} as dropped`}
                  data-source="local"
                  data-testid="upload-picture"
                  h="full"
                  objectFit="cover"
                  onError={() => update(row.id, { local: undefined })}
                  src={row.local}
                  w="full"
                />
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

      {progress === undefined || progress.runs.length === 0 ? null : (
        <Flex align="center" data-testid="upload-runs" gap={2} wrap="wrap">
          <Text color="fg.muted" fontSize="sm">
            Runs:
          </Text>
          {progress.runs.map((run) => (
            <Link data-state={run.state} data-testid="upload-run" href={apiUrl(run.airflow_url)} key={`${run.dag_id}/${run.run_id}`}>
              <Badge colorPalette={RUN_PALETTE[run.state] ?? "gray"}>
                {run.dag_id}: {run.state}
              </Badge>
            </Link>
          ))}
        </Flex>
      )}
    </Stack>
  );
};
