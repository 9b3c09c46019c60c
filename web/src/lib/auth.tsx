// The signed-in user, from GET /v1/auth/me (the cookie is HttpOnly: the page never sees it).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, rememberCsrf, unwrap, type Schemas } from "./api";

export type Me = Schemas["MePublic"];

export function useMe() {
  return useQuery({
    queryKey: ["me"],
    queryFn: async (): Promise<Me | null> => {
      const { data, response } = await api.GET("/v1/auth/me");
      if (response.status === 401) return null;
      if (!response.ok || !data) throw new Error(response.statusText);
      rememberCsrf(data.csrf_token);
      return data;
    },
    staleTime: 60_000,
    retry: false,
  });
}

export function useSignOut() {
  const client = useQueryClient();
  return async () => {
    await unwrap(api.POST("/v1/auth/logout"));
    rememberCsrf(null);
    client.clear();
  };
}
