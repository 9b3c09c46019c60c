import { Button, Card, Col, DatePicker, Row, Space, Statistic, Table } from "antd";
import dayjs, { type Dayjs } from "dayjs";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { CLIPPED, Clipped } from "../../components/Clipped";
import { PageHeader } from "../../components/PageHeader";
import type { Schemas } from "../../lib/api";
import { useMe } from "../../lib/auth";
import { beijingTime, yuan } from "../../lib/format";
import { lineAmount, transferKind } from "../../lib/ledger";
import { beijingMonth } from "../../lib/time";
import { statementUrl, useBalances, useMonth, useStatement } from "./api";

const PAGE_SIZE = 20;
type Line = Schemas["StatementLinePublic"];

export default function WalletPage() {
  const { t } = useTranslation();
  const me = useMe();
  const orgId = me.data?.org_id;
  const [offset, setOffset] = useState(0);
  const [month, setMonth] = useState(beijingMonth());
  const balances = useBalances(orgId);
  const statement = useStatement(orgId, offset, PAGE_SIZE);
  const totals = useMonth(orgId, month);
  const wallet = balances.data?.find((account) => account.kind === "wallet") ?? balances.data?.[0];
  return (
    <>
      <PageHeader title={t("wallet.title")} />
      <Row gutter={[16, 16]}>
        <Col xs={24} md={8}><Card><Statistic title={t("wallet.available")} value={yuan(wallet?.available_fen)} /></Card></Col>
        <Col xs={24} md={8}><Card><Statistic title={t("wallet.pending")} value={yuan(wallet?.pending_fen)} /></Card></Col>
        <Col xs={24} md={8}><Card><Statistic title={t("wallet.posted")} value={yuan(wallet?.posted_fen)} /></Card></Col>
        <Col span={24}>
          <Card title={t("wallet.monthly")}>
            <Space wrap>
              <DatePicker picker="month" allowClear={false} value={dayjs(`${month}-01`)} onChange={(value: Dayjs | null) => value && setMonth(value.format("YYYY-MM"))} aria-label={t("wallet.month")} />
              <span>{t("wallet.monthAmount")}: {yuan(totals.data?.total_amount_fen)}</span>
              <span>{t("wallet.monthSubsidy")}: {yuan(totals.data?.total_subsidy_fen)}</span>
              <span>{t("wallet.monthPayable")}: {yuan(totals.data?.total_payable_fen)}</span>
              {orgId && (
                <>
                  <Button href={statementUrl(orgId, month, "csv")} download>{t("wallet.downloadCsv")}</Button>
                  <Button href={statementUrl(orgId, month, "html")} target="_blank" rel="noopener">{t("wallet.openHtml")}</Button>
                </>
              )}
            </Space>
          </Card>
        </Col>
        <Col span={24}>
          <Card title={t("wallet.statement")}>
            <Table<Line>
              rowKey="id"
              loading={statement.isLoading}
              dataSource={statement.data?.items ?? []}
              columns={[
                { title: t("wallet.time"), dataIndex: "timestamp", width: 180, render: (at: string) => beijingTime(at) },
                { title: t("wallet.code"), dataIndex: "code", width: 130, render: (code: string) => <span data-testid="statement-kind">{transferKind(t, code)}</span> },
                { title: t("wallet.reference"), dataIndex: "reference", ...CLIPPED, render: (reference: string) => <Clipped text={reference} /> },
                { title: t("wallet.amount"), dataIndex: "signed_fen", width: 190, render: (_: number, line: Line) => <span data-testid="statement-amount">{lineAmount(t, line)}</span> },
                { title: t("wallet.memo"), dataIndex: "memo", ...CLIPPED, render: (memo: string) => <Clipped text={memo} /> },
              ]}
              pagination={{ current: offset / PAGE_SIZE + 1, pageSize: PAGE_SIZE, total: statement.data?.total ?? 0, showSizeChanger: false, onChange: (n) => setOffset((n - 1) * PAGE_SIZE) }}
            />
          </Card>
        </Col>
      </Row>
    </>
  );
}
