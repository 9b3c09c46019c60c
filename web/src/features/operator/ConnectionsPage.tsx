// Cluster connections (入驻审核): the providers' connections waiting for the operator's review,
// paged on the server; approve (pools can then be listed on it) or reject with a reason.
import { Badge, Button, Form, Input, Modal, Select, Space, Table, Tag, Typography } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { beijingTime } from "../../lib/format";
import { required, useServerTable, useSubmit } from "../consoles/shared";
import { fetchConnections, type Connection } from "./api";

type ReviewState = "pending" | "approved" | "rejected";
const REVIEW_STATES: ReviewState[] = ["pending", "approved", "rejected"];
type Decision = { connection: Connection; approve: boolean };

export default function ConnectionsReviewPage() {
  const { t } = useTranslation();
  const [state, setState] = useState<ReviewState>("pending");
  const table = useServerTable<Connection>(["operator", "connections", state], (offset, limit) => fetchConnections(state, offset, limit));
  const [deciding, setDeciding] = useState<Decision | null>(null);
  const [form] = Form.useForm<{ reason: string }>();
  const submit = useSubmit();

  const open = (connection: Connection, approve: boolean) => {
    form.resetFields();
    setDeciding({ connection, approve });
  };
  const decide = async (values: { reason?: string }) => {
    if (!deciding) return;
    const params = { path: { connection_id: deciding.connection.id } };
    const body = { reason: values.reason ?? "" };
    const call = deciding.approve
      ? () => unwrap(api.POST("/v1/connections/{connection_id}/approve", { params, body }))
      : () => unwrap(api.POST("/v1/connections/{connection_id}/reject", { params, body }));
    const done = await submit(form, ["reason"], call, [["operator", "connections"]]);
    if (done) setDeciding(null);
  };

  return (
    <>
      <PageHeader title={t("operator.connections.title")} />
      <Typography.Paragraph type="secondary">{t("operator.connections.intro")}</Typography.Paragraph>
      <Space style={{ marginBottom: 12 }}>
        <Select
          aria-label={t("operator.connections.state")}
          style={{ width: 160 }}
          value={state}
          onChange={(value) => {
            setState(value);
            table.reset();
          }}
          options={REVIEW_STATES.map((value) => ({ value, label: t(`provider.connections.reviewStates.${value}`) }))}
        />
      </Space>
      <Table<Connection>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        scroll={{ x: true }}
        columns={[
          { title: t("operator.connections.provider"), dataIndex: "provider_name" },
          { title: t("provider.connections.name"), dataIndex: "name" },
          { title: t("provider.connections.kind"), dataIndex: "kind", render: (kind: string) => <Tag>{kind === "slurm" ? "Slurm" : kind === "ray" ? "Ray" : kind}</Tag> },
          { title: t("provider.connections.address"), dataIndex: "address", render: (address: string) => <span style={{ wordBreak: "break-all" }}>{address}</span> },
          { title: t("operator.connections.options"), dataIndex: "options", render: (options: Record<string, unknown>) => Object.entries(options).map(([key, value]) => `${key}=${String(value)}`).join(" · ") },
          { title: t("operator.connections.capacity"), dataIndex: "capacity", render: (capacity: Record<string, number>) => Object.entries(capacity).map(([model, cards]) => `${model} × ${cards}`).join(" · ") || "—" },
          {
            title: t("provider.connections.health"),
            dataIndex: "healthy",
            render: (healthy: boolean) => <Badge status={healthy ? "success" : "error"} text={healthy ? t("provider.connections.healthy") : t("provider.connections.unhealthy")} />,
          },
          { title: t("operator.connections.submitted"), dataIndex: "created_at", render: beijingTime },
          {
            title: t("provider.connections.review"),
            dataIndex: "review_state",
            render: (value: string, c) => (
              <span data-testid={`state-${c.id}`}>
                <Tag>{t(`provider.connections.reviewStates.${value}`)}</Tag>
                {c.review_reason}
              </span>
            ),
          },
          {
            title: t("consoles.actions"),
            render: (_, c) =>
              c.review_state === "pending" ? (
                <Space>
                  <Button size="small" type="primary" data-testid={`approve-${c.id}`} onClick={() => open(c, true)}>{t("consoles.approve")}</Button>
                  <Button size="small" danger data-testid={`reject-${c.id}`} onClick={() => open(c, false)}>{t("consoles.reject")}</Button>
                </Space>
              ) : null,
          },
        ]}
      />
      <Modal
        open={deciding !== null}
        title={t(deciding?.approve ? "operator.connections.approveTitle" : "operator.connections.rejectTitle", { name: deciding?.connection.name ?? "" })}
        onCancel={() => setDeciding(null)}
        onOk={() => form.submit()}
        okText={t("common.submit")}
        cancelText={t("common.cancel")}
      >
        <Form form={form} layout="vertical" onFinish={decide} name="connection-review">
          <Form.Item
            name="reason"
            label={deciding?.approve ? t("operator.connections.note") : t("consoles.reason")}
            rules={deciding?.approve ? [{ max: 1000, message: t("operator.connections.tooLong") }] : [...required(t("consoles.required")), { max: 1000, message: t("operator.connections.tooLong") }]}
          >
            <Input.TextArea rows={3} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}
