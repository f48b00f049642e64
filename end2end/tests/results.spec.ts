import { expect, test } from "@playwright/test";
import { liveExperiment, sendEvents, totalSamples } from "./pages/experiments";
import { LoginPage, adminToken } from "./pages/login";

test("traffic through the runtime API shows up as figures and charts, then the winner is declared and deployed", async ({
  page,
  request,
}) => {
  const id = await liveExperiment(request, `Journey ${Date.now()}`);

  // Traffic: 80 users, four feedback events each; the treatment answers better. (Four, so
  // that even an uneven split of the users leaves each arm the 72 requests that a p95 with a
  // 95 % interval needs: with two, a 35/45 split left one arm 70 and no p95 difference.)
  const events = [];
  for (let i = 0; i < 80; i++) {
    for (let k = 0; k < 4; k++) {
      events.push({
        experimentId: id,
        userId: `e2e-user-${i}`,
        tenantId: "acme",
        eventType: "feedback",
        metrics: { quality: 0.55 + (i % 7) / 50 + k / 20, latency: 700 + (i % 13) * 40, userSatisfaction: i % 3 ? "positive" : "neutral" },
      });
    }
  }
  await sendEvents(request, events);

  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await page.goto(`/experiments/${id}`);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect.poll(() => totalSamples(page)).toBe(80);
  for (const chart of ["chart-quality", "chart-latency", "chart-satisfaction"]) {
    await expect(page.getByTestId(chart).locator("svg")).toBeVisible();
  }
  await expect(page.getByTestId("recommendation")).toContainText("Recommendation");
  // Request-level latency beside the per-user figure, labelled apart; and which test decided.
  for (const arm of ["control", "treatment"]) {
    await expect(page.getByTestId(`column-${arm}`)).toContainText("Latency (P95 of users' means)");
    await expect(page.getByTestId(`column-${arm}`).getByTestId("request-p95")).toHaveText(/^\d+ ms$/);
  }
  await expect(page.getByTestId("decided-by")).toContainText("always-valid");
  await expect(page.getByTestId("request-p95-difference")).toContainText("treatment − control");
  await page.screenshot({ path: "test-results/results.png", fullPage: true });

  // Declare the winner through the confirmation dialog.
  await page.getByRole("button", { name: "Declare Winner" }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("Declare a winner");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("status")).toContainText("declared the winner");
  await expect(page.getByTestId("winner")).toContainText("treatment");
  // The trophy is drawn (an emoji needs a font Debian's Chromium lacks).
  await expect(page.getByTestId("winner").locator("svg")).toBeVisible();

  // Deploy it to 25 % of users.
  await page.getByRole("button", { name: /Deploy/ }).click();
  await page.getByLabel("Rollout percentage").fill("25");
  await page.getByLabel("Notes").fill("canary");
  await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("status")).toContainText("25% of users");
  await expect(page.getByTestId("audit")).toContainText("deploy_winner");

  // It is under Completed now.
  await page.goto("/?tab=completed");
  await expect(page.getByTestId("experiment-list")).toContainText("Journey");
  await expect(page.getByTestId("experiment-list")).toContainText("Winner deployed");
});

test("an unknown experiment shows a not-found page", async ({ page }) => {
  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await page.goto("/experiments/018f0000-0000-7000-8000-00000000dead");
  await expect(page.getByRole("heading", { name: "Experiment not found" })).toBeVisible();
});
