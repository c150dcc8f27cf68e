import { Alert, Box, Field, Flex, Heading, Input, SimpleGrid, Spinner, Stack, Stat, Table, Text } from "@chakra-ui/react";
import { type ReactNode, useState } from "react";
import { useSearchParams } from "react-router-dom";

import { HBars, Lines, StackedBars } from "src/components/charts";
import { useMetrics } from "src/queries";
import { byDay, entries, field, formatBytes, formatSeconds, labelName, perDayBy, perDayCounts, recipeSeconds, rows, topLabels } from "src/types";

const isoDay = (date: Date) => date.toISOString().slice(0, 10);

const Card = ({ children, id, title }: { children: ReactNode; id: string; title: string }) => (
  <Box aria-labelledby={`analytics-${id}-title`} as="section" borderRadius="md" borderWidth="1px" data-testid={`analytics-${id}`} p={4}>
    <Heading as="h2" id={`analytics-${id}-title`} mb={2} size="sm">
      {title}
    </Heading>
    {children}
  </Box>
);

const Number_ = ({ label, testid, value }: { label: string; testid: string; value: string | number | undefined }) => (
  <Stat.Root borderRadius="md" borderWidth="1px" p={3}>
    <Stat.Label>{label}</Stat.Label>
    <Stat.ValueText data-testid={testid}>{value ?? "–"}</Stat.ValueText>
  </Stat.Root>
);

