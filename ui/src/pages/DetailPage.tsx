import {
  Alert,
  Badge,
  Box,
  Button,
  Flex,
  Grid,
  HStack,
  Heading,
  Image,
  Link,
  SimpleGrid,
  Spinner,
  Stack,
  Table,
  Tabs,
  Text,
} from "@chakra-ui/react";
import type { ReactNode } from "react";
import { Link as RouterLink, useParams } from "react-router-dom";

import { type ImageDetail, type Quarantine, type RunRef, apiUrl, runHref } from "src/api";
import { ApplyRecipe } from "src/components/ApplyRecipe";
import { ImageHistory, ImageInfo, TrashButton } from "src/components/ImageManage";
import { RetryButton } from "src/components/RetryButton";
import { useAppPath } from "src/components/root";
import { useImage, useRecipes, useSimilar } from "src/queries";
import { formatBytes, formatDate, formatExposure, formatSeconds, hasProblem, outputList, outputRows, runName } from "src/types";

const Section = ({ children, id, title }: { children: ReactNode; id: string; title: string }) => (
  <Box aria-labelledby={`detail-${id}-title`} as="section" borderRadius="md" borderWidth="1px" data-testid={`detail-${id}`} p={4}>
    <Heading as="h2" id={`detail-${id}-title`} mb={3} size="md">
      {title}
    </Heading>
    {children}
  </Box>
);

const Facts = ({ rows }: { rows: [string, ReactNode][] }) => (
  <Table.Root size="sm" variant="line">
    <Table.Body>
      {rows.map(([name, value]) => (
        <Table.Row key={name}>
          <Table.Cell color="fg.muted" w="40%">
            {name}
          </Table.Cell>
          <Table.Cell wordBreak="break-all">{value ?? "–"}</Table.Cell>
        </Table.Row>
      ))}
    </Table.Body>
  </Table.Root>
);

const ExternalLink = ({ href, children }: { children?: ReactNode; href?: string }) =>
  href === undefined ? (
    <>–</>
  ) : (
    <Link color="fg.info" href={href} rel="noopener noreferrer" target="_blank">
      {children ?? href}
    </Link>
  );

/** A run that recorded a problem: a link to its Airflow page, or its id when Airflow no longer has it. */
const RunLink = ({ run }: { run: RunRef | null }) => {
  if (run === null) {
    return null;
  }
  const href = runHref(run);
  const name = runName(run);

  return href === undefined ? (
    <Text as="span" fontFamily="mono" fontSize="sm">
      {name}
    </Text>
  ) : (
    <Link color="fg.info" fontSize="sm" href={href} rel="noopener noreferrer" target="_blank">
      {name}
    </Link>
  );
};

const QUARANTINE_KIND: Record<string, string> = {
  image: "the image cannot be used",
  unexpected: "it failed unexpectedly",
};

const quarantineTitle = (q: Quarantine): string => {
  const why = q.kind === null ? undefined : (QUARANTINE_KIND[q.kind] ?? q.kind);
  const attempts = q.attempts === null ? "" : `, after ${q.attempts} attempts`;

  return `Quarantined${q.stage === null ? "" : ` at ${q.stage}`}${why === undefined ? "" : ` (${why}${attempts})`}`;
};

const percent = (fraction: number | undefined) => `${(fraction ?? 0) * 100}%`;

/** The image with its face boxes drawn over it (boxes are fractions of the image: x, y, width, height). */
const ImageWithFaces = ({ boxes, detail }: { boxes: number[][]; detail: ImageDetail }) => {
  const src = apiUrl(detail.raw_url) ?? apiUrl(outputList(detail)[0]?.url);

  if (src === undefined) {
    return <Text color="fg.muted">No image bytes are kept for this image.</Text>;
  }

  return (
    <Box display="inline-block" maxW="full" position="relative">
      <Image alt={`Image ${detail.sha256.slice(0, 12)}`} display="block" maxH="70vh" maxW="full" src={src} />
      {boxes.map(([x, y, w, h], index) => (
        <Box
          aria-label={`Face ${index + 1}`}
          borderColor="yellow.400"
          borderWidth="2px"
          data-testid="detail-face-box"
          h={percent(h)}
          // Boxes have no ids; the detector's order is stable for a record.
          key={index}
          left={percent(x)}
          pointerEvents="none"
          position="absolute"
          role="img"
          top={percent(y)}
          w={percent(w)}
        />
      ))}
    </Box>
  );
};

