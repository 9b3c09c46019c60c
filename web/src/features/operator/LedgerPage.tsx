// Ledger check status: the last recorded check first; running one rebuilds every balance.
import { Alert, Badge, Button, Card, Descriptions, Table } from "antd";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { beijingTime } from "../../lib/format";
import { useServerTable, useSubmit } from "../consoles/shared";
import type { RecordedCheck } from "./api";

export default function LedgerPage() {
  const { t } = useTranslation();
  const submit = useSubmit();
  const table = useServerTable<RecordedCheck>(["operator", "checks"], (offset, limit) =>
    unwrap(api.GET("/v1/ledger/checks", { params: { query: { offset, limit } } })),
  );
  const last = table.rows[0];
  const run = () => submit(null, [], () => unwrap(api.POST("/v1/ledger/checks")), [["operator", "checks"]]);
  return (
    <>
      <PageHeader title={t("operator.ledger.title")} extra={<Button type="primary" data-testid="run-check" onClick={() => void run()}>{t("operator.ledger.run")}</Button>} />
      <Card title={t("operator.ledger.last")} style={{ marginBottom: 16 }}>
        {last ? (
          <>
            <Alert type={last.ok ? "success" : "error"} title={last.ok ? t("operator.ledger.ok") : t("operator.ledger.broken", { count: last.violation_count })} />
            <Descriptions style={{ marginTop: 12 }} column={{ xs: 1, md: 4 }}>
              <Descriptions.Item label={t("operator.ledger.finished")}>{beijingTime(last.finished_at)}</Descriptions.Item>
              <Descriptions.Item label={t("operator.ledger.accounts")}>{last.accounts_checked}</Descriptions.Item>
              <Descriptions.Item label={t("operator.ledger.transfers")}>{last.transfers_checked}</Descriptions.Item>
              <Descriptions.Item label={t("operator.ledger.holds")}>{last.holds_checked}</Descriptions.Item>
            </Descriptions>
            {last.violations.length > 0 && (
              <Table rowKey={(v) => `${v.subject_id}-${v.rule}`} size="small" pagination={false} dataSource={last.violations}
                columns={[{ title: t("operator.ledger.subject"), dataIndex: "subject_id" }, { title: t("operator.ledger.rule"), dataIndex: "rule" }, { title: t("operator.ledger.detail"), dataIndex: "detail" }]} />
            )}
          </>
        ) : (
          <Alert type="info" title={t("operator.ledger.never")} />
        )}
      </Card>
      <Table<RecordedCheck>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: t("operator.ledger.finished"), dataIndex: "finished_at", render: beijingTime },
          { title: t("operator.ledger.result"), dataIndex: "ok", render: (ok: boolean) => <Badge status={ok ? "success" : "error"} text={ok ? t("operator.ledger.okShort") : t("operator.ledger.brokenShort")} /> },
          { title: t("operator.ledger.accounts"), dataIndex: "accounts_checked" },
          { title: t("operator.ledger.transfers"), dataIndex: "transfers_checked" },
          { title: t("operator.ledger.holds"), dataIndex: "holds_checked" },
          { title: t("operator.ledger.violations"), dataIndex: "violation_count" },
        ]}
      />
    </>
  );
}
