// The agency console's queries: its programs, the applications to them, a program's report.
import { useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../../lib/api";
import { useMe } from "../../lib/auth";

export type Program = Schemas["ProgramPublic"];
export type Application = Schemas["ApplicationPublic"];

export type SubsidyBy = { key: string; name: string; subsidy_fen: number; orders: number; domestic: boolean | null; share_bp: number };
export type Report = {
  program_id: string;
  program_name: string;
  budget_fen: number;
  totals: { funded_fen: number; committed_fen: number; paid_fen: number; remaining_fen: number };
  burn_down: { day: string; funded_fen: number; committed_fen: number; paid_fen: number; remaining_fen: number; paid_on_day_fen: number }[];
  by_enterprise: SubsidyBy[];
  by_vendor: SubsidyBy[];
  domestic_share_bp: number;
  refused: { outcome: string; orders: number; wanted_fen: number }[];
};

/** The most programs the report's picker lists (the API's page limit). */
const PICKER_PROGRAMS_MAX = 500;

export function fetchMyPrograms(agency: string | undefined, offset: number, limit: number) {
  return unwrap(api.GET("/v1/vouchers/programs", { params: { query: { agency_id: agency, offset, limit } } }));
}

/** One page of the agency's programs, for the report's picker. */
export function useMyPrograms() {
  const me = useMe();
  const agency = me.data?.org_id;
  return useQuery({
    queryKey: ["agency", "programs", "picker", agency],
    queryFn: () => fetchMyPrograms(agency, 0, PICKER_PROGRAMS_MAX),
    enabled: Boolean(agency),
  });
}

export function useReport(programId: string | undefined) {
  return useQuery({
    queryKey: ["agency", "report", programId],
    queryFn: async () => (await unwrap(api.GET("/v1/vouchers/programs/{program_id}/report", { params: { path: { program_id: programId ?? "" } } }))) as unknown as Report,
    enabled: Boolean(programId),
    refetchInterval: 10_000,
  });
}
