// 算力超市: pools as products, filtered and paged on the server; pick 2 to 4 to compare.
import { Alert, Button, Card, Form, InputNumber, Select, Space, Table, Tag, Typography } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import { PageHeader } from "../../components/PageHeader";
import { ApiError } from "../../lib/api";
import { fenFromYuan, yuan } from "../../lib/format";
import { errorText } from "../../lib/forms";
import { type Product, type ProductFilters, useOverview, useProducts } from "./api";

const PAGE_SIZE = 20;
const COMPARE_MAX = 4;

type FilterForm = {
  accelerator?: string[];
  vendor?: string[];
  domestic?: "yes" | "no";
  region?: string;
  price_min?: number;
  price_max?: number;
  free_cards_min?: number;
  sort?: ProductFilters["sort"];
};

/** The server's refusal of the filters, marked on the field it names (¥ here, fen on the wire). */
function fieldRefusal(error: unknown, serverField: string) {
  if (!(error instanceof ApiError) || error.field !== serverField) return {};
  return { validateStatus: "error" as const, help: error.message };
}

function toFilters(form: FilterForm, offset: number): ProductFilters {
  return {
    accelerator: form.accelerator?.length ? form.accelerator : undefined,
    vendor: form.vendor?.length ? form.vendor : undefined,
    domestic: form.domestic === undefined ? undefined : form.domestic === "yes",
    region: form.region || undefined,
    price_min_fen: form.price_min === undefined || form.price_min === null ? undefined : fenFromYuan(form.price_min),
    price_max_fen: form.price_max === undefined || form.price_max === null ? undefined : fenFromYuan(form.price_max),
    free_cards_min: form.free_cards_min ?? undefined,
    sort: form.sort ?? "price",
    offset,
    limit: PAGE_SIZE,
  };
}

export default function MarketPage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [form] = Form.useForm<FilterForm>();
  const [applied, setApplied] = useState<FilterForm>({});
  const [offset, setOffset] = useState(0);
  const [chosen, setChosen] = useState<string[]>([]);
  const overview = useOverview();
  const products = useProducts(toFilters(applied, offset));
  const refused = products.isError ? products.error : null;
  const models = Object.keys(overview.data?.cards_by_model ?? {});
  const vendors = Object.keys(overview.data?.cards_by_vendor ?? {});
  const columns = [
    { title: t("market.product"), dataIndex: "name", render: (_: string, p: Product) => <><Typography.Text strong>{p.name}</Typography.Text><br /><Typography.Text type="secondary">{p.provider_name}</Typography.Text></> },
    { title: t("market.chip"), dataIndex: "accelerator_model", render: (_: string, p: Product) => <>{p.accelerator_model} {p.domestic && <Tag color="red">{t("market.domestic")}</Tag>}</> },
    { title: t("market.vendor"), dataIndex: "vendor" },
    { title: t("market.region"), dataIndex: "region" },
    { title: t("market.price"), dataIndex: "price_fen_per_card_hour", render: (fen: number) => <span data-testid="price">{yuan(fen)}</span> },
    { title: t("market.cards"), dataIndex: "cards" },
    { title: t("market.freeCards"), dataIndex: "free_cards" },
    {
      title: t("market.order"),
      key: "order",
      render: (_: unknown, p: Product) => (
        <Button size="small" data-testid={`order-${p.id}`} onClick={() => navigate(`/console/submit?accelerator=${encodeURIComponent(p.accelerator_model)}`)}>
          {t("market.order")}
        </Button>
      ),
    },
  ];
  return (
    <>
      <PageHeader
        title={t("market.title")}
        extra={
          <Button type="primary" data-testid="compare" disabled={chosen.length < 2} onClick={() => navigate(`/market/compare?ids=${chosen.join(",")}`)}>
            {t("market.compare", { count: chosen.length })}
          </Button>
        }
      />
      <Card style={{ marginBottom: 16 }}>
        <Form form={form} layout="inline" onFinish={(values) => { setApplied(values); setOffset(0); }} style={{ rowGap: 12 }}>
          <Form.Item name="accelerator" label={t("market.chip")}>
            <Select mode="multiple" allowClear style={{ minWidth: 180 }} options={models.map((m) => ({ value: m, label: m }))} />
          </Form.Item>
          <Form.Item name="vendor" label={t("market.vendor")}>
            <Select mode="multiple" allowClear style={{ minWidth: 150 }} options={vendors.map((v) => ({ value: v, label: v }))} />
          </Form.Item>
          <Form.Item name="domestic" label={t("market.domestic")}>
            <Select allowClear style={{ width: 110 }} options={[{ value: "yes", label: t("common.yes") }, { value: "no", label: t("common.no") }]} />
          </Form.Item>
          <Form.Item name="region" label={t("market.region")}>
            <Select allowClear showSearch style={{ width: 150 }} options={regionOptions(products.data?.items ?? [])} />
          </Form.Item>
          <Form.Item name="price_min" label={t("market.priceMin")} {...fieldRefusal(refused, "price_min_fen")}>
            <InputNumber min={0} step={1} precision={2} prefix="¥" />
          </Form.Item>
          <Form.Item name="price_max" label={t("market.priceMax")} {...fieldRefusal(refused, "price_max_fen")}>
            <InputNumber min={0} step={1} precision={2} prefix="¥" />
          </Form.Item>
          <Form.Item name="free_cards_min" label={t("market.freeCardsMin")}>
            <InputNumber min={0} max={100000} precision={0} />
          </Form.Item>
          <Form.Item name="sort" label={t("market.sort")}>
            <Select style={{ width: 140 }} options={(["price", "-price", "cards", "-cards", "newest"] as const).map((s) => ({ value: s, label: t(`market.sortBy.${s}`) }))} />
          </Form.Item>
          <Space>
            <Button htmlType="submit" type="primary">{t("common.search")}</Button>
            <Button onClick={() => { form.resetFields(); setApplied({}); setOffset(0); }}>{t("common.reset")}</Button>
          </Space>
        </Form>
      </Card>
      {refused && <Alert type="error" showIcon data-testid="market-error" title={errorText(refused)} style={{ marginBottom: 16 }} />}
      <Table<Product>
        rowKey="id"
        loading={products.isFetching}
        columns={columns}
        dataSource={products.data?.items ?? []}
        rowSelection={{
          selectedRowKeys: chosen,
          onChange: (keys) => setChosen((keys as string[]).slice(0, COMPARE_MAX)),
          getCheckboxProps: (p) => ({ disabled: chosen.length >= COMPARE_MAX && !chosen.includes(p.id), "aria-label": t("market.choose", { name: p.name }) }),
          preserveSelectedRowKeys: true,
        }}
        pagination={{
          current: Math.floor(offset / PAGE_SIZE) + 1,
          pageSize: PAGE_SIZE,
          total: products.data?.total ?? 0,
          showSizeChanger: false,
          showTotal: (total) => t("common.total", { total }),
          onChange: (pageNumber) => setOffset((pageNumber - 1) * PAGE_SIZE),
        }}
      />
    </>
  );
}

function regionOptions(items: Product[]) {
  const provinces = new Set(items.map((p) => p.region.split("/")[0]));
  return [...provinces].sort().map((r) => ({ value: r, label: r }));
}
