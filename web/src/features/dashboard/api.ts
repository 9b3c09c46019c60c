// The city dashboard's one query: public, re-read every few seconds while the screen is open.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../../lib/api";

export type Dashboard = Schemas["DashboardPublic"];
export const REFRESH_MS = 5_000; // the goal is ≤ 10 s; the server keeps each answer 5 s

export function useDashboard(hours: number) {
  return useQuery({
    queryKey: ["public", "dashboard", hours],
    queryFn: () => unwrap(api.GET("/v1/public/dashboard", { params: { query: { hours } } })),
    refetchInterval: REFRESH_MS,
    refetchIntervalInBackground: true,
    placeholderData: keepPreviousData,
  });
}
