import { List, Tabs, Tag, Typography } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { PageHeader } from "../../components/PageHeader";
import { sceneFacts } from "../../lib/format";
import { usePublishedScenes } from "./api";

const PAGE_SIZE = 20;

function Published({ kind }: { kind: "opportunities" | "capabilities" }) {
  const [offset, setOffset] = useState(0);
  const items = usePublishedScenes(kind, offset, PAGE_SIZE);
  return (
    <List
      loading={items.isFetching}
      dataSource={items.data?.items ?? []}
      pagination={{ current: offset / PAGE_SIZE + 1, pageSize: PAGE_SIZE, total: items.data?.total ?? 0, onChange: (n) => setOffset((n - 1) * PAGE_SIZE) }}
      renderItem={(item) => (
        <List.Item>
          <List.Item.Meta
            title={<Typography.Text strong>{item.title}</Typography.Text>}
            description={<>{sceneFacts(item)} {item.tags.map((tag) => <Tag key={tag}>{tag}</Tag>)}</>}
          />
          <Typography.Paragraph ellipsis={{ rows: 2 }} style={{ maxWidth: 560, margin: 0 }}>{item.description}</Typography.Paragraph>
        </List.Item>
      )}
    />
  );
}

export default function ScenesPage() {
  const { t } = useTranslation();
  return (
    <>
      <PageHeader title={t("scenes.title")} />
      <Tabs
        items={[
          { key: "opportunities", label: t("scenes.opportunities"), children: <Published kind="opportunities" /> },
          { key: "capabilities", label: t("scenes.capabilities"), children: <Published kind="capabilities" /> },
        ]}
      />
    </>
  );
}
