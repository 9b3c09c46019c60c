// The landing page: headline numbers only (no chart library), so the first page stays light.
import { Alert, Card, Col, Progress, Row, Spin, Statistic } from "antd";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { errorText } from "../../lib/errors";
import { percent } from "../../lib/format";
import { useOverview } from "./api";

export default function OverviewPage() {
  const { t } = useTranslation();
  const overview = useOverview();
  const data = overview.data;
  if (overview.isError)
    return (
      <>
        <PageHeader title={t("overview.title")} />
        <Alert type="error" title={errorText(overview.error)} role="alert" data-testid="page-error" />
      </>
    );
  if (!data) return <Spin />;
  const stats: [string, string | number][] = [
    ["overview.providers", data.providers],
    ["overview.pools", data.pools],
    ["overview.cards", data.cards],
    ["overview.freeCards", data.free_cards],
    ["overview.domesticShare", percent(data.domestic_share)],
    ["overview.openPrograms", data.open_programs],
    ["overview.openOpportunities", data.open_opportunities],
    ["overview.openCapabilities", data.open_capabilities],
  ];
  return (
    <>
      <PageHeader title={t("overview.title")} />
      <Row gutter={[16, 16]}>
        {stats.map(([label, value]) => (
          <Col key={label} xs={12} md={6}>
            <Card>
              <Statistic title={t(label)} value={value} data-testid={label} />
            </Card>
          </Col>
        ))}
        <Col xs={24} md={12}>
          <Card title={t("overview.cardsByVendor")}>
            {Object.entries(data.cards_by_vendor).map(([vendor, cards]) => (
              <div key={vendor}>
                {vendor} · {cards} {data.vendors_domestic.includes(vendor) ? `(${t("market.domestic")})` : ""}
                <Progress percent={data.cards ? Math.round((cards / data.cards) * 1000) / 10 : 0} aria-label={vendor} />
              </div>
            ))}
          </Card>
        </Col>
        <Col xs={24} md={12}>
          <Card title={t("overview.jobsByState")}>
            {Object.keys(data.jobs_by_state).length === 0 && t("common.none")}
            {Object.entries(data.jobs_by_state).map(([state, count]) => (
              <Statistic key={state} title={t(`jobState.${state}`)} value={count} style={{ display: "inline-block", marginRight: 24 }} />
            ))}
          </Card>
        </Col>
      </Row>
    </>
  );
}
