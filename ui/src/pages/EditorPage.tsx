import {
  Alert,
  Badge,
  Box,
  Button,
  Code,
  Field,
  Grid,
  HStack,
  Heading,
  IconButton,
  Input,
  Link,
  List,
  NativeSelect,
  Spinner,
  Stack,
  Text,
  Textarea,
} from "@chakra-ui/react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type ReactNode, useState } from "react";
import { Link as RouterLink, useParams } from "react-router-dom";

import { type RecipeCheck, type RecipeDraft, type SavedRecipe, ApiError, api, apiUrl } from "src/api";
import { ApplyRecipe } from "src/components/ApplyRecipe";
import { ParamControl } from "src/components/ParamControl";
import { PreviewPane } from "src/components/PreviewPane";
import { useAppPath } from "src/components/root";
import type { ChainStep, Family, OperationSpec, OutputForm, ParamValue } from "src/editor";
import { chainToOperations, moveStep, newStep, operationIndex, operationsToChain, outputForm, outputSpec } from "src/editor";
import { keys, useDebounced, useImage, useOperations, useRecipes } from "src/queries";
import { outputList } from "src/types";

const CHECK_DEBOUNCE_MS = 400;
const FORMATS = ["jpeg", "png", "webp", "avif"];

const Panel = ({ children, id, title }: { children: ReactNode; id: string; title: string }) => (
  <Box aria-labelledby={`editor-${id}-title`} as="section" borderRadius="md" borderWidth="1px" data-testid={`editor-${id}`} p={3}>
    <Heading as="h2" id={`editor-${id}-title`} mb={2} size="sm">
      {title}
    </Heading>
    {children}
  </Box>
);

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** One operation of the palette: add it with its defaults, or open it to set its parameters first. */
const PaletteEntry = ({ onAdd, op }: { onAdd: (step: ChainStep) => void; op: OperationSpec }) => {
  const [open, setOpen] = useState(false);
  const [draft, setDraft] = useState(() => newStep(op));
  const panelId = `palette-${op.name}`;

  return (
    <Box borderBottomWidth="1px" data-name={op.name} data-testid="editor-palette-op" py={1.5}>
      <HStack gap={1} justify="space-between">
        <Button
          aria-controls={panelId}
          aria-expanded={open}
          flex="1"
          justifyContent="start"
          onClick={() => setOpen(!open)}
          size="sm"
          title={op.description}
          variant="ghost"
        >
          {open ? "▾" : "▸"} {op.title}
        </Button>
        <Button aria-label={`Add ${op.title}`} colorPalette="blue" onClick={() => onAdd(newStep(op))} size="xs" variant="outline">
          + Add
        </Button>
      </HStack>
      {open ? (
        <Stack gap={2} id={panelId} pb={2} pl={4} pt={1}>
          {op.description === "" ? null : (
            <Text color="fg.muted" fontSize="xs">
              {op.description}
            </Text>
          )}
          {op.params.map((param) => (
            <ParamControl
              idPrefix={panelId}
              key={param.name}
              onChange={(value) => setDraft({ ...draft, params: { ...draft.params, [param.name]: value } })}
              param={param}
              value={draft.params[param.name] ?? null}
            />
          ))}
          <Button
            alignSelf="start"
            colorPalette="blue"
            onClick={() => {
              onAdd({ ...newStep(op), params: draft.params });
              setDraft(newStep(op));
            }}
            size="xs"
          >
            Add {op.title} with these settings
          </Button>
        </Stack>
      ) : null}
    </Box>
  );
};

const Palette = ({ families, onAdd }: { families: Family[]; onAdd: (step: ChainStep) => void }) => (
  <Panel id="palette" title="Operations">
    <Stack gap={3}>
      {families.map((family) => (
        <Box aria-label={family.title} data-testid="editor-family" key={family.name} role="group">
          <Text color="fg.muted" fontSize="xs" fontWeight="semibold" letterSpacing="wide" textTransform="uppercase">
            {family.title}
          </Text>
          {family.operations.map((op) => (
            <PaletteEntry key={op.name} onAdd={onAdd} op={op} />
          ))}
        </Box>
      ))}
    </Stack>
  </Panel>
);

