// Programs: create one with its tiers (a tiers editor), then fund it from the treasury.
import { Button, Card, Checkbox, DatePicker, Form, Input, InputNumber, Modal, Select, Space, Table } from "antd";
import type { Dayjs } from "dayjs";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { useMe } from "../../lib/auth";
import { beijingTime, fenFromYuan, yuan } from "../../lib/format";
import { required, useServerTable, useSubmit, YuanInput, type FieldName } from "../consoles/shared";
import { fetchMyPrograms, type Program } from "./api";

type Tier = { label?: string; ratio_percent: number; sme?: boolean; domestic?: "any" | "yes" | "no" };
type ProgramForm = {
  name: string;
  category: "compute" | "model" | "data";
  budget: number;
  period: [Dayjs, Dayjs];
  base_ratio_percent: number;
  cap_per_enterprise: number;
  tiers?: Tier[];
};
const FIELDS: FieldName[] = ["name", "category", ["budget", "budget_fen"], ["period", "valid_from"], ["period", "valid_until"], ["base_ratio_percent", "base_ratio"], ["cap_per_enterprise", "cap_per_enterprise_fen"], ["tiers", "tiers"]];

function ratio(percent: number): string {
  return (percent / 100).toFixed(4).replace(/0+$/, "").replace(/\.$/, "");
}

function tierBody(tier: Tier) {
  return {
    label: tier.label ?? "",
    ratio: ratio(tier.ratio_percent),
    sme: tier.sme ? true : null,
    domestic: tier.domestic === "yes" ? true : tier.domestic === "no" ? false : null,
  };
}

