import { Alert, Badge, Button, Field, HStack, Link, NativeSelect, Stack, Text } from "@chakra-ui/react";
import { useMutation } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";

import { type Recipe, ApiError, airflow, runPage } from "src/api";
import { type RunHandle, runEnded, useDagRun, useGalleryChanged } from "src/queries";

export const PROCESS_DAG = "gallery_process";
const PALETTE: Record<string, string> = { failed: "red", queued: "gray", running: "cyan", success: "green" };

/** A readable sentence for a refused or failed trigger (Airflow's 403 says little on its own). */
export const triggerError = (error: unknown): string =>
  error instanceof ApiError && error.status === 403
    ? `You may not run ${PROCESS_DAG} (${error.message}).`
    : error instanceof Error
      ? error.message
      : String(error);

/**
 * Follows one run of gallery_process until it ends (polled with back-off: src/queries.ts): its state
 * as a badge and a link to Airflow's run page. When it ends, what the gallery showed is read again
 * (records, listings, problems), and onFinished is called once with the final state.
 */
export const RunStatus = ({ onFinished, run }: { onFinished?: (state: string) => void; run: RunHandle & { state: string } }) => {
  const { data } = useDagRun(run);
  const state = data?.state ?? run.state;
  const galleryChanged = useGalleryChanged();
  const told = useRef(false);

  useEffect(() => {
    if (runEnded(state) && !told.current) {
      told.current = true;
      void galleryChanged();
      onFinished?.(state);
    }
  }, [galleryChanged, onFinished, state]);

  return (
    <HStack data-run-id={run.runId} data-state={state} data-testid="apply-run" gap={2} wrap="wrap">
      <Text fontSize="sm">Run</Text>
      <Link color="fg.info" fontFamily="mono" fontSize="sm" href={runPage(run.dagId, run.runId)} target="_blank">
        {run.runId}
      </Link>
      <Badge colorPalette={PALETTE[state] ?? "gray"} data-testid="apply-run-state">
        {state}
      </Badge>
    </HStack>
  );
};

/** Trigger gallery_process with a conf as the logged-in user, then follow the run (Apply and Retry). */
export const useProcessRun = (conf: () => Promise<Record<string, unknown>> | Record<string, unknown>) =>
  useMutation({
    mutationFn: async () => {
      const run = await airflow.trigger(PROCESS_DAG, await conf());

      return { dagId: run.dag_id, runId: run.dag_run_id, state: run.state };
    },
  });

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
  const recipe = fixedRecipe ?? (chosen || recipes?.[0]?.name || "");
  const apply = useProcessRun(() => ({ force: true, images: sha256s, recipes: [recipe] }));

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
                    {r.name} (v{r.version})
                  </option>
                ))}
              </NativeSelect.Field>
              <NativeSelect.Indicator />
            </NativeSelect.Root>
          </Field.Root>
        ) : null}
        <Button
          colorPalette="blue"
          disabled={recipe === "" || sha256s.length === 0}
          loading={apply.isPending}
          onClick={() => apply.mutate()}
          size="sm"
        >
          {label}
        </Button>
      </HStack>
      {apply.data === undefined ? null : <RunStatus key={apply.data.runId} onFinished={onFinished} run={apply.data} />}
      {apply.error === null ? null : (
        <Alert.Root data-testid="apply-error" status="error">
          <Alert.Indicator />
          <Alert.Title>{triggerError(apply.error)}</Alert.Title>
        </Alert.Root>
      )}
    </Stack>
  );
};
