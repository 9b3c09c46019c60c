// Vouchers for an enterprise: apply to an open program, follow applications, see grants.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Alert, Button, Checkbox, DatePicker, Form, Input, InputNumber, Modal, Table, Tabs, Tag } from "antd";
import type { Dayjs } from "dayjs";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { CLIPPED, Clipped } from "../../components/Clipped";
import { PageHeader } from "../../components/PageHeader";
import { api, ApiError, unwrap, type Schemas } from "../../lib/api";
import { errorText, showServerError } from "../../lib/forms";
import { beijingTime, fenFromYuan, yuan } from "../../lib/format";
import { useServerTable } from "../consoles/shared";
import { useProgramNames } from "./programNames";

type Program = Schemas["ProgramPublic"];
type Application = Schemas["ApplicationPublic"];
type Grant = Schemas["GrantPublic"];
type ApplyForm = { is_sme: boolean; region: string; founded_on: Dayjs; requested_yuan: number; note?: string };

function ApplyDialog({ program, onClose }: { program: Program; onClose: () => void }) {
  const { t } = useTranslation();
  const [form] = Form.useForm<ApplyForm>();
  const client = useQueryClient();
  const [failure, setFailure] = useState<string | null>(null);
  const apply = useMutation({
    mutationFn: (values: ApplyForm) =>
      unwrap(
        api.POST("/v1/vouchers/programs/{program_id}/applications", {
          params: { path: { program_id: program.id } },
          body: { is_sme: values.is_sme, region: values.region, founded_on: values.founded_on.format("YYYY-MM-DD"), requested_fen: fenFromYuan(values.requested_yuan), note: values.note ?? "" },
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: ["applications"] }),
  });
  async function onFinish(values: ApplyForm) {
    setFailure(null);
    try {
      await apply.mutateAsync(values);
      onClose();
    } catch (error) {
      // The API names the amount requested_fen, or quota_fen when it passes the cap.
      if (error instanceof ApiError && ["requested_fen", "quota_fen"].includes(error.field ?? "")) form.setFields([{ name: "requested_yuan", errors: [error.message] }]);
      else if (!showServerError(form, error, ["is_sme", "region", "founded_on", "note"])) setFailure(errorText(error));
    }
  }
  return (
    <Modal open title={t("vouchers.applyTo", { name: program.name })} onCancel={onClose} onOk={() => form.submit()} okText={t("vouchers.apply")} cancelText={t("common.cancel")} confirmLoading={apply.isPending}>
      {failure && <Alert type="error" title={failure} role="alert" />}
      <Form form={form} layout="vertical" onFinish={onFinish} initialValues={{ is_sme: true }}>
        <Form.Item name="is_sme" valuePropName="checked"><Checkbox>{t("vouchers.isSme")}</Checkbox></Form.Item>
        <Form.Item name="region" label={t("vouchers.region")} rules={[{ required: true, message: t("vouchers.regionRequired") }]}><Input placeholder={t("common.regionDistrictPlaceholder")} /></Form.Item>
        <Form.Item name="founded_on" label={t("vouchers.foundedOn")} rules={[{ required: true, message: t("vouchers.foundedOnRequired") }]}><DatePicker style={{ width: "100%" }} /></Form.Item>
        <Form.Item name="requested_yuan" label={t("vouchers.requested")} rules={[{ required: true, message: t("vouchers.requestedRequired") }]}><InputNumber min={0.01} precision={2} prefix="¥" style={{ width: "100%" }} /></Form.Item>
        <Form.Item name="note" label={t("vouchers.note")}><Input.TextArea rows={2} maxLength={500} /></Form.Item>
      </Form>
    </Modal>
  );
}

function Programs() {
  const { t } = useTranslation();
  const [chosen, setChosen] = useState<Program | null>(null);
  const programs = useServerTable<Program>(["programs", "open"], (offset, limit) =>
    unwrap(api.GET("/v1/vouchers/programs", { params: { query: { open_only: true, offset, limit } } })),
  );
  return (
    <>
      <Table<Program>
        rowKey="id"
        loading={programs.query.isLoading}
        dataSource={programs.rows}
        pagination={programs.pagination}
        columns={[
          { title: t("vouchers.program"), dataIndex: "name" },
          { title: t("programs.budget"), dataIndex: "budget_fen", render: (fen: number) => yuan(fen) },
          { title: t("programs.validUntil"), dataIndex: "valid_until", render: (at: string) => beijingTime(at) },
          { title: "", key: "apply", render: (_: unknown, program: Program) => <Button onClick={() => setChosen(program)} data-testid={`apply-${program.id}`}>{t("vouchers.apply")}</Button> },
        ]}
      />
      {chosen && <ApplyDialog program={chosen} onClose={() => setChosen(null)} />}
    </>
  );
}

function Applications() {
  const { t } = useTranslation();
  const applications = useServerTable<Application>(["applications"], (offset, limit) =>
    unwrap(api.GET("/v1/vouchers/applications", { params: { query: { offset, limit } } })), 5000,
  );
  const programName = useProgramNames(applications.rows);
  return (
    <Table<Application>
      rowKey="id"
      dataSource={applications.rows}
      columns={[
        { title: t("vouchers.program"), dataIndex: "program_id", ...CLIPPED, render: (_: string, application: Application) => <Clipped text={programName(application)} /> },
        { title: t("vouchers.state"), dataIndex: "state", render: (state: string) => <Tag data-testid="application-state">{t(`vouchers.states.${state}`)}</Tag> },
        { title: t("vouchers.requested"), dataIndex: "requested_fen", render: (fen: number) => yuan(fen) },
        { title: t("vouchers.granted"), dataIndex: "granted_fen", render: (fen: number | null) => yuan(fen) },
        { title: t("vouchers.reason"), dataIndex: "reason" },
        { title: t("vouchers.appliedAt"), dataIndex: "created_at", render: (at: string) => beijingTime(at) },
      ]}
      pagination={applications.pagination}
    />
  );
}

function Grants() {
  const { t } = useTranslation();
  const grants = useServerTable<Grant>(["grants"], (offset, limit) =>
    unwrap(api.GET("/v1/vouchers/grants", { params: { query: { offset, limit } } })), 5000,
  );
  return (
    <Table<Grant>
      rowKey="id"
      dataSource={grants.rows}
      pagination={grants.pagination}
      columns={[
        { title: t("vouchers.program"), dataIndex: "program_name", ...CLIPPED, render: (name: string) => <Clipped text={name} /> },
        { title: t("vouchers.quota"), dataIndex: "quota_fen", render: (fen: number) => <span data-testid="grant-quota">{yuan(fen)}</span> },
        { title: t("vouchers.available"), dataIndex: "available_fen", render: (fen: number) => yuan(fen) },
        { title: t("vouchers.reserved"), dataIndex: "reserved_fen", render: (fen: number) => yuan(fen) },
        { title: t("vouchers.state"), dataIndex: "state", render: (state: string) => <Tag data-testid="grant-state">{t(`vouchers.grantStates.${state}`, { defaultValue: state })}</Tag> },
      ]}
    />
  );
}

export default function VouchersPage() {
  const { t } = useTranslation();
  return (
    <>
      <PageHeader title={t("vouchers.title")} />
      <Tabs
        items={[
          { key: "programs", label: t("vouchers.openPrograms"), children: <Programs /> },
          { key: "applications", label: t("vouchers.myApplications"), children: <Applications /> },
          { key: "grants", label: t("vouchers.myGrants"), children: <Grants /> },
        ]}
      />
    </>
  );
}