/** The image's dominant colours as swatches, most frequent first, each named by its hex. */
const Colours = ({ colours }: { colours: string[] }) => (
  <HStack data-testid="detail-colors" gap={1} wrap="wrap">
    {colours.length === 0 ? <Text>–</Text> : null}
    {colours.map((c) => (
      <Box aria-label={c} bg={c} borderColor="border" borderRadius="sm" borderWidth="1px" data-testid="detail-color" h={6} key={c} role="img" title={c} w={6} />
    ))}
  </HStack>
);

const SimilarSection = ({ sha256 }: { sha256: string }) => {
  const appPath = useAppPath();
  const { data, error } = useSimilar(sha256);
  const items = data?.items ?? [];
  // Why the row is empty, in the API's words where it gives them (an installation without onnxruntime
  // or faiss-cpu, which similar images need).
  const why =
    error === null
      ? data === undefined
        ? "Looking for similar images…"
        : (data.reason ?? (data.embedding ? "No similar images in the gallery." : "No similar images known (the image has no embedding yet)."))
      : `Similar images could not be found: ${error.message}`;

  return (
    <Section id="similar" title="Similar images">
      {items.length === 0 ? (
        <Text color="fg.muted" data-available={data?.available} data-testid="detail-similar-empty">
          {why}
        </Text>
      ) : (
        <SimpleGrid gap={2} minChildWidth="96px">
          {items.map((d) => (
            <RouterLink aria-label={`Open similar image ${d.sha256.slice(0, 12)}`} data-testid="detail-similar-image" key={d.sha256} to={appPath("images", d.sha256)}>
              <Box aspectRatio={1} bg="bg.muted" borderRadius="sm" overflow="hidden">
                <Image alt={`similar image ${d.sha256.slice(0, 12)}`} h="full" objectFit="cover" src={apiUrl(d.thumb_url)} w="full" />
              </Box>
            </RouterLink>
          ))}
        </SimpleGrid>
      )}
    </Section>
  );
};

