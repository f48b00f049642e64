import { expect, test } from "@playwright/test";
import { DashboardPage } from "./pages/dashboard";
import { LoginPage, adminToken } from "./pages/login";

// .ci/test seeds the e2e database with one active and two draft experiments and makes a
// super_admin token (E2E_TOKEN).

test.beforeEach(async ({ page }) => {
  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
});

test("the dashboard shows counts per tab, read from the database", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  await dashboard.goto();
  await expect(dashboard.count("active")).toHaveText("1");
  await expect(dashboard.count("drafts")).toHaveText("2");
  await expect(dashboard.count("completed")).toHaveText("0");
  await expect(dashboard.tab("Active")).toHaveAttribute("aria-selected", "true");
  await expect(dashboard.cards()).toHaveCount(1);
  await expect(dashboard.cards().first()).toContainText("Risk analysis context v2");
  await page.screenshot({ path: "test-results/dashboard.png", fullPage: true });
});

test("after hydration, a tab click asks the server and shows that tab's experiments", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  await dashboard.goto();
  await dashboard.waitForHydration();

  const listed = page.waitForResponse(
    (r) => r.url().endsWith("/api/fn/list_experiments") && r.status() === 200,
  );
  await dashboard.tab("Drafts").click();
  await listed;

  await expect(page).toHaveURL(/\?tab=drafts$/);
  await expect(dashboard.tab("Drafts")).toHaveAttribute("aria-selected", "true");
  await expect(dashboard.cards()).toHaveCount(2);
  await expect(dashboard.list).toContainText("Prompt tone experiment");
  await expect(dashboard.list).not.toContainText("Risk analysis context v2");

  await dashboard.tab("Completed").click();
  await expect(dashboard.list).toContainText("No experiment has completed yet.");
});

test("the top bar names the signed-in token, and sign-out ends the session", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  await dashboard.goto();
  await dashboard.waitForHydration();
  await expect(page.getByTestId("who")).toContainText("super_admin");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
});

test("the page is server-rendered: without WASM it shows data but never hydrates", async ({ page }) => {
  await page.route("**/*.wasm", (route) => route.abort());
  const dashboard = new DashboardPage(page);
  await dashboard.goto("/?tab=drafts");
  await expect(dashboard.cards()).toHaveCount(2);
  await page.waitForTimeout(1500);
  await expect(page.locator("[data-hydrated]")).toHaveAttribute("data-hydrated", "false");
});

test("an unknown path answers 404 with a page", async ({ page }) => {
  const response = await page.goto("/no-such-page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("search by name and sort, both kept in the URL", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  await dashboard.goto("/?tab=all");
  await dashboard.waitForHydration();
  await expect(dashboard.cards()).toHaveCount(3);
  await page.getByLabel("Search experiments").fill("TONE");
  await expect(page).toHaveURL(/q=TONE/);
  await expect(dashboard.cards()).toHaveCount(1);
  await expect(dashboard.cards().first()).toContainText("Prompt tone experiment");
  await page.getByLabel("Search experiments").fill("no such experiment");
  await expect(dashboard.list).toContainText("No experiment matches the search.");
  await page.getByLabel("Search experiments").fill("");
  await page.getByLabel("Sort").selectOption("name");
  await expect(page).toHaveURL(/sort=name/);
  await expect(dashboard.cards().first()).toContainText("Prompt tone experiment");
  await expect(dashboard.cards().last()).toContainText("Smaller model for summaries");
  // A link keeps them: reloading shows the same.
  await page.reload();
  await expect(dashboard.cards().first()).toContainText("Prompt tone experiment");
  await expect(page.getByRole("link", { name: "New Experiment" })).toBeVisible();
});
