// The city dashboard (城市大屏): full screen, charts only (no map), refreshed every 5 s from
// GET /v1/public/dashboard. Each chart's accessible label carries its numbers, so a screen
// reader (and the browser test) reads exactly what the API answered.
// Nothing here accumulates across refreshes: each answer replaces the last one (the
// utilisation series is the server's 24 buckets, never appended to), each chart keeps one
// ECharts instance, and the one interval is TanStack Query's, so the tab's heap stays flat
// (tests/e2e/test_dashboard_heap.py, `suanli bench dashboard`).
// A refresh also runs as little code as it can: the page, its header and its antd controls
// do not re-render on an answer (only the clock's text does); a tile or a chart re-renders,
// and ECharts gets a new option, only when its own figures changed; and the charts do not
// animate. Code that runs on every refresh is what V8 keeps compiling while a wall screen runs.
import { Alert, Button, ConfigProvider, Radio, Spin, theme } from "antd";
import { memo, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { LazyChart } from "../../components/LazyChart";
import { beijingTime, yuan } from "../../lib/format";
import { refreshMs, useDashboard, useDashboardPart, type Dashboard } from "./api";
import { WALL_CHARTS, type WallChartSpec } from "./charts";
import "./dashboard.css";

// Fetch the chart library while the first answer is on its way, not after it arrives.
void import("../../components/Chart");

const WINDOWS = [24, 72, 168];
const WALL_THEME = { algorithm: theme.darkAlgorithm, token: { colorPrimary: "#4c8dff" } };

export function shareText(bp: number): string {
  return `${(bp / 100).toFixed(2)}%`;
}

export default function DashboardPage() {
  const [hours, setHours] = useState(24);
  const [interval] = useState(() => refreshMs(window.location.search));
  // the refreshing observer: only these three fields are read, so an answer re-renders nothing here
  const { isPending, isError, error } = useDashboard(hours, interval);
  return (
    <ConfigProvider theme={WALL_THEME}>
      <main className="wall" aria-labelledby="wall-title">
        <WallHeader hours={hours} onHours={setHours} />
        {isError && <Alert type="error" title={String(error)} />}
        {isPending ? <Spin /> : <Wall hours={hours} />}
      </main>
    </ConfigProvider>
  );
}

const WallHeader = memo(function WallHeader({ hours, onHours }: { hours: number; onHours: (hours: number) => void }) {
  const { t } = useTranslation();
  return (
    <header className="wall-header">
      <h1 id="wall-title">{t("dashboard.title")}</h1>
      <Clock hours={hours} />
      <Radio.Group
        aria-label={t("dashboard.window")}
        optionType="button"
        buttonStyle="solid"
        value={hours}
        onChange={(event) => onHours(Number(event.target.value))}
        options={WINDOWS.map((value) => ({ value, label: t("dashboard.hours", { hours: value }) }))}
      />
      <Button onClick={() => void document.documentElement.requestFullscreen?.()}>{t("dashboard.fullScreen")}</Button>
      <Link className="wall-link" to="/">
        {t("dashboard.back")}
      </Link>
    </header>
  );
});

const answeredAt = (data: Dashboard) => data.at;

/** The one thing every answer changes: when it was read. */
function Clock({ hours }: { hours: number }) {
  const { t } = useTranslation();
  const at = useDashboardPart(hours, answeredAt);
  return (
    <span className="wall-clock" data-testid="dashboard-at" data-at={at}>
      {at ? `${t("dashboard.updated")} ${beijingTime(at)}` : ""}
    </span>
  );
}

const Wall = memo(function Wall({ hours }: { hours: number }) {
  return (
    <>
      <Tiles hours={hours} />
      <section className="wall-grid">
        {WALL_CHARTS.map((spec) => (
          <WallPanel key={spec.key} spec={spec} hours={hours} />
        ))}
      </section>
    </>
  );
});

/** The headline figures as shown: equal strings keep the array's identity across answers. */
function tileValues(data: Dashboard): [string, string][] {
  return [
    ["cards", String(data.cards)],
    ["busyCards", String(data.busy_cards)],
    ["domesticShare", shareText(data.domestic_share_bp)],
    ["jobsTotal", String(data.jobs_total)],
    ["running", String(data.jobs_by_state.running ?? 0)],
    ["gmv", yuan(data.gmv_fen)],
    ["vouchersPaid", yuan(data.vouchers_paid_fen)],
  ];
}

function Tiles({ hours }: { hours: number }) {
  const { t } = useTranslation();
  const tiles = useDashboardPart(hours, tileValues) ?? [];
  return (
    <section className="wall-tiles" aria-label={t("dashboard.headline")}>
      {tiles.map(([key, value]) => (
        <div className="wall-tile" key={key}>
          <div className="wall-tile-label">{t(`dashboard.${key}`)}</div>
          <div className="wall-tile-value" data-testid={`tile-${key}`}>
            {value}
          </div>
        </div>
      ))}
    </section>
  );
}

/** One chart: re-renders only when its part of the answer (or the language) changed, and gives
 * ECharts a new option only when what it draws changed. */
const WallPanel = memo(function WallPanel({ spec, hours }: { spec: WallChartSpec<unknown>; hours: number }) {
  const { t, i18n } = useTranslation();
  const part = useDashboardPart(hours, spec.part);
  const chart = useMemo(() => (part === undefined ? undefined : spec.build(part, t)), [spec, part, t, i18n.language]);
  // the option given to ECharts changes only with what the chart draws
  const drawn = part === undefined || !spec.drawn ? part : spec.drawn(part);
  const option = useMemo(() => chart?.option, [drawn, t, i18n.language]); // kept while `drawn` is equal
  if (!chart || !option) return null;
  return (
    <div className="wall-panel">
      <h2>{chart.title}</h2>
      <LazyChart option={option} label={chart.label} height={260} theme="dark" merge />
    </div>
  );
});
