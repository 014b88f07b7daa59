// Loads a page in Debian chromium, on a desktop and on a phone viewport, and prints one JSON
// object:
// {"text", "bytes": length of the HTML as served (uncompressed),
//  "axe": {"desktop": [{id, impact, help, nodes, targets}], "phone": [...]} (every rule axe
//  runs by default, any impact),
//  "html_valid", "html_errors": [...], "csp_violations": [console messages],
//  "body_font": the body's computed font-family,
//  "tabs_to_subscribe": Tab presses from the top of the page until the subscribe email
//  field has focus (null when it is not reached in 60),
//  "phone_days": day bars visible per row on the phone, "desktop_days": on the desktop,
//  "tips_inside": every hovered day's tooltip lies inside the phone's viewport (null: no bars)}
// Usage: node check.mjs <url> <screenshot.png> [locale, default id-ID]
//        (also writes <screenshot>-mobile.png)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { HtmlValidate } from "html-validate";

const require = createRequire(import.meta.url);
const [url, shot, locale = "id-ID"] = process.argv.slice(2);
if (!url || !shot) {
  console.error("usage: node check.mjs <url> <screenshot.png> [locale]");
  process.exit(2);
}
const AXE = readFileSync(require.resolve("axe-core"), "utf8");
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

async function axeRun(page) {
  await page.addScriptTag({ content: AXE });
  const r = await page.evaluate(async () => await window.axe.run(document));
  return r.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.length,
    targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}

// Presses Tab from the top of the page until the subscribe field has focus.
async function tabsTo(page, selector) {
  for (let n = 1; n <= 60; n++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return n;
  }
  return null;
}

const visibleDays = (page) =>
  page.evaluate(() => {
    const bar = document.querySelector(".bar");
    return bar ? [...bar.children].filter((d) => d.offsetParent !== null).length : 0;
  });

// Hovers the first and last visible day of every bar; true when each tooltip is inside.
async function tipsInside(page) {
  const days = await page.$$(".bar");
  if (days.length === 0) return null;
  for (const bar of days) {
    const visible = await bar.$$(":scope > .day:not([hidden])");
    const shown = [];
    for (const d of visible) if (await d.isVisible()) shown.push(d);
    for (const d of [shown[0], shown[shown.length - 1]]) {
      if (!d) continue;
      await d.hover();
      const inside = await d.evaluate((el) => {
        const r = el.querySelector(".tip").getBoundingClientRect();
        return r.width > 20 && r.left >= 0 && r.right <= window.innerWidth;
      });
      if (!inside) return false;
    }
  }
  return true;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  // The page as a visitor's phone sees it, under its own Content-Security-Policy: any
  // violation is reported, and the style sheet must have applied (margins on the body).
  const mobile = await browser.newPage({ viewport: PHONE, locale });
  const csp_violations = [];
  mobile.on("console", (m) => {
    if (/Content[ -]Security[ -]Policy/i.test(m.text())) csp_violations.push(m.text());
  });
  await mobile.goto(url, { waitUntil: "load" });
  await mobile.screenshot({ path: shot.replace(/\.png$/, "") + "-mobile.png", fullPage: true });
  const body_font = await mobile.evaluate(() => getComputedStyle(document.body).fontFamily);
  const phone_days = await visibleDays(mobile);
  const tips_inside = await tipsInside(mobile);
  await mobile.close();

  // axe-core is injected as a script, which the page's policy forbids: these bypass it.
  const page = await browser.newPage({ viewport: DESKTOP, locale, bypassCSP: true });
  const resp = await page.goto(url, { waitUntil: "load" });
  const html = await resp.text();
  await page.screenshot({ path: shot, fullPage: true });
  const text = await page.evaluate(() => document.body.innerText);
  const desktop_days = await visibleDays(page);
  const tabs_to_subscribe = await tabsTo(page, "#sub-email");
  await page.goto(url, { waitUntil: "load" });
  const desktop = await axeRun(page);
  const phonePage = await browser.newPage({ viewport: PHONE, locale, bypassCSP: true });
  await phonePage.goto(url, { waitUntil: "load" });
  const phone = await axeRun(phonePage);

  const validator = new HtmlValidate({ extends: ["html-validate:recommended"] });
  const report = await validator.validateString(html);
  const html_errors = report.results.flatMap((r) =>
    r.messages.map((m) => ({ rule: m.ruleId, message: m.message, line: m.line, severity: m.severity })),
  );
  console.log(
    JSON.stringify({
      text,
      bytes: Buffer.byteLength(html),
      axe: { desktop, phone },
      html_valid: report.valid,
      html_errors,
      csp_violations,
      body_font,
      tabs_to_subscribe,
      desktop_days,
      phone_days,
      tips_inside,
    }),
  );
} finally {
  await browser.close();
}
