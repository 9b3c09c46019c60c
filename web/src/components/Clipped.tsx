import { Tooltip } from "antd";
import type { ReactNode } from "react";

/** A table cell's text in a column with `ellipsis: { showTitle: false }`: one line cut with
 * "…", the whole of it on hover or focus. Names and references are the users' own and may be
 * long and unbroken (a 200-character bank reference): without this they push the columns
 * after them (states, amounts) off the screen. */
export function Clipped({ text, children }: { text: string | null | undefined; children?: ReactNode }) {
  if (!text) return <>{children ?? ""}</>;
  return (
    <Tooltip title={text} placement="topLeft">
      <span>{children ?? text}</span>
    </Tooltip>
  );
}

/** The column props for such a text: cut to one line, the title shown by Clipped instead. */
export const CLIPPED = { ellipsis: { showTitle: false } } as const;
