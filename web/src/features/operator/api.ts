// The operator console's queries.
import { useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../../lib/api";

export type Organisation = Schemas["OrganisationPublic"];
export type OrganisationState = "pending" | "active" | "rejected" | "suspended";
export type Connection = Schemas["ConnectionPublic"];
export type RecordedCheck = Schemas["RecordedCheckPublic"];

/** The most organisations a picker lists (the API's page limit): the operator chooses among
 * the active organisations of one kind. */
export const PICKER_ORGANISATIONS_MAX = 500;

/** One page of organisations, for a server-paged table. */
export function fetchOrganisations(state: OrganisationState | undefined, offset: number, limit: number) {
  return unwrap(api.GET("/v1/organisations", { params: { query: { state, offset, limit } } }));
}

/** The active organisations of one kind, for a picker. */
export function useActiveOrganisations(kind: "provider" | "enterprise" | "agency") {
  return useQuery({
    queryKey: ["operator", "organisations", "active", kind],
    queryFn: () => unwrap(api.GET("/v1/organisations", { params: { query: { state: "active", kind, limit: PICKER_ORGANISATIONS_MAX } } })),
  });
}

/** One page of cluster connections in a review state (every provider's: the operator's). */
export function fetchConnections(reviewState: "pending" | "approved" | "rejected", offset: number, limit: number) {
  return unwrap(api.GET("/v1/connections", { params: { query: { review_state: reviewState, offset, limit } } }));
}

export function usePlatformAccounts() {
  return useQuery({ queryKey: ["operator", "platform"], queryFn: () => unwrap(api.GET("/v1/ledger/platform")) });
}
