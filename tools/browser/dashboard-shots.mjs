// Signs in to the dashboard with the admin token and saves the overview as a desktop and a
// phone (390 px) screenshot: <dir>/dashboard-overview.png and dashboard-overview-phone.png.
// Usage: node dashboard-shots.mjs <base URL> <admin token> <dir>
import { chromium } from "playwright-core";

const [base, token, dir] = process.argv.slice(2);
if (!base || !token || !dir) {
  console.error("usage: node dashboard-shots.mjs <base URL> <admin token> <dir>");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  for (const [name, viewport] of [
    ["dashboard-overview.png", { width: 1280, height: 900 }],
    ["dashboard-overview-phone.png", { width: 390, height: 844 }],
  ]) {
    const page = await browser.newPage({ viewport, locale: "id-ID" });
    await page.goto(`${base}/admin/login`);
    await page.fill("input[name=token]", token);
    await Promise.all([page.waitForURL(/\/admin$/), page.click("form:has(input[name=token]) button")]);
    await page.screenshot({ path: `${dir}/${name}`, fullPage: true });
    await page.close();
  }
} finally {
  await browser.close();
}
