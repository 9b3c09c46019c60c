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

/** An API refusal: its `error` code, its message in the chosen language, and its `field`.
 * An answer with no JSON body (a proxy's 502 page) has the code "http_error": its message is
 * the HTTP status text, in English whatever the reader's language, so pages show their own
 * words for it (errorText in forms.ts). */
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

/** The 401 codes that mean the session is over (ended elsewhere, expired, or gone): the
 * portal then drops what it cached and asks the user to sign in again. A wrong password
 * (login_failed) or a missing second factor (totp_required) is the sign-in form's business. */
export const SESSION_ENDED_CODES = ["credential_revoked", "credential_expired", "not_authenticated"] as const;

let sessionEnded: ((code: string) => void) | null = null;

/** The one listener (the app shell) told when any API call finds the session over. */
export function onSessionEnded(listener: ((code: string) => void) | null): void {
  sessionEnded = listener;
}

export function reportSessionEnded(status: number, code: string | undefined): void {
  if (status === 401 && code && (SESSION_ENDED_CODES as readonly string[]).includes(code)) sessionEnded?.(code);
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** A write sent before the page's first /v1/auth/me answered (a fast click after a reload)
 * would carry no CSRF token and be refused: ask for the token first. */
async function csrfForWrite(): Promise<string | null> {
  if (csrfToken) return csrfToken;
  const response = await fetch("/v1/auth/me", { credentials: "same-origin" });
  if (response.ok) rememberCsrf(((await response.json()) as { csrf_token?: string | null }).csrf_token);
  return csrfToken;
}

const headersMiddleware: Middleware = {
  async onRequest({ request }) {
    request.headers.set("Accept-Language", currentLanguage());
    if (!WRITES.has(request.method)) return request;
    const token = await csrfForWrite();
    if (token) request.headers.set("X-CSRF-Token", token);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(headersMiddleware);

export const HTTP_ERROR = "http_error";

type Result<T> = { data?: T; error?: unknown; response: Response };
type ErrorBody = { error?: string; message?: string; field?: string | null };

/** The ApiError for a refused answer, from its parsed JSON body if it had one (telling the
 * shell first when the session is over). */
export function refusal(response: Response, error: unknown): ApiError {
  const body = (typeof error === "object" && error !== null ? error : {}) as ErrorBody;
  reportSessionEnded(response.status, body.error);
  if (!body.message) return new ApiError(response.status, HTTP_ERROR, response.statusText, null);
  return new ApiError(response.status, body.error ?? HTTP_ERROR, body.message, body.field ?? null);
}

/** The data of a successful answer, or an ApiError carrying the server's `field`. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  throw refusal(response, error);
}

/** Plain GETs for downloads and text the generated client does not shape (CSV, HTML). */
export async function fetchText(url: string): Promise<string> {
  const response = await fetch(url, { headers: { "Accept-Language": currentLanguage() }, credentials: "same-origin" });
  if (!response.ok) throw refusal(response, await response.json().catch(() => null));
  return response.text();
}

/** A fresh Idempotency-Key, so a retried submit never runs twice. */
export function newIdempotencyKey(): string {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
