// The wall's utilisation over time, drawn as a small SVG line by React, not by ECharts (issue 17).
// Its last bucket moves while jobs run, so this is the one chart a wall screen redraws all day;
// with ECharts each redraw ran through so much of its code that V8 kept compiling more of it
// (the shipped tab's heap stepped up at every redraw). Here a redraw is a reconcile of about
// twenty SVG elements, by code that is already hot. The other charts stay on ECharts.
import { memo, useEffect, useRef } from "react";
import { beijingTime } from "../../lib/format";

/** Each bucket's start and its utilisation in tenths of a percentage point. */
export type LinePoint = [string, number];

const WIDTH = 420; // about a wall panel's width, so 12 units of text are about 12 px
const HEIGHT = 260;
const LEFT = 44;
const RIGHT = 12;
const TOP = 14;
const BOTTOM = 30;
const PLOT_W = WIDTH - LEFT - RIGHT;
const PLOT_H = HEIGHT - TOP - BOTTOM;
const LABEL_EVERY = 6; // buckets between two time labels (24 buckets: 4 labels)
// the wall's dark theme (the ECharts charts beside it use the same colours)
const LINE = "#4c8dff";
const GRID = "#2a3d5c";
const AXIS = "#5b6b82";
const TEXT = "#c9d4e5";

type Props = { points: LinePoint[]; label: string };

/** A line over the buckets, y from 0 to 100 % (higher if a bucket is: the API caps nothing),
 * with the same accessible name the ECharts chart had. `data-updates` counts the sets of points
 * drawn, as Chart.tsx counts the options it gives ECharts. */
export const UtilisationLine = memo(function UtilisationLine({ points, label }: Props) {
  const element = useRef<HTMLDivElement>(null);
  const updates = useRef(0);
  useEffect(() => {
    if (element.current) element.current.dataset.updates = String(++updates.current);
  }, [points]);
  const top = Math.max(100, Math.ceil(Math.max(0, ...points.map(([, tenths]) => tenths / 10))));
  const step = PLOT_W / Math.max(1, points.length - 1);
  const x = (i: number) => LEFT + i * step;
  const y = (percent: number) => TOP + PLOT_H - (percent / top) * PLOT_H;
  const line = points.map(([, tenths], i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(tenths / 10).toFixed(1)}`).join("");
  const bottom = y(0).toFixed(1);
  const area = points.length ? `${line}L${x(points.length - 1).toFixed(1)},${bottom}L${LEFT},${bottom}Z` : "";
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((share) => Math.round(top * share));
  return (
    <div ref={element} role="img" aria-label={label} className="wall-line">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width="100%" height={HEIGHT} display="block" aria-hidden="true">
        {ticks.map((tick) => (
          <g key={tick}>
            <line x1={LEFT} x2={WIDTH - RIGHT} y1={y(tick)} y2={y(tick)} stroke={tick ? GRID : AXIS} />
            <text x={LEFT - 6} y={y(tick)} dy="0.32em" textAnchor="end" fill={TEXT} fontSize={12}>
              {`${tick}%`}
            </text>
          </g>
        ))}
        {points.map(([start], i) =>
          i % LABEL_EVERY === 0 ? (
            <text key={i} x={x(i)} y={HEIGHT - 10} textAnchor="middle" fill={TEXT} fontSize={12}>
              {beijingTime(start).slice(5, 16)}
            </text>
          ) : null,
        )}
        <path d={area} fill={LINE} fillOpacity={0.25} />
        <path d={line} fill="none" stroke={LINE} strokeWidth={2} strokeLinejoin="round" />
      </svg>
    </div>
  );
});
