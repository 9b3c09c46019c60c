// The operator console's queries.
import { useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../../lib/api";

export type Organisation = Schemas["OrganisationPublic"];
export type RecordedCheck = Schemas["RecordedCheckPublic"];

export function useOrganisations(state?: "pending" | "active" | "rejected" | "suspended") {
  return useQuery({
    queryKey: ["operator", "organisations", state ?? "all"],
    queryFn: () => unwrap(api.GET("/v1/organisations", { params: { query: { state } } })),
  });
}

export function usePlatformAccounts() {
  return useQuery({ queryKey: ["operator", "platform"], queryFn: () => unwrap(api.GET("/v1/ledger/platform")) });
}
