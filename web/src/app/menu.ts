// The role menu: one entry list per kind of organisation. The provider, agency and operator
// consoles (issue 17) add their pages here and in router.tsx; until then they are placeholders.
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
  provider: [{ path: "/console/provider", label: "nav.providerConsole" }],
  agency: [{ path: "/console/agency", label: "nav.agencyConsole" }],
  operator: [{ path: "/console/operator", label: "nav.operatorConsole" }],
};

export function consoleHome(orgKind: string): string {
  return CONSOLE_MENUS[orgKind]?.[0]?.path ?? "/";
}
