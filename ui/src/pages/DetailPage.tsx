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
import { type ReactNode, useEffect, useState } from "react";
import { Link as RouterLink, useParams } from "react-router-dom";

import { api, apiUrl, runHref } from "src/api";
import { ApplyRecipe } from "src/components/ApplyRecipe";
import { ImageHistory, ImageInfo, TrashButton } from "src/components/ImageManage";
import { RetryButton } from "src/components/RetryButton";
import { useAppPath } from "src/components/root";
import type { ImageDetail, ImageItem, Quarantine, Recipe, RunRef } from "src/types";
import { formatBytes, formatDate, formatSeconds, hasProblem, outputRows } from "src/types";

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
const RunLink = ({ run }: { run?: RunRef }) => {
  if (run === undefined) {
    return null;
  }
  const href = runHref(run);
  const name = run.dagId === undefined ? run.runId : `${run.dagId} / ${run.runId}`;

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
  const why = q.kind === undefined ? undefined : QUARANTINE_KIND[q.kind] ?? q.kind;
  const attempts = q.attempts === undefined ? "" : `, after ${q.attempts} attempts`;

  return `Quarantined${q.stage === undefined ? "" : ` at ${q.stage}`}${why === undefined ? "" : ` (${why}${attempts})`}`;
};

/** The image with its face boxes drawn over it (boxes are in the original image's pixels). */
const ImageWithFaces = ({ detail, showFaces }: { detail: ImageDetail; showFaces: boolean }) => {
  const src = apiUrl(detail.rawUrl) ?? apiUrl(detail.outputs[0]?.url);
  const { height, width } = detail;

  if (src === undefined) {
    return <Text color="fg.muted">No image bytes are kept for this image.</Text>;
  }

  return (
    <Box display="inline-block" maxW="full" position="relative">
      <Image alt={`Image ${detail.sha256.slice(0, 12)}`} display="block" maxH="70vh" maxW="full" src={src} />
      {showFaces && width !== undefined && height !== undefined
        ? detail.faces.boxes.map(([x, y, w, h], index) => (
            <Box
              aria-label={`Face ${index + 1}`}
              borderColor="yellow.400"
              borderWidth="2px"
              data-testid="detail-face-box"
              // eslint-disable-next-line react/no-array-index-key
              key={index}
              left={`${(x / width) * 100}%`}
              pointerEvents="none"
              position="absolute"
              role="img"
              top={`${(y / height) * 100}%`}
              h={`${(h / height) * 100}%`}
              w={`${(w / width) * 100}%`}
            />
          ))
        : null}
    </Box>
  );
};

