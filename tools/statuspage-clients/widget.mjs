// Embeds Atlassian's @statuspage/status-widget (pinned in package.json) on a page of ANOTHER
// origin, pointed at siaga, loads it in Debian chromium and prints one JSON object:
//   {"host_page", "src", "rendered": bool,
//    "widgets": [{appearance, text, status_text, indicator, indicator_color, href}],
//    "requests": [{url, method, status, allow_origin} of every request to another origin],
//    "console_errors", "page_errors", "widget_own_errors"}
// Usage: node widget.mjs <siaga base URL, e.g. http://127.0.0.1:8080> [locale, default id-ID]
// (the browser's locale sets its Accept-Language, so siaga answers in that language)
//
// The host page is served by a small node server on `localhost` with its own port, so the
// widget's fetch is cross-origin (other host name and other port than siaga's 127.0.0.1)
// and needs siaga's CORS answer. The widget's script comes from node_modules through that
// same server: no CDN, the network is closed. The widget (dist/index.js; source in its
// source map) takes `src`, replaces the URL's path with `/api/v2/summary.json`, fetches it
// and renders `status.description` in a `.status-text` and `status.indicator` as the class
// of a `.status-indicator` (none, minor, major, critical, maintenance), inside its open
// shadow root; `appearance` picks the template ("basic" default, or "badge" with `title`).
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const [src, locale = "id-ID"] = process.argv.slice(2);
if (!src) {
  console.error("usage: node widget.mjs <siaga base URL>");
  process.exit(2);
}
const widgetJs = readFileSync(
  join(dirname(require.resolve("@statuspage/status-widget/package.json")), "dist/index.js"),
);
const attr = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
const hostHtml = `<!DOCTYPE html>
<html lang="id">
<head><meta charset="utf-8"><title>Konter Pulsa Maju</title></head>
<body>
  <h1>Konter Pulsa Maju</h1>
  <p id="basic">Status: <statuspage-widget src="${attr(src)}"></statuspage-widget></p>
  <p id="badge"><statuspage-widget src="${attr(src)}" appearance="badge" title="status siaga"></statuspage-widget></p>
  <script src="/vendor/status-widget.js"></script>
</body>
</html>`;

const server = createServer((req, res) => {
  if (req.url === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(hostHtml);
  } else if (req.url === "/vendor/status-widget.js") {
    res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
    res.end(widgetJs);
  } else if (req.url === "/favicon.ico") {
    res.writeHead(204);
    res.end();
  } else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const hostPage = `http://localhost:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ locale });
  const console_errors = [];
  const page_errors = [];
  const requests = [];
  page.on("console", (m) => m.type() === "error" && console_errors.push(m.text()));
  page.on("pageerror", (e) => page_errors.push(String(e)));
  page.on("requestfailed", (r) => {
    if (!r.url().startsWith(hostPage)) {
      requests.push({ url: r.url(), method: r.method(), status: null, failure: r.failure()?.errorText });
    }
  });
  page.on("response", async (r) => {
    if (r.url().startsWith(hostPage)) return;
    const h = await r.allHeaders();
    requests.push({
      url: r.url(),
      method: r.request().method(),
      status: r.status(),
      allow_origin: h["access-control-allow-origin"] ?? null,
    });
  });
  await page.goto(hostPage, { waitUntil: "load" });

  // Rendered once the summary arrived: both widgets show a status text. On failure the
  // widget stays an empty <div>: the wait then times out and what was seen is printed.
  let rendered = true;
  try {
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll("statuspage-widget")].every((w) =>
          w.shadowRoot?.querySelector(".status-text")?.textContent.trim(),
        ),
      null,
      { timeout: 20_000, polling: 100 },
    );
  } catch {
    rendered = false;
  }
  const widgets = await page.evaluate(() =>
    [...document.querySelectorAll("statuspage-widget")].map((w) => {
      const root = w.shadowRoot;
      const ind = root?.querySelector(".status-indicator");
      return {
        appearance: w.getAttribute("appearance") || "basic",
        // What a visitor reads: the link's visible text (the badge puts `title` before the status).
        text: root?.querySelector("a")?.innerText.replace(/\s+/g, " ").trim() ?? null,
        status_text:
          (w.getAttribute("appearance") === "badge" ? ind : root?.querySelector(".status-text"))
            ?.textContent.replace(/\s+/g, " ").trim() ?? null,
        indicator: ind ? [...ind.classList].filter((c) => c !== "status-indicator").join(" ") : null,
        indicator_color: ind ? getComputedStyle(ind).backgroundColor : null,
        href: root?.querySelector("a")?.getAttribute("href") ?? null,
      };
    }),
  );
  // The widget's bundle ends in `parcelRequire=...` under "use strict": after it has defined
  // the element, that assignment throws on every page that embeds it. Its own bug, kept
  // apart from anything else the page reports.
  const widget_own_errors = page_errors.filter((e) => /parcelRequire is not defined/.test(e));
  const other_page_errors = page_errors.filter((e) => !widget_own_errors.includes(e));
  console.log(
    JSON.stringify({
      host_page: hostPage, src, rendered, widgets, requests, console_errors,
      page_errors: other_page_errors, widget_own_errors,
    }),
  );
} finally {
  await browser.close();
  server.close();
}
