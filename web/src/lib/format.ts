// Amounts are integer fen on the wire and ¥ with two decimals on screen; times are Beijing time.
const yuanFormat = new Intl.NumberFormat("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function yuan(fen: number | null | undefined): string {
  if (fen === null || fen === undefined) return "—";
  const sign = fen < 0 ? "-" : "";
  return `${sign}¥${yuanFormat.format(Math.abs(fen) / 100)}`;
}

const countFormat = new Intl.NumberFormat("zh-CN", { maximumFractionDigits: 0 });

/** A count with thousands separators: 1,054. */
export function count(n: number): string {
  return countFormat.format(n);
}

export function fenFromYuan(yuanAmount: number): number {
  return Math.round(yuanAmount * 100);
}

const beijing = new Intl.DateTimeFormat("sv-SE", {
  timeZone: "Asia/Shanghai",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});

/** "2026-12-06 13:30:00" in Beijing time, whatever the browser's zone. */
export function beijingTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return beijing.format(new Date(iso));
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** A scene's "org · industry · region", leaving out what it lacks (an item published without
 * its organisation has no org: no line may start with a dangling "· "). */
export function sceneFacts(item: { org?: string | null; industry?: string | null; region?: string | null }): string {
  return [item.org, item.industry, item.region].filter(Boolean).join(" · ");
}
