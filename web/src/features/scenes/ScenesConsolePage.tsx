// Scenes for an enterprise: its capabilities (form and Excel import), open opportunities,
// matches with their "why", pairs with stage actions and consent, challenges and proposals.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Button, Card, Form, Input, List, Modal, Select, Space, Table, Tabs, Tag, Typography, Upload } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap } from "../../lib/api";
import { useMe } from "../../lib/auth";
import { sceneFacts } from "../../lib/format";
import { errorText, showServerError } from "../../lib/forms";
import { useServerTable, type Paged } from "../consoles/shared";

type Item = { id: string; title: string; org: string; industry: string; region: string; status: string; description: string };
type Candidate = { id: string; title: string; org: string; score: number; why: string };
type Pair = { id: string; opportunity: { title: string }; capability: { title: string }; stage: string; stage_label: string; why: string; consents: Record<string, string | null>; contacts: unknown };
type Challenge = { id: string; title?: string; state?: string; opportunity_id?: string; reward_fen?: number };
const NEXT_STAGES = ["interested", "negotiating", "signed", "delivered", "closed"];
const UPLOAD_BYTES_MAX = 5 * 1024 * 1024;
/** The most capabilities a picker lists (the API's page limit). */
const PICKER_CAPABILITIES_MAX = 500;

function fetchMyCapabilities(orgId: string | undefined, offset: number, limit: number) {
  return unwrap(api.GET("/v1/scenes/{kind}", { params: { path: { kind: "capabilities" }, query: { org_id: orgId, offset, limit } } })) as unknown as Promise<Paged<Item>>;
}

/** One page of the enterprise's capabilities, for the pickers (match, propose). */
function useCapabilityPicker(orgId: string | undefined) {
  return useQuery({
    queryKey: ["scenes", "capabilities", "picker", orgId],
    queryFn: () => fetchMyCapabilities(orgId, 0, PICKER_CAPABILITIES_MAX),
    enabled: Boolean(orgId),
  });
}

function Capabilities({ orgId }: { orgId?: string }) {
  const { t } = useTranslation();
  const [form] = Form.useForm();
  const client = useQueryClient();
  const mine = useServerTable<Item>(["scenes", "capabilities", "table", orgId], (offset, limit) => fetchMyCapabilities(orgId, offset, limit), undefined, Boolean(orgId));
  const [message, setMessage] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (values: { title: string; industry: string; description?: string; region?: string }) =>
      unwrap(api.POST("/v1/scenes/capabilities", { body: { ...values, tags: [] } as never })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["scenes"] }),
  });
  async function onFinish(values: { title: string; industry: string; description?: string; region?: string }) {
    setMessage(null);
    try {
      await create.mutateAsync(values);
      form.resetFields();
    } catch (error) {
      if (!showServerError(form, error, ["title", "industry", "description", "region"])) setMessage(errorText(error));
    }
  }
  async function importFile(file: File) {
    setMessage(null);
    if (file.size > UPLOAD_BYTES_MAX) return setMessage(t("scenesConsole.tooLarge"));
    const bytes = new Uint8Array(await file.arrayBuffer());
    let binary = "";
    bytes.forEach((byte) => { binary += String.fromCharCode(byte); });
    try {
      const result = (await unwrap(api.POST("/v1/scenes/import", { body: { kind: "capabilities", filename: file.name, content_base64: btoa(binary) } as never })));
      setMessage(t("scenesConsole.imported", { created: result.created, updated: result.updated }));
      await client.invalidateQueries({ queryKey: ["scenes"] });
    } catch (error) {
      setMessage(errorText(error));
    }
  }
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      {message && <Alert title={message} role="status" />}
      <Card title={t("scenesConsole.add")}>
        <Form form={form} layout="inline" onFinish={onFinish} style={{ rowGap: 12 }}>
          <Form.Item name="title" label={t("scenesConsole.itemTitle")} rules={[{ required: true, message: t("scenesConsole.titleRequired") }]}><Input style={{ width: 260 }} /></Form.Item>
          <Form.Item name="industry" label={t("scenesConsole.industry")} rules={[{ required: true, message: t("scenesConsole.industryRequired") }]}><Input placeholder={t("scenesConsole.industryPlaceholder")} /></Form.Item>
          <Form.Item name="region" label={t("market.region")}><Input /></Form.Item>
          <Form.Item name="description" label={t("scenesConsole.description")}><Input style={{ width: 320 }} /></Form.Item>
          <Button type="primary" htmlType="submit" loading={create.isPending}>{t("common.save")}</Button>
          <Upload accept=".xlsx,.csv" showUploadList={false} beforeUpload={(file) => { void importFile(file); return false; }}>
            <Button>{t("scenesConsole.import")}</Button>
          </Upload>
        </Form>
      </Card>
      <Table<Item> rowKey="id" loading={mine.query.isFetching} dataSource={mine.rows} pagination={mine.pagination} columns={[
        { title: t("scenesConsole.itemTitle"), dataIndex: "title" },
        { title: t("scenesConsole.industry"), dataIndex: "industry" },
        { title: t("market.region"), dataIndex: "region" },
        { title: t("vouchers.state"), dataIndex: "status" },
      ]} />
    </Space>
  );
}

