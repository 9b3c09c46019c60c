// Months and days as Beijing sees them (statements are per Beijing month).
const monthFormat = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" });

export function beijingMonth(at: Date | string = new Date()): string {
  return monthFormat.format(typeof at === "string" ? new Date(at) : at).slice(0, 7);
}
