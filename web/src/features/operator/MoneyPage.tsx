// Money: top up an enterprise's wallet (or an agency's, for 揭榜挂帅 rewards), pay a provider
// out from its receivable, refund a job or a transfer. Each names the bank reference that makes a replay one transfer.
import { Card, Col, Descriptions, Form, Input, Row, Select, Button } from "antd";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { fenFromYuan, yuan } from "../../lib/format";
import { required, useSubmit, YuanInput } from "../consoles/shared";
import { useActiveOrganisations, usePlatformAccounts } from "./api";

type Movement = { org_id: string; amount: number; external_reference: string };
type Refund = { job_id?: string; transfer_id?: string; amount?: number; reason: string };

export default function OperatorMoneyPage() {
  const { t } = useTranslation();
  const enterprises = useActiveOrganisations("enterprise");
  const agencies = useActiveOrganisations("agency");
  const providers = useActiveOrganisations("provider");
  const platform = usePlatformAccounts();
  const [topUp] = Form.useForm<Movement>();
  const [payout] = Form.useForm<Movement>();
  const [refund] = Form.useForm<Refund>();
  const submit = useSubmit();
  const provider = Form.useWatch("org_id", payout);
  const receivable = useQuery({
    queryKey: ["operator", "balances", provider],
    queryFn: () => unwrap(api.GET("/v1/wallets/{org_id}/balances", { params: { path: { org_id: provider ?? "" } } })),
    enabled: Boolean(provider),
  });
  const options = (page: typeof enterprises) => (page.data?.items ?? []).map((org) => ({ value: org.id, label: org.name }));
  const refresh = [["operator", "platform"], ["operator", "balances"]];

  const doTopUp = async (v: Movement) => {
    const amount_fen = fenFromYuan(v.amount);
    const toAgency = (agencies.data?.items ?? []).some((org) => org.id === v.org_id);
    const call: () => Promise<unknown> = toAgency
      ? () => unwrap(api.POST("/v1/scenes/agencies/{agency_id}/top-ups", { params: { path: { agency_id: v.org_id } }, body: { amount_fen, external_reference: v.external_reference } }))
      : () => unwrap(api.POST("/v1/wallets/{org_id}/top-ups", { params: { path: { org_id: v.org_id } }, body: { amount_fen, external_reference: v.external_reference, currency: "CNY", memo: "" } }));
    const done = await submit(topUp, [["amount", "amount_fen"], "external_reference", ["org_id", "org_id"], ["org_id", "agency_id"]], call, refresh);
    if (done) topUp.resetFields();
  };
  const doPayout = async (v: Movement) => {
    const body = { provider_id: v.org_id, amount_fen: fenFromYuan(v.amount), external_reference: v.external_reference, currency: "CNY" };
    const done = await submit(payout, [["org_id", "provider_id"], ["amount", "amount_fen"], "external_reference"], () => unwrap(api.POST("/v1/payouts", { body })), refresh);
    if (done) payout.resetFields(["amount", "external_reference"]);
  };
  const doRefund = async (v: Refund) => {
    const body = { job_id: v.job_id || null, transfer_id: v.transfer_id || null, amount_fen: v.amount ? fenFromYuan(v.amount) : null, reason: v.reason };
    const done = await submit(refund, ["job_id", "transfer_id", ["amount", "amount_fen"], "reason"], () => unwrap(api.POST("/v1/refunds", { body })), refresh);
    if (done) refund.resetFields();
  };
  const receivableFen = receivable.data?.find((a) => a.kind === "provider_receivable")?.posted_fen;

  return (
    <>
      <PageHeader title={t("operator.money.title")} />
      <Row gutter={[16, 16]}>
        <Col xs={24} lg={8}>
          <Card title={t("operator.money.topUp")}>
            <Form form={topUp} layout="vertical" onFinish={doTopUp} name="top-up">
              <Form.Item name="org_id" label={t("operator.money.payer")} rules={required(t("consoles.required"))}>
                <Select
                  showSearch
                  optionFilterProp="label"
                  options={[
                    { label: t("consoles.kind.enterprise"), options: options(enterprises) },
                    { label: t("consoles.kind.agency"), options: options(agencies) },
                  ]}
                />
              </Form.Item>
              <Form.Item name="amount" label={t("consoles.amount")} rules={required(t("consoles.required"))}>
                <YuanInput />
              </Form.Item>
              <Form.Item name="external_reference" label={t("operator.money.reference")} rules={required(t("consoles.required"))}>
                <Input />
              </Form.Item>
              <Button type="primary" htmlType="submit">{t("operator.money.topUp")}</Button>
            </Form>
          </Card>
        </Col>
        <Col xs={24} lg={8}>
          <Card title={t("operator.money.payout")}>
            <Form form={payout} layout="vertical" onFinish={doPayout} name="payout">
              <Form.Item name="org_id" label={t("operator.money.provider")} rules={required(t("consoles.required"))}>
                <Select showSearch optionFilterProp="label" options={options(providers)} />
              </Form.Item>
              {provider && (
                <p data-testid="receivable">
                  {t("operator.money.receivable")}: {yuan(receivableFen ?? 0)}
                </p>
              )}
              <Form.Item name="amount" label={t("consoles.amount")} rules={required(t("consoles.required"))}>
                <YuanInput />
              </Form.Item>
              <Form.Item name="external_reference" label={t("operator.money.reference")} rules={required(t("consoles.required"))}>
                <Input />
              </Form.Item>
              <Button type="primary" htmlType="submit">{t("operator.money.payout")}</Button>
            </Form>
          </Card>
        </Col>
        <Col xs={24} lg={8}>
          <Card title={t("operator.money.refund")}>
            <Form form={refund} layout="vertical" onFinish={doRefund} name="refund">
              <Form.Item name="job_id" label={t("operator.money.jobId")}>
                <Input />
              </Form.Item>
              <Form.Item name="transfer_id" label={t("operator.money.transferId")}>
                <Input />
              </Form.Item>
              <Form.Item name="amount" label={t("operator.money.refundAmount")}>
                <YuanInput />
              </Form.Item>
              <Form.Item name="reason" label={t("consoles.reason")} rules={required(t("consoles.required"))}>
                <Input />
              </Form.Item>
              <Button type="primary" htmlType="submit">{t("operator.money.refund")}</Button>
            </Form>
          </Card>
        </Col>
      </Row>
      <Card title={t("operator.money.platform")} style={{ marginTop: 16 }}>
        <Descriptions column={{ xs: 1, md: 3 }}>
          {(platform.data ?? []).map((account) => (
            <Descriptions.Item key={account.account_id} label={t(`consoles.account.${account.kind}`)}>
              {yuan(account.posted_fen)}
            </Descriptions.Item>
          ))}
        </Descriptions>
      </Card>
    </>
  );
}
