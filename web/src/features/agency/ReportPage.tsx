// The program report: burn-down, subsidy by vendor with the domestic share, by enterprise,
// refused orders by reason, every figure from the ledger; XLSX export of all sections.
import { Button, Card, Col, Descriptions, Empty, Row, Select, Space, Statistic } from "antd";
import { useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { LazyChart } from "../../components/LazyChart";
import { PageHeader } from "../../components/PageHeader";
import { yuan } from "../../lib/format";
import { useMyPrograms, useReport, type Report } from "./api";
import type { TFunction } from "i18next";

export default function ReportPage() {
  const { t } = useTranslation();
  const programs = useMyPrograms();
  const [programId, setProgramId] = useState<string | undefined>();
  const items = programs.data?.items ?? [];
  useEffect(() => {
    if (!programId && items.length > 0) setProgramId(items[0]?.id);
  }, [items, programId]);
  const report = useReport(programId);
  return (
    <>
      <PageHeader
        title={t("agency.report.title")}
        extra={
          <Space>
            <Select aria-label={t("agency.report.program")} style={{ width: 260 }} value={programId} onChange={setProgramId}
              options={items.map((p) => ({ value: p.id, label: p.name }))} />
            {programId && (
              <Button href={`/v1/vouchers/programs/${encodeURIComponent(programId)}/report?format=xlsx`} download data-testid="xlsx">
                {t("agency.report.xlsx")}
              </Button>
            )}
          </Space>
        }
      />
      {report.data ? <ReportView report={report.data} /> : <Empty description={t("common.none")} />}
    </>
  );
}

function ReportView({ report }: { report: Report }) {
  const { t, i18n } = useTranslation();
  const charts = useMemo(() => reportCharts(report, t), [report, t, i18n.language]);
  const totals: [string, number][] = [
    ["funded", report.totals.funded_fen],
    ["committed", report.totals.committed_fen],
    ["paid", report.totals.paid_fen],
    ["remaining", report.totals.remaining_fen],
  ];
  return (
    <>
      <Row gutter={[16, 16]} style={{ marginBottom: 16 }}>
        {totals.map(([key, fen]) => (
          <Col key={key} xs={12} md={6}>
            <Card>
              <Statistic title={t(`agency.report.${key}`)} value={yuan(fen)} data-testid={`report-${key}`} />
            </Card>
          </Col>
        ))}
      </Row>
      <Descriptions style={{ marginBottom: 16 }}>
        <Descriptions.Item label={t("agency.report.domesticShare")}>
          <span data-testid="report-domestic">{(report.domestic_share_bp / 100).toFixed(2)}%</span>
        </Descriptions.Item>
      </Descriptions>
      <Row gutter={[16, 16]}>
        {charts.map((chart) => (
          <Col key={chart.key} xs={24} lg={12}>
            <Card title={chart.title}>
              <LazyChart option={chart.option} label={chart.label} />
            </Card>
          </Col>
        ))}
      </Row>
    </>
  );
}

function reportCharts(report: Report, t: TFunction) {
  const days = report.burn_down.map((d) => d.day);
  const series = (["funded", "committed", "paid", "remaining"] as const).map((key) => ({
    name: t(`agency.report.${key}`),
    type: "line",
    data: report.burn_down.map((d) => d[`${key}_fen`] / 100),
  }));
  const money = (fen: number) => yuan(fen);
  // The API gives why an order went unsubsidised as a code; an unknown one shows as it came.
  const outcome = (code: string) => t(`agency.report.outcomes.${code}`, { defaultValue: code });
  const list = (title: string, rows: [string, string][]) => `${title}: ${rows.map(([a, b]) => `${a} ${b}`).join(", ") || t("common.none")}`;
  const lastPaid = report.burn_down[report.burn_down.length - 1]?.paid_fen ?? 0;
  return [
    {
      key: "burn",
      title: t("agency.report.burnDown"),
      label: `${t("agency.report.burnDown")}: ${t("agency.report.paid")} ${money(lastPaid)}`,
      option: { tooltip: { trigger: "axis" }, legend: {}, grid: { left: 64, right: 16 }, xAxis: { type: "category", data: days }, yAxis: { type: "value", name: "¥" }, series },
    },
    {
      key: "vendor",
      title: t("agency.report.byVendor"),
      label: list(t("agency.report.byVendor"), report.by_vendor.map((v) => [v.name, money(v.subsidy_fen)])),
      option: {
        tooltip: { trigger: "item" },
        legend: { bottom: 0 },
        series: [{ type: "pie", radius: ["40%", "65%"], data: report.by_vendor.map((v) => ({ name: v.domestic ? `${v.name} (${t("market.domestic")})` : v.name, value: v.subsidy_fen / 100 })) }],
      },
    },
    {
      key: "enterprise",
      title: t("agency.report.byEnterprise"),
      label: list(t("agency.report.byEnterprise"), report.by_enterprise.map((e) => [e.name, money(e.subsidy_fen)])),
      option: { tooltip: { trigger: "axis" }, grid: { left: 64, right: 16 }, xAxis: { type: "category", data: report.by_enterprise.map((e) => e.name) }, yAxis: { type: "value", name: "¥" }, series: [{ type: "bar", data: report.by_enterprise.map((e) => e.subsidy_fen / 100) }] },
    },
    {
      key: "refused",
      title: t("agency.report.refused"),
      label: list(t("agency.report.refused"), report.refused.map((r) => [outcome(r.outcome), String(r.orders)])),
      option: { tooltip: { trigger: "axis" }, grid: { left: 48, right: 16 }, xAxis: { type: "category", data: report.refused.map((r) => outcome(r.outcome)) }, yAxis: { type: "value" }, series: [{ type: "bar", data: report.refused.map((r) => r.orders) }] },
    },
  ];
}
