import {
  Alert,
  Badge,
  Box,
  Button,
  Collapsible,
  Field,
  Heading,
  Input,
  Link,
  NativeSelect,
  Stack,
  Table,
  Text,
  Textarea,
} from "@chakra-ui/react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { type TaskInstance, ApiError, airflow, api, apiUrl, runPage, url } from "src/api";
import { type RunHandle, runEnded, useRecipes, useRunProgress } from "src/queries";
import { formatBytes } from "src/types";

const DAG = "image_request";
const ENGINES: [string, string][] = [
  ["bing", "Bing image search"],
  ["google", "Google image search"],
  ["baidu", "Baidu image search"],
  ["flickr", "Flickr search"],
  ["openverse", "Openverse (openly licensed)"],
  ["wikimedia", "Wikimedia Commons"],
  ["greedy", "Every image of a web site"],
  ["urls", "A list of image URLs"],
  ["inbox", "Files uploaded to the inbox"],
];

const lines = (text: string): string[] =>
  text
    .split(/[\n,]/u)
    .map((s) => s.trim())
    .filter((s) => s !== "");

const STATE_PALETTE: Record<string, string> = {
  failed: "red",
  queued: "gray",
  running: "cyan",
  scheduled: "gray",
  skipped: "pink",
  success: "green",
  up_for_retry: "yellow",
  upstream_failed: "orange",
};

// image_request's steps in the order they run; mapped ones by map index.
const STEPS = ["check_request", "retrieve_images", "plan_processing", "process_batch", "deliver_archive"];
const rank = (taskId: string) => (STEPS.includes(taskId) ? STEPS.indexOf(taskId) : STEPS.length);
const ordered = (instances: TaskInstance[]) =>
  [...instances].sort((a, b) => rank(a.task_id) - rank(b.task_id) || a.task_id.localeCompare(b.task_id) || a.map_index - b.map_index);

/**
 * What deliver_archive returns (its XCom, which Airflow's API types as any JSON): read field by field,
 * each only when it has the type the page shows.
 */
type Delivery = {
  archiveBytes?: number;
  archiveKey?: string;
  attached: boolean;
  attachmentName?: string;
  channel?: string;
  images?: number;
  link?: string;
  location?: string;
  recipient?: string;
  status?: string;
};

const readDelivery = (value: unknown): Delivery | undefined => {
  if (typeof value !== "object" || value === null) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const text = (key: string) => (typeof v[key] === "string" ? v[key] : undefined);
  const count = (key: string) => (typeof v[key] === "number" ? v[key] : undefined);

  return {
    archiveBytes: count("archive_bytes"),
    archiveKey: text("archive_key"),
    attached: v.attached === true,
    attachmentName: text("attachment_name"),
    channel: text("channel"),
    images: count("images"),
    link: text("link"),
    location: text("location"),
    recipient: text("recipient"),
    status: text("status"),
  };
};

