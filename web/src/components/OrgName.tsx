import { Tooltip, Typography } from "antd";

const ONE_LINE = { display: "block", overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" } as const;

/** An organisation in a table cell: its name on one line, cut with "…" past 11em (a name may
 * be 200 characters; the columns after it, their buttons included, stay in view), and its id
 * (org_…) under it in small secondary text, as the API and the CLI name it; the whole name and
 * the id on hover. The id alone when the name is unknown. */
export function OrgName({ name, id }: { name: string | null | undefined; id: string }) {
  if (!name) return <span style={ONE_LINE}>{id}</span>;
  return (
    <Tooltip title={<>{name}<br />{id}</>} placement="topLeft">
      <div style={{ maxWidth: "11em" }}>
        <span data-testid="org-name" style={ONE_LINE}>{name}</span>
        <Typography.Text type="secondary" data-testid="org-id" style={{ ...ONE_LINE, fontSize: 12 }}>{id}</Typography.Text>
      </div>
    </Tooltip>
  );
}
