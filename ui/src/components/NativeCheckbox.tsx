import { chakra } from "@chakra-ui/react";
import type { ReactNode } from "react";

/**
 * A native checkbox (themed with the host's tokens): found and checked by role and label in browser
 * tests like any <input type="checkbox">, with no overlay intercepting the click.
 */
export const NativeCheckbox = ({
  ariaLabel,
  checked,
  children,
  onChange,
}: {
  ariaLabel?: string;
  checked: boolean;
  children?: ReactNode;
  onChange: (checked: boolean) => void;
}) => (
  <chakra.label alignItems="center" cursor="pointer" display="inline-flex" fontSize="sm" gap={2}>
    <chakra.input
      aria-label={ariaLabel}
      checked={checked}
      colorPalette="blue"
      css={{ accentColor: "var(--chakra-colors-color-palette-solid)" }}
      cursor="pointer"
      h={4}
      onChange={(e) => onChange(e.currentTarget.checked)}
      type="checkbox"
      w={4}
    />
    {children}
  </chakra.label>
);
