import { Alert, Badge, Button, Field, HStack, Link, NativeSelect, Stack, Text } from "@chakra-ui/react";
import { useEffect, useState } from "react";

import { type DagRun, ApiError, airflow, runPage } from "src/api";
import type { Recipe } from "src/types";

export const PROCESS_DAG = "gallery_process";
const POLL_MS = 3000;
const FINISHED = new Set(["success", "failed"]);
const PALETTE: Record<string, string> = { failed: "red", queued: "gray", running: "cyan", success: "green" };

/** A readable sentence for a refused or failed trigger (Airflow's 403 says little on its own). */
export const triggerError = (error: unknown): string =>
  error instanceof ApiError && error.status === 403
    ? `You may not run ${PROCESS_DAG} (${error.message}).`
    : error instanceof Error
      ? error.message
      : String(error);

/**
 * Follows one DAG run until it finishes: its state as a badge and a link to Airflow's run page.
 * Calls onFinished once with the final state.
 */
export const RunStatus = ({ onFinished, run }: { onFinished?: (state: string) => void; run: DagRun }) => {
  const [state, setState] = useState(run.state);

  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const current = await airflow.dagRun(run.dag_id, run.dag_run_id);

        if (stopped) {
          return;
        }
        setState(current.state);
        if (FINISHED.has(current.state)) {
          stopped = true;
          onFinished?.(current.state);
        }
      } catch {
        // a transient error: keep polling
      }
    };
    const timer = globalThis.setInterval(() => {
      if (!stopped) {
        void poll();
      }
    }, POLL_MS);

    void poll();

    return () => {
      stopped = true;
      globalThis.clearInterval(timer);
    };
    // onFinished is a callback of the parent's render; following the run only depends on its id.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [run.dag_id, run.dag_run_id]);

  return (
    <HStack data-run-id={run.dag_run_id} data-state={state} data-testid="apply-run" gap={2} wrap="wrap">
      <Text fontSize="sm">Run</Text>
      <Link color="fg.info" fontFamily="mono" fontSize="sm" href={runPage(run.dag_id, run.dag_run_id)} target="_blank">
        {run.dag_run_id}
      </Link>
      <Badge colorPalette={PALETTE[state] ?? "gray"} data-testid="apply-run-state">
        {state}
      </Badge>
    </HStack>
  );
};

/**
 * Apply a recipe to images: triggers gallery_process for exactly these images (force, so an output
 * already there is redone) as the logged-in user, then follows the run.
 */
export const ApplyRecipe = ({
  label = "Apply",
  onFinished,
  recipe: fixedRecipe,
  recipes,
  sha256s,
}: {
  label?: string;
  onFinished?: (state: string) => void;
  recipe?: string;
  recipes?: Recipe[];
  sha256s: string[];
}) => {
  const [chosen, setChosen] = useState("");
  const [run, setRun] = useState<DagRun>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const recipe = fixedRecipe ?? (chosen || recipes?.[0]?.name || "");

  const apply = async () => {
    setError(undefined);
    setRun(undefined);
    setBusy(true);
    try {
      setRun(await airflow.trigger(PROCESS_DAG, { force: true, images: sha256s, recipes: [recipe] }));
    } catch (error_) {
      setError(triggerError(error_));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack gap={2}>
      <HStack align="end" gap={2} wrap="wrap">
        {fixedRecipe === undefined ? (
          <Field.Root maxW="56">
            <Field.Label fontSize="sm">Recipe to apply</Field.Label>
            <NativeSelect.Root size="sm">
              <NativeSelect.Field onChange={(e) => setChosen(e.currentTarget.value)} value={recipe}>
                {(recipes ?? []).map((r) => (
                  <option key={r.name} value={r.name}>
                    {r.name}
                    {r.version === undefined ? "" : ` (v${r.version})`}
                  </option>
                ))}
              </NativeSelect.Field>
              <NativeSelect.Indicator />
            </NativeSelect.Root>
          </Field.Root>
        ) : null}
        <Button colorPalette="blue" disabled={recipe === "" || sha256s.length === 0} loading={busy} onClick={() => void apply()} size="sm">
          {label}
        </Button>
      </HStack>
      {run === undefined ? null : <RunStatus onFinished={onFinished} run={run} />}
      {error === undefined ? null : (
        <Alert.Root data-testid="apply-error" status="error">
          <Alert.Indicator />
          <Alert.Title>{error}</Alert.Title>
        </Alert.Root>
      )}
    </Stack>
  );
};
