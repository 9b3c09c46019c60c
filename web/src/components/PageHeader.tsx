import { Typography } from "antd";
import type { ReactNode } from "react";

/** A page's title (at most two lines: a job's or an organisation's name may be 200 characters
 * with no space in it; the whole of it on hover) and its actions, which always stay in view. */
export function PageHeader({ title, extra }: { title: string; extra?: ReactNode }) {
  return (
    <div style={{ display: "flex", justifyContent: "space-between", alignItems: "center", gap: 16, marginBottom: 16 }}>
      <Typography.Title level={2} style={{ margin: 0, minWidth: 0, overflowWrap: "anywhere" }} ellipsis={{ rows: 2, tooltip: title }}>
        {title}
      </Typography.Title>
      {extra && <div style={{ flex: "none" }}>{extra}</div>}
    </div>
  );
}
