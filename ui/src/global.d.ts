import type { SystemContext } from "@chakra-ui/react";

declare global {
  // Set by Airflow's UI (ChakraCustomProvider): the host's theme, light and dark.
  var ChakraUISystem: SystemContext | undefined;
}

export {};
