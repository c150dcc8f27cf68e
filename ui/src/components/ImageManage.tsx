import { Alert, Badge, Box, Button, Field, HStack, Input, Stack, Table, Text, Textarea } from "@chakra-ui/react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { type HistoryEntry, type ImageDetail, api } from "src/api";
import { parseTags } from "src/editor";
import { keys } from "src/queries";
import { formatDate, newestFirst } from "src/types";

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A change to an image whose answer is the image's new record: the record is put in the cache (its
 * page shows it at once) and the listings, which may now sort or filter it differently, are refetched.
 */
const useImageChange = (change: () => Promise<ImageDetail>) => {
  const queryClient = useQueryClient();

  return useMutation({
    mutationFn: change,
    onSuccess: async (detail) => {
      queryClient.setQueryData(keys.image(detail.sha256), detail);
      await Promise.all([keys.images, keys.facets].map((queryKey) => queryClient.invalidateQueries({ queryKey })));
    },
  });
};

/** An image's title, description and tags: shown, and edited in place by a user who may write. */
export const ImageInfo = ({ detail }: { detail: ImageDetail }) => {
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [tags, setTags] = useState("");
  const save = useImageChange(() =>
    api.patchImage(detail.sha256, {
      description: description.trim() === "" ? null : description.trim(),
      tags: parseTags(tags),
      title: title.trim() === "" ? null : title.trim(),
    }),
  );

  const start = () => {
    setTitle(detail.title ?? "");
    setDescription(detail.description ?? "");
    setTags(detail.tags.join(", "));
    save.reset();
    setEditing(true);
  };

  if (!editing) {
    return (
      <Stack gap={2}>
        <Text data-testid="detail-title" fontWeight="semibold">
          {detail.title ?? <Text as="span" color="fg.muted" fontWeight="normal">No title</Text>}
        </Text>
        <Text data-testid="detail-description" whiteSpace="pre-wrap">
          {detail.description ?? <Text as="span" color="fg.muted">No description</Text>}
        </Text>
        <HStack data-testid="detail-tags" gap={1} wrap="wrap">
          <Text color="fg.muted" fontSize="sm">
            Tags:
          </Text>
          {detail.tags.length === 0 ? <Text fontSize="sm">–</Text> : null}
          {detail.tags.map((t) => (
            <Badge colorPalette="purple" data-testid="detail-tag" key={t}>
              {t}
            </Badge>
          ))}
        </HStack>
        <Button alignSelf="start" onClick={start} size="xs" variant="outline">
          Edit details
        </Button>
      </Stack>
    );
  }

  return (
    <Stack as="form" gap={3} onSubmit={(e) => { e.preventDefault(); save.mutate(undefined, { onSuccess: () => setEditing(false) }); }}>
      <Field.Root>
        <Field.Label fontSize="sm">Title</Field.Label>
        <Input onChange={(e) => setTitle(e.currentTarget.value)} size="sm" value={title} />
      </Field.Root>
      <Field.Root>
        <Field.Label fontSize="sm">Description</Field.Label>
        <Textarea onChange={(e) => setDescription(e.currentTarget.value)} rows={3} size="sm" value={description} />
      </Field.Root>
      <Field.Root>
        <Field.Label fontSize="sm">Tags</Field.Label>
        <Input onChange={(e) => setTags(e.currentTarget.value)} placeholder="comma-separated, e.g. harbour, dusk" size="sm" value={tags} />
        <Field.HelperText fontSize="xs">Comma-separated; tags are filterable in the gallery.</Field.HelperText>
      </Field.Root>
      <HStack gap={2}>
        <Button colorPalette="blue" loading={save.isPending} size="sm" type="submit">
          Save details
        </Button>
        <Button onClick={() => setEditing(false)} size="sm" variant="ghost">
          Cancel
        </Button>
      </HStack>
      {save.error === null ? null : (
        <Alert.Root data-testid="detail-manage-error" status="error">
          <Alert.Indicator />
          <Alert.Title>Not saved: {message(save.error)}</Alert.Title>
        </Alert.Root>
      )}
    </Stack>
  );
};

const changeText = (changes: Record<string, unknown>): string =>
  Object.entries(changes)
    .map(([key, value]) => {
      if (typeof value === "object" && value !== null && !Array.isArray(value) && ("from" in value || "to" in value)) {
        const { from, to } = value as { from?: unknown; to?: unknown };

        return `${key}: ${JSON.stringify(from ?? null)} → ${JSON.stringify(to ?? null)}`;
      }

      return `${key}: ${JSON.stringify(value)}`;
    })
    .join("; ");

/** Who changed what on the image, and when (newest first). */
export const ImageHistory = ({ history }: { history: HistoryEntry[] }) =>
  history.length === 0 ? (
    <Text color="fg.muted">No change recorded.</Text>
  ) : (
    <Box maxH="72" overflowY="auto">
      <Table.Root size="sm">
        <Table.Header>
          <Table.Row>
            <Table.ColumnHeader>When</Table.ColumnHeader>
            <Table.ColumnHeader>Who</Table.ColumnHeader>
            <Table.ColumnHeader>What</Table.ColumnHeader>
            <Table.ColumnHeader>Changes</Table.ColumnHeader>
          </Table.Row>
        </Table.Header>
        <Table.Body>
          {newestFirst(history).map((h, index) => (
            // The log has no ids: an entry's place in it is its identity (entries are only appended).
            <Table.Row data-action={h.action} data-testid="detail-history-entry" key={index}>
              <Table.Cell whiteSpace="nowrap">{formatDate(h.at)}</Table.Cell>
              <Table.Cell>{h.by ?? "–"}</Table.Cell>
              <Table.Cell>{h.action}</Table.Cell>
              <Table.Cell fontSize="xs" wordBreak="break-word">
                {changeText(h.changes ?? {})}
              </Table.Cell>
            </Table.Row>
          ))}
        </Table.Body>
      </Table.Root>
    </Box>
  );

/** Move to the trash, or restore from it; the refusal (a viewer) is shown as the server says it. */
export const TrashButton = ({ detail }: { detail: ImageDetail }) => {
  const trashed = detail.trashed !== null;
  const act = useImageChange(() => (trashed ? api.restore(detail.sha256) : api.trash(detail.sha256)));

  return (
    <HStack gap={2}>
      <Button colorPalette={trashed ? "green" : "red"} loading={act.isPending} onClick={() => act.mutate()} size="sm" variant="outline">
        {trashed ? "Restore" : "Move to trash"}
      </Button>
      {act.error === null ? null : (
        <Text color="fg.error" data-testid="detail-trash-error" fontSize="sm">
          {message(act.error)}
        </Text>
      )}
    </HStack>
  );
};
