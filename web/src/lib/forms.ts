import type { FormInstance } from "antd";
import { ApiError } from "./api";

export { errorText } from "./errors";

/** Shows the server's refusal next to the field it names; returns false when no field matched. */
export function showServerError(form: FormInstance, error: unknown, fields: string[]): boolean {
  if (!(error instanceof ApiError) || !error.field) return false;
  const name = fields.find((field) => field === error.field || error.field?.endsWith(`.${field}`));
  if (!name) return false;
  form.setFields([{ name, errors: [error.message] }]);
  return true;
}