const summary = (step: ChainStep, spec?: OperationSpec): string =>
  (spec?.params ?? [])
    .filter((p) => step.params[p.name] !== null && step.params[p.name] !== undefined)
    .map((p) => `${p.name} ${JSON.stringify(step.params[p.name])}`)
    .join(", ");

/** The chain: reorderable (buttons, or drag and drop), each step open to edit its parameters. */
const Chain = ({
  chain,
  drawing,
  onChange,
  onDraw,
  ops,
  selected,
  setSelected,
}: {
  chain: ChainStep[];
  drawing?: string;
  onChange: (chain: ChainStep[]) => void;
  onDraw: (key: string | undefined) => void;
  ops: Map<string, OperationSpec>;
  selected?: number;
  setSelected: (id: number | undefined) => void;
}) => {
  const [dragged, setDragged] = useState<number>();

  if (chain.length === 0) {
    return (
      <Text color="fg.muted" data-testid="editor-chain-empty" fontSize="sm">
        No operation yet: add one from the palette.
      </Text>
    );
  }

  return (
    <List.Root as="ol" data-testid="editor-chain" gap={1} listStyle="none">
      {chain.map((step, index) => {
        const spec = ops.get(step.name);
        const title = spec?.title ?? step.name;
        const open = selected === step.id;

        return (
          <List.Item
            bg={open ? "bg.muted" : undefined}
            borderRadius="md"
            borderWidth="1px"
            data-name={step.name}
            data-testid="editor-step"
            draggable
            key={step.id}
            onDragOver={(e) => e.preventDefault()}
            onDragStart={() => setDragged(index)}
            onDrop={() => {
              if (dragged !== undefined) {
                onChange(moveStep(chain, dragged, index - dragged));
              }
              setDragged(undefined);
            }}
            p={2}
          >
            <HStack gap={1}>
              <Text color="fg.muted" cursor="grab" fontSize="sm" title="Drag to reorder" w="6">
                {index + 1}.
              </Text>
              <Button aria-expanded={open} flex="1" justifyContent="start" onClick={() => setSelected(open ? undefined : step.id)} size="sm" variant="ghost">
                <Text fontWeight="semibold">{title}</Text>
                <Text color="fg.muted" fontSize="xs" lineClamp={1}>
                  {summary(step, spec)}
                </Text>
              </Button>
              <IconButton aria-label={`Move ${title} up`} disabled={index === 0} onClick={() => onChange(moveStep(chain, index, -1))} size="xs" variant="ghost">
                ↑
              </IconButton>
              <IconButton aria-label={`Move ${title} down`} disabled={index === chain.length - 1} onClick={() => onChange(moveStep(chain, index, 1))} size="xs" variant="ghost">
                ↓
              </IconButton>
              <IconButton aria-label={`Remove ${title}`} colorPalette="red" onClick={() => onChange(chain.filter((s) => s.id !== step.id))} size="xs" variant="ghost">
                ✕
              </IconButton>
            </HStack>
            {open && spec !== undefined && spec.params.length > 0 ? (
              <Stack gap={2} pl={7} pt={2}>
                {spec.params.map((param) => {
                  const key = `${step.id}/${param.name}`;

                  return (
                    <ParamControl
                      drawing={drawing === key}
                      idPrefix={`step-${step.id}`}
                      key={param.name}
                      onChange={(value) => onChange(chain.map((s) => (s.id === step.id ? { ...s, params: { ...s.params, [param.name]: value } } : s)))}
                      onDraw={() => onDraw(drawing === key ? undefined : key)}
                      param={param}
                      value={step.params[param.name] ?? null}
                    />
                  );
                })}
              </Stack>
            ) : null}
          </List.Item>
        );
      })}
    </List.Root>
  );
};

