// Pools: list one from the accelerator catalogue (the picker shows vendor, memory and 国产),
// on an approved connection; see my pools with their free cards.
import { Button, Card, Form, Input, InputNumber, Select, Space, Table, Tag } from "antd";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { api, unwrap, type Schemas } from "../../lib/api";
import { useMe } from "../../lib/auth";
import { fenFromYuan, yuan } from "../../lib/format";
import { required, useServerTable, useSubmit, YuanInput } from "../consoles/shared";

type Pool = Schemas["PoolPublic"];
type Accelerator = { model: string; vendor: string; memory_gib: number | null; domestic: boolean };
type CreateForm = { name: string; accelerator_model: string; backend: string; connection_id?: string; nodes: number; cards_per_node: number; region: string; price: number };

export default function PoolsPage() {
  const { t } = useTranslation();
  const me = useMe();
  const table = useServerTable<Pool>(["provider", "pools"], (offset, limit) =>
    unwrap(api.GET("/v1/pools", { params: { query: { mine: true, offset, limit } } })), 5_000,
  );
  const catalog = useQuery({
    queryKey: ["catalog"],
    queryFn: async () => (await unwrap(api.GET("/v1/catalog/accelerators"))) as unknown as { accelerators: Accelerator[] },
    staleTime: Infinity,
  });
  const connections = useQuery({
    queryKey: ["provider", "connections", "all"],
    queryFn: () => unwrap(api.GET("/v1/connections", { params: { query: { limit: 500 } } })),
  });
  const [form] = Form.useForm<CreateForm>();
  const backend = Form.useWatch("backend", form);
  const submit = useSubmit();
  const isOperator = me.data?.org_kind === "operator";

  const create = async (v: CreateForm) => {
    const body = {
      name: v.name, accelerator_model: v.accelerator_model, backend: v.backend, connection_id: v.connection_id ?? null,
      nodes: v.nodes, cards_per_node: v.cards_per_node, region: v.region, price_fen_per_card_hour: fenFromYuan(v.price),
      shareable: true, // the API's default: shares of a card are sold too
    };
    const done = await submit(form, ["name", "accelerator_model", "backend", "connection_id", "nodes", "cards_per_node", "region", ["price", "price_fen_per_card_hour"]],
      () => unwrap(api.POST("/v1/pools", { body })), [["provider", "pools"]]);
    if (done) form.resetFields();
  };
  const models = (catalog.data?.accelerators ?? []).map((a) => ({
    value: a.model,
    label: `${a.model} · ${a.vendor}${a.memory_gib ? ` · ${a.memory_gib} GiB` : ""}${a.domestic ? ` · ${t("market.domestic")}` : ""}`,
  }));
  const usable = (connections.data?.items ?? []).filter((c) => c.kind === backend && c.review_state === "approved");

  return (
    <>
      <PageHeader title={t("provider.pools.title")} />
      <Card title={t("provider.pools.create")} style={{ marginBottom: 16 }}>
        <Form form={form} layout="vertical" onFinish={create} name="pool" initialValues={{ backend: isOperator ? "local" : "ray", nodes: 1, cards_per_node: 8 }}>
          <Space wrap align="start">
            <Form.Item name="accelerator_model" label={t("provider.pools.model")} rules={required(t("consoles.required"))}>
              <Select data-testid="catalog-picker" showSearch optionFilterProp="label" style={{ width: 360 }} options={models} placeholder={t("provider.pools.pick")} />
            </Form.Item>
            <Form.Item name="name" label={t("provider.pools.name")} rules={required(t("consoles.required"))}>
              <Input style={{ width: 200 }} />
            </Form.Item>
            <Form.Item name="backend" label={t("provider.pools.backend")}>
              <Select style={{ width: 120 }} options={[...(isOperator ? ["local"] : []), "ray", "slurm"].map((value) => ({ value, label: value }))} />
            </Form.Item>
            {backend !== "local" && (
              <Form.Item name="connection_id" label={t("provider.pools.connection")} rules={required(t("consoles.required"))}>
                <Select style={{ width: 200 }} options={usable.map((c) => ({ value: c.id, label: c.name }))} />
              </Form.Item>
            )}
            <Form.Item name="nodes" label={t("provider.pools.nodes")} rules={required(t("consoles.required"))}>
              <InputNumber min={1} max={100000} precision={0} />
            </Form.Item>
            <Form.Item name="cards_per_node" label={t("provider.pools.cardsPerNode")} rules={required(t("consoles.required"))}>
              <InputNumber min={1} max={64} precision={0} />
            </Form.Item>
            <Form.Item name="region" label={t("provider.pools.region")} rules={required(t("consoles.required"))}>
              <Input style={{ width: 260 }} placeholder={t("common.regionDistrictPlaceholder")} />
            </Form.Item>
            <Form.Item name="price" label={t("provider.pools.price")} rules={required(t("consoles.required"))}>
              <YuanInput />
            </Form.Item>
          </Space>
          <div>
            <Button type="primary" htmlType="submit">{t("common.submit")}</Button>
          </div>
        </Form>
      </Card>
      <Table<Pool>
        rowKey="id"
        loading={table.query.isFetching}
        dataSource={table.rows}
        pagination={table.pagination}
        columns={[
          { title: t("provider.pools.name"), dataIndex: "name" },
          { title: t("provider.pools.model"), dataIndex: "accelerator_model", render: (m: string, p) => <>{m} {p.domestic && <Tag>{t("market.domestic")}</Tag>}</> },
          { title: t("provider.pools.backend"), dataIndex: "backend" },
          { title: t("provider.pools.cards"), render: (_, p) => p.nodes * p.cards_per_node },
          { title: t("provider.pools.free"), dataIndex: "free_cards" },
          { title: t("provider.pools.region"), dataIndex: "region" },
          { title: t("provider.pools.price"), dataIndex: "price_fen_per_card_hour", render: yuan },
        ]}
      />
    </>
  );
}