export const RequestPage = () => {
  const { data: recipes = [] } = useRecipes();
  const [keywords, setKeywords] = useState("");
  const [count, setCount] = useState("20");
  const [chosenRecipe, setRecipe] = useState<string>();
  const [email, setEmail] = useState("");
  const [engine, setEngine] = useState("bing");
  const [urls, setUrls] = useState("");
  const [siteUrl, setSiteUrl] = useState("");
  // half_gray (the form's default) until the user picks one.
  const recipe = chosenRecipe ?? (recipes.find((r) => r.name === "half_gray") ?? recipes[0])?.name ?? "";

  // The gallery's endpoint starts the run for the logged-in user, rate-limited (429 says until when).
  const send = useMutation({
    mutationFn: async (conf: Record<string, unknown>): Promise<RunHandle & { state: string }> => {
      const run = await api.requestImages({ conf });

      return { dagId: run.dag_id, runId: run.dag_run_id, state: run.state };
    },
  });
  const handle = send.data;
  // The run's steps, live, until it ends (src/queries.ts polls with back-off).
  const { data: progress } = useRunProgress(handle);
  const state = progress?.run.state ?? handle?.state;
  const tasks = ordered(progress?.tasks ?? []);
  const finished = runEnded(state);
  // Only a delivered run has deliver_archive's XCom (asking otherwise is a 404).
  const delivered = finished && tasks.some((ti) => ti.task_id === "deliver_archive" && ti.state === "success");
  const { data: delivery } = useQuery({
    enabled: delivered && handle !== undefined,
    queryFn: async ({ signal }) => readDelivery(await airflow.xcom(DAG, handle?.runId ?? "", "deliver_archive", signal)) ?? null,
    queryKey: ["airflow", "xcom", DAG, handle?.runId, "deliver_archive"],
    staleTime: Infinity,
  });
  const error =
    send.error === null
      ? undefined
      : send.error instanceof ApiError && send.error.status === 403
        ? `You may not trigger ${DAG} (${send.error.message}).`
        : send.error.message;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const conf: Record<string, unknown> = {
      count: Number(count),
      email: email.trim(),
      engine,
      keywords: lines(keywords),
    };

    if (recipe !== "") {
      conf.recipe = recipe;
    }
    if (engine === "urls") {
      conf.urls = lines(urls);
    }
    if (engine === "greedy") {
      conf.site_url = siteUrl.trim();
    }
    send.mutate(conf);
  };

  // The archive through the gallery's API (any store); else the delivery's own http(s) link.
  const archiveName = delivery?.archiveKey?.split("/").pop();
  const downloadHref =
    archiveName !== undefined && /^[0-9a-f]{64}\.zip$/u.test(archiveName)
      ? url(`gallery/api/archives/${archiveName}`)
      : delivery?.link !== undefined && /^https?:|^\//u.test(delivery.link)
        ? apiUrl(delivery.link)
        : undefined;

  return (
    <Stack gap={6} maxW="3xl">
      <Box as="form" onSubmit={submit}>
        <Stack gap={4}>
          <Text color="fg.muted">
            Ask for images: they are searched, processed with the recipe and emailed to you as a ZIP, in one run of{" "}
            <code>{DAG}</code>.
          </Text>
          <Field.Root required>
            <Field.Label>
              Keywords <Field.RequiredIndicator />
            </Field.Label>
            <Textarea onChange={(e) => setKeywords(e.currentTarget.value)} placeholder="lighthouse" rows={2} value={keywords} />
            <Field.HelperText>One per line (one search each).</Field.HelperText>
          </Field.Root>
          <Field.Root>
            <Field.Label>How many images</Field.Label>
            <Input max={1000} min={1} onChange={(e) => setCount(e.currentTarget.value)} type="number" value={count} />
            <Field.HelperText>Per keyword.</Field.HelperText>
          </Field.Root>
          <Field.Root>
            <Field.Label>Recipe</Field.Label>
            <NativeSelect.Root>
              <NativeSelect.Field onChange={(e) => setRecipe(e.currentTarget.value)} value={recipe}>
                {recipes.length === 0 ? <option value="">the default recipe</option> : null}
                {recipes.map((r) => (
                  <option key={r.name} value={r.name}>
                    {r.name}
                    {r.description === "" ? "" : ` — ${r.description}`}
                  </option>
                ))}
              </NativeSelect.Field>
              <NativeSelect.Indicator />
            </NativeSelect.Root>
          </Field.Root>
          <Field.Root required>
            <Field.Label>
              Your email <Field.RequiredIndicator />
            </Field.Label>
            <Input onChange={(e) => setEmail(e.currentTarget.value)} placeholder="you@example.com" type="email" value={email} />
            <Field.HelperText>Where the archive goes.</Field.HelperText>
          </Field.Root>

          <Collapsible.Root>
            <Collapsible.Trigger asChild>
              <Button size="sm" variant="ghost">
                Advanced: other sources
              </Button>
            </Collapsible.Trigger>
            <Collapsible.Content>
              <Stack borderRadius="md" borderWidth="1px" gap={4} mt={2} p={4}>
                <Field.Root>
                  <Field.Label>Source</Field.Label>
                  <NativeSelect.Root>
                    <NativeSelect.Field onChange={(e) => setEngine(e.currentTarget.value)} value={engine}>
                      {ENGINES.map(([value, label]) => (
                        <option key={value} value={value}>
                          {label}
                        </option>
                      ))}
                    </NativeSelect.Field>
                    <NativeSelect.Indicator />
                  </NativeSelect.Root>
                </Field.Root>
                <Field.Root disabled={engine !== "urls"}>
                  <Field.Label>Image URLs</Field.Label>
                  <Textarea onChange={(e) => setUrls(e.currentTarget.value)} placeholder="https://example.com/a.jpg" rows={3} value={urls} />
                  <Field.HelperText>Source "a list of image URLs": one http(s) URL per line.</Field.HelperText>
                </Field.Root>
                <Field.Root disabled={engine !== "greedy"}>
                  <Field.Label>Site URL</Field.Label>
                  <Input onChange={(e) => setSiteUrl(e.currentTarget.value)} placeholder="https://example.com/" type="url" value={siteUrl} />
                  <Field.HelperText>Source "every image of a web site": the page to start from.</Field.HelperText>
                </Field.Root>
              </Stack>
            </Collapsible.Content>
          </Collapsible.Root>

          <Box>
            <Button colorPalette="blue" loading={send.isPending} type="submit">
              Send request
            </Button>
          </Box>
        </Stack>
      </Box>

      {error === undefined ? null : (
        <Alert.Root data-testid="request-error" status="error">
          <Alert.Indicator />
          <Alert.Title>Request refused: {error}</Alert.Title>
        </Alert.Root>
      )}

      {handle === undefined || state === undefined ? null : (
        <Box as="section" aria-label="Request run" borderRadius="md" borderWidth="1px" data-testid="request-run" p={4}>
          <Heading as="h2" mb={2} size="md">
            Run{" "}
            <Link color="fg.info" href={runPage(DAG, handle.runId)} target="_blank">
              {handle.runId}
            </Link>{" "}
            <Badge colorPalette={STATE_PALETTE[state] ?? "gray"} data-testid="request-run-state">
              {state}
            </Badge>
          </Heading>
          <Table.Root size="sm">
            <Table.Header>
              <Table.Row>
                <Table.ColumnHeader>Step</Table.ColumnHeader>
                <Table.ColumnHeader>State</Table.ColumnHeader>
              </Table.Row>
            </Table.Header>
            <Table.Body>
              {tasks.length === 0 ? (
                <Table.Row>
                  <Table.Cell colSpan={2} color="fg.muted">
                    Waiting for the scheduler…
                  </Table.Cell>
                </Table.Row>
              ) : null}
              {tasks.map((ti) => (
                <Table.Row data-state={ti.state ?? "none"} data-task-id={ti.task_id} data-testid="request-task" key={`${ti.task_id}/${ti.map_index}`}>
                  <Table.Cell>
                    {ti.task_display_name}
                    {ti.map_index >= 0 ? ` [${ti.map_index}]` : ""}
                  </Table.Cell>
                  <Table.Cell>
                    <Badge colorPalette={STATE_PALETTE[ti.state ?? ""] ?? "gray"}>{ti.state ?? "no status"}</Badge>
                  </Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table.Root>
          {finished && delivery !== undefined && delivery !== null ? (
            <Box data-testid="request-delivery" mt={4}>
              <Heading as="h3" mb={1} size="sm">
                Delivered
              </Heading>
              <Text>
                {delivery.images ?? "?"} images, {formatBytes(delivery.archiveBytes)}, {delivery.status ?? ""} by{" "}
                {delivery.channel ?? "email"} to <strong>{delivery.recipient ?? email}</strong>
                {delivery.location === undefined ? "" : ` (${delivery.location})`}.
              </Text>
              {downloadHref === undefined ? (
                <Text color="fg.muted">
                  {delivery.attached
                    ? `The archive is attached to the email as ${delivery.attachmentName ?? "a ZIP"}.`
                    : `Archive: ${delivery.archiveKey ?? "–"}`}
                </Text>
              ) : (
                <Button asChild colorPalette="blue" mt={2} size="sm">
                  <a download href={downloadHref}>
                    Download the archive
                  </a>
                </Button>
              )}
            </Box>
          ) : null}
          {finished && state === "failed" ? (
            <Text color="fg.error" mt={3}>
              The run failed: open it in Airflow for the failed step's log.
            </Text>
          ) : null}
        </Box>
      )}
    </Stack>
  );
};
