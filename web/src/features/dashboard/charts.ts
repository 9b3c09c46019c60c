// The dashboard's chart options, built from the API's answer alone. Each comes with a label
// that states its numbers (the chart's accessible name).
import type { TFunction } from "i18next";
import { beijingTime } from "../../lib/format";
import type { Dashboard } from "./api";

export type WallChart = { key: string; title: string; label: string; option: Record<string, unknown> };

const AXIS = { axisLabel: { color: "#c9d4e5" }, axisLine: { lineStyle: { color: "#5b6b82" } } };
const TRANSPARENT = { backgroundColor: "transparent" };

export const CHART_BUILDERS = [vendorChart, domesticChart, utilisationChart, jobsChart, pipelineChart];

/** The parts of the answer each chart reads, in CHART_BUILDERS' order: a chart is rebuilt
 * (and ECharts given a new option) only when one of its parts changed. TanStack Query keeps
 * an unchanged part's identity from one refresh to the next (structural sharing). */
export function chartInputs(data: Dashboard): unknown[][] {
  return [
    [data.vendors],
    [data.cards, data.domestic_cards],
    [data.utilisation],
    [data.jobs_by_state],
    [data.pipeline, data.opportunities, data.capabilities],
  ];
}

function listed(title: string, pairs: [string, string | number][]): string {
  return `${title}: ${pairs.map(([name, value]) => `${name} ${value}`).join(", ")}`;
}

function vendorChart(data: Dashboard, t: TFunction): WallChart {
  const title = t("dashboard.cardsByVendor");
  const names = data.vendors.map((v) => (v.domestic ? `${v.vendor} (${t("dashboard.domestic")})` : v.vendor));
  return {
    key: "vendors",
    title,
    label: listed(title, data.vendors.map((v) => [v.vendor, `${v.cards}/${v.busy_cards}`])),
    option: {
      ...TRANSPARENT,
      tooltip: { trigger: "axis" },
      legend: { top: 0, right: 0, textStyle: { color: "#e6edf7" } },
      grid: { left: 48, right: 16, top: 40, bottom: 32 },
      xAxis: { type: "category", data: names, ...AXIS },
      yAxis: { type: "value", ...AXIS },
      series: [
        { name: t("dashboard.busy"), type: "bar", stack: "cards", data: data.vendors.map((v) => v.busy_cards) },
        { name: t("dashboard.free"), type: "bar", stack: "cards", data: data.vendors.map((v) => v.cards - v.busy_cards) },
      ],
    },
  };
}

function domesticChart(data: Dashboard, t: TFunction): WallChart {
  const title = t("dashboard.domesticShare");
  const imported = data.cards - data.domestic_cards;
  return {
    key: "domestic",
    title,
    label: listed(title, [
      [t("dashboard.domestic"), data.domestic_cards],
      [t("dashboard.imported"), imported],
    ]),
    option: {
      ...TRANSPARENT,
      tooltip: { trigger: "item" },
      legend: { bottom: 0, textStyle: { color: "#e6edf7" } },
      series: [
        {
          type: "pie",
          radius: ["45%", "70%"],
          label: { color: "#e6edf7", formatter: "{b}\n{d}%" },
          data: [
            { name: t("dashboard.domestic"), value: data.domestic_cards },
            { name: t("dashboard.imported"), value: imported },
          ],
        },
      ],
    },
  };
}

function utilisationChart(data: Dashboard, t: TFunction): WallChart {
  const title = t("dashboard.utilisation");
  const times = data.utilisation.map((b) => beijingTime(b.start).slice(5, 16));
  const values = data.utilisation.map((b) => b.utilisation_bp / 100);
  const last = data.utilisation[data.utilisation.length - 1];
  return {
    key: "utilisation",
    title,
    label: `${title}: ${last ? (last.utilisation_bp / 100).toFixed(2) : "0.00"}%`,
    option: {
      ...TRANSPARENT,
      tooltip: { trigger: "axis", valueFormatter: (v: number) => `${v.toFixed(2)}%` },
      grid: { left: 48, right: 16, top: 24, bottom: 32 },
      xAxis: { type: "category", data: times, ...AXIS },
      yAxis: { type: "value", max: (range: { max: number }) => Math.max(100, Math.ceil(range.max)), ...AXIS },
      series: [{ type: "line", smooth: true, areaStyle: { opacity: 0.25 }, data: values, showSymbol: false }],
    },
  };
}

function jobsChart(data: Dashboard, t: TFunction): WallChart {
  const title = t("dashboard.jobsByState");
  const states = Object.keys(data.jobs_by_state);
  return {
    key: "jobs",
    title,
    label: listed(title, states.map((s) => [t(`jobState.${s}`), data.jobs_by_state[s] ?? 0])),
    option: {
      ...TRANSPARENT,
      tooltip: { trigger: "axis" },
      grid: { left: 48, right: 16, top: 24, bottom: 48 },
      xAxis: { type: "category", data: states.map((s) => t(`jobState.${s}`)), ...AXIS, axisLabel: { color: "#c9d4e5", rotate: 30 } },
      yAxis: { type: "value", ...AXIS },
      series: [{ type: "bar", data: states.map((s) => data.jobs_by_state[s] ?? 0) }],
    },
  };
}

function pipelineChart(data: Dashboard, t: TFunction): WallChart {
  const title = t("dashboard.pipeline");
  const steps: [string, number][] = [
    [t("dashboard.opportunities"), data.opportunities],
    [t("dashboard.capabilities"), data.capabilities],
    ...Object.entries(data.pipeline).map(([stage, count]): [string, number] => [t(`dashboard.stage.${stage}`), count]),
  ];
  return {
    key: "pipeline",
    title,
    label: listed(title, steps),
    option: {
      ...TRANSPARENT,
      tooltip: { trigger: "item" },
      series: [
        {
          type: "funnel",
          sort: "none",
          left: "10%",
          width: "80%",
          label: { color: "#e6edf7", formatter: "{b}: {c}" },
          data: steps.map(([name, value]) => ({ name, value })),
        },
      ],
    },
  };
}