function Opportunities() {
  const items = useServerTable<Item>(["scenes", "opportunities"], async (offset, limit) =>
    (await unwrap(api.GET("/v1/scenes/{kind}", { params: { path: { kind: "opportunities" }, query: { status: "open", offset, limit } } }))) as unknown as Paged<Item>,
  );
  const { current, pageSize, total, showTotal, onChange } = items.pagination; // a List's pager, not a Table's
  return (
    <List loading={items.query.isFetching} dataSource={items.rows} pagination={{ current, pageSize, total, showTotal, onChange }}
      renderItem={(item) => <List.Item><List.Item.Meta title={item.title} description={sceneFacts(item)} /></List.Item>} />
  );
}

function Matches({ orgId }: { orgId?: string }) {
  const { t } = useTranslation();
  const mine = useCapabilityPicker(orgId);
  const [capability, setCapability] = useState<string>();
  const client = useQueryClient();
  const matches = useQuery({
    queryKey: ["matches", capability],
    queryFn: async () => (await unwrap(api.GET("/v1/scenes/{kind}/{item_id}/matches", { params: { path: { kind: "capabilities", item_id: capability! }, query: { top: 10 } } }))) as { candidates: Candidate[]; warning?: string },
    enabled: Boolean(capability),
  });
  const pair = useMutation({
    mutationFn: (candidate: Candidate) => unwrap(api.POST("/v1/scenes/pairs", { body: { opportunity_id: candidate.id, capability_id: capability!, score: Math.min(1, Math.max(0, candidate.score)), why: candidate.why.slice(0, 2000) } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["pairs"] }),
  });
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Select aria-label={t("scenesConsole.pickCapability")} placeholder={t("scenesConsole.pickCapability")} style={{ width: 360 }} value={capability} onChange={setCapability}
        options={(mine.data?.items ?? []).map((item) => ({ value: item.id, label: item.title }))} />
      {pair.error && <Alert type="error" title={errorText(pair.error)} />}
      <List loading={matches.isFetching} dataSource={matches.data?.candidates ?? []} renderItem={(candidate) => (
        <List.Item actions={[<Button key="pair" onClick={() => pair.mutate(candidate)}>{t("scenesConsole.recommend")}</Button>]}>
          <List.Item.Meta title={<>{candidate.title} <Tag>{candidate.score.toFixed(2)}</Tag></>} description={<><Typography.Text>{candidate.org}</Typography.Text><br />{t("scenesConsole.why")}: {candidate.why}</>} />
        </List.Item>
      )} />
    </Space>
  );
}

