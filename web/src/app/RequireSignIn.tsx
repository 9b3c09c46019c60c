import { Spin } from "antd";
import { Navigate, Outlet } from "react-router-dom";
import { useMe } from "../lib/auth";

/** Console pages need a session; the API decides what each role sees. */
export function RequireSignIn() {
  const me = useMe();
  if (me.isLoading) return <Spin />;
  if (!me.data) return <Navigate to="/sign-in" replace />;
  return <Outlet />;
}