export default function AgencyProgramsPage() {
  const { t } = useTranslation();
  const agency = useMe().data?.org_id;
  const programs = useServerTable<Program>(["agency", "programs", "table", agency], (offset, limit) => fetchMyPrograms(agency, offset, limit), undefined, Boolean(agency));
  const [form] = Form.useForm<ProgramForm>();
  const [funding, setFunding] = useState<Program | null>(null);
  const [fund] = Form.useForm<{ amount: number; external_reference: string }>();
  const submit = useSubmit();
  const refresh = [["agency"]];

  const create = async (v: ProgramForm) => {
    const body = {
      name: v.name,
      category: v.category,
      budget_fen: fenFromYuan(v.budget),
      valid_from: v.period[0].format("YYYY-MM-DD"),
      valid_until: v.period[1].format("YYYY-MM-DD"),
      base_ratio: ratio(v.base_ratio_percent),
      cap_per_enterprise_fen: fenFromYuan(v.cap_per_enterprise),
      tiers: (v.tiers ?? []).map(tierBody),
      // The API's defaults, stated: any provider, any enterprise size, stacking as published.
      max_combined_ratio: "1",
      provider_scope: "all",
      sme_only: false,
      stack_order: 0,
      stacking_allowed: true,
    };
    const done = await submit(form, FIELDS, () => unwrap(api.POST("/v1/vouchers/programs", { body })), refresh);
    if (done) form.resetFields();
  };
  const doFund = async (v: { amount: number; external_reference: string }) => {
    if (!funding) return;
    const body = { amount_fen: fenFromYuan(v.amount), external_reference: v.external_reference };
    const done = await submit(fund, [["amount", "amount_fen"], "external_reference"], () =>
      unwrap(api.POST("/v1/vouchers/programs/{program_id}/funding", { params: { path: { program_id: funding.id } }, body })), refresh);
    if (done) {
      setFunding(null);
      fund.resetFields();
    }
  };

  return (
    <>
      <PageHeader title={t("agency.programs.title")} />
      <Card title={t("agency.programs.create")} style={{ marginBottom: 16 }}>
        <Form form={form} layout="vertical" onFinish={create} name="program" initialValues={{ category: "compute", base_ratio_percent: 30 }}>
          <Space wrap align="start">
            <Form.Item name="name" label={t("agency.programs.name")} rules={required(t("consoles.required"))}>
              <Input style={{ width: 240 }} />
            </Form.Item>
            <Form.Item name="category" label={t("agency.programs.category")}>
              <Select style={{ width: 140 }} options={["compute", "model", "data"].map((value) => ({ value, label: t(`programs.category.${value}`) }))} />
            </Form.Item>
            <Form.Item name="budget" label={t("agency.programs.budget")} rules={required(t("consoles.required"))}>
              <YuanInput />
            </Form.Item>
            <Form.Item name="period" label={t("agency.programs.period")} rules={required(t("consoles.required"))}>
              <DatePicker.RangePicker />
            </Form.Item>
            <Form.Item name="base_ratio_percent" label={t("agency.programs.baseRatio")} rules={required(t("consoles.required"))}>
              <InputNumber min={0} max={100} suffix="%" />
            </Form.Item>
            <Form.Item name="cap_per_enterprise" label={t("agency.programs.cap")} rules={required(t("consoles.required"))}>
              <YuanInput />
            </Form.Item>
          </Space>
          <Form.List name="tiers">
            {(fields, { add, remove }) => (
              <Card size="small" type="inner" title={t("agency.programs.tiers")} extra={<Button data-testid="add-tier" onClick={() => add({ ratio_percent: 50, domestic: "any" })}>{t("agency.programs.addTier")}</Button>}>
                {fields.map((field, index) => (
                  <Space key={field.key} wrap align="baseline" data-testid={`tier-${index}`}>
                    <Form.Item name={[field.name, "label"]} label={t("agency.programs.tierLabel")}>
                      <Input style={{ width: 160 }} />
                    </Form.Item>
                    <Form.Item name={[field.name, "ratio_percent"]} label={t("agency.programs.tierRatio")} rules={required(t("consoles.required"))}>
                      <InputNumber min={1} max={100} suffix="%" />
                    </Form.Item>
                    <Form.Item name={[field.name, "domestic"]} label={t("agency.programs.tierDomestic")}>
                      <Select style={{ width: 140 }} options={["any", "yes", "no"].map((value) => ({ value, label: t(`agency.programs.domestic.${value}`) }))} />
                    </Form.Item>
                    <Form.Item name={[field.name, "sme"]} valuePropName="checked">
                      <Checkbox>{t("agency.programs.tierSme")}</Checkbox>
                    </Form.Item>
                    <Button onClick={() => remove(field.name)}>{t("agency.programs.removeTier")}</Button>
                  </Space>
                ))}
              </Card>
            )}
          </Form.List>
          <Button style={{ marginTop: 12 }} type="primary" htmlType="submit">
            {t("common.submit")}
          </Button>
        </Form>
      </Card>
      <Table<Program>
        rowKey="id"
        loading={programs.query.isFetching}
        dataSource={programs.rows}
        pagination={programs.pagination}
        columns={[
          { title: t("agency.programs.name"), dataIndex: "name" },
          { title: t("agency.programs.budget"), dataIndex: "budget_fen", render: yuan },
          { title: t("agency.programs.funded"), render: (_, p) => yuan(p.totals?.funded_fen ?? 0) },
          { title: t("agency.programs.paid"), render: (_, p) => yuan(p.totals?.paid_fen ?? 0) },
          { title: t("agency.programs.validUntil"), dataIndex: "valid_until", render: beijingTime },
          { title: t("consoles.actions"), render: (_, p) => <Button size="small" data-testid={`fund-${p.id}`} onClick={() => setFunding(p)}>{t("agency.programs.fund")}</Button> },
        ]}
      />
      <Modal open={funding !== null} title={t("agency.programs.fund")} onCancel={() => setFunding(null)} onOk={() => fund.submit()} okText={t("common.submit")} cancelText={t("common.cancel")}>
        <Form form={fund} layout="vertical" onFinish={doFund} name="fund">
          <Form.Item name="amount" label={t("consoles.amount")} rules={required(t("consoles.required"))}>
            <YuanInput />
          </Form.Item>
          <Form.Item name="external_reference" label={t("agency.programs.reference")} rules={required(t("consoles.required"))}>
            <Input />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}