function Pairs() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const pairs = useServerTable<Pair>(["pairs"], async (offset, limit) =>
    (await unwrap(api.GET("/v1/scenes/pairs", { params: { query: { offset, limit } } }))) as unknown as Paged<Pair>,
  );
  const refresh = () => client.invalidateQueries({ queryKey: ["pairs"] });
  const move = useMutation({ mutationFn: ({ id, stage }: { id: string; stage: string }) => unwrap(api.POST("/v1/scenes/pairs/{pair_id}/stage", { params: { path: { pair_id: id } }, body: { stage } })), onSuccess: refresh });
  const consent = useMutation({ mutationFn: (id: string) => unwrap(api.POST("/v1/scenes/pairs/{pair_id}/consent", { params: { path: { pair_id: id } } })), onSuccess: refresh });
  const failure = move.error ?? consent.error;
  return (
    <>
      {failure && <Alert type="error" title={errorText(failure)} />}
      <Table<Pair> rowKey="id" loading={pairs.query.isFetching} dataSource={pairs.rows} pagination={pairs.pagination} columns={[
        { title: t("scenes.opportunities"), key: "o", render: (_: unknown, p: Pair) => p.opportunity.title },
        { title: t("scenes.capabilities"), key: "c", render: (_: unknown, p: Pair) => p.capability.title },
        { title: t("scenesConsole.stage"), dataIndex: "stage_label" },
        { title: t("scenesConsole.why"), dataIndex: "why" },
        { title: "", key: "actions", render: (_: unknown, p: Pair) => (
          <Space>
            <Select aria-label={t("scenesConsole.moveTo")} placeholder={t("scenesConsole.moveTo")} style={{ width: 140 }} onChange={(stage: string) => move.mutate({ id: p.id, stage })}
              options={NEXT_STAGES.map((stage) => ({ value: stage, label: t(`scenesConsole.stages.${stage}`) }))} />
            <Button onClick={() => consent.mutate(p.id)}>{t("scenesConsole.consent")}</Button>
          </Space>
        ) },
      ]} />
    </>
  );
}

function Challenges({ orgId }: { orgId?: string }) {
  const { t } = useTranslation();
  const challenges = useServerTable<Challenge>(["challenges"], async (offset, limit) =>
    (await unwrap(api.GET("/v1/scenes/challenges", { params: { query: { offset, limit } } }))) as unknown as Paged<Challenge>,
  );
  const mine = useCapabilityPicker(orgId);
  const [target, setTarget] = useState<Challenge | null>(null);
  const [form] = Form.useForm<{ summary: string; capability_id?: string }>();
  const propose = useMutation({ mutationFn: (values: { summary: string; capability_id?: string }) => unwrap(api.POST("/v1/scenes/challenges/{challenge_id}/proposals", { params: { path: { challenge_id: target!.id } }, body: { summary: values.summary, capability_id: values.capability_id ?? null } })) });
  async function onFinish(values: { summary: string; capability_id?: string }) {
    try {
      await propose.mutateAsync(values);
      setTarget(null);
    } catch (error) {
      showServerError(form, error, ["summary", "capability_id"]);
    }
  }
  return (
    <>
      <Table<Challenge> rowKey="id" loading={challenges.query.isFetching} dataSource={challenges.rows} pagination={challenges.pagination} columns={[
        { title: t("scenesConsole.itemTitle"), key: "title", render: (_: unknown, c: Challenge) => c.title ?? c.opportunity_id },
        { title: t("vouchers.state"), dataIndex: "state", render: (s?: string) => (s ? t(`agency.challenges.states.${s}`) : "") },
        { title: "", key: "p", render: (_: unknown, c: Challenge) => <Button data-testid={`propose-${c.id}`} disabled={c.state !== "open"} onClick={() => setTarget(c)}>{t("scenesConsole.propose")}</Button> },
      ]} />
      {target && (
        <Modal open title={t("scenesConsole.propose")} onCancel={() => setTarget(null)} onOk={() => form.submit()} okText={t("common.submit")} cancelText={t("common.cancel")}>
          <Form form={form} layout="vertical" onFinish={onFinish}>
            <Form.Item name="summary" label={t("scenesConsole.summary")} rules={[{ required: true, message: t("scenesConsole.summaryRequired") }]}><Input.TextArea rows={4} /></Form.Item>
            <Form.Item name="capability_id" label={t("scenes.capabilities")}><Select allowClear options={(mine.data?.items ?? []).map((item) => ({ value: item.id, label: item.title }))} /></Form.Item>
          </Form>
        </Modal>
      )}
    </>
  );
}

export default function ScenesConsolePage() {
  const { t } = useTranslation();
  const me = useMe();
  const orgId = me.data?.org_id;
  return (
    <>
      <PageHeader title={t("scenesConsole.title")} />
      <Tabs items={[
        { key: "capabilities", label: t("scenesConsole.myCapabilities"), children: <Capabilities orgId={orgId} /> },
        { key: "opportunities", label: t("scenes.opportunities"), children: <Opportunities /> },
        { key: "matches", label: t("scenesConsole.matches"), children: <Matches orgId={orgId} /> },
        { key: "pairs", label: t("scenesConsole.pairs"), children: <Pairs /> },
        { key: "challenges", label: t("scenesConsole.challenges"), children: <Challenges orgId={orgId} /> },
      ]} />
    </>
  );
}
