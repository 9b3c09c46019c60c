// The city dashboard (城市大屏): full screen, charts only (no map), refreshed every 5 s from
// GET /v1/public/dashboard. Each chart's accessible label carries its numbers, so a screen
// reader (and the browser test) reads exactly what the API answered.
// Nothing here accumulates across refreshes: each answer replaces the last one (the
// utilisation series is the server's 24 buckets, never appended to), each ECharts chart keeps
// one instance (the utilisation line, the chart redrawn all day, is SVG drawn by React:
// ./UtilisationLine.tsx), and the one timer is the feed's (./api.ts), so the tab's heap stays
// flat (tests/e2e/test_dashboard_heap.py, `suanli bench dashboard`).
// A refresh also runs as little code as it can (./api.ts): the page, its header and its antd
// controls do not re-render on an answer, the clock's text is written into its element; a
// tile row or a chart re-renders, and ECharts gets a new option, only when its own figures
// changed; and the charts do not animate. V8 compiles the functions a page keeps running,
// so the fewer run on each refresh, the less the shipped tab's heap grows.
import { Alert, Button, ConfigProvider, Radio, Spin, theme } from "antd";
import { memo, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { LazyChart } from "../../components/LazyChart";
import { beijingTime, yuan } from "../../lib/format";
import { refreshMs, useDashboardFeed, useDashboardPart, type Dashboard, type DashboardFeed } from "./api";
import { WALL_CHARTS, type WallChartSpec } from "./charts";
import { UtilisationLine } from "./UtilisationLine";
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
  const feed = useDashboardFeed(hours, interval);
  const ready = useSyncExternalStore(feed.subscribeStatus, feed.ready);
  const error = useSyncExternalStore(feed.subscribeStatus, feed.error);
  return (
    <ConfigProvider theme={WALL_THEME}>
      <main className="wall" aria-labelledby="wall-title">
        <WallHeader hours={hours} onHours={setHours} feed={feed} />
        {error && <Alert type="error" title={error} />}
        {ready ? <Wall feed={feed} /> : <Spin />}
      </main>
    </ConfigProvider>
  );
}

type HeaderProps = { hours: number; onHours: (hours: number) => void; feed: DashboardFeed };

const WallHeader = memo(function WallHeader({ hours, onHours, feed }: HeaderProps) {
  const { t } = useTranslation();
  return (
    <header className="wall-header">
      <h1 id="wall-title">{t("dashboard.title")}</h1>
      <Clock feed={feed} />
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

/** The one thing every answer changes, when it was read: written into the element on each
 * answer, without rendering. */
function Clock({ feed }: { feed: DashboardFeed }) {
  const { t } = useTranslation();
  const element = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    const updated = t("dashboard.updated");
    return feed.onAnswer((data) => {
      const clock = element.current;
      if (!clock) return;
      clock.dataset.at = data.at;
      clock.textContent = `${updated} ${beijingTime(data.at)}`;
    });
  }, [feed, t]);
  return <span ref={element} className="wall-clock" data-testid="dashboard-at" />;
}

const Wall = memo(function Wall({ feed }: { feed: DashboardFeed }) {
  return (
    <>
      <Tiles feed={feed} />
      <section className="wall-grid">
        {WALL_CHARTS.map((spec) => (
          <WallPanel key={spec.key} spec={spec} feed={feed} />
        ))}
      </section>
    </>
  );
});

/** The headline figures as shown. */
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

function Tiles({ feed }: { feed: DashboardFeed }) {
  const { t } = useTranslation();
  const tiles = useDashboardPart(feed, tileValues) ?? [];
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

/** One chart: re-renders, and gives ECharts a new option (or the SVG line new points), only when its part of the answer (or
 * the language) changed. */
const WallPanel = memo(function WallPanel({ spec, feed }: { spec: WallChartSpec<unknown>; feed: DashboardFeed }) {
  const { t, i18n } = useTranslation();
  const part = useDashboardPart(feed, spec.part);
  const chart = useMemo(() => (part === undefined ? undefined : spec.build(part, t)), [spec, part, t, i18n.language]);
  if (!chart) return null;
  return (
    <div className="wall-panel">
      <h2>{chart.title}</h2>
      {chart.line ? (
        <UtilisationLine points={chart.line} label={chart.label} />
      ) : (
        <LazyChart option={chart.option ?? {}} label={chart.label} height={260} theme="dark" />
      )}
    </div>
  );
});
