// One job, live: state, log tail, usage and its bill line, refreshed until final.
import { Alert, Card, Col, Descriptions, Row, Spin, Typography } from "antd";
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useParams } from "react-router-dom";
import { PageHeader } from "../../components/PageHeader";
import { useMe } from "../../lib/auth";
import { errorText } from "../../lib/errors";
import { beijingTime, yuan } from "../../lib/format";
import { beijingMonth } from "../../lib/time";
import { FINAL_STATES, readLog, useBillLine, useJob, useUsage } from "./api";
import { StateTag } from "./JobsPage";

const LOG_TAIL_CHARS = 20_000;
const LOG_REFRESH_MS = 1500;

function useLogTail(jobId: string, final: boolean): string {
  const [text, setText] = useState("");
  const offset = useRef(0);
  useEffect(() => {
    let stopped = false;
    async function poll() {
      try {
        const chunk = await readLog(jobId, offset.current);
        offset.current = chunk.next_offset;
        if (chunk.text) setText((old) => (old + chunk.text).slice(-LOG_TAIL_CHARS));
        if (!stopped && !(final && chunk.finished)) window.setTimeout(poll, LOG_REFRESH_MS);
      } catch {
        if (!stopped) window.setTimeout(poll, LOG_REFRESH_MS * 2);
      }
    }
    void poll();
    return () => { stopped = true; };
  }, [jobId, final]);
  return text;
}

export default function JobPage() {
  const { t } = useTranslation();
  const { jobId = "" } = useParams();
  const job = useJob(jobId);
  const me = useMe();
  const final = Boolean(job.data && FINAL_STATES.has(job.data.state));
  const log = useLogTail(jobId, final);
  const usage = useUsage(jobId, final);
  const month = final && job.data?.finished_at ? beijingMonth(job.data.finished_at) : null;
  const bill = useBillLine(me.data?.org_id, jobId, usage.data ? month : null);
  if (job.isError)
    return (
      <>
        <PageHeader title={t("jobs.title")} />
        <Alert type="error" title={errorText(job.error)} role="alert" data-testid="page-error" />
      </>
    );
  if (!job.data) return <Spin />;
  const data = job.data;
  return (
    <>
      <PageHeader title={data.name} extra={<StateTag state={data.state} />} />
      <Row gutter={[16, 16]}>
        <Col xs={24} lg={12}>
          <Card title={t("job.details")}>
            <Descriptions column={1} size="small">
              <Descriptions.Item label="ID">{data.id}</Descriptions.Item>
              <Descriptions.Item label={t("jobs.state")}>{t(`jobState.${data.state}`)}{data.reason ? ` · ${data.reason}` : ""}</Descriptions.Item>
              <Descriptions.Item label={t("jobs.hold")}>{yuan(data.hold_fen)}</Descriptions.Item>
              <Descriptions.Item label={t("jobs.submittedAt")}>{beijingTime(data.submitted_at)}</Descriptions.Item>
              <Descriptions.Item label={t("job.startedAt")}>{beijingTime(data.started_at)}</Descriptions.Item>
              <Descriptions.Item label={t("job.finishedAt")}>{beijingTime(data.finished_at)}</Descriptions.Item>
              <Descriptions.Item label={t("job.exitCode")}>{data.exit_code ?? "—"}</Descriptions.Item>
            </Descriptions>
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Card title={t("job.usage")}>
            {usage.data ? (
              <Descriptions column={1} size="small">
                <Descriptions.Item label={t("market.chip")}>{usage.data.accelerator_model}</Descriptions.Item>
                <Descriptions.Item label={t("job.cardSeconds")}>{usage.data.card_seconds}</Descriptions.Item>
                <Descriptions.Item label={t("market.price")}>{yuan(usage.data.price_fen_per_card_hour)}</Descriptions.Item>
                <Descriptions.Item label={t("job.amount")}>{yuan(usage.data.amount_fen)}</Descriptions.Item>
              </Descriptions>
            ) : (
              <Typography.Text type="secondary">{t("job.noUsageYet")}</Typography.Text>
            )}
          </Card>
          <Card title={t("job.bill")} style={{ marginTop: 16 }} data-testid="bill-line">
            {bill.data ? (
              <Descriptions column={1} size="small">
                <Descriptions.Item label={t("job.amount")}>{yuan(bill.data.amount_fen)}</Descriptions.Item>
                <Descriptions.Item label={t("job.subsidy")}><span data-testid="bill-subsidy">{yuan(bill.data.subsidy_fen)}</span></Descriptions.Item>
                <Descriptions.Item label={t("job.subsidyNote")}>{bill.data.subsidy_note || "—"}</Descriptions.Item>
                <Descriptions.Item label={t("job.payable")}><span data-testid="bill-payable">{yuan(bill.data.payable_fen)}</span></Descriptions.Item>
              </Descriptions>
            ) : (
              <Typography.Text type="secondary">{t("job.noBillYet")}</Typography.Text>
            )}
          </Card>
        </Col>
        <Col span={24}>
          <Card title={t("job.log")}>
            <pre data-testid="log" style={{ maxHeight: 320, overflow: "auto", background: "#101418", color: "#e6e6e6", padding: 12, margin: 0 }} tabIndex={0}>
              {log || t("job.noLogYet")}
            </pre>
          </Card>
        </Col>
      </Row>
    </>
  );
}
