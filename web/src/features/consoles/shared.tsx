// Pieces every console page shares: a server-paged table's state, a form submit that puts
// the server's `field` refusal next to its field, and money inputs in yuan sent as fen.
import { keepPreviousData, useQuery, useQueryClient, type QueryKey } from "@tanstack/react-query";
import { App, InputNumber, type FormInstance, type TablePaginationConfig } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ApiError } from "../../lib/api";
import { errorText } from "../../lib/forms";

/** A form field and the server field it is sent as, when they differ (¥ in the form, fen
 * on the wire): ["amount", "amount_fen"]. */
export type FieldName = string | [form: string, server: string];

function showFieldError(form: FormInstance, error: unknown, fields: FieldName[]): boolean {
  if (!(error instanceof ApiError) || !error.field) return false;
  const served = error.field;
  for (const entry of fields) {
    const [name, server] = typeof entry === "string" ? [entry, entry] : entry;
    if (served === server || served.endsWith(`.${server}`)) {
      form.setFields([{ name, errors: [error.message] }]);
      return true;
    }
  }
  return false;
}

export const PAGE_SIZE = 20;

export type Paged<T> = { items: T[]; total: number; offset: number; limit: number };

/** A table paged on the server: the query runs with the current offset and limit (not
 * before `enabled`, e.g. until the signed-in user's organisation is known). */
export function useServerTable<T>(key: QueryKey, fetchPage: (offset: number, limit: number) => Promise<Paged<T>>, refetchMs?: number, enabled = true) {
  const [page, setPage] = useState({ offset: 0, limit: PAGE_SIZE });
  const query = useQuery({
    queryKey: [...key, page.offset, page.limit],
    queryFn: () => fetchPage(page.offset, page.limit),
    placeholderData: keepPreviousData,
    refetchInterval: refetchMs,
    enabled,
  });
  const { t } = useTranslation();
  const pagination: TablePaginationConfig = {
    current: page.offset / page.limit + 1,
    pageSize: page.limit,
    total: query.data?.total ?? 0,
    showTotal: (total) => t("common.total", { total }),
    onChange: (current, pageSize) => setPage({ offset: (current - 1) * pageSize, limit: pageSize }),
  };
  return { query, rows: query.data?.items ?? [], pagination, reset: () => setPage((p) => ({ ...p, offset: 0 })) };
}

/** Runs a write; on a refusal shows the server's message next to the field it names (or
 * as a message when it names none); refreshes the given queries on success. */
export function useSubmit() {
  const { message } = App.useApp();
  const client = useQueryClient();
  const { t } = useTranslation();
  return async function submit<T>(form: FormInstance | null, fields: FieldName[], call: () => Promise<T>, refresh: QueryKey[] = []): Promise<T | null> {
    try {
      const result = await call();
      await Promise.all(refresh.map((queryKey) => client.invalidateQueries({ queryKey })));
      message.success(t("consoles.saved"));
      return result;
    } catch (error) {
      if (!form || !showFieldError(form, error, fields)) message.error(errorText(error));
      return null;
    }
  };
}

/** ¥ with two decimals in the field; the form value is yuan, sent as integer fen. */
export function YuanInput(props: { id?: string; value?: number; onChange?: (v: number | null) => void; "aria-label"?: string }) {
  return <InputNumber {...props} min={0} step={0.01} precision={2} prefix="¥" style={{ width: "100%" }} />;
}

export const required = (message: string) => [{ required: true, message }];
