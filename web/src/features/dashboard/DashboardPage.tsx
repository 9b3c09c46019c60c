// The city dashboard (城市大屏): full screen, charts only (no map), refreshed every 5 s from
// GET /v1/public/dashboard. Each chart's accessible label carries its numbers, so a screen
// reader (and the browser test) reads exactly what the API answered.
// Nothing here accumulates across refreshes: each answer replaces the last one (the
// utilisation series is the server's 24 buckets, never appended to), each chart keeps one
// ECharts instance, and the one interval is TanStack Query's, so the tab's heap stays flat
// (tests/e2e/test_dashboard_heap.py, `suanli bench dashboard`).
import { Alert, Button, ConfigProvider, Radio, Spin, theme } from "antd";
import { memo, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { LazyChart } from "../../components/LazyChart";
import { beijingTime, yuan } from "../../lib/format";
import { refreshMs, useDashboard, type Dashboard } from "./api";
import { CHART_BUILDERS, chartInputs } from "./charts";
import "./dashboard.css";

// Fetch the chart library while the first answer is on its way, not after it arrives.
void import("../../components/Chart");

const WINDOWS = [24, 72, 168];
const WALL_THEME = { algorithm: theme.darkAlgorithm, token: { colorPrimary: "#4c8dff" } };

export function shareText(bp: number): string {
  return `${(bp / 100).toFixed(2)}%`;
}

export default function DashboardPage() {
  const { t } = useTranslation();
  const [hours, setHours] = useState(24);
  const [interval] = useState(() => refreshMs(window.location.search));
  const board = useDashboard(hours, interval);
  return (
    <ConfigProvider theme={WALL_THEME}>
      <main className="wall" aria-labelledby="wall-title">
        <header className="wall-header">
          <h1 id="wall-title">{t("dashboard.title")}</h1>
          <span className="wall-clock" data-testid="dashboard-at" data-at={board.data?.at}>
            {board.data ? `${t("dashboard.updated")} ${beijingTime(board.data.at)}` : ""}
          </span>
          <Radio.Group
            aria-label={t("dashboard.window")}
            optionType="button"
            buttonStyle="solid"
            value={hours}
            onChange={(event) => setHours(Number(event.target.value))}
            options={WINDOWS.map((value) => ({ value, label: t("dashboard.hours", { hours: value }) }))}
          />
          <Button onClick={() => void document.documentElement.requestFullscreen?.()}>{t("dashboard.fullScreen")}</Button>
          <Link className="wall-link" to="/">
            {t("dashboard.back")}
          </Link>
        </header>
        {board.isError && <Alert type="error" title={String(board.error)} />}
        {board.data ? <Wall data={board.data} /> : <Spin />}
      </main>
    </ConfigProvider>
  );
}

function Wall({ data }: { data: Dashboard }) {
  const { t } = useTranslation();
  const inputs = chartInputs(data);
  const tiles: [string, string][] = [
    ["cards", String(data.cards)],
    ["busyCards", String(data.busy_cards)],
    ["domesticShare", shareText(data.domestic_share_bp)],
    ["jobsTotal", String(data.jobs_total)],
    ["running", String(data.jobs_by_state.running ?? 0)],
    ["gmv", yuan(data.gmv_fen)],
    ["vouchersPaid", yuan(data.vouchers_paid_fen)],
  ];
  return (
    <>
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
      <section className="wall-grid">
        {CHART_BUILDERS.map((build, index) => (
          <WallPanel key={index} build={build} data={data} inputs={inputs[index] ?? []} />
        ))}
      </section>
    </>
  );
}

type PanelProps = { build: (typeof CHART_BUILDERS)[number]; data: Dashboard; inputs: unknown[] };

/** Re-renders only when its chart's inputs change (or the language does). */
const WallPanel = memo(
  function WallPanel({ build, data, inputs }: PanelProps) {
    const { t, i18n } = useTranslation();
    // `inputs` are the parts of `data` the chart reads: the chart is rebuilt when they change
    const chart = useMemo(() => build(data, t), [build, t, i18n.language, ...inputs]);
    return (
      <div className="wall-panel">
        <h2>{chart.title}</h2>
        <LazyChart option={chart.option} label={chart.label} height={260} theme="dark" />
      </div>
    );
  },
  (before, after) => before.build === after.build && before.inputs.length === after.inputs.length && before.inputs.every((value, i) => value === after.inputs[i]),
);
