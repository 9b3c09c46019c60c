// Organisations: the operator creates one (its first admin's token is shown once) and reviews
// self-registrations (approve, or reject with a reason). The table pages on the server.
import { Alert, Button, Card, Form, Input, Modal, Select, Space, Table, Tag, Typography } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { required, useServerTable, useSubmit } from "../consoles/shared";
import { fetchOrganisations, type Organisation, type OrganisationState } from "./api";

const KINDS = ["provider", "enterprise", "agency"] as const;
const STATES: OrganisationState[] = ["pending", "active", "rejected", "suspended"];
type CreateForm = { name: string; kind: (typeof KINDS)[number]; region?: string; credit_code?: string; login?: string; password?: string };

export default function OrganisationsPage() {
  const { t } = useTranslation();
  const [state, setState] = useState<OrganisationState | undefined>("pending");
  const table = useServerTable<Organisation>(["operator", "organisations", state ?? "all"], (offset, limit) => fetchOrganisations(state, offset, limit));
  const [form] = Form.useForm<CreateForm>();
  const [token, setToken] = useState<string | null>(null);
  const [rejecting, setRejecting] = useState<Organisation | null>(null);
  const [reason] = Form.useForm<{ reason: string }>();
  const submit = useSubmit();
  const refresh = [["operator", "organisations"]];

  const create = async (values: CreateForm) => {
    const admin = values.login ? { login: values.login, password: values.password ?? "", display_name: values.login } : null;
    const body = { name: values.name, kind: values.kind, region: values.region ?? "", credit_code: values.credit_code || null, admin };
    const created = await submit(form, ["name", "kind", "region", "credit_code", "login", "password"], () => unwrap(api.POST("/v1/organisations", { body })), refresh);
    if (created) {
      setToken(created.token ?? null);
      form.resetFields();
    }
  };
  const approve = (org: Organisation) =>
    submit(null, [], () => unwrap(api.POST("/v1/organisations/{org_id}/approve", { params: { path: { org_id: org.id } } })), refresh);
  const reject = async (values: { reason: string }) => {
    if (!rejecting) return;
    const done = await submit(reason, ["reason"], () => unwrap(api.POST("/v1/organisations/{org_id}/reject", { params: { path: { org_id: rejecting.id } }, body: values })), refresh);
    if (done) {
      setRejecting(null);
      reason.resetFields();
    }
  };

  return (
    <>
      <PageHeader title={t("operator.organisations.title")} />
      <Card title={t("operator.organisations.create")} style={{ marginBottom: 16 }}>
        <Form form={form} layout="inline" onFinish={create} name="organisation">
          <Form.Item name="name" label={t("operator.organisations.name")} rules={required(t("consoles.required"))}>
            <Input style={{ width: 200 }} />
          </Form.Item>
          <Form.Item name="kind" label={t("operator.organisations.kind")} rules={required(t("consoles.required"))}>
            <Select style={{ width: 140 }} options={KINDS.map((kind) => ({ value: kind, label: t(`consoles.kind.${kind}`) }))} />
          </Form.Item>
          <Form.Item name="region" label={t("operator.organisations.region")}>
            <Input style={{ width: 210 }} placeholder={t("common.regionPlaceholder")} />
          </Form.Item>
          <Form.Item name="credit_code" label={t("operator.organisations.creditCode")}>
            <Input style={{ width: 200 }} />
          </Form.Item>
          <Form.Item name="login" label={t("operator.organisations.login")}>
            <Input style={{ width: 140 }} />
          </Form.Item>
          <Form.Item name="password" label={t("operator.organisations.password")}>
            <Input.Password style={{ width: 160 }} />
          </Form.Item>
          <Button type="primary" htmlType="submit">
            {t("common.submit")}
          </Button>
        </Form>
        {token && (
          <Alert style={{ marginTop: 12 }} type="success" title={t("operator.organisations.tokenOnce")} description={<Typography.Text copyable code>{token}</Typography.Text>} />
        )}
      </Card>
      <Space style={{ marginBottom: 12 }}>
        <Select
          aria-label={t("operator.organisations.state")}
          allowClear
          style={{ width: 180 }}
          value={state}
          onChange={(value) => {
            setState(value);
            table.reset();
          }}
          placeholder={t("operator.organisations.allStates")}
          options={STATES.map((value) => ({ value, label: t(`consoles.orgState.${value}`) }))}
        />
      </Space>
      <Table<Organisation>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: t("operator.organisations.name"), dataIndex: "name" },
          { title: t("operator.organisations.kind"), dataIndex: "kind", render: (kind: string) => t(`consoles.kind.${kind}`) },
          { title: t("operator.organisations.region"), dataIndex: "region" },
          { title: t("operator.organisations.creditCode"), dataIndex: "credit_code" },
          { title: t("operator.organisations.contact"), render: (_, org) => [org.contact_name, org.contact_phone, org.contact_email].filter(Boolean).join(" · ") },
          { title: t("operator.organisations.state"), dataIndex: "state", render: (value: string) => <Tag>{t(`consoles.orgState.${value}`)}</Tag> },
          {
            title: t("consoles.actions"),
            render: (_, org) =>
              org.state === "pending" ? (
                <Space>
                  <Button size="small" type="primary" data-testid={`approve-${org.id}`} onClick={() => void approve(org)}>
                    {t("consoles.approve")}
                  </Button>
                  <Button size="small" danger onClick={() => setRejecting(org)}>
                    {t("consoles.reject")}
                  </Button>
                </Space>
              ) : null,
          },
        ]}
      />
      <Modal open={rejecting !== null} title={t("consoles.reject")} onCancel={() => setRejecting(null)} onOk={() => reason.submit()} okText={t("common.submit")} cancelText={t("common.cancel")}>
        <Form form={reason} layout="vertical" onFinish={reject} name="reject-organisation">
          <Form.Item name="reason" label={t("consoles.reason")} rules={required(t("consoles.required"))}>
            <Input.TextArea rows={3} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}
