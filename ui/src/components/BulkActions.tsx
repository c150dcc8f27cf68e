import { Box, Button, Field, HStack, Input, Stack, Text } from "@chakra-ui/react";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";

import { type BulkAction, api } from "src/api";
import { ApplyRecipe } from "src/components/ApplyRecipe";
import { RetryButton } from "src/components/RetryButton";
import { parseTags } from "src/editor";
import { useRecipes } from "src/queries";

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
  onChanged: (action: BulkAction) => void;
  selected: string[];
}) => {
  const [tags, setTags] = useState("");
  const { data: recipes = [] } = useRecipes();
  const bulk = useMutation({
    mutationFn: async (action: BulkAction) => {
      const { changed } = await api.bulk(
        action === "tag" || action === "untag" ? { action, sha256s: selected, tags: parseTags(tags) } : { action, sha256s: selected },
      );

      return `${changed} ${changed === 1 ? "image" : "images"} ${DONE[action]}`;
    },
    onSuccess: (_text, action) => onChanged(action),
  });
  const busy = bulk.isPending ? bulk.variables : undefined;
  const status =
    bulk.error === null ? (bulk.data === undefined ? undefined : { error: false, text: bulk.data }) : { error: true, text: `Refused: ${bulk.error.message}` };
  const run = (action: BulkAction) => bulk.mutate(action);

  return (
    <Stack borderRadius="md" borderWidth="1px" data-testid="gallery-bulk" gap={3} p={3}>
      {inTrash ? (
        <HStack gap={2}>
          <Button colorPalette="green" loading={busy === "restore"} onClick={() => run("restore")} size="sm">
            Restore selected
          </Button>
        </HStack>
      ) : (
        <HStack align="end" gap={6} wrap="wrap">
          <HStack align="end" as="form" gap={2} onSubmit={(e) => { e.preventDefault(); run("tag"); }}>
            <Field.Root maxW="56">
              <Field.Label fontSize="sm">Tags for the selection</Field.Label>
              <Input onChange={(e) => setTags(e.currentTarget.value)} placeholder="comma-separated" size="sm" value={tags} />
            </Field.Root>
            <Button disabled={parseTags(tags).length === 0} loading={busy === "tag"} size="sm" type="submit" variant="outline">
              Add tags
            </Button>
            <Button disabled={parseTags(tags).length === 0} loading={busy === "untag"} onClick={() => run("untag")} size="sm" variant="ghost">
              Remove tags
            </Button>
          </HStack>
          <Box>
            <ApplyRecipe label="Reprocess selected" recipes={recipes} sha256s={selected} />
          </Box>
          <Box>
            <RetryButton label="Retry selected" sha256s={selected} testId="gallery-retry" />
          </Box>
          <Button colorPalette="red" loading={busy === "trash"} onClick={() => run("trash")} size="sm" variant="outline">
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
