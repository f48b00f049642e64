import { expect, test } from "@playwright/test";
import { adminToken } from "./pages/login";

const SEEDED = "/experiments/018f0000-0000-7000-8000-000000000001";

test("every page has a favicon that loads, and no page logs a console error or fails a request", async ({
  page,
  request,
}) => {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error on ${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`uncaught on ${page.url()}: ${error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`failed: ${r.url()} (${r.failure()?.errorText})`));

  const visit = async (path: string) => {
    await page.goto(path);
    await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
    const icon = page.locator('head link[rel="icon"]');
    await expect(icon, path).toHaveCount(1);
    const href = await icon.getAttribute("href");
    const answer = await request.get(href ?? "/missing");
    expect(answer.status(), `${path}: favicon ${href}`).toBe(200);
    expect(answer.headers()["content-type"]).toContain("image/svg+xml");
  };

  await visit("/login");
  await page.getByLabel("API token").fill(adminToken());
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);
  for (const path of ["/", "/?tab=all", "/experiments/new", "/experiments/new?step=4", SEEDED]) {
    await visit(path);
  }
  expect(problems).toEqual([]);
});
