/*
 * ESLint for the UI (flat config): JavaScript's and typescript-eslint's recommended rules, with type
 * information (floating promises, unsafe any), React's hooks rules and TanStack Query's. `make test`
 * runs it with --max-warnings 0 (ui-check in the Makefile), so a warning fails it as an error does.
 */
import js from "@eslint/js";
import pluginQuery from "@tanstack/eslint-plugin-query";
import reactHooks from "eslint-plugin-react-hooks";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
  // The generated client is the generator's (src/client/client.test.ts checks it instead).
  globalIgnores(["node_modules/", "src/client/*.d.ts"]),
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  reactHooks.configs.flat.recommended,
  pluginQuery.configs["flat/recommended"],
  {
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: { projectService: { allowDefaultProject: ["eslint.config.js", "scripts/*.mjs"] }, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    files: ["eslint.config.js", "scripts/*.mjs", "vite.config.ts", "src/**/*.test.ts"],
    languageOptions: { globals: { ...globals.node } },
  },
);
