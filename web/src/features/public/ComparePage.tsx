import { Alert, Button, Descriptions, Spin, Tag } from "antd";
import { useTranslation } from "react-i18next";
import { useNavigate, useSearchParams } from "react-router-dom";
import { PageHeader } from "../../components/PageHeader";
import { errorText } from "../../lib/errors";
import { yuan } from "../../lib/format";
import { type Product, useCompared } from "./api";

export default function ComparePage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  // The market links ?ids=a,b; a link written by hand may repeat the parameter (?ids=a&ids=b).
  const ids = [...new Set(params.getAll("ids").flatMap((value) => value.split(",")).filter(Boolean))].slice(0, 4);
  const compared = useCompared(ids);
  const back = <Button onClick={() => navigate("/market")}>{t("compare.back")}</Button>;
  const header = <PageHeader title={t("compare.title")} extra={back} />;
  if (ids.length < 2) return <>{header}<Alert type="info" title={t("compare.pickTwo")} /></>;
  if (compared.isError) return <>{header}<Alert type="error" title={errorText(compared.error)} role="alert" data-testid="page-error" /></>;
  if (!compared.data) return <>{header}<Spin /></>;
  const products = ids.map((id) => compared.data.items.find((p) => p.id === id)).filter(Boolean) as Product[];
  const missing = ids.length - products.length;
  const rows: [string, (p: Product) => React.ReactNode][] = [
    ["market.chip", (p) => <>{p.accelerator_model} {p.domestic && <Tag color="red">{t("market.domestic")}</Tag>}</>],
    ["market.vendor", (p) => p.vendor],
    ["compare.memory", (p) => (p.memory_gib ? `${p.memory_gib} GiB` : "—")],
    ["market.price", (p) => <span data-testid={`compare-price-${p.id}`}>{yuan(p.price_fen_per_card_hour)}</span>],
    ["market.cards", (p) => `${p.nodes} × ${p.cards_per_node}`],
    ["market.freeCards", (p) => p.free_cards],
    ["market.region", (p) => p.region],
    ["compare.provider", (p) => p.provider_name],
  ];
  return (
    <>
      {header}
      {missing > 0 && <Alert type="warning" title={t("compare.missing", { count: missing })} style={{ marginBottom: 16 }} data-testid="compare-missing" />}
      <Descriptions bordered column={1} size="middle">
        <Descriptions.Item label={t("market.product")}>
          <div style={{ display: "grid", gridTemplateColumns: `repeat(${products.length}, 1fr)`, gap: 16 }}>
            {products.map((p) => <strong key={p.id}>{p.name}</strong>)}
          </div>
        </Descriptions.Item>
        {rows.map(([label, cell]) => (
          <Descriptions.Item key={label} label={t(label)}>
            <div style={{ display: "grid", gridTemplateColumns: `repeat(${products.length}, 1fr)`, gap: 16 }}>
              {products.map((p) => <div key={p.id}>{cell(p)}</div>)}
            </div>
          </Descriptions.Item>
        ))}
      </Descriptions>
    </>
  );
}