export const DetailPage = () => {
  const { sha256 = "" } = useParams();
  const appPath = useAppPath();
  // After a run of Apply or Retry, RunStatus has the record (and its similar images) fetched again.
  const { data: detail, error } = useImage(sha256);
  const { data: recipes = [] } = useRecipes();

  if (error !== null) {
    return (
      <Alert.Root status="error">
        <Alert.Indicator />
        <Alert.Title>Could not load image {sha256.slice(0, 12)}: {error.message}</Alert.Title>
      </Alert.Root>
    );
  }
  if (detail === undefined) {
    return <Spinner aria-label="Loading the image" />;
  }
  const { features } = detail;
  const exif = features?.exif;
  const boxes = features?.faces.boxes ?? [];
  const outputs = outputList(detail);
  const failures = Object.keys(detail.failures).length;
  const labels = (features?.labels ?? []).filter((l) => l.name !== null);

  return (
    <Stack data-sha256={detail.sha256} data-testid="detail-page" gap={4}>
      <HStack gap={3} wrap="wrap">
        <Link asChild color="fg.info">
          <RouterLink to={appPath("browse")}>← Back to the gallery</RouterLink>
        </Link>
        <Heading as="h2" size="md" wordBreak="break-all">
          {detail.title === undefined ? null : <>{detail.title} · </>}
          <Text as="span" fontFamily="mono">{detail.sha256}</Text>
        </Heading>
        {detail.status === null ? null : (
          <Badge colorPalette={detail.status === "quarantined" ? "red" : detail.status === "processed" ? "green" : "gray"} data-testid="detail-status">
            {detail.status}
          </Badge>
        )}
        <HStack gap={2} ms="auto">
          <Button asChild colorPalette="blue" size="sm">
            <RouterLink to={appPath("images", detail.sha256, "edit")}>Edit</RouterLink>
          </Button>
          <TrashButton detail={detail} />
        </HStack>
      </HStack>

      {detail.trashed === null ? null : (
        <Alert.Root data-testid="detail-trashed" status="info">
          <Alert.Indicator />
          <Alert.Title>
            In the trash (by {detail.trashed.by}, {formatDate(detail.trashed.at)}): hidden from the gallery until restored.
          </Alert.Title>
        </Alert.Root>
      )}

      {detail.quarantine === null ? null : (
        <Alert.Root data-kind={detail.quarantine.kind} data-testid="detail-quarantine" status="warning">
          <Alert.Indicator />
          <Alert.Content>
            <Alert.Title>{quarantineTitle(detail.quarantine)}</Alert.Title>
            <Alert.Description>
              {detail.quarantine.reason ?? "no reason recorded"}
              {detail.quarantine.at === null ? "" : ` (${formatDate(detail.quarantine.at)})`}{" "}
              <RunLink run={detail.quarantine.run} />
            </Alert.Description>
          </Alert.Content>
        </Alert.Root>
      )}

      {detail.attempts === null || detail.quarantine !== null ? null : (
        <Alert.Root data-count={detail.attempts.count ?? 0} data-testid="detail-attempts" status="info">
          <Alert.Indicator />
          <Alert.Content>
            <Alert.Title>
              Failed unexpectedly {detail.attempts.count === 1 ? "once" : `${detail.attempts.count ?? 0} times`}: the next runs try
              it again
            </Alert.Title>
            <Alert.Description>
              {detail.attempts.reason ?? "no reason recorded"}
              {detail.attempts.at === null ? "" : ` (${formatDate(detail.attempts.at)})`}{" "}
              {detail.attempts.runs.slice(-1).map((run) => (
                <RunLink key={runName(run)} run={run} />
              ))}
            </Alert.Description>
          </Alert.Content>
        </Alert.Root>
      )}

      {hasProblem(detail) ? (
        <HStack gap={3} wrap="wrap">
          <Text color="fg.muted" fontSize="sm">
            {failures > 0 ? `${failures === 1 ? "An output" : `${failures} outputs`} failed (see Outputs). ` : ""}
            Once the cause is gone:
          </Text>
          <RetryButton sha256s={[detail.sha256]} testId="detail-retry" />
        </HStack>
      ) : null}

      <Grid gap={4} templateColumns={{ base: "1fr", lg: "3fr 2fr" }}>
        <Section id="image" title="Image and outputs">
          <Tabs.Root defaultValue="original" lazyMount variant="line">
            <Tabs.List flexWrap="wrap">
              <Tabs.Trigger value="original">Original</Tabs.Trigger>
              {outputs.map((o) => (
                <Tabs.Trigger key={o.recipe} value={`recipe-${o.recipe}`}>
                  {o.recipe}
                </Tabs.Trigger>
              ))}
              {outputs.length > 1 ? <Tabs.Trigger value="side-by-side">Side by side</Tabs.Trigger> : null}
            </Tabs.List>
            <Tabs.Content value="original">
              <ImageWithFaces boxes={boxes} detail={detail} />
              <Text color="fg.muted" fontSize="sm" mt={2}>
                {detail.width ?? "?"}×{detail.height ?? "?"} · {formatBytes(detail.bytes)} · {detail.format ?? "unknown format"}
                {boxes.length > 0 ? ` · ${boxes.length} face box(es) drawn` : ""}
              </Text>
            </Tabs.Content>
            {outputs.map((o) => (
              <Tabs.Content key={o.recipe} value={`recipe-${o.recipe}`}>
                <Image alt={`${o.recipe} output`} maxH="70vh" maxW="full" src={apiUrl(o.url)} />
                <Text color="fg.muted" fontSize="sm" mt={2}>
                  {o.width ?? "?"}×{o.height ?? "?"} · {formatBytes(o.bytes)} · {o.format ?? "?"}
                </Text>
              </Tabs.Content>
            ))}
            {outputs.length > 1 ? (
              <Tabs.Content value="side-by-side">
                <SimpleGrid gap={3} minChildWidth="200px">
                  {outputs.map((o) => (
                    <Box key={o.recipe}>
                      <Image alt={`${o.recipe} output, side by side`} maxW="full" src={apiUrl(o.url)} />
                      <Text fontSize="sm">{o.recipe}</Text>
                    </Box>
                  ))}
                </SimpleGrid>
              </Tabs.Content>
            ) : null}
          </Tabs.Root>
        </Section>

        <Stack gap={4}>
          <Section id="manage" title="About this image">
            <ImageInfo detail={detail} />
          </Section>

          <Section id="exif" title="Camera (EXIF)">
            <Facts
              rows={[
                ["Camera", exif?.camera],
                ["Lens", exif?.lens],
                ["Exposure", formatExposure(exif?.exposure_time)],
                ["Aperture", exif?.f_number === undefined || exif.f_number === null ? undefined : `f/${exif.f_number}`],
                ["ISO", exif?.iso],
                ["Focal length", exif?.focal_length === undefined || exif.focal_length === null ? undefined : `${exif.focal_length} mm`],
                ["Taken at", exif?.taken_at === undefined || exif.taken_at === null ? undefined : formatDate(exif.taken_at)],
                [
                  "GPS",
                  exif?.gps === undefined || exif.gps === null ? undefined : (
                    <ExternalLink
                      href={exif.gps.map_url ?? `https://www.openstreetmap.org/?mlat=${exif.gps.lat}&mlon=${exif.gps.lon}#map=15/${exif.gps.lat}/${exif.gps.lon}`}
                    >
                      {exif.gps.lat.toFixed(5)}, {exif.gps.lon.toFixed(5)} (map)
                    </ExternalLink>
                  ),
                ],
              ]}
            />
          </Section>

          <Section id="features" title="Features">
            <Stack gap={3}>
              <Facts
                rows={[
                  ["Faces", features?.faces.count ?? (boxes.length > 0 ? boxes.length : undefined)],
                  ["Brightness", features?.brightness?.toFixed(3)],
                  ["Contrast", features?.contrast?.toFixed(3)],
                  ["Blur", features?.blur?.toFixed(3)],
                ]}
              />
              <Box>
                <Text color="fg.muted" fontSize="sm" mb={1}>
                  Dominant colours
                </Text>
                <Colours colours={features?.dominant_colors ?? []} />
              </Box>
            </Stack>
          </Section>

          <Section id="labels" title="Labels">
            {labels.length === 0 ? (
              <Text color="fg.muted">No labels.</Text>
            ) : (
              <Table.Root size="sm">
                <Table.Header>
                  <Table.Row>
                    <Table.ColumnHeader>Label</Table.ColumnHeader>
                    <Table.ColumnHeader textAlign="end">Score</Table.ColumnHeader>
                    <Table.ColumnHeader>Source</Table.ColumnHeader>
                  </Table.Row>
                </Table.Header>
                <Table.Body>
                  {labels.map((l) => (
                    <Table.Row data-testid="detail-label" key={`${l.name ?? ""}/${l.source ?? ""}`}>
                      <Table.Cell>{l.name}</Table.Cell>
                      <Table.Cell textAlign="end">{l.score === null ? "–" : l.score.toFixed(2)}</Table.Cell>
                      <Table.Cell color="fg.muted">{l.source ?? "–"}</Table.Cell>
                    </Table.Row>
                  ))}
                </Table.Body>
              </Table.Root>
            )}
          </Section>
        </Stack>
      </Grid>

      <Section id="outputs" title="Outputs">
        <Box mb={3}>
          <ApplyRecipe label="Apply recipe" recipes={recipes} sha256s={[detail.sha256]} />
        </Box>
        {outputs.length === 0 && failures === 0 ? (
          <Text color="fg.muted">No outputs yet.</Text>
        ) : (
          <Table.Root size="sm">
            <Table.Header>
              <Table.Row>
                <Table.ColumnHeader>Recipe</Table.ColumnHeader>
                <Table.ColumnHeader>Version</Table.ColumnHeader>
                <Table.ColumnHeader>Size</Table.ColumnHeader>
                <Table.ColumnHeader>Bytes</Table.ColumnHeader>
                <Table.ColumnHeader>Format</Table.ColumnHeader>
                <Table.ColumnHeader>Time</Table.ColumnHeader>
              </Table.Row>
            </Table.Header>
            <Table.Body>
              {outputRows(detail).map((row) => {
                if (row.kind === "failed") {
                  const f = row.failure;

                  return (
                    <Table.Row bg="bg.error" data-recipe={row.recipe} data-testid="detail-output-failed" key={`failed/${row.recipe}`}>
                      <Table.Cell>
                        <HStack gap={2}>
                          <Text>{row.recipe}</Text>
                          <Badge colorPalette="red" size="sm">
                            failed
                          </Badge>
                        </HStack>
                      </Table.Cell>
                      <Table.Cell>{f.version ?? "–"}</Table.Cell>
                      <Table.Cell colSpan={4}>
                        <Stack gap={1}>
                          <Text data-operation={f.operation ?? undefined} data-testid="detail-output-reason" fontSize="sm" wordBreak="break-word">
                            {f.reason ?? "no reason recorded"}
                          </Text>
                          <Text color="fg.muted" fontSize="xs">
                            {f.at === null ? "" : `${formatDate(f.at)} `}
                            <RunLink run={f.run} />
                          </Text>
                        </Stack>
                      </Table.Cell>
                    </Table.Row>
                  );
                }
                const o = row.output;

                return (
                  <Table.Row data-recipe={row.recipe} data-testid="detail-output" key={row.recipe}>
                    <Table.Cell>
                      <ExternalLink href={apiUrl(o.url)}>{row.recipe}</ExternalLink>
                    </Table.Cell>
                    <Table.Cell>{o.version ?? "–"}</Table.Cell>
                    <Table.Cell>{o.width !== null && o.height !== null ? `${o.width}×${o.height}` : "–"}</Table.Cell>
                    <Table.Cell>{formatBytes(o.bytes)}</Table.Cell>
                    <Table.Cell>{o.format ?? "–"}</Table.Cell>
                    <Table.Cell>{formatSeconds(o.seconds)}</Table.Cell>
                  </Table.Row>
                );
              })}
            </Table.Body>
          </Table.Root>
        )}
      </Section>

      <Section id="provenance" title="Provenance">
        <Stack gap={3}>
          {detail.sources.length === 0 ? <Text color="fg.muted">No source recorded.</Text> : null}
          {detail.sources.map((s, index) => (
            // Sources have no ids; the record keeps them in the order they found the image.
            <Box data-testid="detail-source" key={index}>
              <Facts
                rows={[
                  ["Source (engine)", s.source],
                  ["Image URL", s.uri === null ? undefined : /^https?:/u.test(s.uri) ? <ExternalLink href={s.uri} /> : s.uri],
                  ["Page URL", s.page_url === null ? undefined : <ExternalLink href={s.page_url} />],
                  ["Keyword", s.keyword],
                  ["Licence", s.licence_url === null ? s.licence : <ExternalLink href={s.licence_url}>{s.licence ?? s.licence_url}</ExternalLink>],
                  ["Creator", s.creator],
                  ["Retrieved at", s.retrieved_at === null ? undefined : formatDate(s.retrieved_at)],
                  ["Uploaded by", s.uploaded_by],
                ]}
              />
            </Box>
          ))}
          <Box>
            <Text color="fg.muted" fontSize="sm" mb={1}>
              Airflow runs
            </Text>
            {detail.run_ids.length === 0 ? <Text>–</Text> : null}
            <Flex direction="column" gap={1}>
              {detail.run_ids.map((run) => (
                <ExternalLink href={runHref(run)} key={runName(run)}>
                  {runName(run)}
                </ExternalLink>
              ))}
            </Flex>
          </Box>
          {detail.keywords.length > 0 ? (
            <HStack gap={1} wrap="wrap">
              <Text color="fg.muted" fontSize="sm">
                Keywords:
              </Text>
              {detail.keywords.map((k) => (
                <Badge key={k}>{k}</Badge>
              ))}
            </HStack>
          ) : null}
        </Stack>
      </Section>

      <Section id="history" title="History">
        <ImageHistory history={detail.history} />
      </Section>

      <Section id="duplicates" title="Near-duplicates">
        {detail.near_duplicates.length === 0 ? (
          <Text color="fg.muted">No near-duplicate of this image.</Text>
        ) : (
          <SimpleGrid gap={2} minChildWidth="96px">
            {detail.near_duplicates.map((d) => (
              <RouterLink aria-label={`Open near-duplicate ${d.sha256.slice(0, 12)}`} data-testid="detail-duplicate" key={d.sha256} to={appPath("images", d.sha256)}>
                <Box aspectRatio={1} bg="bg.muted" borderRadius="sm" overflow="hidden">
                  {d.thumb_url === null ? (
                    <Text fontFamily="mono" fontSize="xs" p={1}>
                      {d.sha256.slice(0, 12)}
                    </Text>
                  ) : (
                    <Image alt={`near-duplicate ${d.sha256.slice(0, 12)}`} h="full" objectFit="cover" src={apiUrl(d.thumb_url)} w="full" />
                  )}
                </Box>
              </RouterLink>
            ))}
          </SimpleGrid>
        )}
      </Section>

      <SimilarSection sha256={detail.sha256} />
    </Stack>
  );
};
