// Drives the admin dashboard (/admin) in Debian chromium like an owner and an operator, and
// prints one JSON object of what it saw (the Rust test tests/it/dashboard_browser.rs
// asserts it):
// {"unsigned": [{path, url}]            pages opened without a session and where they landed,
//  "pages": [{path, status, console_errors, axe: [{id, impact, help, nodes}]}],
//  "order_found": URL reached by searching the ref and clicking it,
//  "deposit": {"before", "after", "without_csrf", "after_refused"}  the reseller's "available"
//                                        text around a deposit, the status of the same form
//                                        posted without its CSRF token and the text after it,
//  "desk": {"taken", "resolved_text"}    the desk order taken and resolved through the pages,
//  "phone_scroll_width"                  the overview's scrollWidth at 390 px wide,
//  "operator": [{path, status}]          what an operator account gets on owner-only pages}
// Usage: node dashboard.mjs <plan.json>; the plan: {"base", "token", "operator":
// {"username", "password"}, "ref", "reseller", "desk_order", "pages": [...],
// "owner_only": [...], "screenshots": dir or null}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core"), "utf8");
const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
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
    targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
  }));
}

// A browser context as a person; axe-core is injected as a script, which the pages'
// policy forbids, so the context bypasses it (the policy itself is tested elsewhere).
async function person(viewport = DESKTOP) {
  const ctx = await browser.newContext({ viewport, locale: "id-ID", bypassCSP: true });
  const page = await ctx.newPage();
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return { ctx, page, errors };
}

async function signInWithToken(page) {
  await page.goto(`${plan.base}/admin/login`);
  await page.fill("input[name=token]", plan.token);
  await Promise.all([page.waitForURL(/\/admin$/), page.click("form:has(input[name=token]) button")]);
}

async function signInAs(page, username, password) {
  await page.goto(`${plan.base}/admin/login`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL(/\/admin$/), page.click("form:has(input[name=username]) button")]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const out = {};
try {
  // Without a session: every page lands on the sign-in.
  {
    const { ctx, page } = await person();
    out.unsigned = [];
    for (const path of plan.pages) {
      await page.goto(`${plan.base}${path}`);
      out.unsigned.push({ path, url: page.url() });
    }
    await ctx.close();
  }

  const { ctx, page, errors } = await person();
  await signInWithToken(page);
  out.pages = [];
  for (const path of plan.pages) {
    errors.length = 0;
    const resp = await page.goto(`${plan.base}${path}`, { waitUntil: "load" });
    const axe = await axeRun(page);
    out.pages.push({ path, status: resp.status(), console_errors: [...errors], axe });
  }

  // An order found by its ref and opened.
  await page.goto(`${plan.base}/admin/orders`);
  await page.fill("input[name=q]", plan.ref);
  await Promise.all([page.waitForURL(/q=/), page.click("form[role=search] button")]);
  await Promise.all([page.waitForURL(/\/admin\/orders\/.+/), page.click(`a:text-is("${plan.ref}")`)]);
  out.order_found = page.url();
  out.order_text = await page.innerText("main");

  // A deposit through the form.
  await page.goto(`${plan.base}/admin/resellers/${plan.reseller}`);
  const before = await page.innerText("#available");
  await page.fill("input[name=amount]", "12345");
  await page.fill("input[name=note]", "transfer BCA lewat peramban");
  await Promise.all([page.waitForLoadState("load"), page.click("form[action*=deposits] button")]);
  await page.waitForURL(new RegExp(`/admin/resellers/${plan.reseller}$`));
  out.deposit = { before, after: await page.innerText("#available") };
  // The same form posted without its CSRF token: refused with 403, nothing moves.
  await page.evaluate(() => document.querySelector("form[action*=deposits] input[name=csrf]").remove());
  await page.fill("input[name=amount]", "999");
  await page.fill("input[name=note]", "tanpa token");
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().includes("/deposits") && r.request().method() === "POST"),
    page.click("form[action*=deposits] button"),
  ]);
  out.deposit.without_csrf = refused.status();
  await page.goto(`${plan.base}/admin/resellers/${plan.reseller}`);
  out.deposit.after_refused = await page.innerText("#available");

  // The desk order: taken on the desk page, resolved on its page.
  await page.goto(`${plan.base}/admin/desk`);
  await Promise.all([
    page.waitForURL(/\/admin\/desk$/),
    page.click(`form[action="/admin/desk/${plan.desk_order}/take"] button`),
  ]);
  const takeForms = await page.locator(`form[action="/admin/desk/${plan.desk_order}/take"]`).count();
  out.desk = { taken: takeForms === 0 };
  await page.goto(`${plan.base}/admin/orders/${plan.desk_order}`);
  await page.fill("input[name=serial_number]", "SN-BROWSER-1");
  await Promise.all([
    page.waitForURL(new RegExp(`/admin/orders/${plan.desk_order}$`)),
    page.click("form:has(input[name=serial_number]) button"),
  ]);
  out.desk.resolved_text = await page.innerText("main");

  // The overview on a phone: no sideways scroll.
  const cookies = await ctx.cookies();
  const phone = await browser.newContext({ viewport: PHONE, locale: "id-ID" });
  await phone.addCookies(cookies);
  const pp = await phone.newPage();
  await pp.goto(`${plan.base}/admin`, { waitUntil: "load" });
  out.phone_scroll_width = await pp.evaluate(() => document.documentElement.scrollWidth);
  if (plan.screenshots) {
    await pp.screenshot({ path: `${plan.screenshots}/dashboard-overview-phone.png`, fullPage: true });
    await page.goto(`${plan.base}/admin`, { waitUntil: "load" });
    await page.screenshot({ path: `${plan.screenshots}/dashboard-overview.png`, fullPage: true });
  }
  await phone.close();
  await ctx.close();

  // An operator account: signs in by name, but owner-only pages answer 403.
  {
    const { ctx: octx, page: op } = await person();
    await signInAs(op, plan.operator.username, plan.operator.password);
    out.operator = [];
    for (const path of plan.owner_only) {
      const resp = await op.goto(`${plan.base}${path}`);
      out.operator.push({ path, status: resp.status() });
    }
    await octx.close();
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
