import { Spin } from "antd";
import { lazy, Suspense } from "react";
import type { ChartProps } from "./Chart";

const Chart = lazy(() => import("./Chart"));

export function LazyChart(props: ChartProps) {
  return (
    <Suspense fallback={<Spin />}>
      <Chart {...props} />
    </Suspense>
  );
}
