// The city dashboard's one query: public, re-read every few seconds while the screen is open.
// What the page keeps across refreshes is bounded: TanStack Query holds one answer per window
// (24, 72 or 168 hours: at most three entries), and each answer's utilisation series is the
// server's fixed 24 buckets, replaced (never appended to) on each refresh.
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

export function useDashboard(hours: number, intervalMs: number = REFRESH_MS) {
  return useQuery({
    queryKey: ["public", "dashboard", hours],
    queryFn: () => unwrap(api.GET("/v1/public/dashboard", { params: { query: { hours } } })),
    refetchInterval: intervalMs,
    refetchIntervalInBackground: true,
    placeholderData: keepPreviousData,
  });
}
