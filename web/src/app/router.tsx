// Every page is its own chunk (React.lazy through the router's `lazy`): the first page loads
// only the shell and itself, and ECharts only where a chart is drawn.
import { createBrowserRouter } from "react-router-dom";
import { PortalLayout } from "./PortalLayout";

function page(load: () => Promise<{ default: React.ComponentType }>) {
  return async () => ({ Component: (await load()).default });
}

export const router = createBrowserRouter([
  {
    element: <PortalLayout />,
    children: [
      { index: true, lazy: page(() => import("../features/public/OverviewPage")) },
      { path: "market", lazy: page(() => import("../features/public/MarketPage")) },
      { path: "market/compare", lazy: page(() => import("../features/public/ComparePage")) },
      { path: "programs", lazy: page(() => import("../features/public/ProgramsPage")) },
      { path: "scenes", lazy: page(() => import("../features/public/ScenesPage")) },
      { path: "sign-in", lazy: page(() => import("../features/auth/SignInPage")) },
      { path: "console/provider", lazy: page(() => import("../features/consoles/ConsolePlaceholder")) },
      { path: "console/agency", lazy: page(() => import("../features/consoles/ConsolePlaceholder")) },
      { path: "console/operator", lazy: page(() => import("../features/consoles/ConsolePlaceholder")) },
      { path: "*", lazy: page(() => import("../features/public/NotFoundPage")) },
    ],
  },
]);
