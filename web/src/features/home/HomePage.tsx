// The enterprise's home: balance, running jobs, this month's spend and subsidy.
import { useQuery } from "@tanstack/react-query";
import { Button, Card, Col, Row, Space, Statistic } from "antd";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { useMe } from "../../lib/auth";
import { yuan } from "../../lib/format";
import { beijingMonth } from "../../lib/time";

export default function HomePage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const me = useMe();
  const orgId = me.data?.org_id;
  const month = beijingMonth();
  const balances = useQuery({
    queryKey: ["balances", orgId],
    queryFn: () => unwrap(api.GET("/v1/wallets/{org_id}/balances", { params: { path: { org_id: orgId! } } })),
    enabled: Boolean(orgId),
  });
  const running = useQuery({
    queryKey: ["jobs", "running", 0, 1],
    queryFn: () => unwrap(api.GET("/v1/jobs", { params: { query: { state: "running", limit: 1 } } })),
    refetchInterval: 5000,
  });
  const totals = useQuery({
    queryKey: ["month", orgId, month],
    queryFn: async () =>
      (await unwrap(api.GET("/v1/statements/{org_id}/{month}", { params: { path: { org_id: orgId!, month }, query: { format: "json" } } }))) as { total_amount_fen: number; total_subsidy_fen: number },
    enabled: Boolean(orgId),
  });
  const wallet = balances.data?.find((account) => account.kind === "wallet") ?? balances.data?.[0];
  const cards: [string, string | number][] = [
    ["home.balance", yuan(wallet?.available_fen)],
    ["home.running", running.data?.total ?? "—"],
    ["home.monthSpend", yuan(totals.data?.total_amount_fen)],
    ["home.monthSubsidy", yuan(totals.data?.total_subsidy_fen)],
  ];
  return (
    <>
      <PageHeader
        title={t("home.title", { name: me.data?.org_name ?? "" })}
        extra={
          <Space>
            <Button onClick={() => navigate("/market")}>{t("nav.market")}</Button>
            <Button type="primary" onClick={() => navigate("/console/submit")}>{t("nav.submit")}</Button>
          </Space>
        }
      />
      <Row gutter={[16, 16]}>
        {cards.map(([label, value]) => (
          <Col key={label} xs={12} md={6}>
            <Card><Statistic title={t(label)} value={value} /></Card>
          </Col>
        ))}
      </Row>
    </>
  );
}
