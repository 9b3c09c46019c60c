// 揭榜挂帅 challenges: post one (the reward is held on the agency's wallet), review the
// proposals against the criteria, award one (the reward is paid).
import { Button, Card, DatePicker, Form, Input, InputNumber, Modal, Space, Table, Tag } from "antd";
import type { Dayjs } from "dayjs";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { OrgName } from "../../components/OrgName";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { fenFromYuan, yuan } from "../../lib/format";
import { required, useServerTable, useSubmit, YuanInput, type Paged } from "../consoles/shared";

type Criterion = { name: string; weight_percent: number };
type Challenge = { id: string; opportunity_id: string; goal: string; reward_fen: number; deadline: string; criteria: Criterion[]; state: string; winner_proposal_id: string | null };
type Proposal = { id: string; enterprise_id: string; enterprise_name: string; summary: string; score: number | null; reviews: unknown[] };
type PostForm = { opportunity_id: string; goal: string; reward: number; deadline: Dayjs; criteria: Criterion[] };

export default function ChallengesPage() {
  const { t } = useTranslation();
  const table = useServerTable<Challenge>(["agency", "challenges"], async (offset, limit) =>
    (await unwrap(api.GET("/v1/scenes/challenges", { params: { query: { offset, limit } } }))) as unknown as Paged<Challenge>,
  );
  const [form] = Form.useForm<PostForm>();
  const submit = useSubmit();
  const [open, setOpen] = useState<Challenge | null>(null);

  const post = async (v: PostForm) => {
    const body = { opportunity_id: v.opportunity_id, goal: v.goal, reward_fen: fenFromYuan(v.reward), deadline: v.deadline.format("YYYY-MM-DD"), criteria: v.criteria };
    const done = await submit(form, ["opportunity_id", "goal", ["reward", "reward_fen"], "deadline", "criteria"], () => unwrap(api.POST("/v1/scenes/challenges", { body })), [["agency", "challenges"]]);
    if (done) form.resetFields();
  };

  return (
    <>
      <PageHeader title={t("agency.challenges.title")} />
      <Card title={t("agency.challenges.post")} style={{ marginBottom: 16 }}>
        <Form form={form} layout="vertical" onFinish={post} name="challenge" initialValues={{ criteria: [{ name: t("agency.challenges.defaultCriterion"), weight_percent: 100 }] }}>
          <Space wrap align="start">
            <Form.Item name="opportunity_id" label={t("agency.challenges.opportunity")} rules={required(t("consoles.required"))}>
              <Input style={{ width: 160 }} />
            </Form.Item>
            <Form.Item name="reward" label={t("agency.challenges.reward")} rules={required(t("consoles.required"))}>
              <YuanInput />
            </Form.Item>
            <Form.Item name="deadline" label={t("agency.challenges.deadline")} rules={required(t("consoles.required"))}>
              <DatePicker />
            </Form.Item>
          </Space>
          <Form.Item name="goal" label={t("agency.challenges.goal")} rules={required(t("consoles.required"))}>
            <Input.TextArea rows={2} />
          </Form.Item>
          <Form.List name="criteria">
            {(fields, { add, remove }) => (
              <>
                {fields.map((field) => (
                  <Space key={field.key} align="baseline">
                    <Form.Item name={[field.name, "name"]} label={t("agency.challenges.criterion")} rules={required(t("consoles.required"))}>
                      <Input />
                    </Form.Item>
                    <Form.Item name={[field.name, "weight_percent"]} label={t("agency.challenges.weight")} rules={required(t("consoles.required"))}>
                      <InputNumber min={1} max={100} precision={0} suffix="%" />
                    </Form.Item>
                    <Button onClick={() => remove(field.name)}>{t("agency.programs.removeTier")}</Button>
                  </Space>
                ))}
                <Button onClick={() => add({ weight_percent: 10 })}>{t("agency.challenges.addCriterion")}</Button>
              </>
            )}
          </Form.List>
          <Button style={{ marginTop: 12 }} type="primary" htmlType="submit">{t("common.submit")}</Button>
        </Form>
      </Card>
      <Table<Challenge>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: t("agency.challenges.opportunity"), dataIndex: "opportunity_id" },
          { title: t("agency.challenges.goal"), dataIndex: "goal" },
          { title: t("agency.challenges.reward"), dataIndex: "reward_fen", render: yuan },
          { title: t("agency.challenges.deadline"), dataIndex: "deadline" },
          { title: t("agency.challenges.state"), dataIndex: "state", render: (s: string) => <Tag data-testid="challenge-state">{t(`agency.challenges.states.${s}`)}</Tag> },
          { title: t("consoles.actions"), render: (_, c) => <Button size="small" data-testid={`proposals-${c.id}`} onClick={() => setOpen(c)}>{t("agency.challenges.proposals")}</Button> },
        ]}
      />
      {open && <Proposals challenge={table.rows.find((c) => c.id === open.id) ?? open} onClose={() => setOpen(null)} />}
    </>
  );
}

function Proposals({ challenge, onClose }: { challenge: Challenge; onClose: () => void }) {
  const { t } = useTranslation();
  const submit = useSubmit();
  const path = { challenge_id: challenge.id };
  const proposals = useServerTable<Proposal>(["agency", "proposals", challenge.id], async (offset, limit) =>
    (await unwrap(api.GET("/v1/scenes/challenges/{challenge_id}/proposals", { params: { path, query: { offset, limit } } }))) as unknown as Paged<Proposal>,
  );
  const [scores, setScores] = useState<Record<string, number>>({});
  const deciding = challenge.state === "open" || challenge.state === "reviewing"; // reviews and the award
  const review = (proposal: Proposal) =>
    submit(null, [], () => unwrap(api.POST("/v1/scenes/challenges/{challenge_id}/reviews", { params: { path }, body: { proposal_id: proposal.id, scores, comment: "" } })), [["agency"]]);
  const award = (proposal: Proposal) =>
    submit(null, [], () => unwrap(api.POST("/v1/scenes/challenges/{challenge_id}/award", { params: { path }, body: { proposal_id: proposal.id } })), [["agency"]]);
  return (
    <Modal open width={900} title={t("agency.challenges.proposals")} onCancel={onClose} footer={null}>
      <Space wrap style={{ marginBottom: 12 }}>
        {challenge.criteria.map((c) => (
          <InputNumber key={c.name} aria-label={c.name} addonBefore={c.name} min={0} max={100} precision={0} value={scores[c.name]} onChange={(v) => setScores((s) => ({ ...s, [c.name]: Number(v ?? 0) }))} />
        ))}
      </Space>
      <Table<Proposal>
        rowKey="id"
        loading={proposals.query.isFetching}
        dataSource={proposals.rows}
        pagination={proposals.pagination}
        columns={[
          { title: t("agency.review.enterprise"), dataIndex: "enterprise_name", render: (name: string, p: Proposal) => <OrgName name={name} id={p.enterprise_id} /> },
          { title: t("agency.challenges.summary"), dataIndex: "summary" },
          { title: t("agency.challenges.score"), dataIndex: "score", render: (s: number | null) => (s === null ? "—" : s.toFixed(2)) },
          {
            title: t("consoles.actions"),
            render: (_, p) => (
              <Space>
                <Button size="small" data-testid={`review-${p.id}`} disabled={!deciding} onClick={() => void review(p)}>{t("agency.challenges.review")}</Button>
                <Button size="small" type="primary" data-testid={`award-${p.id}`} disabled={!deciding || p.score === null} onClick={() => void award(p)}>{t("agency.challenges.award")}</Button>
              </Space>
            ),
          },
        ]}
      />
    </Modal>
  );
}
