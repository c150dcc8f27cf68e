import { Alert, Badge, Box, Button, Flex, Image, Progress, Stack, Text } from "@chakra-ui/react";
import { type DragEvent, useEffect, useRef, useState } from "react";
import { Link as RouterLink } from "react-router-dom";

import { ApiError, api, apiUrl, uploadFile } from "src/api";
import { useAppPath } from "src/components/root";

type Phase = "uploading" | "refused" | "waiting" | "processed" | "quarantined" | "failed";

type Row = {
  file: File;
  id: number;
  message?: string;
  phase: Phase;
  progress: number;
  sha256?: string;
  thumbUrl?: string;
};

const POLL_MS = 3000;

const statusText = (row: Row): string => {
  switch (row.phase) {
    case "uploading":
      return `uploading ${Math.round(row.progress * 100)}%`;
    case "waiting":
      return "uploaded, waiting for processing";
    case "processed":
      return "processed";
    case "quarantined":
      return `quarantined: ${row.message ?? "no reason given"}`;
    case "refused":
      return `refused: ${row.message ?? ""}`;
    default:
      return `failed: ${row.message ?? ""}`;
  }
};

const PALETTE: Record<Phase, string> = {
  failed: "red",
  processed: "green",
  quarantined: "orange",
  refused: "red",
  uploading: "blue",
  waiting: "gray",
};

export const UploadPage = () => {
  const appPath = useAppPath();
  const [rows, setRows] = useState<Row[]>([]);
  const [dragging, setDragging] = useState(false);
  const [refusal, setRefusal] = useState<string>();
  const nextId = useRef(1);
  const picker = useRef<HTMLInputElement>(null);

  const update = (id: number, change: Partial<Row>) =>
    setRows((previous) => previous.map((r) => (r.id === id ? { ...r, ...change } : r)));

  const start = (files: File[]) => {
    const added = files.map((file) => ({ file, id: nextId.current++, phase: "uploading" as Phase, progress: 0 }));

    setRows((previous) => [...added, ...previous]);
    for (const row of added) {
      uploadFile(row.file, (fraction) => update(row.id, { progress: fraction }))
        .then((result) => {
          if (result.status === "accepted") {
            update(row.id, { phase: "waiting", progress: 1, sha256: result.sha256 });
          } else {
            update(row.id, { message: result.reason ?? result.status, phase: "refused", progress: 1 });
          }
        })
        .catch((error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);

          if (error instanceof ApiError && (error.status === 403 || error.status === 413 || error.status === 400 || error.status === 422)) {
            setRefusal(message);
          }
          update(row.id, { message, phase: "refused" });
        });
    }
  };

  // Follow each uploaded image until it is processed or quarantined (no page reload).
  const waiting = rows.filter((r) => r.phase === "waiting" && r.sha256 !== undefined);
  const waitingKey = waiting.map((r) => r.id).join(",");

  useEffect(() => {
    if (waitingKey === "") {
      return undefined;
    }
    const timer = globalThis.setInterval(() => {
      // The newest page of the gallery (always 200, so no console error while an image is not in the
      // catalog yet); an image's detail is asked for only once it is listed as done.
      api.images({ limit: 60, sort: "newest" }).then(
        (page) => {
          for (const row of waiting) {
            const item = page.items.find((i) => i.sha256 === row.sha256);

            if (item?.status === "processed") {
              update(row.id, { phase: "processed", thumbUrl: item.thumbUrl });
            } else if (item?.status === "quarantined") {
              update(row.id, { message: "…", phase: "quarantined" });
              api.image(item.sha256).then(
                (detail) => update(row.id, { message: detail.quarantine?.reason ?? "no reason given" }),
                () => undefined,
              );
            }
          }
        },
        () => undefined,
      );
    }, POLL_MS);

    return () => globalThis.clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [waitingKey]);

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
            data-phase={row.phase}
            data-sha256={row.sha256}
            data-testid="upload-row"
            gap={3}
            key={row.id}
            p={2}
          >
            <Box bg="bg.muted" borderRadius="sm" flexShrink={0} h={12} overflow="hidden" w={12}>
              {row.thumbUrl === undefined ? null : <Image alt={`${row.file.name} thumbnail`} h="full" objectFit="cover" src={apiUrl(row.thumbUrl)} w="full" />}
            </Box>
            <Box flex="1" minW={0}>
              <Text lineClamp={1}>
                {row.sha256 !== undefined && row.phase === "processed" ? (
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
            <Badge colorPalette={PALETTE[row.phase]} data-testid="upload-status" role="status">
              {statusText(row)}
            </Badge>
          </Flex>
        ))}
      </Stack>
    </Stack>
  );
};
