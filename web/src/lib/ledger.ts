// A statement line's words: why the money moved, and where a hold stands, in the reader's
// language (the API sends codes: top_up, job_hold, posted, voided...).
import type { TFunction } from "i18next";
import { yuan } from "./format";

export function transferKind(t: TFunction, code: string): string {
  return t(`ledger.codes.${code}`, { defaultValue: code }); // a code newer than the portal shows as sent
}

/** The line's amount: a hold's with where it stands now ("¥0.60（已结算）"), else the signed one. */
export function lineAmount(t: TFunction, line: { signed_fen: number; amount_fen: number; hold_state: string | null }): string {
  if (!line.hold_state) return yuan(line.signed_fen);
  const state = t(`ledger.holdStates.${line.hold_state}`, { defaultValue: line.hold_state });
  return t("ledger.heldAmount", { amount: yuan(line.amount_fen), state });
}
