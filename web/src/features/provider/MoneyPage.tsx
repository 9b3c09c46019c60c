// Receivables and payouts: what the platform owes me now, and every movement of it (my share
// of each settled job, each payout to my bank), paged on the server.
import { Card, Col, Row, Statistic, Table } from "antd";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { CLIPPED, Clipped } from "../../components/Clipped";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap, type Schemas } from "../../lib/api";
import { useMe } from "../../lib/auth";
import { beijingTime, yuan } from "../../lib/format";
import { lineAmount, transferKind } from "../../lib/ledger";
import { useServerTable } from "../consoles/shared";

type Line = Schemas["StatementLinePublic"];

export default function ProviderMoneyPage() {
  const { t } = useTranslation();
  const me = useMe();
  const orgId = me.data?.org_id ?? "";
  const balances = useQuery({
    queryKey: ["provider", "balances", orgId],
    queryFn: () => unwrap(api.GET("/v1/wallets/{org_id}/balances", { params: { path: { org_id: orgId } } })),
    enabled: Boolean(orgId),
    refetchInterval: 5_000,
  });
  const table = useServerTable<Line>(["provider", "statement", orgId], (offset, limit) =>
    unwrap(api.GET("/v1/wallets/{org_id}/statement", { params: { path: { org_id: orgId }, query: { offset, limit } } })), 5_000, Boolean(orgId),
  );
  const receivable = balances.data?.find((a) => a.kind === "provider_receivable");
  const paidOut = table.rows.filter((line) => line.code === "payout").reduce((sum, line) => sum + line.amount_fen, 0);
  return (
    <>
      <PageHeader title={t("provider.money.title")} />
      <Row gutter={[16, 16]} style={{ marginBottom: 16 }}>
        <Col xs={24} md={8}>
          <Card>
            <Statistic title={t("provider.money.receivable")} value={yuan(receivable?.posted_fen ?? 0)} data-testid="receivable" />
          </Card>
        </Col>
        <Col xs={24} md={8}>
          <Card>
            <Statistic title={t("provider.money.earned")} value={yuan(receivable?.credits_posted ?? 0)} />
          </Card>
        </Col>
        <Col xs={24} md={8}>
          <Card>
            <Statistic title={t("provider.money.paidOutPage")} value={yuan(paidOut)} />
          </Card>
        </Col>
      </Row>
      <Table<Line>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: t("provider.money.time"), dataIndex: "timestamp", width: 180, render: beijingTime },
          { title: t("provider.money.code"), dataIndex: "code", width: 130, render: (code: string) => transferKind(t, code) },
          { title: t("provider.money.reference"), dataIndex: "reference", ...CLIPPED, render: (reference: string) => <Clipped text={reference} /> },
          { title: t("consoles.amount"), dataIndex: "signed_fen", width: 190, render: (_: number, line: Line) => lineAmount(t, line) },
        ]}
      />
    </>
  );
}
