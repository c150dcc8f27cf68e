/*
 * The gallery's react_apps entry: Airflow's UI imports this bundle and renders its default export
 * at /plugin/gallery/* inside its own router, Chakra provider and colour mode. React, react-router-dom
 * and Chakra UI are the host's globals (vite.config.ts), so the app themes like Airflow, light and dark.
 * TanStack Query is bundled (the host's copy is inside its own bundle, not a global): the app has its
 * own QueryClient and provider, made once per mount.
 */
import { ChakraProvider, createSystem, defaultConfig } from "@chakra-ui/react";
import { QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";

import { GalleryApp } from "src/GalleryApp";
import { newQueryClient } from "src/queries";

export type PluginComponentProps = object;

let fallbackSystem: ReturnType<typeof createSystem> | undefined;

const PluginComponent = () => {
  // The host's Chakra system (Airflow's theme), as the plugin template does; a default one elsewhere.
  const system = globalThis.ChakraUISystem ?? (fallbackSystem ??= createSystem(defaultConfig));
  const [queryClient] = useState(newQueryClient);

  return (
    <ChakraProvider value={system}>
      <QueryClientProvider client={queryClient}>
        <GalleryApp />
      </QueryClientProvider>
    </ChakraProvider>
  );
};

export default PluginComponent;
