// Submit a job with a live quote: the price range over the pools that can run it, and for
// each voucher grant the subsidy and what the enterprise pays, before anything is held.
import { Alert, Button, Card, Col, Descriptions, Form, Input, InputNumber, Row, Select, Table, Tag, Tooltip, Typography } from "antd";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate, useSearchParams } from "react-router-dom";
import { PageHeader } from "../../components/PageHeader";
import { errorText, showServerError } from "../../lib/forms";
import { count, yuan } from "../../lib/format";
import { type JobSpec, type Quote, useQuote, useSubmitJob } from "./api";

type SubmitForm = { name: string; command: string; cards: number; max_run_time_h: number; accelerators: string[]; region?: string };
const FIELDS = ["name", "command", "cards", "accelerators", "region", "max_run_time_s"];
const QUOTE_DELAY_MS = 400;

function toSpec(values: SubmitForm): JobSpec | null {
  if (!values.name || !values.command || !values.cards || !values.max_run_time_h) return null;
  return {
    name: values.name,
    command: values.command,
    cards: values.cards,
    max_run_time_s: Math.round(values.max_run_time_h * 3600),
    accelerators: values.accelerators ?? [],
    region: values.region || null,
  } as JobSpec;
}

export default function SubmitPage() {
  const { t } = useTranslation();
  const [form] = Form.useForm<SubmitForm>();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [spec, setSpec] = useState<JobSpec | null>(null);
  const values = Form.useWatch([], form);
  useEffect(() => {
    const timer = window.setTimeout(() => setSpec(values ? toSpec(values) : null), QUOTE_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [values]);
  const quote = useQuote(spec);
  const submit = useSubmitJob();
  const [failure, setFailure] = useState<string | null>(null);
  async function onFinish(filled: SubmitForm) {
    setFailure(null);
    try {
      const job = await submit.mutateAsync(toSpec(filled)!);
      navigate(`/console/jobs/${job.id}`);
    } catch (error) {
      if (!showServerError(form, error, FIELDS)) setFailure(errorText(error));
    }
  }
  const chip = params.get("accelerator");
  return (
    <>
      <PageHeader title={t("submit.title")} />
      <Row gutter={24}>
        <Col xs={24} lg={10}>
          <Card>
            {failure && <Alert type="error" title={failure} role="alert" style={{ marginBottom: 16 }} />}
            <Form form={form} layout="vertical" onFinish={onFinish} initialValues={{ cards: 1, max_run_time_h: 1, accelerators: chip ? [chip] : [], command: "python3 -c \"print('hello')\"" }}>
              <Form.Item name="name" label={t("submit.name")} rules={[{ required: true, message: t("submit.nameRequired") }, { max: 120 }]}>
                <Input />
              </Form.Item>
              <Form.Item name="command" label={t("submit.command")} rules={[{ required: true, message: t("submit.commandRequired") }]}>
                <Input.TextArea rows={3} />
              </Form.Item>
              <Form.Item name="cards" label={t("submit.cards")} rules={[{ required: true, message: t("submit.cardsRequired") }]}>
                <InputNumber min={1} max={1024} precision={0} style={{ width: "100%" }} />
              </Form.Item>
              <Form.Item name="max_run_time_h" label={t("submit.maxRunTime")} rules={[{ required: true, message: t("submit.maxRunTimeRequired") }]}>
                <InputNumber min={0.01} max={720} step={0.5} style={{ width: "100%" }} />
              </Form.Item>
              <Form.Item name="accelerators" label={t("submit.accelerators")} extra={t("submit.acceleratorsHelp")}>
                <Select mode="tags" tokenSeparators={[","]} />
              </Form.Item>
              <Form.Item name="region" label={t("submit.region")}>
                <Input placeholder={t("common.regionPlaceholder")} />
              </Form.Item>
              <Button type="primary" htmlType="submit" loading={submit.isPending} disabled={!quote.data?.feasible_pools.length}>
                {t("submit.submit")}
              </Button>
            </Form>
          </Card>
        </Col>
        <Col xs={24} lg={14}>
          <QuoteCard quote={quote.data} error={quote.error} loading={quote.isFetching} />
        </Col>
      </Row>
    </>
  );
}

/** The quote lists at most the cheapest 50 pools (QUOTE_POOLS_MAX on the server) and counts
 * them all; paged here, ten to a page, so that a city of a thousand pools stays one short card. */
const QUOTE_PAGE_SIZE = 10;
type QuoteLine = { pool_id: string; pool: string; accelerator: string; region: string; max_cost_fen: number };

function QuoteCard({ quote, error, loading }: { quote?: Quote; error: unknown; loading: boolean }) {
  const { t } = useTranslation();
  if (error) return <Alert type="warning" title={errorText(error)} />;
  if (!quote) return <Card title={t("submit.quote")} loading={loading}>{t("submit.quoteHint")}</Card>;
  if (!quote.feasible_pools.length)
    return <Alert type="warning" title={t("submit.noPool")} description={quote.reasons.join("；")} />;
  const subsidies = new Map((quote.vouchers ?? []).map((v) => [v.pool_id, v]));
  const lines = quote.feasible_pools as QuoteLine[];
  // `feasible_pools_total` counts every pool that can run the job (the list is the cheapest).
  const total = (quote as Quote & { feasible_pools_total?: number }).feasible_pools_total ?? lines.length;
  return (
    <Card title={t("submit.quote")} loading={loading && !quote} data-testid="quote">
      <Descriptions size="small" column={2}>
        <Descriptions.Item label={t("submit.priceRange")}>
          <span data-testid="price-range">{yuan(quote.min_fen)} – {yuan(quote.max_fen)}</span>
        </Descriptions.Item>
        <Descriptions.Item label={t("submit.pools")}><span data-testid="pools-total">{count(total)}</span></Descriptions.Item>
      </Descriptions>
      {total > lines.length && (
        <Typography.Paragraph type="secondary" data-testid="quote-showing">{t("submit.showing", { shown: count(lines.length), total: count(total) })}</Typography.Paragraph>
      )}
      <Table<QuoteLine>
        rowKey="pool_id"
        size="small"
        tableLayout="fixed"
        pagination={lines.length > QUOTE_PAGE_SIZE ? { pageSize: QUOTE_PAGE_SIZE, showSizeChanger: false, size: "small" } : false}
        dataSource={lines}
        columns={[
          {
            title: t("submit.pool"),
            dataIndex: "pool",
            render: (_: string, line: QuoteLine) => (
              <div style={{ overflowWrap: "anywhere" }}>
                {line.pool}
                <br />
                <Typography.Text type="secondary">{line.accelerator} · {line.region}</Typography.Text>
              </div>
            ),
          },
          { title: t("submit.maxCost"), dataIndex: "max_cost_fen", width: 110, render: (fen: number) => yuan(fen) },
          {
            title: t("submit.subsidy"),
            key: "subsidy",
            render: (_: unknown, line: QuoteLine) =>
              (subsidies.get(line.pool_id)?.grants ?? []).map((grant) => (
                <div key={grant.grant_id} data-testid="grant-subsidy" style={{ display: "flex", alignItems: "center", gap: 4, minWidth: 0 }}>
                  <Tooltip title={grant.program_name}>
                    <Tag color="#237804" style={{ minWidth: 0, overflow: "hidden", textOverflow: "ellipsis" }}>{grant.program_name}</Tag>
                  </Tooltip>
                  <span style={{ flex: "none" }}>−{yuan(grant.subsidy_fen)}</span>
                </div>
              )),
          },
          {
            title: t("submit.youPay"),
            key: "pays",
            width: 110,
            render: (_: unknown, line: QuoteLine) => <strong data-testid="you-pay">{yuan(subsidies.get(line.pool_id)?.enterprise_pays_fen ?? line.max_cost_fen)}</strong>,
          },
        ]}
      />
      <Typography.Paragraph type="secondary" style={{ marginTop: 12, marginBottom: 0 }}>{t("submit.quoteNote")}</Typography.Paragraph>
    </Card>
  );
}
