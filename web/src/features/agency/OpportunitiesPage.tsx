// Opportunities (场景清单): import a CSV or XLSX list (all or nothing, rows and fields named),
// and edit one in place.
import { Button, Card, Form, Input, Modal, Select, Table, Tag, Upload } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { useMe } from "../../lib/auth";
import { required, useServerTable, useSubmit, type Paged } from "../consoles/shared";

export type Opportunity = { id: string; title: string; description: string; industry: string; region: string; status: string; contact?: string | null; org: string };
type Edit = { title: string; description: string; contact: string; status: string };

async function fileBody(file: File) {
  if (file.name.toLowerCase().endsWith(".csv")) return { content: await file.text() };
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  bytes.forEach((byte) => (binary += String.fromCharCode(byte)));
  return { content_base64: window.btoa(binary) };
}

export default function OpportunitiesPage() {
  const { t } = useTranslation();
  const me = useMe();
  const orgId = me.data?.org_id;
  const table = useServerTable<Opportunity>(["agency", "opportunities", orgId], async (offset, limit) =>
    (await unwrap(api.GET("/v1/scenes/{kind}", { params: { path: { kind: "opportunities" }, query: { org_id: orgId, offset, limit } } }))) as unknown as Paged<Opportunity>,
    undefined,
    Boolean(orgId),
  );
  const submit = useSubmit();
  const [editing, setEditing] = useState<Opportunity | null>(null);
  const [form] = Form.useForm<Edit>();
  const [report, setReport] = useState<string | null>(null);

  const upload = async (file: File) => {
    const body = { kind: "opportunities" as const, filename: file.name, skip_invalid: false, ...(await fileBody(file)) };
    const result = await submit(null, [], () => unwrap(api.POST("/v1/scenes/import", { body })), [["agency", "opportunities"]]);
    if (result) setReport(t("agency.opportunities.imported", { created: (result as { created?: number }).created ?? 0 }));
  };
  const edit = (item: Opportunity) => {
    form.setFieldsValue({ title: item.title, description: item.description, contact: item.contact ?? "", status: item.status });
    setEditing(item);
  };
  const save = async (v: Edit) => {
    if (!editing) return;
    const done = await submit(form, ["title", "description", "contact", "status"], () =>
      unwrap(api.PATCH("/v1/scenes/{kind}/{item_id}", { params: { path: { kind: "opportunities", item_id: editing.id } }, body: v })), [["agency", "opportunities"]]);
    if (done) setEditing(null);
  };

  return (
    <>
      <PageHeader
        title={t("agency.opportunities.title")}
        extra={
          <Upload
            accept=".csv,.xlsx"
            showUploadList={false}
            beforeUpload={(file) => {
              void upload(file); // sent as JSON by the typed client, never by the uploader
              return false;
            }}
          >
            <Button type="primary">{t("agency.opportunities.import")}</Button>
          </Upload>
        }
      />
      {report && <Card size="small" style={{ marginBottom: 12 }} data-testid="import-report">{report}</Card>}
      <Table<Opportunity>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: "ID", dataIndex: "id" },
          { title: t("agency.opportunities.titleColumn"), dataIndex: "title" },
          { title: t("agency.opportunities.industry"), dataIndex: "industry" },
          { title: t("agency.opportunities.region"), dataIndex: "region" },
          { title: t("agency.opportunities.status"), dataIndex: "status", render: (s: string) => <Tag>{t(`agency.opportunities.statuses.${s}`)}</Tag> },
          { title: t("consoles.actions"), render: (_, item) => <Button size="small" onClick={() => edit(item)}>{t("agency.opportunities.edit")}</Button> },
        ]}
      />
      <Modal open={editing !== null} title={t("agency.opportunities.edit")} onCancel={() => setEditing(null)} onOk={() => form.submit()} okText={t("common.save")} cancelText={t("common.cancel")}>
        <Form form={form} layout="vertical" onFinish={save} name="opportunity">
          <Form.Item name="title" label={t("agency.opportunities.titleColumn")} rules={required(t("consoles.required"))}>
            <Input />
          </Form.Item>
          <Form.Item name="description" label={t("agency.opportunities.description")}>
            <Input.TextArea rows={4} />
          </Form.Item>
          <Form.Item name="contact" label={t("agency.opportunities.contact")}>
            <Input />
          </Form.Item>
          <Form.Item name="status" label={t("agency.opportunities.status")}>
            <Select options={["open", "matched", "closed"].map((value) => ({ value, label: t(`agency.opportunities.statuses.${value}`) }))} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}
