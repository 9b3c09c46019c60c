// The signed-in user, from GET /v1/auth/me (the cookie is HttpOnly: the page never sees it).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, refusal, rememberCsrf, reportSessionEnded, unwrap, type Schemas } from "./api";

export type Me = Schemas["MePublic"];

export function useMe() {
  const client = useQueryClient();
  return useQuery({
    queryKey: ["me"],
    queryFn: async (): Promise<Me | null> => {
      const { data, error, response } = await api.GET("/v1/auth/me");
      if (response.status === 401) {
        // A visitor is simply not signed in; a user whose session ended meanwhile is told why.
        if (client.getQueryData<Me | null>(["me"])) reportSessionEnded(401, (error as { error?: string } | undefined)?.error);
        return null;
      }
      if (!response.ok || !data) throw refusal(response, error);
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
    const answer = await api.POST("/v1/auth/logout");
    // A session already ended elsewhere is signed out all the same.
    if (answer.response.status !== 401) await unwrap(Promise.resolve(answer));
    rememberCsrf(null);
    client.clear();
  };
}
