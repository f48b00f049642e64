import { expect, test } from "@playwright/test";
import { LoginPage, adminToken } from "./pages/login";

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

  // Signed out: the redirect to sign in, then signing in. (Not an unknown path: its 404
  // status is logged by Chromium itself, as it should be.)
  await visit("/");
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
  await new LoginPage(page).submit(adminToken());
  await expect(page).toHaveURL(/\/$/);
  const unknown = "/experiments/018f0000-0000-7000-8000-00000000dead";
  for (const path of ["/", "/?tab=all", "/experiments/new", "/experiments/new?step=4", SEEDED, unknown]) {
    await visit(path);
  }
  expect(problems).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("a signed-out visit is redirected by the server to sign in, naming the page", async ({ page }) => {
    const response = await page.goto(`${SEEDED}?action=declare`);
    expect(response?.status()).toBe(200);
    expect(response?.request().redirectedFrom()?.url()).toContain(`${SEEDED}?action=declare`);
    await expect(page).toHaveURL(/\/login\?next=%2Fexperiments%2F018f0000-0000-7000-8000-000000000001%3Faction%3Ddeclare$/);
    await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  });

  test("every page shows its content, never a loading placeholder", async ({ page }) => {
    await page.setExtraHTTPHeaders({ Authorization: `Bearer ${adminToken()}` });
    const pages: [string, string][] = [
      ["/", "A/B Tests"],
      ["/?tab=drafts", "A/B Tests"],
      ["/experiments/new", "Create A/B Test"],
      [SEEDED, "Risk analysis context v2"],
      ["/experiments/018f0000-0000-7000-8000-00000000dead", "Experiment not found"],
      ["/login", "Sign in"],
    ];
    for (const [path, heading] of pages) {
      await page.goto(path);
      await expect(page.getByRole("heading", { name: heading }), path).toBeVisible();
      await expect(page.getByText("Loading…"), path).toHaveCount(0);
    }
    // The dashboard's list and counts are there too.
    await page.goto("/?tab=drafts");
    await expect(page.getByTestId("experiment-card").first()).toBeVisible();
    await expect(page.getByTestId("count-drafts")).toHaveText(/^\d+$/);
    // And the results page its charts.
    await page.goto(SEEDED);
    await expect(page.getByTestId("chart-quality").locator("svg")).toBeVisible();
  });
});
