import { Box, Button, Field, HStack, Input, Stack, Text } from "@chakra-ui/react";
import { useEffect, useState } from "react";

import { type BulkAction, api } from "src/api";
import { ApplyRecipe } from "src/components/ApplyRecipe";
import { RetryButton } from "src/components/RetryButton";
import { parseTags } from "src/editor";
import type { Recipe } from "src/types";

const DONE: Record<BulkAction, string> = {
  restore: "restored",
  tag: "tagged",
  trash: "moved to the trash",
  untag: "untagged",
};

/**
 * What the gallery's selection can have done to it at once: tags added or removed, a recipe applied
 * (one gallery_process run for exactly these images), its failed images tried again (Retry: their
 * quarantines lifted and failed outputs redone), moved to the trash or restored from it.
 * onChanged is told which action changed the records, so the grid reloads.
 */
export const BulkActions = ({
  inTrash,
  onChanged,
  selected,
}: {
  inTrash: boolean;
  onChanged: (action: BulkAction | "retry") => void;
  selected: string[];
}) => {
  const [tags, setTags] = useState("");
  const [recipes, setRecipes] = useState<Recipe[]>([]);
  const [status, setStatus] = useState<{ error: boolean; text: string }>();
  const [busy, setBusy] = useState<BulkAction>();

  useEffect(() => {
    api.recipes().then(setRecipes, () => setRecipes([]));
  }, []);

  const run = async (action: BulkAction) => {
    setBusy(action);
    setStatus(undefined);
    try {
      const changed = await api.bulk(selected, action, action === "tag" || action === "untag" ? parseTags(tags) : []);

      setStatus({ error: false, text: `${changed} ${changed === 1 ? "image" : "images"} ${DONE[action]}` });
      onChanged(action);
    } catch (error_) {
      setStatus({ error: true, text: `Refused: ${error_ instanceof Error ? error_.message : String(error_)}` });
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <Stack borderRadius="md" borderWidth="1px" data-testid="gallery-bulk" gap={3} p={3}>
      {inTrash ? (
        <HStack gap={2}>
          <Button colorPalette="green" loading={busy === "restore"} onClick={() => void run("restore")} size="sm">
            Restore selected
          </Button>
        </HStack>
      ) : (
        <HStack align="end" gap={6} wrap="wrap">
          <HStack align="end" as="form" gap={2} onSubmit={(e) => { e.preventDefault(); void run("tag"); }}>
            <Field.Root maxW="56">
              <Field.Label fontSize="sm">Tags for the selection</Field.Label>
              <Input onChange={(e) => setTags(e.currentTarget.value)} placeholder="comma-separated" size="sm" value={tags} />
            </Field.Root>
            <Button disabled={parseTags(tags).length === 0} loading={busy === "tag"} size="sm" type="submit" variant="outline">
              Add tags
            </Button>
            <Button disabled={parseTags(tags).length === 0} loading={busy === "untag"} onClick={() => void run("untag")} size="sm" variant="ghost">
              Remove tags
            </Button>
          </HStack>
          <Box>
            <ApplyRecipe label="Reprocess selected" recipes={recipes} sha256s={selected} />
          </Box>
          <Box>
            <RetryButton label="Retry selected" onFinished={() => onChanged("retry")} sha256s={selected} testId="gallery-retry" />
          </Box>
          <Button colorPalette="red" loading={busy === "trash"} onClick={() => void run("trash")} size="sm" variant="outline">
            Move to trash
          </Button>
        </HStack>
      )}
      {status === undefined ? null : (
        <Text aria-live="polite" color={status.error ? "fg.error" : "fg.success"} data-testid="gallery-bulk-status" fontSize="sm">
          {status.text}
        </Text>
      )}
    </Stack>
  );
};
