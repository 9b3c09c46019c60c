import { Card, Descriptions, List, Tag } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { beijingTime, percent, yuan } from "../../lib/format";
import { usePrograms } from "./api";

const PAGE_SIZE = 10;

type Rules = {
  base_ratio?: string | number;
  tiers?: { ratio?: string | number; accelerators?: string[]; vendors?: string[]; domestic?: boolean | null }[];
  cap_per_enterprise_fen?: number;
  cap_per_order_fen?: number | null;
  sme_only?: boolean;
  provider_scope?: string;
  enterprise_regions?: string[];
};

export default function ProgramsPage() {
  const { t } = useTranslation();
  const [offset, setOffset] = useState(0);
  const programs = usePrograms(offset, PAGE_SIZE);
  return (
    <>
      <PageHeader title={t("programs.title")} />
      <List
        loading={programs.isFetching}
        dataSource={programs.data?.items ?? []}
        pagination={{ current: offset / PAGE_SIZE + 1, pageSize: PAGE_SIZE, total: programs.data?.total ?? 0, onChange: (n) => setOffset((n - 1) * PAGE_SIZE) }}
        renderItem={(program) => {
          const rules = program.rules as Rules;
          return (
            <List.Item>
              <Card title={program.name} style={{ width: "100%" }} extra={<Tag>{t(`programs.category.${program.category}`)}</Tag>}>
                <Descriptions column={{ xs: 1, md: 3 }} size="small">
                  <Descriptions.Item label={t("programs.budget")}>{yuan(program.budget_fen)}</Descriptions.Item>
                  <Descriptions.Item label={t("programs.validFrom")}>{beijingTime(program.valid_from)}</Descriptions.Item>
                  <Descriptions.Item label={t("programs.validUntil")}>{beijingTime(program.valid_until)}</Descriptions.Item>
                  <Descriptions.Item label={t("programs.baseRatio")}>{percent(Number(rules.base_ratio ?? 0))}</Descriptions.Item>
                  <Descriptions.Item label={t("programs.capPerEnterprise")}>{yuan(rules.cap_per_enterprise_fen)}</Descriptions.Item>
                  <Descriptions.Item label={t("programs.capPerOrder")}>{yuan(rules.cap_per_order_fen)}</Descriptions.Item>
                  <Descriptions.Item label={t("programs.smeOnly")}>{rules.sme_only ? t("common.yes") : t("common.no")}</Descriptions.Item>
                  <Descriptions.Item label={t("programs.regions")}>{rules.enterprise_regions?.join("、") || t("programs.anyRegion")}</Descriptions.Item>
                  <Descriptions.Item label={t("programs.tiers")}>
                    {(rules.tiers ?? []).map((tier, index) => (
                      <Tag key={index}>
                        {[...(tier.accelerators ?? []), ...(tier.vendors ?? []), tier.domestic ? t("market.domestic") : ""].filter(Boolean).join(" ")} {percent(Number(tier.ratio ?? 0))}
                      </Tag>
                    ))}
                  </Descriptions.Item>
                </Descriptions>
              </Card>
            </List.Item>
          );
        }}
      />
    </>
  );
}
