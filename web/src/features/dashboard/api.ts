// The city dashboard's one query: public, re-read every few seconds while the screen is open.
// What the page keeps across refreshes is bounded: TanStack Query holds one answer per window
// (24, 72 or 168 hours: at most three entries), and each answer's utilisation series is the
// server's fixed 24 buckets, replaced (never appended to) on each refresh.
// One observer refreshes (`useDashboard`, in the page, which re-renders only when the query
// fails or first answers); each part of the screen reads its own part of the answer
// (`useDashboardPart`), so a refresh re-renders only the parts whose figures changed.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../../lib/api";

export type Dashboard = Schemas["DashboardPublic"];
export const REFRESH_MS = 5_000; // the goal is ≤ 10 s; the server keeps each answer 5 s
export const REFRESH_MS_MIN = 200;
export const REFRESH_MS_MAX = 10_000;

/** The refresh interval: 5 s, or `?refresh_ms=N` (200..10000) in the address, which the heap
 * test and `suanli bench dashboard --refresh-ms` use to run many refreshes in little time. */
export function refreshMs(search: string): number {
  const asked = Number(new URLSearchParams(search).get("refresh_ms"));
  if (!Number.isFinite(asked) || asked <= 0) return REFRESH_MS;
  return Math.min(REFRESH_MS_MAX, Math.max(REFRESH_MS_MIN, Math.round(asked)));
}

function query(hours: number) {
  return {
    queryKey: ["public", "dashboard", hours],
    queryFn: () => unwrap(api.GET("/v1/public/dashboard", { params: { query: { hours } } })),
    placeholderData: keepPreviousData,
  };
}

/** The refreshing observer. Read only `isPending`, `isError` and `error` from it: TanStack
 * Query re-renders a component only for the fields it read, so its caller does not re-render
 * on every answer. */
export function useDashboard(hours: number, intervalMs: number = REFRESH_MS) {
  return useQuery({ ...query(hours), refetchInterval: intervalMs, refetchIntervalInBackground: true });
}

/** One part of the latest answer (`part` must be a stable function: a module-level one). The
 * part is structurally shared, so it keeps its identity, and its component does not
 * re-render, while it is equal from one answer to the next. Undefined before the first. */
export function useDashboardPart<P>(hours: number, part: (data: Dashboard) => P): P | undefined {
  return useQuery({ ...query(hours), select: part }).data;
}