export const DetailPage = () => {
  const { sha256 = "" } = useParams();
  const appPath = useAppPath();
  const [detail, setDetail] = useState<ImageDetail>();
  const [error, setError] = useState<string>();
  const [recipes, setRecipes] = useState<Recipe[]>([]);
  const [similar, setSimilar] = useState<ImageItem[]>([]);

  useEffect(() => {
    setDetail(undefined);
    setError(undefined);
    setSimilar([]);
    api.image(sha256).then(setDetail, (error_: unknown) => setError(error_ instanceof Error ? error_.message : String(error_)));
    // Similar images are a bonus: without them (no embedding yet, or an older API) the row says so.
    api.similar(sha256).then((page) => setSimilar(page.items), () => setSimilar([]));
  }, [sha256]);

  useEffect(() => {
    api.recipes().then(setRecipes, () => setRecipes([]));
  }, []);

  // After a run of gallery_process: the record again, with its new outputs.
  const reload = () => {
    api.image(sha256).then(setDetail, () => undefined);
  };

  if (error !== undefined) {
    return (
      <Alert.Root status="error">
        <Alert.Indicator />
        <Alert.Title>Could not load image {sha256.slice(0, 12)}: {error}</Alert.Title>
      </Alert.Root>
    );
  }
  if (detail === undefined) {
    return <Spinner aria-label="Loading the image" />;
  }
  const { exif } = detail;
  const hasFaces = detail.faces.boxes.length > 0;

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
        {detail.status === undefined ? null : (
          <Badge colorPalette={detail.status === "quarantined" ? "red" : detail.status === "processed" ? "green" : "gray"} data-testid="detail-status">
            {detail.status}
          </Badge>
        )}
        <HStack gap={2} ms="auto">
          <Button asChild colorPalette="blue" size="sm">
            <RouterLink to={appPath("images", detail.sha256, "edit")}>Edit</RouterLink>
          </Button>
          <TrashButton detail={detail} onChange={setDetail} />
        </HStack>
      </HStack>

      {detail.trashed === undefined ? null : (
        <Alert.Root data-testid="detail-trashed" status="info">
          <Alert.Indicator />
          <Alert.Title>
            In the trash{detail.trashed.by === undefined ? "" : ` (by ${detail.trashed.by}`}
            {detail.trashed.at === undefined ? "" : `${detail.trashed.by === undefined ? " (" : ", "}${formatDate(detail.trashed.at)}`}
            {detail.trashed.by === undefined && detail.trashed.at === undefined ? "" : ")"}: hidden from the gallery until restored.
          </Alert.Title>
        </Alert.Root>
      )}

      {detail.quarantine === undefined ? null : (
        <Alert.Root data-kind={detail.quarantine.kind} data-testid="detail-quarantine" status="warning">
          <Alert.Indicator />
          <Alert.Content>
            <Alert.Title>{quarantineTitle(detail.quarantine)}</Alert.Title>
            <Alert.Description>
              {detail.quarantine.reason ?? "no reason recorded"}
              {detail.quarantine.at === undefined ? "" : ` (${formatDate(detail.quarantine.at)})`}{" "}
              <RunLink run={detail.quarantine.run} />
            </Alert.Description>
          </Alert.Content>
        </Alert.Root>
      )}

      {detail.attempts === undefined || detail.quarantine !== undefined ? null : (
        <Alert.Root data-count={detail.attempts.count} data-testid="detail-attempts" status="info">
          <Alert.Indicator />
          <Alert.Content>
            <Alert.Title>
              Failed unexpectedly {detail.attempts.count === 1 ? "once" : `${detail.attempts.count} times`}: the next runs try
              it again
            </Alert.Title>
            <Alert.Description>
              {detail.attempts.reason ?? "no reason recorded"}
              {detail.attempts.at === undefined ? "" : ` (${formatDate(detail.attempts.at)})`}{" "}
              {detail.attempts.runs.slice(-1).map((run) => (
                <RunLink key={`${run.dagId ?? ""}/${run.runId}`} run={run} />
              ))}
            </Alert.Description>
          </Alert.Content>
        </Alert.Root>
      )}

      {hasProblem(detail) ? (
        <HStack gap={3} wrap="wrap">
          <Text color="fg.muted" fontSize="sm">
            {detail.failures.length > 0
              ? `${detail.failures.length === 1 ? "An output" : `${detail.failures.length} outputs`} failed (see Outputs). `
              : ""}
            Once the cause is gone:
          </Text>
          <RetryButton onFinished={reload} sha256s={[detail.sha256]} testId="detail-retry" />
        </HStack>
      ) : null}

      <Grid gap={4} templateColumns={{ base: "1fr", lg: "3fr 2fr" }}>
        <Section id="image" title="Image and outputs">
          <Tabs.Root defaultValue="original" lazyMount variant="line">
            <Tabs.List flexWrap="wrap">
              <Tabs.Trigger value="original">Original</Tabs.Trigger>
              {detail.outputs.map((o) => (
                <Tabs.Trigger key={o.recipe} value={`recipe-${o.recipe}`}>
                  {o.recipe}
                </Tabs.Trigger>
              ))}
              {detail.outputs.length > 1 ? <Tabs.Trigger value="side-by-side">Side by side</Tabs.Trigger> : null}
            </Tabs.List>
            <Tabs.Content value="original">
              <ImageWithFaces detail={detail} showFaces={hasFaces} />
              <Text color="fg.muted" fontSize="sm" mt={2}>
                {detail.width ?? "?"}×{detail.height ?? "?"} · {formatBytes(detail.bytes)} · {detail.format ?? "unknown format"}
                {hasFaces ? ` · ${detail.faces.boxes.length} face box(es) drawn` : ""}
              </Text>
            </Tabs.Content>
            {detail.outputs.map((o) => (
              <Tabs.Content key={o.recipe} value={`recipe-${o.recipe}`}>
                {o.url === undefined ? <Text color="fg.muted">No output file.</Text> : <Image alt={`${o.recipe} output`} maxH="70vh" maxW="full" src={apiUrl(o.url)} />}
                <Text color="fg.muted" fontSize="sm" mt={2}>
                  {o.width ?? "?"}×{o.height ?? "?"} · {formatBytes(o.bytes)} · {o.format ?? "?"}
                </Text>
              </Tabs.Content>
            ))}
            {detail.outputs.length > 1 ? (
              <Tabs.Content value="side-by-side">
                <SimpleGrid gap={3} minChildWidth="200px">
                  {detail.outputs.map((o) => (
                    <Box key={o.recipe}>
                      {o.url === undefined ? null : <Image alt={`${o.recipe} output, side by side`} maxW="full" src={apiUrl(o.url)} />}
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
            <ImageInfo detail={detail} onChange={setDetail} />
          </Section>

          <Section id="exif" title="Camera (EXIF)">
            <Facts
              rows={[
                ["Camera", exif.camera],
                ["Lens", exif.lens],
                ["Exposure", exif.exposure],
                ["Taken at", exif.takenAt === undefined ? undefined : formatDate(exif.takenAt)],
                [
                  "GPS",
                  exif.gps === undefined ? undefined : (
                    <ExternalLink
                      href={exif.gps.mapUrl ?? `https://www.openstreetmap.org/?mlat=${exif.gps.lat}&mlon=${exif.gps.lon}#map=15/${exif.gps.lat}/${exif.gps.lon}`}
                    >
                      {exif.gps.lat?.toFixed(5)}, {exif.gps.lon?.toFixed(5)} (map)
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
                  ["Faces", detail.faces.count ?? (hasFaces ? detail.faces.boxes.length : undefined)],
                  ["Brightness", detail.brightness?.toFixed(3)],
                  ["Contrast", detail.contrast?.toFixed(3)],
                  ["Blur", detail.blur?.toFixed(3)],
                ]}
              />
              <Box>
                <Text color="fg.muted" fontSize="sm" mb={1}>
                  Dominant colours
                </Text>
                <HStack data-testid="detail-colors" gap={1} wrap="wrap">
                  {detail.colors.length === 0 ? <Text>–</Text> : null}
                  {detail.colors.map((c) => (
                    <Box aria-label={`colour ${c}`} bg={c} borderColor="border" borderRadius="sm" borderWidth="1px" h={6} key={c} role="img" title={c} w={6} />
                  ))}
                </HStack>
              </Box>
            </Stack>
          </Section>

          <Section id="labels" title="Labels">
            {detail.labels.length === 0 ? (
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
                  {detail.labels.map((l) => (
                    <Table.Row data-testid="detail-label" key={`${l.name}/${l.source ?? ""}`}>
                      <Table.Cell>{l.name}</Table.Cell>
                      <Table.Cell textAlign="end">{l.score === undefined ? "–" : l.score.toFixed(2)}</Table.Cell>
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
          <ApplyRecipe label="Apply recipe" onFinished={reload} recipes={recipes} sha256s={[detail.sha256]} />
        </Box>
        {detail.outputs.length === 0 && detail.failures.length === 0 ? (
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
                    <Table.Row bg="bg.error" data-recipe={f.recipe} data-testid="detail-output-failed" key={`failed/${f.recipe}`}>
                      <Table.Cell>
                        <HStack gap={2}>
                          <Text>{f.recipe}</Text>
                          <Badge colorPalette="red" size="sm">
                            failed
                          </Badge>
                        </HStack>
                      </Table.Cell>
                      <Table.Cell>{f.version ?? "–"}</Table.Cell>
                      <Table.Cell colSpan={4}>
                        <Stack gap={1}>
                          <Text data-operation={f.operation} data-testid="detail-output-reason" fontSize="sm" wordBreak="break-word">
                            {f.reason}
                          </Text>
                          <Text color="fg.muted" fontSize="xs">
                            {f.at === undefined ? "" : `${formatDate(f.at)} `}
                            <RunLink run={f.run} />
                          </Text>
                        </Stack>
                      </Table.Cell>
                    </Table.Row>
                  );
                }
                const o = row.output;

                return (
                  <Table.Row data-recipe={o.recipe} data-testid="detail-output" key={o.recipe}>
                    <Table.Cell>
                      <ExternalLink href={apiUrl(o.url)}>{o.recipe}</ExternalLink>
                    </Table.Cell>
                    <Table.Cell>{o.version ?? "–"}</Table.Cell>
                    <Table.Cell>{o.width !== undefined && o.height !== undefined ? `${o.width}×${o.height}` : "–"}</Table.Cell>
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
            // eslint-disable-next-line react/no-array-index-key
            <Box data-testid="detail-source" key={index}>
              <Facts
                rows={[
                  ["Source (engine)", s.source],
                  ["Image URL", s.uri === undefined ? undefined : /^https?:/u.test(s.uri) ? <ExternalLink href={s.uri} /> : s.uri],
                  ["Page URL", s.pageUrl === undefined ? undefined : <ExternalLink href={s.pageUrl} />],
                  ["Keyword", s.keyword],
                  ["Licence", s.licence],
                  ["Creator", s.creator],
                  ["Retrieved at", s.retrievedAt === undefined ? undefined : formatDate(s.retrievedAt)],
                  ["Uploaded by", s.uploadedBy],
                ]}
              />
            </Box>
          ))}
          <Box>
            <Text color="fg.muted" fontSize="sm" mb={1}>
              Airflow runs
            </Text>
            {detail.runs.length === 0 ? <Text>–</Text> : null}
            <Flex direction="column" gap={1}>
              {detail.runs.map((run) => (
                <ExternalLink href={runHref(run)} key={`${run.dagId ?? ""}/${run.runId}`}>
                  {run.dagId === undefined ? run.runId : `${run.dagId} / ${run.runId}`}
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
        {detail.nearDuplicates.length === 0 ? (
          <Text color="fg.muted">No near-duplicate of this image.</Text>
        ) : (
          <SimpleGrid gap={2} minChildWidth="96px">
            {detail.nearDuplicates.map((d) => (
              <RouterLink aria-label={`Open near-duplicate ${d.sha256.slice(0, 12)}`} data-testid="detail-duplicate" key={d.sha256} to={appPath("images", d.sha256)}>
                <Box aspectRatio={1} bg="bg.muted" borderRadius="sm" overflow="hidden">
                  {d.thumbUrl === undefined ? (
                    <Text fontFamily="mono" fontSize="xs" p={1}>
                      {d.sha256.slice(0, 12)}
                    </Text>
                  ) : (
                    <Image alt={`near-duplicate ${d.sha256.slice(0, 12)}`} h="full" objectFit="cover" src={apiUrl(d.thumbUrl)} w="full" />
                  )}
                </Box>
              </RouterLink>
            ))}
          </SimpleGrid>
        )}
      </Section>

      <Section id="similar" title="Similar images">
        {similar.length === 0 ? (
          <Text color="fg.muted">No similar images known (the image has no embedding yet).</Text>
        ) : (
          <SimpleGrid gap={2} minChildWidth="96px">
            {similar.map((d) => (
              <RouterLink aria-label={`Open similar image ${d.sha256.slice(0, 12)}`} data-testid="detail-similar-image" key={d.sha256} to={appPath("images", d.sha256)}>
                <Box aspectRatio={1} bg="bg.muted" borderRadius="sm" overflow="hidden">
                  <Image alt={`similar image ${d.sha256.slice(0, 12)}`} h="full" objectFit="cover" src={apiUrl(d.thumbUrl)} w="full" />
                </Box>
              </RouterLink>
            ))}
          </SimpleGrid>
        )}
      </Section>
    </Stack>
  );
};
