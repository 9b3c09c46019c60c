// The one way pages talk to the API: openapi-fetch over the generated types, so every path,
// parameter and body is checked against /openapi.json at build time. The session is the
// HttpOnly cookie; the CSRF token lives in memory only (never in localStorage).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./api-types";
import { currentLanguage } from "./i18n";

export type Schemas = components["schemas"];

let csrfToken: string | null = null;

export function rememberCsrf(token: string | null | undefined): void {
  csrfToken = token ?? null;
}

/** An API refusal: its `error` code, its message in the chosen language, and its `field`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null,
  ) {
    super(message);
  }
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

const headersMiddleware: Middleware = {
  onRequest({ request }) {
    request.headers.set("Accept-Language", currentLanguage());
    if (csrfToken && WRITES.has(request.method)) request.headers.set("X-CSRF-Token", csrfToken);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(headersMiddleware);

type Result<T> = { data?: T; error?: unknown; response: Response };

/** The data of a successful answer, or an ApiError carrying the server's `field`. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  const body = (error ?? {}) as { error?: string; message?: string; field?: string | null };
  throw new ApiError(response.status, body.error ?? "http_error", body.message ?? response.statusText, body.field ?? null);
}

/** Plain GETs for downloads and text the generated client does not shape (CSV, HTML). */
export async function fetchText(url: string): Promise<string> {
  const response = await fetch(url, { headers: { "Accept-Language": currentLanguage() }, credentials: "same-origin" });
  if (!response.ok) throw new ApiError(response.status, "http_error", response.statusText, null);
  return response.text();
}

/** A fresh Idempotency-Key, so a retried submit never runs twice. */
export function newIdempotencyKey(): string {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
