// The dashboard's charts, built from the API's answer alone. Each chart reads only its part of
// the answer (`part`: the feed in ./api.ts re-renders the chart only when that part changed),
// and its option (or its line's points) comes with a label that states its numbers (the chart's accessible name). A wall screen refreshing every few seconds does not animate: with
// ECharts' animation on, each new option ran about a second of animation frames per chart.
import type { TFunction } from "i18next";
import type { Dashboard } from "./api";
import type { LinePoint } from "./UtilisationLine";

/** An ECharts option, or (the utilisation line) the points of an SVG line. */
export type WallChart = { title: string; label: string; option?: Record<string, unknown>; line?: LinePoint[] };
/** A chart of the wall: the part of the answer it shows, and its title, label and option built
 * from that part. */
export type WallChartSpec<P> = { key: string; part: (data: Dashboard) => P; build: (part: P, t: TFunction) => WallChart };

const AXIS = { axisLabel: { color: "#c9d4e5" }, axisLine: { lineStyle: { color: "#5b6b82" } } };
const WALL = { backgroundColor: "transparent", animation: false };

function listed(title: string, pairs: [string, string | number][]): string {
  return `${title}: ${pairs.map(([name, value]) => `${name} ${value}`).join(", ")}`;
}

/** A value axis of counts (cards, jobs): whole-number ticks only. With small counts ECharts
 * would otherwise mark 0.2, 0.4… of a job. */
const COUNT_AXIS = { type: "value", minInterval: 1, ...AXIS } as const;

const vendorChart: WallChartSpec<Dashboard["vendors"]> = {
  key: "vendors",
  part: (data) => data.vendors,
  build(vendors, t) {
    const title = t("dashboard.cardsByVendor");
    const names = vendors.map((v) => (v.domestic ? `${v.vendor} (${t("dashboard.domestic")})` : v.vendor));
    return {
      title,
      label: listed(title, vendors.map((v) => [v.vendor, `${v.cards}/${v.busy_cards}`])),
      option: {
        ...WALL,
        tooltip: { trigger: "axis" },
        legend: { top: 0, right: 0, textStyle: { color: "#e6edf7" } },
        grid: { left: 48, right: 16, top: 40, bottom: 32 },
        xAxis: { type: "category", data: names, ...AXIS },
        yAxis: COUNT_AXIS,
        series: [
          { name: t("dashboard.busy"), type: "bar", stack: "cards", data: vendors.map((v) => v.busy_cards) },
          { name: t("dashboard.free"), type: "bar", stack: "cards", data: vendors.map((v) => v.cards - v.busy_cards) },
        ],
      },
    };
  },
};

const domesticChart: WallChartSpec<[number, number]> = {
  key: "domestic",
  part: (data) => [data.cards, data.domestic_cards],
  build([cards, domestic], t) {
    const title = t("dashboard.domesticShare");
    const imported = cards - domestic;
    return {
      title,
      label: listed(title, [
        [t("dashboard.domestic"), domestic],
        [t("dashboard.imported"), imported],
      ]),
      option: {
        ...WALL,
        tooltip: { trigger: "item" },
        legend: { bottom: 0, textStyle: { color: "#e6edf7" } },
        series: [
          {
            type: "pie",
            // A ring small enough that a label beside it, level with its widest point (each
            // slice at a 50/50 split), still has room for "Imported" before the chart's edge;
            // ECharts cut it to "Dome..." when the ring reached 70%.
            center: ["50%", "46%"],
            radius: ["34%", "54%"],
            labelLine: { length: 12, length2: 10 },
            label: { color: "#e6edf7", formatter: "{b}\n{d}%" },
            data: [
              { name: t("dashboard.domestic"), value: domestic },
              { name: t("dashboard.imported"), value: imported },
            ],
          },
        ],
      },
    };
  },
};

/** What the line draws and its label states: each bucket's start and utilisation in tenths of
 * a percentage point (half a pixel is 0.25 points on the 260-px chart). The last bucket's
 * card-seconds move every second while jobs run; the chart changes when a tenth does. Drawn by
 * ./UtilisationLine.tsx (SVG), not ECharts: it is the chart a wall redraws all day. */
const utilisationChart: WallChartSpec<LinePoint[]> = {
  key: "utilisation",
  part: (data) => data.utilisation.map((b): LinePoint => [b.start, Math.round(b.utilisation_bp / 10)]),
  build(points, t) {
    const title = t("dashboard.utilisation");
    const last = points[points.length - 1];
    return { title, label: `${title}: ${((last?.[1] ?? 0) / 10).toFixed(1)}%`, line: points };
  },
};

const jobsChart: WallChartSpec<Dashboard["jobs_by_state"]> = {
  key: "jobs",
  part: (data) => data.jobs_by_state,
  build(jobs, t) {
    const title = t("dashboard.jobsByState");
    const states = Object.keys(jobs);
    return {
      title,
      label: listed(title, states.map((s) => [t(`jobState.${s}`), jobs[s] ?? 0])),
      option: {
        ...WALL,
        tooltip: { trigger: "axis" },
        grid: { left: 48, right: 16, top: 24, bottom: 48 },
        xAxis: { type: "category", data: states.map((s) => t(`jobState.${s}`)), ...AXIS, axisLabel: { color: "#c9d4e5", rotate: 30 } },
        yAxis: COUNT_AXIS,
        series: [{ type: "bar", data: states.map((s) => jobs[s] ?? 0) }],
      },
    };
  },
};

type Pipeline = { opportunities: number; capabilities: number; stages: Dashboard["pipeline"] };

const pipelineChart: WallChartSpec<Pipeline> = {
  key: "pipeline",
  part: (data) => ({ opportunities: data.opportunities, capabilities: data.capabilities, stages: data.pipeline }),
  build(pipeline, t) {
    const title = t("dashboard.pipeline");
    const steps: [string, number][] = [
      [t("dashboard.opportunities"), pipeline.opportunities],
      [t("dashboard.capabilities"), pipeline.capabilities],
      ...Object.entries(pipeline.stages).map(([stage, count]): [string, number] => [t(`dashboard.stage.${stage}`), count]),
    ];
    return {
      title,
      label: listed(title, steps),
      option: {
        ...WALL,
        tooltip: { trigger: "item" },
        series: [
          {
            type: "funnel",
            sort: "none",
            left: "4%",
            width: "46%",
            label: { color: "#e6edf7", formatter: "{b}: {c}", position: "right" },
            // The labels stand in one column right of the funnel's widest point, each joined
            // to its layer by its line: beside its own layer, a label sat on the edge of a
            // wider layer above or below it (the top one when the layers under it were empty).
            labelLayout: { x: "56%", align: "left" },
            data: steps.map(([name, value]) => ({ name, value })),
          },
        ],
      },
    };
  },
};

// Each spec's part and build are typed together; the list forgets the part's type.
export const WALL_CHARTS = [vendorChart, domesticChart, utilisationChart, jobsChart, pipelineChart] as unknown as WallChartSpec<unknown>[];
