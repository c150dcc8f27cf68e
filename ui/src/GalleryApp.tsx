import { Box, Flex, Heading, Link } from "@chakra-ui/react";
import { NavLink, Navigate, Route, Routes, useLocation, useParams } from "react-router-dom";

import { RootContext } from "src/components/root";

import { AnalyticsPage } from "src/pages/AnalyticsPage";
import { DetailPage } from "src/pages/DetailPage";
import { EditorPage } from "src/pages/EditorPage";
import { GalleryPage } from "src/pages/GalleryPage";
import { ProblemsPage } from "src/pages/ProblemsPage";
import { RequestPage } from "src/pages/RequestPage";
import { UploadPage } from "src/pages/UploadPage";

const TABS = [
  { label: "Browse", to: "browse" },
  { label: "Upload", to: "upload" },
  { label: "Request", to: "request" },
  { label: "Analytics", to: "analytics" },
  { label: "Problems", to: "problems" },
  { label: "Trash", to: "trash" },
];

const Tabs = ({ root }: { root: string }) => (
  <Flex aria-label="Gallery sections" as="nav" borderBottomWidth="1px" borderColor="border" gap={1} mb={4}>
    {TABS.map((tab) => (
      <Link asChild key={tab.to}>
        <NavLink to={`${root}/${tab.to}`}>
          {({ isActive }) => (
            <Box
              aria-current={isActive ? "page" : undefined}
              borderBottomWidth="2px"
              borderColor={isActive ? "colorPalette.solid" : "transparent"}
              color={isActive ? "fg" : "fg.muted"}
              colorPalette="blue"
              fontWeight={isActive ? "semibold" : "normal"}
              px={3}
              py={2}
            >
              {tab.label}
            </Box>
          )}
        </NavLink>
      </Link>
    ))}
  </Flex>
);

export const GalleryApp = () => {
  // The app's own path under the host router (e.g. /plugin/gallery), for absolute links in the pages.
  // (The host's route is plugin/:page/*; the part the splat matched is ours.)
  const { pathname } = useLocation();
  const splat = useParams()["*"] ?? "";
  const root = (splat !== "" && pathname.endsWith(splat) ? pathname.slice(0, -splat.length) : pathname).replace(/\/+$/u, "");

  return (
  <RootContext.Provider value={root}>
  <Box data-testid="gallery-app" p={2}>
    <Heading as="h1" mb={2} size="xl">
      Gallery
    </Heading>
    <Tabs root={root} />
    <Routes>
      <Route element={<Navigate replace to={`${root}/browse`} />} index />
      <Route element={<GalleryPage key="browse" />} path="browse" />
      <Route element={<GalleryPage key="trash" trash />} path="trash" />
      <Route element={<DetailPage />} path="images/:sha256" />
      <Route element={<EditorPage />} path="images/:sha256/edit" />
      <Route element={<UploadPage />} path="upload" />
      <Route element={<RequestPage />} path="request" />
      <Route element={<AnalyticsPage />} path="analytics" />
      <Route element={<ProblemsPage />} path="problems" />
      <Route element={<Navigate replace to={`${root}/browse`} />} path="*" />
    </Routes>
  </Box>
  </RootContext.Provider>
  );
};
