import { Alert, Button, HStack, Stack, Text } from "@chakra-ui/react";

import { api } from "src/api";
import { RunStatus, triggerError, useProcessRun } from "src/components/ApplyRecipe";

/** Images one Retry sends: gallery_process's `images` field takes at most this many. */
export const MAX_RETRY = 1000;

/**
 * Try images again: one gallery_process run with `retry` for exactly these images (their quarantine
 * lifted, their failed outputs forgotten, then processed), triggered through Airflow's REST API as
 * the logged-in user, then followed like Apply. The conf comes from the gallery's API, which names
 * the recipes whose outputs failed (retry forgets them, and only their recipe makes them again).
 */
export const RetryButton = ({
  label = "Retry",
  onFinished,
  sha256s,
  testId,
}: {
  label?: string;
  onFinished?: (state: string) => void;
  sha256s: string[];
  testId: string;
}) => {
  const chosen = sha256s.slice(0, MAX_RETRY);
  const retry = useProcessRun(() => api.retryConf(chosen));

  return (
    <Stack data-testid={testId} gap={2}>
      <HStack gap={2} wrap="wrap">
        <Button colorPalette="orange" disabled={chosen.length === 0} loading={retry.isPending} onClick={() => retry.mutate()} size="sm">
          {label}
        </Button>
        {sha256s.length > MAX_RETRY ? (
          <Text color="fg.muted" fontSize="sm">
            (the first {MAX_RETRY} of {sha256s.length})
          </Text>
        ) : null}
      </HStack>
      {retry.data === undefined ? null : <RunStatus key={retry.data.runId} onFinished={onFinished} run={retry.data} />}
      {retry.error === null ? null : (
        <Alert.Root data-testid="retry-error" status="error">
          <Alert.Indicator />
          <Alert.Title>{triggerError(retry.error)}</Alert.Title>
        </Alert.Root>
      )}
    </Stack>
  );
};
