import { Alert, Badge, Box, Button, Flex, HStack, Heading, Image, Link, SimpleGrid, Spinner, Stack, Text } from "@chakra-ui/react";
import { Link as RouterLink } from "react-router-dom";

import { type ProblemGroup, apiUrl, runHref } from "src/api";
import { RetryButton } from "src/components/RetryButton";
import { useAppPath } from "src/components/root";
import { useProblems } from "src/queries";
import { problemKind, problemsSummary, runName, sortGroups } from "src/types";

const SAMPLES = 8;
const PALETTE: Record<string, string> = { image: "red", recipe: "purple", retrying: "yellow", unclassified: "gray", unexpected: "orange" };

const Group = ({ group }: { group: ProblemGroup }) => {
  const appPath = useAppPath();
  const more = group.count - group.samples.length;

  return (
    <Box
      aria-label={`${problemKind(group)}: ${group.reason}`}
      borderRadius="md"
      borderWidth="1px"
      data-count={group.count}
      data-kind={group.kind}
      data-reason={group.reason}
      data-recipe={group.recipe ?? undefined}
      data-testid="problems-group"
      p={3}
      role="group"
    >
      <Stack gap={3}>
        <HStack align="start" gap={2} wrap="wrap">
          <Badge colorPalette={PALETTE[group.kind] ?? "gray"}>{problemKind(group)}</Badge>
          <Badge data-testid="problems-count" variant="outline">
            {group.count} {group.count === 1 ? "image" : "images"}
          </Badge>
          <Text data-testid="problems-reason" flex="1" fontFamily="mono" fontSize="sm" minW="60" wordBreak="break-word">
            {group.reason}
          </Text>
        </HStack>
        <SimpleGrid gap={2} templateColumns="repeat(auto-fill, minmax(88px, 1fr))">
          {group.samples.map((s) => {
            const name = s.title ?? s.keyword ?? s.sha256.slice(0, 12);

            return (
              <RouterLink aria-label={`Open image ${name} (${s.sha256.slice(0, 12)})`} data-sha256={s.sha256} data-testid="problems-sample" key={s.sha256} to={appPath("images", s.sha256)}>
                <Box aspectRatio={1} bg="bg.muted" borderRadius="sm" overflow="hidden">
                  {s.thumb_url === null ? (
                    <Flex align="center" fontFamily="mono" fontSize="xs" h="full" justify="center" p={1} wordBreak="break-all">
                      {s.sha256.slice(0, 12)}
                    </Flex>
                  ) : (
                    <Image alt={name} h="full" loading="lazy" objectFit="cover" src={apiUrl(s.thumb_url)} w="full" />
                  )}
                </Box>
                <Text fontSize="xs" lineClamp={1}>
                  {name}
                </Text>
              </RouterLink>
            );
          })}
          {more > 0 ? (
            <Flex align="center" color="fg.muted" fontSize="sm" justify="center">
              +{more} more
            </Flex>
          ) : null}
        </SimpleGrid>
        <HStack align="start" gap={4} justify="space-between" wrap="wrap">
          <Stack gap={1}>
            <Text color="fg.muted" fontSize="sm">
              {group.runs.length === 1 ? "Run" : "Runs"}
            </Text>
            {group.runs.length === 0 ? <Text fontSize="sm">–</Text> : null}
            {group.runs.map((run) => {
              const href = runHref(run);
              const name = runName(run);

              return href === undefined ? (
                <Text data-testid="problems-run" fontSize="sm" key={name} title="not in Airflow's metadata any more">
                  {name}
                </Text>
              ) : (
                <Link color="fg.info" data-testid="problems-run" fontSize="sm" href={href} key={name} target="_blank">
                  {name}
                </Link>
              );
            })}
          </Stack>
          {/* When its run ends, RunStatus has the problems fetched again (those it solved are gone). */}
          <RetryButton sha256s={group.sha256s} testId="problems-retry" />
        </HStack>
      </Stack>
    </Box>
  );
};

const Section = ({
  explanation,
  groups,
  id,
  title,
}: {
  explanation: string;
  groups: ProblemGroup[];
  id: string;
  title: string;
}) =>
  groups.length === 0 ? null : (
    <Box aria-labelledby={`problems-${id}-title`} as="section" data-testid={`problems-${id}`}>
      <Heading as="h2" id={`problems-${id}-title`} mb={1} size="md">
        {title}
      </Heading>
      <Text color="fg.muted" fontSize="sm" mb={3}>
        {explanation}
      </Text>
      <Stack gap={3}>
        {groups.map((g) => (
          <Group group={g} key={`${g.kind}/${g.recipe ?? ""}/${g.reason}`} />
        ))}
      </Stack>
    </Box>
  );

/** What processing could not do, one row per cause, each with Retry (what photo apps show as failed jobs). */
export const ProblemsPage = () => {
  const { data: problems, error: failure, isFetching: loading, refetch } = useProblems(SAMPLES);
  const error = failure?.message;
  const load = () => void refetch();

  return (
    <Stack aria-busy={loading} data-testid="problems-page" gap={5}>
      <HStack gap={3} wrap="wrap">
        <Text data-testid="problems-totals" fontWeight="semibold">
          {problems === undefined ? "Loading…" : problemsSummary(problems.totals)}
        </Text>
        <Button loading={loading} onClick={load} size="sm" variant="outline">
          Refresh
        </Button>
      </HStack>
      {error === undefined ? null : (
        <Alert.Root status="error">
          <Alert.Indicator />
          <Alert.Title>Could not load the problems: {error}</Alert.Title>
        </Alert.Root>
      )}
      {problems === undefined && error === undefined ? <Spinner aria-label="Loading the problems" /> : null}
      {problems !== undefined && problems.totals.images === 0 ? (
        <Box borderRadius="md" borderWidth="1px" data-testid="problems-empty" p={6}>
          <Heading as="h2" mb={2} size="md">
            No problems
          </Heading>
          <Text color="fg.muted">
            Every image got through processing: nothing is quarantined, no recipe&apos;s output failed and nothing is
            waiting to be tried again.
          </Text>
        </Box>
      ) : null}
      {problems?.truncated ? (
        <Text color="fg.muted" data-testid="problems-truncated" fontSize="sm">
          More images have problems than one page counts: these are the first ones; retry them to see the rest.
        </Text>
      ) : null}
      {problems === undefined ? null : (
        <>
          <Section
            explanation="A recipe failed on these images (a picture it names is missing, a parameter found wrong when it ran). Each image keeps its other outputs. Correct the recipe and apply it again, or Retry once the cause is gone."
            groups={sortGroups(problems.failed_outputs)}
            id="failed-outputs"
            title="Failed outputs"
          />
          <Section
            explanation="Processing leaves these images alone: the image itself cannot be used, or it failed unexpectedly run after run. Retry tries them again."
            groups={sortGroups(problems.quarantined)}
            id="quarantined"
            title="Quarantined images"
          />
          <Section
            explanation="These failed unexpectedly; the next runs try them again by themselves, and quarantine them if they keep failing."
            groups={sortGroups(problems.retrying)}
            id="retrying"
            title="Being retried"
          />
        </>
      )}
    </Stack>
  );
};
