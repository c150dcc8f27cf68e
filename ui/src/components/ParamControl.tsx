import { Button, Field, HStack, Input, NativeSelect, Slider, Text } from "@chakra-ui/react";

import { NativeCheckbox } from "src/components/NativeCheckbox";
import type { ParamSpec, ParamValue } from "src/editor";
import { choicesOf, clampNumber, controlFor, stepOf } from "src/editor";

const asNumber = (v: ParamValue): number | undefined => (typeof v === "number" ? v : undefined);

/** A box [left, top, right, bottom] as four number boxes (the keyboard's way) and a "draw" toggle. */
const BoxControl = ({
  drawing,
  label,
  onChange,
  onDraw,
  value,
}: {
  drawing: boolean;
  label: string;
  onChange: (value: ParamValue) => void;
  onDraw: () => void;
  value: ParamValue;
}) => {
  const box = Array.isArray(value) && value.length === 4 ? value : undefined;
  const sides = ["Left", "Top", "Right", "Bottom"];

  return (
    <Field.Root>
      <Field.Label fontSize="sm">{label}</Field.Label>
      <HStack gap={1} wrap="wrap">
        {sides.map((side, index) => (
          <Input
            aria-label={`${label} ${side.toLowerCase()}`}
            key={side}
            min={0}
            onChange={(e) => {
              const n = Number(e.currentTarget.value);
              const next = [...(box ?? [0, 0, 0, 0])];

              next[index] = Number.isFinite(n) ? Math.max(0, Math.round(n)) : 0;
              onChange(next);
            }}
            placeholder={side}
            size="xs"
            type="number"
            value={box?.[index] ?? ""}
            w="20"
          />
        ))}
      </HStack>
      <HStack gap={2} mt={1}>
        <Button aria-pressed={drawing} onClick={onDraw} size="xs" variant={drawing ? "solid" : "outline"}>
          {drawing ? "Drawing: drag on the image" : "Draw on the image"}
        </Button>
        {box === undefined ? null : (
          <Button onClick={() => onChange(null)} size="xs" variant="ghost">
            Clear box
          </Button>
        )}
      </HStack>
    </Field.Root>
  );
};

/** One parameter's control, chosen by its kind and bounds (controlFor). */
export const ParamControl = ({
  drawing = false,
  idPrefix,
  onChange,
  onDraw = () => undefined,
  param,
  value,
}: {
  drawing?: boolean;
  idPrefix: string;
  onChange: (value: ParamValue) => void;
  onDraw?: () => void;
  param: ParamSpec;
  value: ParamValue;
}) => {
  const control = controlFor(param);
  const id = `${idPrefix}-${param.name}`;
  const help = param.description === null ? null : <Field.HelperText fontSize="xs">{param.description}</Field.HelperText>;

  switch (control) {
    case "checkbox":
      return (
        <NativeCheckbox checked={value === true} onChange={(on) => onChange(on)}>
          {param.title}
        </NativeCheckbox>
      );
    case "box":
      return <BoxControl drawing={drawing} label={param.title} onChange={onChange} onDraw={onDraw} value={value} />;
    case "select":
      return (
        <Field.Root>
          <Field.Label fontSize="sm" htmlFor={id}>
            {param.title}
          </Field.Label>
          <NativeSelect.Root size="sm">
            <NativeSelect.Field id={id} onChange={(e) => onChange(e.currentTarget.value === "" ? null : e.currentTarget.value)} value={typeof value === "string" ? value : ""}>
              {param.required && value !== null ? null : <option value="">(default)</option>}
              {choicesOf(param).map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </NativeSelect.Field>
            <NativeSelect.Indicator />
          </NativeSelect.Root>
          {help}
        </Field.Root>
      );
    case "color":
      return (
        <Field.Root>
          <Field.Label fontSize="sm" htmlFor={id}>
            {param.title}
          </Field.Label>
          <HStack gap={2}>
            <Input id={id} onChange={(e) => onChange(e.currentTarget.value)} p={0.5} size="sm" type="color" value={typeof value === "string" && /^#[0-9a-f]{6}$/iu.test(value) ? value : "#ffffff"} w="12" />
            <Text fontFamily="mono" fontSize="sm">
              {typeof value === "string" ? value : "–"}
            </Text>
          </HStack>
          {help}
        </Field.Root>
      );
    case "slider":
    case "number": {
      const current = asNumber(value);
      const step = stepOf(param);
      const set = (n: number) => onChange(Number.isFinite(n) ? clampNumber(param, n) : null);

      return (
        <Field.Root>
          <Field.Label fontSize="sm" htmlFor={id}>
            {param.title}
          </Field.Label>
          <HStack gap={3} w="full">
            {control === "slider" ? (
              <Slider.Root
                aria-label={[`${param.title} slider`]}
                flex="1"
                max={param.max ?? undefined}
                min={param.min ?? undefined}
                onValueChange={(e) => set(e.value[0] ?? Number.NaN)}
                size="sm"
                step={step}
                value={[current ?? param.min ?? 0]}
              >
                <Slider.Control>
                  <Slider.Track>
                    <Slider.Range />
                  </Slider.Track>
                  <Slider.Thumbs />
                </Slider.Control>
              </Slider.Root>
            ) : null}
            <Input
              id={id}
              max={param.max ?? undefined}
              min={param.min ?? undefined}
              onChange={(e) => (e.currentTarget.value === "" ? onChange(null) : set(Number(e.currentTarget.value)))}
              placeholder={param.default === null ? "(none)" : undefined}
              size="sm"
              step={step}
              type="number"
              value={current ?? ""}
              w={control === "slider" ? "24" : "32"}
            />
          </HStack>
          {help}
        </Field.Root>
      );
    }
    default:
      return (
        <Field.Root>
          <Field.Label fontSize="sm" htmlFor={id}>
            {param.title}
          </Field.Label>
          <Input id={id} onChange={(e) => onChange(e.currentTarget.value === "" ? null : e.currentTarget.value)} size="sm" value={typeof value === "string" ? value : ""} />
          {help}
        </Field.Root>
      );
  }
};
