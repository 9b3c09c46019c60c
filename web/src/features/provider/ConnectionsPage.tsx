// Cluster connections: connect a Ray or Slurm cluster (the operator reviews it), and check
// its health on demand.
import { Badge, Button, Card, Form, Input, Select, Table, Tag, Tooltip } from "antd";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap, type Schemas } from "../../lib/api";
import { beijingTime } from "../../lib/format";
import { required, useServerTable, useSubmit } from "../consoles/shared";

type Connection = Schemas["ConnectionPublic"];
type CreateForm = { name: string; kind: "ray" | "slurm"; address: string; partition?: string; gres_type?: string; log_dir?: string; run_as?: string };

/** Slurm needs its partition, GRES type, the shared log folder and the job user; Ray none. */
function connectionBody(v: CreateForm) {
  const slurm = { partition: v.partition, gres_type: v.gres_type, log_dir: v.log_dir, run_as: v.run_as };
  const options = v.kind === "slurm" ? Object.fromEntries(Object.entries(slurm).filter(([, value]) => value)) : {};
  return { name: v.name, kind: v.kind, address: v.address, options, credentials: {} };
}

export default function ConnectionsPage() {
  const { t } = useTranslation();
  const table = useServerTable<Connection>(["provider", "connections"], (offset, limit) =>
    unwrap(api.GET("/v1/connections", { params: { query: { offset, limit } } })),
  );
  const [form] = Form.useForm<CreateForm>();
  const kind = Form.useWatch("kind", form);
  const submit = useSubmit();
  const create = async (v: CreateForm) => {
    const fields = ["name", "kind", "address", "partition", "gres_type", "log_dir", "run_as"];
    const done = await submit(form, fields, () => unwrap(api.POST("/v1/connections", { body: connectionBody(v) })), [["provider", "connections"]]);
    if (done) form.resetFields();
  };
  const check = (c: Connection) =>
    submit(null, [], () => unwrap(api.POST("/v1/connections/{connection_id}/check", { params: { path: { connection_id: c.id } } })), [["provider", "connections"]]);
  return (
    <>
      <PageHeader title={t("provider.connections.title")} />
      <Card title={t("provider.connections.create")} style={{ marginBottom: 16 }}>
        <Form form={form} layout="inline" onFinish={create} name="connection" initialValues={{ kind: "ray" }}>
          <Form.Item name="name" label={t("provider.connections.name")} rules={required(t("consoles.required"))}>
            <Input style={{ width: 180 }} />
          </Form.Item>
          <Form.Item name="kind" label={t("provider.connections.kind")}>
            <Select style={{ width: 110 }} options={[{ value: "ray", label: "Ray" }, { value: "slurm", label: "Slurm" }]} />
          </Form.Item>
          <Form.Item name="address" label={t("provider.connections.address")} rules={required(t("consoles.required"))}>
            <Input style={{ width: 320 }} placeholder={kind === "slurm" ? "/etc/slurm/slurm.conf" : "http://127.0.0.1:8265"} />
          </Form.Item>
          {kind === "slurm" &&
            (["partition", "gres_type", "log_dir", "run_as"] as const).map((name) => (
              <Form.Item key={name} name={name} label={t(`provider.connections.${name}`)}>
                <Input style={{ width: 160 }} />
              </Form.Item>
            ))}
          <Button type="primary" htmlType="submit">{t("common.submit")}</Button>
        </Form>
      </Card>
      <Table<Connection>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: t("provider.connections.name"), dataIndex: "name" },
          { title: t("provider.connections.kind"), dataIndex: "kind" },
          { title: t("provider.connections.address"), dataIndex: "address" },
          { title: t("provider.connections.review"), dataIndex: "review_state", render: (s: string) => <Tag>{t(`provider.connections.reviewStates.${s}`)}</Tag> },
          {
            title: t("provider.connections.health"),
            render: (_, c) => (
              <Tooltip title={c.last_error || undefined}>
                <span data-testid={`health-${c.id}`}>
                  <Badge status={c.healthy ? "success" : "error"} text={c.healthy ? t("provider.connections.healthy") : t("provider.connections.unhealthy")} />
                </span>
              </Tooltip>
            ),
          },
          { title: t("provider.connections.checked"), dataIndex: "last_checked_at", render: beijingTime },
          { title: t("consoles.actions"), render: (_, c) => <Button size="small" data-testid={`check-${c.id}`} onClick={() => void check(c)}>{t("provider.connections.check")}</Button> },
        ]}
      />
    </>
  );
}
