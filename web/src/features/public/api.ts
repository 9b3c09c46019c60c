// The public storefront's queries (no sign-in): /v1/public/...
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, ApiError, unwrap, type Schemas } from "../../lib/api";

export type Product = Schemas["ProductPublic"];
export type ProductFilters = {
  accelerator?: string[];
  vendor?: string[];
  domestic?: boolean;
  region?: string;
  price_min_fen?: number;
  price_max_fen?: number;
  free_cards_min?: number;
  sort?: "price" | "-price" | "cards" | "-cards" | "newest";
  offset: number;
  limit: number;
};

export function useOverview() {
  return useQuery({ queryKey: ["public", "overview"], queryFn: () => unwrap(api.GET("/v1/public/overview")) });
}

/** A refusal (4xx) is the visitor's input: asking again cannot help, so it shows at once. */
function retryUnlessRefused(failures: number, error: unknown): boolean {
  return !(error instanceof ApiError && error.status < 500) && failures < 1;
}

export function useProducts(filters: ProductFilters) {
  // The language is in the key so that a refusal's message follows a language switch.
  const { i18n } = useTranslation();
  return useQuery({
    queryKey: ["public", "pools", filters, i18n.language],
    queryFn: () => unwrap(api.GET("/v1/public/pools", { params: { query: filters } })),
    placeholderData: keepPreviousData,
    retry: retryUnlessRefused,
  });
}

export function useCompared(ids: string[]) {
  return useQuery({
    queryKey: ["public", "compare", ids],
    queryFn: () => unwrap(api.GET("/v1/public/pools", { params: { query: { ids, limit: 4 } } })),
    enabled: ids.length > 1, // one product is no comparison: the page asks for more
  });
}

export function usePrograms(offset: number, limit: number) {
  return useQuery({
    queryKey: ["public", "programs", offset, limit],
    queryFn: () => unwrap(api.GET("/v1/public/programs", { params: { query: { offset, limit } } })),
    placeholderData: keepPreviousData,
  });
}

export function usePublishedScenes(kind: "opportunities" | "capabilities", offset: number, limit: number) {
  return useQuery({
    queryKey: ["public", "scenes", kind, offset, limit],
    queryFn: () => unwrap(api.GET("/v1/public/scenes/{kind}", { params: { path: { kind }, query: { offset, limit } } })),
    placeholderData: keepPreviousData,
  });
}
