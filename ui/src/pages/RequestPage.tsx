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
import { type FormEvent, useEffect, useState } from "react";

import { type DagRun, type TaskInstance, ApiError, airflow, api, apiUrl, request, runPage, url } from "src/api";
import type { Recipe } from "src/types";
import { formatBytes } from "src/types";

const DAG = "image_request";
const POLL_MS = 3000;
const FINISHED = new Set(["success", "failed"]);
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

type Delivery = {
  archive_bytes?: number;
  archive_key?: string;
  attached?: boolean;
  attachment_name?: string;
  channel?: string;
  images?: number;
  link?: string | null;
  location?: string;
  recipient?: string;
  status?: string;
};

export const RequestPage = () => {
  const [recipes, setRecipes] = useState<Recipe[]>([]);
  const [keywords, setKeywords] = useState("");
  const [count, setCount] = useState("20");
  const [recipe, setRecipe] = useState("");
  const [email, setEmail] = useState("");
  const [engine, setEngine] = useState("bing");
  const [urls, setUrls] = useState("");
  const [siteUrl, setSiteUrl] = useState("");
  const [error, setError] = useState<string>();
  const [submitting, setSubmitting] = useState(false);
  const [run, setRun] = useState<DagRun>();
  const [tasks, setTasks] = useState<TaskInstance[]>([]);
  const [delivery, setDelivery] = useState<Delivery>();

  useEffect(() => {
    api.recipes().then(
      (list) => {
        setRecipes(list);
        setRecipe((current) => current || (list.find((r) => r.name === "half_gray") ?? list[0])?.name || "");
      },
      () => setRecipes([]),
    );
  }, []);

  const runId = run?.dag_run_id;
  const finished = run !== undefined && FINISHED.has(run.state);

  // The run's steps, live, until it finishes; then its delivery (deliver_archive's XCom).
  useEffect(() => {
    if (runId === undefined) {
      return undefined;
    }
    let stopped = false;
    const poll = async () => {
      try {
        const [current, instances] = await Promise.all([airflow.dagRun(DAG, runId), airflow.taskInstances(DAG, runId)]);

        if (stopped) {
          return;
        }
        setRun(current);
        setTasks(ordered(instances));
        if (FINISHED.has(current.state)) {
          stopped = true;
          // Only a delivered run has deliver_archive's XCom (asking otherwise is a 404).
          const delivered = instances.some((ti) => ti.task_id === "deliver_archive" && ti.state === "success");
          const value = delivered ? await airflow.xcom(DAG, runId, "deliver_archive").catch(() => undefined) : undefined;

          if (typeof value === "object" && value !== null) {
            setDelivery(value as Delivery);
          }
        }
      } catch {
        // keep polling: a transient error should not stop the live view
      }
    };

    void poll();
    const timer = globalThis.setInterval(() => {
      if (!stopped) {
        void poll();
      }
    }, POLL_MS);

    return () => {
      stopped = true;
      globalThis.clearInterval(timer);
    };
  }, [runId]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setSubmitting(true);
    setDelivery(undefined);
    setTasks([]);
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
    try {
      // The gallery's endpoint starts the run for the logged-in user, rate-limited (429 says until when).
      setRun((await request("gallery/api/requests", { body: JSON.stringify({ conf }), method: "POST" })) as DagRun);
    } catch (error_) {
      setError(
        error_ instanceof ApiError && error_.status === 403
          ? `You may not trigger ${DAG} (${error_.message}).`
          : error_ instanceof Error
            ? error_.message
            : String(error_),
      );
    } finally {
      setSubmitting(false);
    }
  };

  // The archive through the gallery's API (any store); else the delivery's own http(s) link.
  const archiveName = delivery?.archive_key?.split("/").pop();
  const downloadHref =
    archiveName !== undefined && /^[0-9a-f]{64}\.zip$/u.test(archiveName)
      ? url(`gallery/api/archives/${archiveName}`)
      : delivery?.link !== undefined && delivery.link !== null && /^https?:|^\//u.test(delivery.link)
        ? apiUrl(delivery.link)
        : undefined;

  return (
    <Stack gap={6} maxW="3xl">
      <Box as="form" onSubmit={(e: FormEvent) => void submit(e)}>
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
                    {r.description === undefined ? "" : ` — ${r.description}`}
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
            <Button colorPalette="blue" loading={submitting} type="submit">
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

      {run === undefined ? null : (
        <Box as="section" aria-label="Request run" borderRadius="md" borderWidth="1px" data-testid="request-run" p={4}>
          <Heading as="h2" mb={2} size="md">
            Run{" "}
            <Link color="fg.info" href={runPage(DAG, run.dag_run_id)} target="_blank">
              {run.dag_run_id}
            </Link>{" "}
            <Badge colorPalette={STATE_PALETTE[run.state] ?? "gray"} data-testid="request-run-state">
              {run.state}
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
                    {ti.task_display_name ?? ti.task_id}
                    {ti.map_index >= 0 ? ` [${ti.map_index}]` : ""}
                  </Table.Cell>
                  <Table.Cell>
                    <Badge colorPalette={STATE_PALETTE[ti.state ?? ""] ?? "gray"}>{ti.state ?? "no status"}</Badge>
                  </Table.Cell>
                </Table.Row>
              ))}
            </Table.Body>
          </Table.Root>
          {finished && delivery !== undefined ? (
            <Box data-testid="request-delivery" mt={4}>
              <Heading as="h3" mb={1} size="sm">
                Delivered
              </Heading>
              <Text>
                {delivery.images ?? "?"} images, {formatBytes(delivery.archive_bytes)}, {delivery.status ?? ""} by{" "}
                {delivery.channel ?? "email"} to <strong>{delivery.recipient ?? email}</strong>
                {delivery.location === undefined ? "" : ` (${delivery.location})`}.
              </Text>
              {downloadHref === undefined ? (
                <Text color="fg.muted">
                  {delivery.attached === true
                    ? `The archive is attached to the email as ${delivery.attachment_name ?? "a ZIP"}.`
                    : `Archive: ${delivery.archive_key ?? "–"}`}
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
          {finished && run.state === "failed" ? (
            <Text color="fg.error" mt={3}>
              The run failed: open it in Airflow for the failed step's log.
            </Text>
          ) : null}
        </Box>
      )}
    </Stack>
  );
};
