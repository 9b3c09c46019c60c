// Jobs: quote, submit, list, detail, logs, usage; live pages poll until the job is final.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, newIdempotencyKey, unwrap, type Schemas } from "../../lib/api";

export type JobSpec = Schemas["JobSpecIn"];
export type Job = Schemas["JobPublic"];
export type Quote = Schemas["QuotePublic"];
export const FINAL_STATES = new Set(["succeeded", "failed", "cancelled", "timed_out", "rejected"]);
const LIVE_REFRESH_MS = 2000;

export function useQuote(spec: JobSpec | null) {
  return useQuery({
    queryKey: ["quote", spec],
    queryFn: () => unwrap(api.POST("/v1/jobs/quote", { body: spec! })),
    enabled: spec !== null,
    placeholderData: keepPreviousData,
    retry: false,
  });
}

export function useSubmitJob() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (spec: JobSpec) =>
      unwrap(api.POST("/v1/jobs", { body: spec, headers: { "Idempotency-Key": newIdempotencyKey() } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["jobs"] }),
  });
}

export function useJobs(state: string | undefined, offset: number, limit: number) {
  return useQuery({
    queryKey: ["jobs", state, offset, limit],
    queryFn: () => unwrap(api.GET("/v1/jobs", { params: { query: { state, offset, limit } } })),
    placeholderData: keepPreviousData,
    refetchInterval: LIVE_REFRESH_MS * 2,
  });
}

export function useJob(jobId: string) {
  return useQuery({
    queryKey: ["job", jobId],
    queryFn: () => unwrap(api.GET("/v1/jobs/{job_id}", { params: { path: { job_id: jobId } } })),
    refetchInterval: (query) => (query.state.data && FINAL_STATES.has(query.state.data.state) ? false : LIVE_REFRESH_MS),
  });
}

export async function readLog(jobId: string, offset: number) {
  return unwrap(api.GET("/v1/jobs/{job_id}/logs", { params: { path: { job_id: jobId }, query: { offset } } }));
}

export function useUsage(jobId: string, final: boolean) {
  return useQuery({
    queryKey: ["usage", jobId],
    queryFn: async () => {
      const { data, response } = await api.GET("/v1/jobs/{job_id}/usage", { params: { path: { job_id: jobId } } });
      return response.ok ? data ?? null : null;
    },
    enabled: final,
    refetchInterval: (query) => (query.state.data ? false : LIVE_REFRESH_MS),
  });
}

export type BillLine = {
  job_id: string;
  amount_fen: number;
  subsidy_fen: number;
  subsidy_note: string;
  payable_fen: number;
  card_hours: string;
  unit_price_fen_per_card_hour: number;
};

/** The job's line in its month's statement (Beijing month of its end). */
export function useBillLine(orgId: string | undefined, jobId: string, month: string | null) {
  return useQuery({
    queryKey: ["bill", orgId, jobId, month],
    queryFn: async () => {
      const statement = (await unwrap(
        api.GET("/v1/statements/{org_id}/{month}", { params: { path: { org_id: orgId!, month: month! }, query: { format: "json" } } }),
      )) as { lines: BillLine[] };
      return statement.lines.find((line) => line.job_id === jobId) ?? null;
    },
    enabled: Boolean(orgId && month),
    refetchInterval: (query) => (query.state.data ? false : LIVE_REFRESH_MS),
  });
}
