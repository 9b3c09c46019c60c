// The review queue: pending applications to the agency's programs; approve with a quota (at
// most the program's cap) or reject with a reason.
import { Button, Form, Input, Modal, Select, Space, Table, Tag } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { OrgName } from "../../components/OrgName";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { beijingTime, fenFromYuan, yuan } from "../../lib/format";
import { required, useServerTable, useSubmit, YuanInput } from "../consoles/shared";
import { useProgramNames } from "../vouchers/programNames";
import type { Application } from "./api";

type Decision = { application: Application; approve: boolean };

export default function ReviewPage() {
  const { t } = useTranslation();
  const [state, setState] = useState("pending");
  const table = useServerTable<Application>(["agency", "applications", state], (offset, limit) =>
    unwrap(api.GET("/v1/vouchers/applications", { params: { query: { state, offset, limit } } })),
  );
  const programName = useProgramNames(table.rows);
  const [deciding, setDeciding] = useState<Decision | null>(null);
  const [form] = Form.useForm<{ quota: number; reason: string }>();
  const submit = useSubmit();

  const open = (application: Application, approve: boolean) => {
    form.setFieldsValue({ quota: application.requested_fen / 100, reason: "" });
    setDeciding({ application, approve });
  };
  const decide = async (v: { quota: number; reason: string }) => {
    if (!deciding) return;
    const path = { application_id: deciding.application.id };
    const call = deciding.approve
      ? (): Promise<unknown> => unwrap(api.POST("/v1/vouchers/applications/{application_id}/approve", { params: { path }, body: { quota_fen: fenFromYuan(v.quota) } }))
      : (): Promise<unknown> => unwrap(api.POST("/v1/vouchers/applications/{application_id}/reject", { params: { path }, body: { reason: v.reason } }));
    const done = await submit(form, [["quota", "quota_fen"], "reason"], call, [["agency"]]);
    if (done) setDeciding(null);
  };

  return (
    <>
      <PageHeader title={t("agency.review.title")} />
      <Space style={{ marginBottom: 12 }}>
        <Select aria-label={t("agency.review.state")} value={state} onChange={setState} style={{ width: 160 }}
          options={["pending", "approved", "rejected"].map((value) => ({ value, label: t(`agency.review.states.${value}`) }))} />
      </Space>
      <Table<Application>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: t("agency.review.enterprise"), dataIndex: "enterprise_name", render: (name: string, application: Application) => <OrgName name={name} id={application.enterprise_id} /> },
          { title: t("agency.review.program"), dataIndex: "program_id", render: (_: string, application: Application) => programName(application) },
          { title: t("agency.review.requested"), dataIndex: "requested_fen", render: yuan },
          { title: t("agency.review.sme"), dataIndex: "is_sme", render: (sme: boolean) => (sme ? t("common.yes") : t("common.no")) },
          { title: t("agency.review.region"), dataIndex: "region" },
          { title: t("agency.review.submitted"), dataIndex: "created_at", render: beijingTime },
          { title: t("agency.review.stateColumn"), dataIndex: "state", render: (value: string) => <Tag>{t(`agency.review.states.${value}`)}</Tag> },
          {
            title: t("consoles.actions"),
            render: (_, a) =>
              a.state === "pending" ? (
                <Space>
                  <Button size="small" type="primary" data-testid={`approve-${a.id}`} onClick={() => open(a, true)}>{t("consoles.approve")}</Button>
                  <Button size="small" danger onClick={() => open(a, false)}>{t("consoles.reject")}</Button>
                </Space>
              ) : (
                yuan(a.granted_fen)
              ),
          },
        ]}
      />
      <Modal open={deciding !== null} title={deciding?.approve ? t("consoles.approve") : t("consoles.reject")} onCancel={() => setDeciding(null)} onOk={() => form.submit()} okText={t("common.submit")} cancelText={t("common.cancel")}>
        <Form form={form} layout="vertical" onFinish={decide} name="decision">
          {deciding?.approve ? (
            <Form.Item name="quota" label={t("agency.review.quota")} rules={required(t("consoles.required"))}>
              <YuanInput />
            </Form.Item>
          ) : (
            <Form.Item name="reason" label={t("consoles.reason")} rules={required(t("consoles.required"))}>
              <Input.TextArea rows={3} />
            </Form.Item>
          )}
        </Form>
      </Modal>
    </>
  );
}
