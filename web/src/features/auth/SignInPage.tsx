import { useQueryClient } from "@tanstack/react-query";
import { Alert, Button, Card, Form, Input } from "antd";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate, useSearchParams } from "react-router-dom";
import { afterSignIn } from "../../app/menu";
import { api, rememberCsrf, SESSION_ENDED_CODES, unwrap } from "../../lib/api";
import { errorText, showServerError } from "../../lib/forms";

type SignInForm = { login: string; password: string; totp?: string };

export default function SignInPage() {
  const { t } = useTranslation();
  const [form] = Form.useForm<SignInForm>();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const client = useQueryClient();
  // Sent here because the session ended (App.tsx): say why, in the reader's language.
  const reason = params.get("reason") ?? "";
  const ended = (SESSION_ENDED_CODES as readonly string[]).includes(reason) ? t(`signIn.ended.${reason}`) : null;
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(values: SignInForm) {
    setBusy(true);
    setFailure(null);
    try {
      const signed = await unwrap(api.POST("/v1/auth/login", { body: { login: values.login, password: values.password, totp: values.totp || null } }));
      rememberCsrf(signed.csrf_token);
      await client.invalidateQueries({ queryKey: ["me"] });
      navigate(afterSignIn(signed.user.org_kind, params.get("next")), { replace: true });
    } catch (error) {
      if (!showServerError(form, error, ["login", "password", "totp"])) setFailure(errorText(error));
    } finally {
      setBusy(false);
    }
  }
  return (
    <Card title={<h1 style={{ fontSize: 20, margin: 0 }}>{t("signIn.title")}</h1>} style={{ maxWidth: 420, margin: "40px auto" }}>
      {ended && !failure && <Alert type="warning" title={ended} style={{ marginBottom: 16 }} role="status" data-testid="session-ended" />}
      {failure && <Alert type="error" title={failure} style={{ marginBottom: 16 }} role="alert" />}
      <Form form={form} layout="vertical" onFinish={submit} requiredMark={false}>
        <Form.Item name="login" label={t("signIn.login")} rules={[{ required: true, message: t("signIn.loginRequired") }]}>
          <Input autoComplete="username" />
        </Form.Item>
        <Form.Item name="password" label={t("signIn.password")} rules={[{ required: true, message: t("signIn.passwordRequired") }]}>
          <Input.Password autoComplete="current-password" />
        </Form.Item>
        <Form.Item name="totp" label={t("signIn.totp")} extra={t("signIn.totpHelp")}>
          <Input inputMode="numeric" autoComplete="one-time-code" maxLength={6} />
        </Form.Item>
        <Button type="primary" htmlType="submit" block loading={busy}>
          {t("signIn.submit")}
        </Button>
      </Form>
    </Card>
  );
}
