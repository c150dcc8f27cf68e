import { createContext, useContext } from "react";

export const RootContext = createContext("");

/** An absolute path inside the app, e.g. appPath("images", sha) → /plugin/gallery/images/<sha>. */
export const useAppPath = () => {
  const root = useContext(RootContext);

  return (...parts: string[]) => [root, ...parts.map(encodeURIComponent)].join("/");
};
