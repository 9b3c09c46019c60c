import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../lib/api";

export function useBalances(orgId: string | undefined) {
  return useQuery({
    queryKey: ["balances", orgId],
    queryFn: () => unwrap(api.GET("/v1/wallets/{org_id}/balances", { params: { path: { org_id: orgId! } } })),
    enabled: Boolean(orgId),
  });
}

export function useStatement(orgId: string | undefined, offset: number, limit: number) {
  return useQuery({
    queryKey: ["statement", orgId, offset, limit],
    queryFn: () => unwrap(api.GET("/v1/wallets/{org_id}/statement", { params: { path: { org_id: orgId! }, query: { offset, limit } } })),
    enabled: Boolean(orgId),
    placeholderData: keepPreviousData,
  });
}

export type MonthTotals = { total_amount_fen: number; total_subsidy_fen: number; total_payable_fen: number; lines: unknown[] };

export function useMonth(orgId: string | undefined, month: string) {
  return useQuery({
    queryKey: ["month", orgId, month],
    queryFn: async () =>
      (await unwrap(api.GET("/v1/statements/{org_id}/{month}", { params: { path: { org_id: orgId!, month }, query: { format: "json" } } }))) as MonthTotals,
    enabled: Boolean(orgId),
  });
}

export function statementUrl(orgId: string, month: string, format: "csv" | "html"): string {
  return `/v1/statements/${encodeURIComponent(orgId)}/${month}?format=${format}`;
}
