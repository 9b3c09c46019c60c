// Every page is its own chunk (React.lazy through the router's `lazy`): the first page loads
// only the shell and itself, and ECharts only where a chart is drawn.
import { createBrowserRouter } from "react-router-dom";
import { PortalLayout } from "./PortalLayout";
import { ConsoleIndex, RequireSignIn } from "./RequireSignIn";

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
        // Every console page: signed in, and in the console of the user's kind (RequireSignIn).
        path: "console",
        element: <RequireSignIn />,
        children: [
          { index: true, element: <ConsoleIndex /> },
          { path: "home", lazy: page(() => import("../features/home/HomePage")) },
          { path: "submit", lazy: page(() => import("../features/compute/SubmitPage")) },
          { path: "jobs", lazy: page(() => import("../features/compute/JobsPage")) },
          { path: "jobs/:jobId", lazy: page(() => import("../features/compute/JobPage")) },
          { path: "wallet", lazy: page(() => import("../features/money/WalletPage")) },
          { path: "vouchers", lazy: page(() => import("../features/vouchers/VouchersPage")) },
          { path: "scenes", lazy: page(() => import("../features/scenes/ScenesConsolePage")) },
          { path: "provider/connections", lazy: page(() => import("../features/provider/ConnectionsPage")) },
          { path: "provider/pools", lazy: page(() => import("../features/provider/PoolsPage")) },
          { path: "provider/jobs", lazy: page(() => import("../features/provider/JobsPage")) },
          { path: "provider/money", lazy: page(() => import("../features/provider/MoneyPage")) },
          { path: "agency/programs", lazy: page(() => import("../features/agency/ProgramsPage")) },
          { path: "agency/review", lazy: page(() => import("../features/agency/ReviewPage")) },
          { path: "agency/report", lazy: page(() => import("../features/agency/ReportPage")) },
          { path: "agency/opportunities", lazy: page(() => import("../features/agency/OpportunitiesPage")) },
          { path: "agency/challenges", lazy: page(() => import("../features/agency/ChallengesPage")) },
          { path: "operator/organisations", lazy: page(() => import("../features/operator/OrganisationsPage")) },
          { path: "operator/connections", lazy: page(() => import("../features/operator/ConnectionsPage")) },
          { path: "operator/money", lazy: page(() => import("../features/operator/MoneyPage")) },
          { path: "operator/ledger", lazy: page(() => import("../features/operator/LedgerPage")) },
        ],
      },
      { path: "*", lazy: page(() => import("../features/public/NotFoundPage")) },
    ],
  },
]);
