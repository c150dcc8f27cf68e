import { Box, Button, HStack, Image, Spinner, Text } from "@chakra-ui/react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type PointerEvent, useEffect, useMemo, useRef, useState } from "react";

import { type OperationsList, preview } from "src/api";
import { dragBox } from "src/editor";
import { useDebounced } from "src/queries";

const DEBOUNCE_MS = 250;

type Box4 = [number, number, number, number];

/**
 * The chain's preview, computed by the API (the pipeline's engine on a reduced decode): asked
 * DEBOUNCE_MS after the last change; a newer chain cancels the request of the one before (the
 * query's signal), so the latest chain wins, and a chain seen before comes from the cache.
 * data-operations names the chain the shown image was made from (what a test waits for).
 */
export const usePreview = (sha: string, operations: OperationsList, paused = false) => {
  const key = JSON.stringify(operations);
  const settled = useDebounced(key, DEBOUNCE_MS);
  const query = useQuery({
    // Not while a box is drawn, nor for a chain the debounce has not caught up with: the chain settled
    // before the box was drawn is incomplete (a crop without its box), and asking for it is a 422.
    enabled: !paused && key === settled,
    gcTime: 60_000,
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }) => ({ ...(await preview(sha, JSON.parse(settled) as OperationsList, signal)), key: settled }),
    queryKey: ["preview", sha, settled],
    retry: false,
    staleTime: Infinity,
  });
  const blob = query.data?.blob;
  const url = useMemo(() => (blob === undefined ? undefined : URL.createObjectURL(blob)), [blob]);

  useEffect(() => () => (url === undefined ? undefined : URL.revokeObjectURL(url)), [url]);
  const state: "error" | "loading" | "ready" = key !== settled || query.isFetching ? "loading" : query.isError ? "error" : "ready";
  const shown = query.data === undefined || url === undefined ? undefined : { key: query.data.key, ms: query.data.ms, url };

  return { error: query.error?.message, shown, state };
};

/** The original with a box drawn by dragging; the box is reported in the original's pixels. */
const BoxDrawer = ({
  box,
  onBox,
  original: stored,
  src,
}: {
  box?: Box4;
  onBox: (box: Box4) => void;
  original: { height: number; width: number };
  src: string;
}) => {
  const image = useRef<HTMLImageElement>(null);
  const [start, setStart] = useState<[number, number]>();
  const [draft, setDraft] = useState<Box4>();
  const [upright, setUpright] = useState<boolean>();
  // Boxes are in the upright image's pixels: the browser shows it upright (EXIF orientation), so a
  // quarter-turned original is drawn on with its sides swapped.
  const original = upright === false ? { height: stored.width, width: stored.height } : stored;

  const point = (event: PointerEvent): [number, number] => {
    const rect = image.current?.getBoundingClientRect();

    return rect === undefined ? [0, 0] : [event.clientX - rect.left, event.clientY - rect.top];
  };
  const toBox = (to: [number, number]): Box4 | undefined => {
    const el = image.current;

    return start === undefined || el === null
      ? undefined
      : dragBox(start, to, { height: el.clientHeight, width: el.clientWidth }, original);
  };
  const current = draft ?? box;

  return (
    <Box
      cursor="crosshair"
      data-testid="editor-box-drawer"
      display="inline-block"
      maxW="full"
      onPointerDown={(e) => {
        e.currentTarget.setPointerCapture(e.pointerId);
        setStart(point(e));
        setDraft(undefined);
      }}
      onPointerMove={(e) => start !== undefined && setDraft(toBox(point(e)))}
      onPointerUp={(e) => {
        const done = toBox(point(e));

        setStart(undefined);
        setDraft(undefined);
        if (done !== undefined && done[2] - done[0] > 1 && done[3] - done[1] > 1) {
          onBox(done);
        }
      }}
      position="relative"
      touchAction="none"
      userSelect="none"
    >
      <Image
        alt="The original: drag to draw the box"
        display="block"
        draggable={false}
        maxH="70vh"
        maxW="full"
        onLoad={(e) => {
          const { naturalHeight, naturalWidth } = e.currentTarget;

          setUpright(naturalWidth === naturalHeight || naturalWidth > naturalHeight === stored.width > stored.height);
        }}
        ref={image}
        src={src}
      />
      {current === undefined ? null : (
        <Box
          aria-label={`Box ${current.join(", ")}`}
          borderColor="yellow.400"
          borderStyle="dashed"
          borderWidth="2px"
          boxShadow="0 0 0 9999px rgba(0,0,0,0.45)"
          data-testid="editor-box"
          h={`${((current[3] - current[1]) / original.height) * 100}%`}
          left={`${(current[0] / original.width) * 100}%`}
          pointerEvents="none"
          position="absolute"
          role="img"
          top={`${(current[1] / original.height) * 100}%`}
          w={`${((current[2] - current[0]) / original.width) * 100}%`}
        />
      )}
    </Box>
  );
};

export const PreviewPane = ({
  beforeSrc,
  box,
  drawing,
  onBox,
  operations,
  original,
  sha,
}: {
  beforeSrc?: string;
  box?: Box4;
  drawing: boolean;
  onBox: (box: Box4) => void;
  operations: OperationsList;
  original?: { height: number; width: number };
  sha: string;
}) => {
  const [before, setBefore] = useState(false);
  const canDraw = drawing && beforeSrc !== undefined && original !== undefined;
  // While a box is drawn the chain may be incomplete (a crop without its box): no preview until done.
  const { error, shown, state } = usePreview(sha, operations, canDraw);

  if (canDraw) {
    return (
      <Box>
        <Text color="fg.muted" fontSize="sm" mb={2}>
          Drag on the original to draw the box (in its own pixels: {original.width}×{original.height}).
        </Text>
        <BoxDrawer box={box} onBox={onBox} original={original} src={beforeSrc} />
      </Box>
    );
  }

  return (
    <Box>
      <HStack gap={2} mb={2} wrap="wrap">
        <Button aria-pressed={!before} onClick={() => setBefore(false)} size="xs" variant={before ? "outline" : "solid"}>
          After
        </Button>
        <Button aria-pressed={before} disabled={beforeSrc === undefined} onClick={() => setBefore(true)} size="xs" variant={before ? "solid" : "outline"}>
          Before
        </Button>
        <Text aria-live="polite" color="fg.muted" data-testid="editor-preview-status" fontSize="xs">
          {state === "loading" ? "Updating the preview…" : state === "error" ? `Preview failed: ${error ?? ""}` : shown?.ms === undefined ? "Preview ready" : `Preview in ${Math.round(shown.ms)} ms`}
        </Text>
        {state === "loading" ? <Spinner size="xs" /> : null}
      </HStack>
      <Box bg="bg.muted" borderRadius="md" display="flex" justifyContent="center" minH="40" p={2}>
        {before && beforeSrc !== undefined ? (
          <Image alt="Before: the original" data-testid="editor-before" maxH="70vh" maxW="full" src={beforeSrc} />
        ) : shown === undefined ? (
          <Text color="fg.muted" p={6}>
            {state === "error" ? error : "Computing the preview…"}
          </Text>
        ) : (
          <Image
            alt="After: the preview of the chain"
            data-operations={shown.key}
            data-state={state}
            data-testid="editor-preview"
            maxH="70vh"
            maxW="full"
            opacity={state === "loading" ? 0.7 : 1}
            src={shown.url}
            transition="opacity 0.15s"
          />
        )}
      </Box>
    </Box>
  );
};
