// Jobs on my pools (their customers' commands stay hidden), refreshed every 5 s.
import { Select, Space, Table, Tag } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { CLIPPED, Clipped } from "../../components/Clipped";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap, type Schemas } from "../../lib/api";
import { beijingTime } from "../../lib/format";
import { useServerTable } from "../consoles/shared";

type Job = Schemas["JobPublic"];
const STATES = ["pending", "queued", "placed", "running", "succeeded", "failed", "cancelled", "timed_out", "lost", "rejected"];

export default function ProviderJobsPage() {
  const { t } = useTranslation();
  const [state, setState] = useState<string | undefined>();
  const table = useServerTable<Job>(["provider", "jobs", state], (offset, limit) =>
    unwrap(api.GET("/v1/jobs", { params: { query: { state, offset, limit } } })), 5_000,
  );
  return (
    <>
      <PageHeader title={t("provider.jobs.title")} />
      <Space style={{ marginBottom: 12 }}>
        <Select aria-label={t("provider.jobs.state")} allowClear placeholder={t("provider.jobs.allStates")} style={{ width: 160 }} value={state} onChange={setState}
          options={STATES.map((value) => ({ value, label: t(`jobState.${value}`) }))} />
      </Space>
      <Table<Job>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: "ID", dataIndex: "id" },
          { title: t("provider.jobs.name"), dataIndex: "name", ...CLIPPED, render: (name: string) => <Clipped text={name} /> },
          { title: t("provider.jobs.pool"), dataIndex: "pool_id" },
          { title: t("provider.jobs.cards"), render: (_, j) => String((j.spec as { cards?: number }).cards ?? "") },
          { title: t("provider.jobs.stateColumn"), dataIndex: "state", render: (s: string) => <Tag data-testid="job-state">{t(`jobState.${s}`)}</Tag> },
          { title: t("provider.jobs.submitted"), dataIndex: "submitted_at", render: beijingTime },
          { title: t("provider.jobs.finished"), dataIndex: "finished_at", render: beijingTime },
        ]}
      />
    </>
  );
}
