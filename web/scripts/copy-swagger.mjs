// Copies Swagger UI's own files next to the portal, so /docs needs nothing from the internet.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const source = dirname(require.resolve("swagger-ui-dist/package.json"));
const target = new URL("../../src/suanli/web_static/swagger/", import.meta.url).pathname;
mkdirSync(target, { recursive: true });
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css"]) copyFileSync(join(source, name), join(target, name));
// The start-up script is a file, not inline: the page's CSP allows no inline script.
writeFileSync(
  join(target, "swagger-init.js"),
  'window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: false });\n',
);
