// The wall's utilisation over time, drawn as a small SVG line by React, not by ECharts (issue 17).
// Its last bucket moves while jobs run, so this is the one chart a wall screen redraws all day;
// with ECharts each redraw ran through so much of its code that V8 kept compiling more of it
// (the shipped tab's heap stepped up at every redraw). Here a redraw is a reconcile of about
// twenty SVG elements, by code that is already hot. The other charts stay on ECharts.
//
// Hovering the line, or focusing it (Tab) and moving with the arrow keys, shows one bucket's
// Beijing time and utilisation: a label drawn in the SVG and the same words in a status region
// for screen readers. The readout is React state set by the pointer or the keys only, so a
// refresh draws nothing more than the points (and the label's new words while one is shown).
import { memo, useCallback, useEffect, useRef, useState } from "react";
import type { KeyboardEvent, MouseEvent } from "react";
import { useTranslation } from "react-i18next";
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
const READOUT_BG = "#0b1f42";
const READOUT_H = 22;

type Props = { points: LinePoint[]; label: string };

/** A line over the buckets, y from 0 to 100 % (higher if a bucket is: the API caps nothing),
 * with the same accessible name the ECharts chart had. `data-updates` counts the sets of points
 * drawn, as Chart.tsx counts the options it gives ECharts. */
export const UtilisationLine = memo(function UtilisationLine({ points, label }: Props) {
  const { t } = useTranslation();
  const element = useRef<HTMLDivElement>(null);
  const svg = useRef<SVGSVGElement>(null);
  const updates = useRef(0);
  // the bucket the readout shows (null: none); set by the pointer and the keys, never by a refresh
  const [active, setActive] = useState<number | null>(null);
  useEffect(() => {
    if (element.current) element.current.dataset.updates = String(++updates.current);
  }, [points]);
  const count = points.length;
  const onMouseMove = useCallback(
    (event: MouseEvent) => {
      const matrix = svg.current?.getScreenCTM();
      if (!matrix || count === 0) return;
      const at = (event.clientX - matrix.e) / matrix.a; // in the viewBox's units
      const step = PLOT_W / Math.max(1, count - 1);
      setActive(Math.min(count - 1, Math.max(0, Math.round((at - LEFT) / step))));
    },
    [count],
  );
  const onLeave = useCallback(() => setActive(null), []);
  const onFocus = useCallback(() => setActive((shown) => shown ?? (count ? count - 1 : null)), [count]);
  const onKeyDown = useCallback(
    (event: KeyboardEvent) => {
      const move: Record<string, (i: number) => number> = {
        ArrowLeft: (i) => i - 1,
        ArrowRight: (i) => i + 1,
        Home: () => 0,
        End: () => count - 1,
      };
      if (event.key === "Escape") return setActive(null);
      const to = move[event.key];
      if (!to || count === 0) return;
      event.preventDefault();
      setActive((shown) => Math.min(count - 1, Math.max(0, to(shown ?? count - 1))));
    },
    [count],
  );
  const top = Math.max(100, Math.ceil(Math.max(0, ...points.map(([, tenths]) => tenths / 10))));
  const step = PLOT_W / Math.max(1, points.length - 1);
  const x = (i: number) => LEFT + i * step;
  const y = (percent: number) => TOP + PLOT_H - (percent / top) * PLOT_H;
  const line = points.map(([, tenths], i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(tenths / 10).toFixed(1)}`).join("");
  const bottom = y(0).toFixed(1);
  const area = points.length ? `${line}L${x(points.length - 1).toFixed(1)},${bottom}L${LEFT},${bottom}Z` : "";
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((share) => Math.round(top * share));
  const shown = active !== null && active < count ? active : null;
  const readout =
    shown === null
      ? ""
      : t("dashboard.utilisationAt", {
          time: beijingTime(points[shown][0]).slice(5, 16),
          value: `${(points[shown][1] / 10).toFixed(1)}%`,
        });
  return (
    <div className="wall-line">
      <div
        ref={element}
        role="img"
        aria-label={label}
        tabIndex={0}
        className="wall-line-chart"
        onMouseMove={onMouseMove}
        onMouseLeave={onLeave}
        onFocus={onFocus}
        onBlur={onLeave}
        onKeyDown={onKeyDown}
      >
        <svg ref={svg} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width="100%" height={HEIGHT} display="block" aria-hidden="true">
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
          {shown !== null && <Readout x={x(shown)} y={y(points[shown][1] / 10)} text={readout} />}
        </svg>
      </div>
      <div role="status" className="wall-line-readout" data-testid="utilisation-readout">
        {readout}
      </div>
    </div>
  );
});

/** A guide at the bucket, a dot on the line and the words in a box, kept inside the plot. */
function Readout({ x, y, text }: { x: number; y: number; text: string }) {
  // about 6.5 units a Latin character and 12 a Chinese one at 12 units of text
  let width = 12;
  for (const char of text) width += char.charCodeAt(0) > 0x2e7f ? 12 : 6.5;
  const left = Math.min(WIDTH - RIGHT - width, Math.max(LEFT, x - width / 2));
  const top = y - READOUT_H - 10 < TOP ? y + 10 : y - READOUT_H - 10;
  return (
    <g pointerEvents="none">
      <line x1={x} x2={x} y1={TOP} y2={TOP + PLOT_H} stroke={TEXT} strokeDasharray="3 3" />
      <circle cx={x} cy={y} r={4} fill={LINE} stroke="#fff" strokeWidth={1.5} />
      <rect x={left} y={top} width={width} height={READOUT_H} rx={4} fill={READOUT_BG} stroke={LINE} />
      <text x={left + width / 2} y={top + READOUT_H / 2} dy="0.32em" textAnchor="middle" fill="#fff" fontSize={12}>
        {text}
      </text>
    </g>
  );
}
