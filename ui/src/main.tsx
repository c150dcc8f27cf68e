/*
 * The gallery's react_apps entry: Airflow's UI imports this bundle and renders its default export
 * at /plugin/gallery/* inside its own router, Chakra provider and colour mode. React, react-router-dom
 * and Chakra UI are the host's globals (vite.config.ts), so the app themes like Airflow, light and dark.
 */
import { ChakraProvider, createSystem, defaultConfig } from "@chakra-ui/react";

import { GalleryApp } from "src/GalleryApp";

export type PluginComponentProps = object;

let fallbackSystem: ReturnType<typeof createSystem> | undefined;

const PluginComponent = () => {
  // The host's Chakra system (Airflow's theme), as the plugin template does; a default one elsewhere.
  const system = globalThis.ChakraUISystem ?? (fallbackSystem ??= createSystem(defaultConfig));

  return (
    <ChakraProvider value={system}>
      <GalleryApp />
    </ChakraProvider>
  );
};

export default PluginComponent;
