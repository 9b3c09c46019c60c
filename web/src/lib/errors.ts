// What a page says when a request fails: the API's own message (already in the reader's
// language), or the portal's words when there is none to show: a network failure (fetch's
// "TypeError: Failed to fetch") or an answer without a JSON body (a proxy's "Bad Gateway").
import { ApiError, HTTP_ERROR } from "./api";
import i18n from "./i18n";

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.code === HTTP_ERROR ? i18n.t("errors.server", { status: error.status }) : error.message;
  return i18n.t("errors.network");
}
