// Every page is its own chunk (React.lazy through the router's `lazy`): the first page loads
// only the shell and itself, and ECharts only where a chart is drawn.
import { createBrowserRouter } from "react-router-dom";
import { PortalLayout } from "./PortalLayout";
import { RequireSignIn } from "./RequireSignIn";

function page(load: () => Promise<{ default: React.ComponentType }>) {
  return async () => ({ Component: (await load()).default });
}

export const router = createBrowserRouter([
  // The city dashboard (大屏) fills the screen: outside the portal's layout, public like its API.
  { path: "dashboard", lazy: page(() => import("../features/dashboard/DashboardPage")) },
  {
    element: <PortalLayout />,
    children: [
      { index: true, lazy: page(() => import("../features/public/OverviewPage")) },
      { path: "market", lazy: page(() => import("../features/public/MarketPage")) },
      { path: "market/compare", lazy: page(() => import("../features/public/ComparePage")) },
      { path: "programs", lazy: page(() => import("../features/public/ProgramsPage")) },
      { path: "scenes", lazy: page(() => import("../features/public/ScenesPage")) },
      { path: "sign-in", lazy: page(() => import("../features/auth/SignInPage")) },
      {
        path: "console",
        element: <RequireSignIn />,
        children: [
          { path: "home", lazy: page(() => import("../features/home/HomePage")) },
          { path: "submit", lazy: page(() => import("../features/compute/SubmitPage")) },
          { path: "jobs", lazy: page(() => import("../features/compute/JobsPage")) },
          { path: "jobs/:jobId", lazy: page(() => import("../features/compute/JobPage")) },
          { path: "wallet", lazy: page(() => import("../features/money/WalletPage")) },
          { path: "vouchers", lazy: page(() => import("../features/vouchers/VouchersPage")) },
          { path: "scenes", lazy: page(() => import("../features/scenes/ScenesConsolePage")) },
        ],
      },
      { path: "console/provider/connections", lazy: page(() => import("../features/provider/ConnectionsPage")) },
      { path: "console/provider/pools", lazy: page(() => import("../features/provider/PoolsPage")) },
      { path: "console/provider/jobs", lazy: page(() => import("../features/provider/JobsPage")) },
      { path: "console/provider/money", lazy: page(() => import("../features/provider/MoneyPage")) },
      { path: "console/agency/programs", lazy: page(() => import("../features/agency/ProgramsPage")) },
      { path: "console/agency/review", lazy: page(() => import("../features/agency/ReviewPage")) },
      { path: "console/agency/report", lazy: page(() => import("../features/agency/ReportPage")) },
      { path: "console/agency/opportunities", lazy: page(() => import("../features/agency/OpportunitiesPage")) },
      { path: "console/agency/challenges", lazy: page(() => import("../features/agency/ChallengesPage")) },
      { path: "console/operator/organisations", lazy: page(() => import("../features/operator/OrganisationsPage")) },
      { path: "console/operator/connections", lazy: page(() => import("../features/operator/ConnectionsPage")) },
      { path: "console/operator/money", lazy: page(() => import("../features/operator/MoneyPage")) },
      { path: "console/operator/ledger", lazy: page(() => import("../features/operator/LedgerPage")) },
      { path: "*", lazy: page(() => import("../features/public/NotFoundPage")) },
    ],
  },
]);
