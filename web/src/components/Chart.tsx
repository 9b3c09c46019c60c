// ECharts through echarts/core: only the chart types and components registered here are
// bundled, and this module is loaded lazily by the pages that draw a chart. One instance per
// chart for its whole life: a refresh sets the new option on it (no re-init), so a wall
// screen refreshing for hours keeps a flat heap.
import { BarChart, FunnelChart, LineChart, PieChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { LabelLayout } from "echarts/features";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

// LabelLayout: a series' labelLayout option (the dashboard's funnel sets its labels' column)
echarts.use([BarChart, FunnelChart, LineChart, PieChart, GridComponent, LegendComponent, TooltipComponent, LabelLayout, CanvasRenderer]);

export type ChartProps = { option: echarts.EChartsCoreOption; height?: number; label: string; theme?: "dark" };

export default function Chart({ option, height = 280, label, theme }: ChartProps) {
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    if (!element.current) return undefined;
    const instance = echarts.init(element.current, theme);
    chart.current = instance;
    const resize = () => instance.resize();
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      instance.dispose();
      chart.current = null;
    };
  }, [theme]);
  const updates = useRef(0);
  useEffect(() => {
    if (!chart.current || !element.current) return;
    chart.current.setOption(option, { notMerge: true });
    // how many options this instance was given: the dashboard's heap test reads it to check
    // that a refresh with unchanged figures gives ECharts nothing to do
    element.current.dataset.updates = String(++updates.current);
  }, [option, theme]);
  return <div ref={element} role="img" aria-label={label} style={{ width: "100%", height }} />;
}