/** The recipe's name, description and output, its YAML (checked by the API as you type), and Save. */
const SaveForm = ({
  draft,
  output,
  setDescription,
  setName,
  setOutput,
  onSaved,
}: {
  draft: RecipeDraft;
  onSaved: (saved: SavedRecipe) => void;
  output: OutputForm;
  setDescription: (v: string) => void;
  setName: (v: string) => void;
  setOutput: (o: OutputForm) => void;
}) => {
  const queryClient = useQueryClient();
  // The API checks a named recipe (a name is required) once the form has stopped changing.
  const settled = useDebounced(JSON.stringify(draft), CHECK_DEBOUNCE_MS);
  const checked = JSON.parse(settled) as RecipeDraft;
  const checking = useQuery({
    enabled: checked.name !== "",
    placeholderData: keepPreviousData,
    queryFn: ({ signal }) => api.checkRecipe(checked, signal),
    queryKey: ["recipe-check", checked],
    retry: false,
    staleTime: Infinity,
  });
  const check: RecipeCheck | undefined =
    draft.name === "" ? undefined : checking.error === null ? checking.data : { errors: [message(checking.error)], yaml: "" };
  const save = useMutation({
    mutationFn: () => api.saveRecipe(draft),
    onSuccess: async (saved) => {
      onSaved(saved);
      await queryClient.invalidateQueries({ queryKey: keys.recipes });
    },
  });
  const error =
    save.error === null
      ? undefined
      : save.error instanceof ApiError && save.error.status === 403
        ? `Save refused: ${save.error.message}`
        : `Could not save: ${message(save.error)}`;

  return (
    <Stack gap={3}>
      <Field.Root required>
        <Field.Label fontSize="sm">Recipe name</Field.Label>
        <Input onChange={(e) => setName(e.currentTarget.value)} placeholder="e.g. gray_soft" size="sm" value={draft.name} />
      </Field.Root>
      <Field.Root>
        <Field.Label fontSize="sm">Recipe description</Field.Label>
        <Textarea onChange={(e) => setDescription(e.currentTarget.value)} rows={2} size="sm" value={draft.description ?? ""} />
      </Field.Root>
      <HStack align="end" gap={2} wrap="wrap">
        <Field.Root maxW="28">
          <Field.Label fontSize="sm">Output format</Field.Label>
          <NativeSelect.Root size="sm">
            <NativeSelect.Field onChange={(e) => setOutput({ ...output, format: e.currentTarget.value })} value={output.format}>
              {FORMATS.map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </NativeSelect.Field>
            <NativeSelect.Indicator />
          </NativeSelect.Root>
        </Field.Root>
        <Field.Root maxW="24">
          <Field.Label fontSize="sm">Quality</Field.Label>
          <Input max={100} min={1} onChange={(e) => setOutput({ ...output, quality: Math.min(100, Math.max(1, Math.round(Number(e.currentTarget.value) || 1))) })} size="sm" type="number" value={output.quality} />
        </Field.Root>
        <Field.Root maxW="32">
          <Field.Label fontSize="sm">Target size (KB)</Field.Label>
          <Input min={1} onChange={(e) => setOutput({ ...output, targetKb: e.currentTarget.value })} placeholder="none" size="sm" type="number" value={output.targetKb} />
        </Field.Root>
        <Field.Root maxW="32">
          <Field.Label fontSize="sm">Metadata</Field.Label>
          <NativeSelect.Root size="sm">
            <NativeSelect.Field onChange={(e) => setOutput({ ...output, metadata: e.currentTarget.value })} value={output.metadata}>
              <option value="strip">strip</option>
              <option value="keep">keep</option>
            </NativeSelect.Field>
            <NativeSelect.Indicator />
          </NativeSelect.Root>
        </Field.Root>
      </HStack>
      <Box>
        <Text color="fg.muted" fontSize="sm" mb={1}>
          Recipe YAML
        </Text>
        <Code as="pre" data-testid="editor-yaml" display="block" fontSize="xs" maxH="64" overflow="auto" p={2} whiteSpace="pre">
          {check?.yaml || (draft.name === "" ? "# Name the recipe to see its YAML, checked as a recipe file is." : "…")}
        </Code>
        {check !== undefined && check.errors.length > 0 ? (
          <List.Root color="fg.error" data-testid="editor-errors" fontSize="sm" mt={1} ps={5}>
            {check.errors.map((e) => (
              <List.Item key={e}>{e}</List.Item>
            ))}
          </List.Root>
        ) : null}
      </Box>
      <HStack gap={2}>
        <Button colorPalette="blue" disabled={draft.name.trim() === "" || (draft.operations ?? []).length === 0} loading={save.isPending} onClick={() => save.mutate()} size="sm">
          Save recipe
        </Button>
        {check !== undefined && check.errors.length === 0 && check.yaml !== "" ? (
          <Badge colorPalette="green">valid</Badge>
        ) : null}
      </HStack>
      {error === undefined ? null : (
        <Alert.Root data-testid="editor-save-error" status="error">
          <Alert.Indicator />
          <Alert.Title>{error}</Alert.Title>
        </Alert.Root>
      )}
    </Stack>
  );
};

export const EditorPage = () => {
  const { sha256 = "" } = useParams();
  const appPath = useAppPath();
  const image = useImage(sha256);
  const registry = useOperations();
  const { data: recipes = [] } = useRecipes();
  const detail = image.data;
  const families = registry.data?.families;
  const error =
    image.error === null ? (registry.error === null ? undefined : `Could not load the operations: ${message(registry.error)}`) : message(image.error);
  const [chain, setChain] = useState<ChainStep[]>([]);
  const [selected, setSelected] = useState<number>();
  const [drawing, setDrawing] = useState<string>();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [output, setOutput] = useState<OutputForm>({ format: "jpeg", metadata: "strip", quality: 85, targetKb: "" });
  const [saved, setSaved] = useState<SavedRecipe>();
  const [applied, setApplied] = useState<string>();

  // Start from a recipe: its chain and output; a saved one keeps its name, so saving makes its next version.
  const startFrom = (recipeName: string) => {
    const recipe = recipes.find((r) => r.name === recipeName);

    if (recipe === undefined) {
      return;
    }
    setChain(operationsToChain(recipe.operations, ops));
    setSelected(undefined);
    setDrawing(undefined);
    setName(recipe.origin === "saved" ? recipe.name : "");
    setDescription(recipe.description);
    setOutput(outputForm(recipe.output));
  };

  const ops = operationIndex(families ?? []);
  const operations = chainToOperations(chain, ops);
  const draft: RecipeDraft = { description: description.trim(), name: name.trim(), operations, output: outputSpec(output) };

  // The box being drawn: "<step id>/<param>"; its value comes from and goes to that step.
  const [drawStep, drawParam] = drawing === undefined ? [] : drawing.split("/");
  const drawnStep = chain.find((s) => String(s.id) === drawStep);
  const drawnValue = drawnStep === undefined || drawParam === undefined ? undefined : drawnStep.params[drawParam];
  // A drawn box goes into its step, and the preview of the chain with it comes back.
  const setBox = (box: ParamValue) => {
    setChain(chain.map((s) => (s === drawnStep && drawParam !== undefined ? { ...s, params: { ...s.params, [drawParam]: box } } : s)));
    setDrawing(undefined);
  };

  if (error !== undefined) {
    return (
      <Alert.Root status="error">
        <Alert.Indicator />
        <Alert.Title>{error}</Alert.Title>
      </Alert.Root>
    );
  }
  if (detail === undefined || families === undefined) {
    return <Spinner aria-label="Loading the editor" />;
  }
  const beforeSrc = apiUrl(detail.raw_url) ?? apiUrl(outputList(detail).find((o) => o.recipe === "thumb")?.url);
  const original = detail.width !== null && detail.height !== null ? { height: detail.height, width: detail.width } : undefined;

  return (
    <Stack data-sha256={sha256} data-testid="editor-page" gap={4}>
      <HStack gap={3} wrap="wrap">
        <Link asChild color="fg.info">
          <RouterLink to={appPath("images", sha256)}>← Back to the image</RouterLink>
        </Link>
        <Heading as="h2" size="md">
          Edit {detail.title ?? <Text as="span" fontFamily="mono">{sha256.slice(0, 12)}</Text>}
        </Heading>
        <Text color="fg.muted" fontSize="sm">
          Build a chain of operations; save it as a recipe the pipeline applies to any image.
        </Text>
      </HStack>
      <Grid gap={4} templateColumns={{ base: "1fr", lg: "minmax(260px, 1fr) 3fr" }}>
        <Box maxH={{ lg: "calc(100vh - 200px)" }} overflowY={{ lg: "auto" }}>
          <Palette
            families={families}
            onAdd={(step) => {
              const box = ops.get(step.name)?.params.find((p) => p.kind === "box");

              setChain([...chain, step]);
              setSelected(step.id);
              // An operation that takes a box (crop) starts with drawing it, unless one was typed.
              if (box !== undefined && step.params[box.name] === null) {
                setDrawing(`${step.id}/${box.name}`);
              }
            }}
          />
        </Box>
        <Stack gap={4}>
          <Panel id="preview-panel" title="Preview">
            <PreviewPane
              beforeSrc={beforeSrc}
              box={Array.isArray(drawnValue) && drawnValue.length === 4 ? (drawnValue as [number, number, number, number]) : undefined}
              drawing={drawing !== undefined && drawnStep !== undefined}
              onBox={setBox}
              operations={operations}
              original={original}
              sha={sha256}
            />
          </Panel>
          <Grid gap={4} templateColumns={{ base: "1fr", xl: "1fr 1fr" }}>
            <Panel id="chain-panel" title="Chain">
              <Field.Root mb={3}>
                <Field.Label fontSize="sm">Start from a recipe</Field.Label>
                <NativeSelect.Root size="sm">
                  <NativeSelect.Field onChange={(e) => startFrom(e.currentTarget.value)} value="">
                    <option value="">Choose a recipe to load its chain…</option>
                    {recipes.map((r) => (
                      <option key={r.name} value={r.name}>
                        {r.name}
                        {` v${r.version}`}
                        {r.origin === "saved" ? " (saved)" : ""}
                      </option>
                    ))}
                  </NativeSelect.Field>
                  <NativeSelect.Indicator />
                </NativeSelect.Root>
              </Field.Root>
              <Chain chain={chain} drawing={drawing} onChange={setChain} onDraw={setDrawing} ops={ops} selected={selected} setSelected={setSelected} />
            </Panel>
            <Panel id="recipe" title="Save as recipe">
              <SaveForm
                draft={draft}
                onSaved={(s) => {
                  setSaved(s);
                  setApplied(undefined);
                }}
                output={output}
                setDescription={setDescription}
                setName={setName}
                setOutput={setOutput}
              />
              {saved === undefined ? null : (
                <Stack borderTopWidth="1px" gap={2} mt={3} pt={3}>
                  <Text data-testid="editor-saved" fontSize="sm">
                    Saved recipe <strong>{saved.name}</strong>
                    {` (version ${saved.version})`}: the pipeline can apply it to any image.
                  </Text>
                  <ApplyRecipe label="Apply to this image" onFinished={setApplied} recipe={saved.name} sha256s={[sha256]} />
                  {applied === "success" ? (
                    <Link asChild color="fg.info" data-testid="editor-applied">
                      <RouterLink to={appPath("images", sha256)}>See the {saved.name} output on the image's page</RouterLink>
                    </Link>
                  ) : null}
                </Stack>
              )}
            </Panel>
          </Grid>
        </Stack>
      </Grid>
    </Stack>
  );
};