export const AnalyticsPage = () => {
  const [params, setParams] = useSearchParams();
  // The page's "today" and the default range (the last 30 days) are fixed when it opens.
  const [today] = useState(() => isoDay(new Date()));
  const [since, setSince] = useState(() => params.get("since") ?? isoDay(new Date(Date.now() - 29 * 86_400_000)));
  const [until, setUntil] = useState(() => params.get("until") ?? today);
  const metrics = useMetrics(since, until);
  const docs = metrics.data === undefined ? undefined : byDay(metrics.data);
  const error = metrics.error?.message;
  const day = params.get("day") ?? "";
  const selected = docs === undefined || docs.length === 0 ? undefined : day === "" ? docs.at(-1) : docs.find((d) => d.day === day);

  const setDay = (value: string) => {
    const next = new URLSearchParams(params);

    if (value === "") {
      next.delete("day");
    } else {
      next.set("day", value);
    }
    setParams(next, { replace: true });
    // A day outside the trend's range widens the range so its document is fetched.
    if (value !== "" && (value < since || value > until)) {
      if (value < since) {
        setSince(value);
      } else {
        setUntil(value);
      }
    }
  };

  if (error !== undefined) {
    return (
      <Alert.Root status="error">
        <Alert.Indicator />
        <Alert.Title>Could not load the metrics: {error}</Alert.Title>
      </Alert.Root>
    );
  }
  if (docs === undefined) {
    return <Spinner aria-label="Loading the metrics" />;
  }
  const bySource = perDayBy(docs, "engine");
  const statuses = perDayCounts(docs, ["processed", "quarantined"]);
  const seconds = recipeSeconds(docs);
  const labels = topLabels(docs);

  return (
    <Stack gap={5}>
      <Flex align="end" gap={3} wrap="wrap">
        <Field.Root maxW="44">
          <Field.Label fontSize="sm">Trends from</Field.Label>
          <Input onChange={(e) => setSince(e.currentTarget.value)} size="sm" type="date" value={since} />
        </Field.Root>
        <Field.Root maxW="44">
          <Field.Label fontSize="sm">Trends until</Field.Label>
          <Input onChange={(e) => setUntil(e.currentTarget.value)} size="sm" type="date" value={until} />
        </Field.Root>
        <Field.Root maxW="44">
          <Field.Label fontSize="sm">Day</Field.Label>
          <Input
            max={today}
            onChange={(e) => setDay(e.currentTarget.value)}
            size="sm"
            type="date"
            value={day === "" ? (selected?.day ?? "") : day}
          />
        </Field.Root>
      </Flex>

      {docs.length === 0 ? (
        <Text color="fg.muted" data-testid="analytics-empty">
          No metrics in this range yet: the gallery_analytics DAG writes one document per day once images are processed.
        </Text>
      ) : null}

      <Box as="section" aria-label="The day's numbers" data-testid="analytics-day">
        <Heading as="h2" mb={2} size="md">
          {selected === undefined ? `No metrics for ${day}` : `Numbers for ${selected.day}`}
        </Heading>
        {selected === undefined ? null : (
          <SimpleGrid gap={3} minChildWidth="140px">
            <Number_ label="Retrieved" testid="headline-retrieved" value={field(selected, "retrieved")} />
            <Number_ label="Processed" testid="headline-processed" value={field(selected, "processed")} />
            <Number_ label="Quarantined" testid="headline-quarantined" value={field(selected, "quarantined")} />
            <Number_ label="Duplicated" testid="headline-duplicated" value={field(selected, "duplicated")} />
            <Number_ label="Outputs" testid="headline-outputs" value={field(selected, "outputs")} />
            <Number_ label="Storage added" testid="headline-storage" value={formatBytes(field(selected, "storage", "total"))} />
          </SimpleGrid>
        )}
      </Box>

      {selected === undefined ? null : (
        <SimpleGrid gap={4} minChildWidth="320px">
          <Card id="day-sources" title="Retrieved by source (that day)">
            <HBars
              items={entries(selected, "by", "engine").map(([name, row]) => ({ name, value: field(row, "retrieved") ?? 0 }))}
              label="Retrieved by source"
            />
          </Card>
          <Card id="day-recipes" title="Processing time per recipe (that day)">
            <Table.Root size="sm">
              <Table.Header>
                <Table.Row>
                  <Table.ColumnHeader>Recipe</Table.ColumnHeader>
                  <Table.ColumnHeader textAlign="end">Outputs</Table.ColumnHeader>
                  <Table.ColumnHeader textAlign="end">p50</Table.ColumnHeader>
                  <Table.ColumnHeader textAlign="end">p95</Table.ColumnHeader>
                </Table.Row>
              </Table.Header>
              <Table.Body>
                {entries(selected, "processing").map(([recipe]) => (
                  <Table.Row key={recipe}>
                    <Table.Cell>{recipe}</Table.Cell>
                    <Table.Cell textAlign="end">{field(selected, "processing", recipe, "outputs") ?? "–"}</Table.Cell>
                    <Table.Cell textAlign="end">{formatSeconds(field(selected, "processing", recipe, "seconds", "p50"))}</Table.Cell>
                    <Table.Cell textAlign="end">{formatSeconds(field(selected, "processing", recipe, "seconds", "p95"))}</Table.Cell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table.Root>
          </Card>
          <Card id="day-failures" title="Quarantine reasons (that day)">
            <HBars items={entries(selected, "failures", "reasons").map(([name, value]) => ({ name, value: field(value) ?? 0 }))} label="Quarantine reasons" />
          </Card>
          <Card id="day-labels" title="Top labels (that day)">
            <HBars
              items={rows(selected, "labels", "top").map((l) => ({ name: labelName(l), value: field(l, "images") ?? 0 }))}
              label="Top labels that day"
            />
          </Card>
        </SimpleGrid>
      )}

      <Heading as="h2" size="md">
        Trends, {docs[0]?.day ?? since} to {docs.at(-1)?.day ?? until}
      </Heading>
      <SimpleGrid gap={4} minChildWidth="360px">
        <Card id="by-source" title="Images per day by source">
          <StackedBars keys={bySource.keys} label="Images retrieved per day by source" points={bySource.points} />
        </Card>
        <Card id="status" title="Processed vs quarantined per day">
          <StackedBars keys={["processed", "quarantined"]} label="Processed and quarantined per day" points={statuses} />
        </Card>
        <Card id="labels" title="Top labels">
          <HBars items={labels} label="Top labels over the range" />
        </Card>
        <Card id="recipes" title="Processing time per recipe (mean per output)">
          <Lines keys={seconds.keys} label="Mean processing seconds per recipe per day" points={seconds.points} unit=" s" />
        </Card>
      </SimpleGrid>
    </Stack>
  );
};
