// The role menu: one entry list per kind of organisation. The provider, agency and operator
// consoles (issue 17) list their pages here and in router.tsx.
export type MenuEntry = { path: string; label: string };

export const PUBLIC_MENU: MenuEntry[] = [
  { path: "/", label: "nav.overview" },
  { path: "/market", label: "nav.market" },
  { path: "/programs", label: "nav.programs" },
  { path: "/scenes", label: "nav.scenes" },
];

export const CONSOLE_MENUS: Record<string, MenuEntry[]> = {
  enterprise: [
    { path: "/console/home", label: "nav.home" },
    { path: "/console/submit", label: "nav.submit" },
    { path: "/console/jobs", label: "nav.jobs" },
    { path: "/console/wallet", label: "nav.wallet" },
    { path: "/console/vouchers", label: "nav.vouchers" },
    { path: "/console/scenes", label: "nav.myScenes" },
  ],
  provider: [
    { path: "/console/provider/pools", label: "nav.pools" },
    { path: "/console/provider/connections", label: "nav.connections" },
    { path: "/console/provider/jobs", label: "nav.providerJobs" },
    { path: "/console/provider/money", label: "nav.receivables" },
  ],
  agency: [
    { path: "/console/agency/programs", label: "nav.agencyPrograms" },
    { path: "/console/agency/review", label: "nav.review" },
    { path: "/console/agency/report", label: "nav.report" },
    { path: "/console/agency/opportunities", label: "nav.opportunities" },
    { path: "/console/agency/challenges", label: "nav.challenges" },
  ],
  operator: [
    { path: "/console/operator/organisations", label: "nav.organisations" },
    { path: "/console/operator/connections", label: "nav.connectionReview" },
    { path: "/console/operator/money", label: "nav.money" },
    { path: "/console/operator/ledger", label: "nav.ledger" },
    { path: "/dashboard", label: "nav.dashboard" },
  ],
};

export function consoleHome(orgKind: string): string {
  return CONSOLE_MENUS[orgKind]?.[0]?.path ?? "/";
}

/** The kind of organisation whose console holds the page: the kind whose menu lists it (or a
 * page under one of its entries, /console/jobs/job_1 under /console/jobs); null for a page
 * no console lists (/console itself). */
export function consoleKindOf(pathname: string): string | null {
  for (const [kind, entries] of Object.entries(CONSOLE_MENUS)) {
    const owns = entries.some(({ path }) => path.startsWith("/console/") && (pathname === path || pathname.startsWith(`${path}/`)));
    if (owns) return kind;
  }
  return null;
}

/** Where to go after signing in: the page the user was sent away from when it is a page of
 * this portal they may open, else their console's first page. */
export function afterSignIn(orgKind: string, next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/sign-in")) return consoleHome(orgKind);
  const owner = consoleKindOf(next.split(/[?#]/)[0]);
  return owner === null || owner === orgKind ? next : consoleHome(orgKind);
}
