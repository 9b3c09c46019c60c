// Amounts are integer fen on the wire and ¥ with two decimals on screen; times are Beijing time.
const yuanFormat = new Intl.NumberFormat("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function yuan(fen: number | null | undefined): string {
  if (fen === null || fen === undefined) return "—";
  const sign = fen < 0 ? "-" : "";
  return `${sign}¥${yuanFormat.format(Math.abs(fen) / 100)}`;
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
