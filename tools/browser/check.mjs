// Loads a page in Debian chromium and prints one JSON object:
// {"text", "axe_violations": [{id, impact, help, nodes}], "html_valid", "html_errors": [...],
//  "csp_violations": [console messages], "body_font": the body's computed font-family}
// Usage: node check.mjs <url> <screenshot.png> [locale, default id-ID]   (also writes <screenshot>-mobile.png)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { HtmlValidate } from "html-validate";

const require = createRequire(import.meta.url);
const [url, shot, locale = "id-ID"] = process.argv.slice(2);
if (!url || !shot) {
  console.error("usage: node check.mjs <url> <screenshot.png>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  // The page as a visitor's browser sees it, under its own Content-Security-Policy: any
  // violation is reported, and the style sheet must have applied (margins on the body).
  const mobile = await browser.newPage({ viewport: { width: 390, height: 844 }, locale });
  const csp_violations = [];
  mobile.on("console", (m) => {
    if (/Content[ -]Security[ -]Policy/i.test(m.text())) csp_violations.push(m.text());
  });
  await mobile.goto(url, { waitUntil: "load" });
  await mobile.screenshot({ path: shot.replace(/\.png$/, "") + "-mobile.png", fullPage: true });
  const body_font = await mobile.evaluate(() => getComputedStyle(document.body).fontFamily);

  // axe-core is injected as a script, which the page's policy forbids: this one bypasses it.
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale, bypassCSP: true });
  const resp = await page.goto(url, { waitUntil: "load" });
  const html = await resp.text();
  await page.screenshot({ path: shot, fullPage: true });
  const text = await page.evaluate(() => document.body.innerText);

  await page.addScriptTag({ content: readFileSync(require.resolve("axe-core"), "utf8") });
  const axe = await page.evaluate(async () => await window.axe.run(document));
  const axe_violations = axe.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));

  const validator = new HtmlValidate({ extends: ["html-validate:recommended"] });
  const report = await validator.validateString(html);
  const html_errors = report.results.flatMap((r) =>
    r.messages.map((m) => ({ rule: m.ruleId, message: m.message, line: m.line, severity: m.severity })),
  );
  console.log(JSON.stringify({ text, axe_violations, html_valid: report.valid, html_errors, csp_violations, body_font }));
} finally {
  await browser.close();
}
