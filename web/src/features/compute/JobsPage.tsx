import { Button, Select, Space, Table, Tag } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router-dom";
import { CLIPPED, Clipped } from "../../components/Clipped";
import { PageHeader } from "../../components/PageHeader";
import { beijingTime, yuan } from "../../lib/format";
import { type Job, useJobs } from "./api";

const PAGE_SIZE = 20;
const STATES = ["queued", "placed", "running", "succeeded", "failed", "cancelled", "timed_out", "lost", "rejected"];

export function StateTag({ state }: { state: string }) {
  const { t } = useTranslation();
  // Solid dark colours: the light preset tags fall short of AA contrast.
  const color = { succeeded: "#237804", running: "#0958d9", failed: "#a8071a", queued: "#874d00", placed: "#006d75" }[state] ?? "default";
  return <Tag color={color} data-testid="job-state" data-state={state}>{t(`jobState.${state}`)}</Tag>;
}

export default function JobsPage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [state, setState] = useState<string | undefined>();
  const [offset, setOffset] = useState(0);
  const jobs = useJobs(state, offset, PAGE_SIZE);
  return (
    <>
      <PageHeader title={t("jobs.title")} extra={<Button type="primary" onClick={() => navigate("/console/submit")}>{t("nav.submit")}</Button>} />
      <Space style={{ marginBottom: 16 }}>
        <span id="state-filter">{t("jobs.state")}</span>
        <Select
          aria-labelledby="state-filter"
          allowClear
          style={{ width: 160 }}
          value={state}
          onChange={(value) => { setState(value); setOffset(0); }}
          options={STATES.map((s) => ({ value: s, label: t(`jobState.${s}`) }))}
        />
      </Space>
      <Table<Job>
        rowKey="id"
        loading={jobs.isLoading}
        dataSource={jobs.data?.items ?? []}
        columns={[
          { title: t("jobs.name"), dataIndex: "name", ...CLIPPED, render: (name: string, job: Job) => <Clipped text={name}><Link to={`/console/jobs/${job.id}`}>{name}</Link></Clipped> },
          { title: t("jobs.state"), dataIndex: "state", width: 120, render: (s: string) => <StateTag state={s} /> },
          { title: t("jobs.cards"), key: "cards", width: 90, render: (_: unknown, job: Job) => String((job.spec as { cards?: number }).cards ?? "") },
          { title: t("jobs.hold"), dataIndex: "hold_fen", width: 140, render: (fen: number) => yuan(fen) },
          { title: t("jobs.submittedAt"), dataIndex: "submitted_at", width: 180, render: (at: string) => beijingTime(at) },
        ]}
        pagination={{
          current: offset / PAGE_SIZE + 1,
          pageSize: PAGE_SIZE,
          total: jobs.data?.total ?? 0,
          showSizeChanger: false,
          showTotal: (total) => t("common.total", { total }),
          onChange: (n) => setOffset((n - 1) * PAGE_SIZE),
        }}
      />
    </>
  );
}
