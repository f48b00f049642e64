import { expect, test, type Page } from "@playwright/test";
import { auth, totalSamples } from "./pages/experiments";
import { LoginPage, adminToken } from "./pages/login";

async function hydrated(page: Page) {
  await expect(page.locator("[data-hydrated]")).toHaveAttribute("data-hydrated", "true");
}

/** The wizard's own code arrives as a lazily loaded chunk: wait until it has hydrated. */
async function wizardReady(page: Page) {
  await expect(page.locator("section.wizard")).toHaveAttribute("data-ready", "true");
}

async function step(page: Page, n: number) {
  const url = n === 1 ? /\/experiments\/new(\?step=1)?$/ : new RegExp(`/experiments/new\\?step=${n}$`);
  await expect(page).toHaveURL(url);
  await expect(page.getByTestId(`step-${n}`)).toBeVisible();
  await expect(page.getByTestId("step-indicator")).toContainText(`Step ${n} of 5`);
}

test("the whole journey: wizard (with a validation error fixed) → start → traffic → figures and charts → winner → deploy at 25% → Completed", async ({
  page,
  request,
}) => {
  const name = `Wizard journey ${Date.now()}`;
  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  await page.getByRole("link", { name: "New Experiment" }).click();
  await expect(page.getByRole("heading", { name: "Create A/B Test" })).toBeVisible();
  await wizardReady(page);
  await step(page, 1);
  await page.getByRole("button", { name: "Start over" }).click();

  // Step 1: Next with no name is refused at the field, with the server's own message.
  await page.getByRole("button", { name: "Next" }).click();
  await step(page, 1);
  await expect(page.locator("#name-error")).toHaveText("must not be empty");
  await expect(page.getByLabel("Experiment Name")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator("#target-id-error")).toHaveText("is required");
  await page.screenshot({ path: "test-results/wizard-1-basic-info-error.png", fullPage: true });
  await page.getByLabel("Experiment Name").fill(name);
  await expect(page.locator("#name-error")).toHaveCount(0);
  await page.getByLabel("Description").fill("A context template with the project's history");
  await page.getByLabel("Hypothesis").fill("Including historical project data improves quality by 5%");
  await page.getByLabel("What are you testing?").selectOption("context_template");
  await page.getByLabel("Target ID").fill(`wizard-${Date.now()}`);
  await page.getByLabel("Tenant").fill("acme");
  await page.screenshot({ path: "test-results/wizard-1-basic-info.png", fullPage: true });
  await page.getByRole("button", { name: "Next" }).click();

  // Step 2: a structured editor for the control, raw JSON validated as you type for the treatment.
  await step(page, 2);
  await page.getByLabel("Control variant name").fill("Current template");
  await page.getByLabel("Control template id").fill("risk-v1");
  await page.getByLabel("Treatment variant name").fill("With history");
  await page.getByTestId("variant-treatment").getByLabel("Edit as JSON").check();
  const raw = page.getByLabel("Treatment configuration JSON");
  await raw.fill('{"templateId": "risk-v2", ');
  await expect(page.getByTestId("variant-treatment").getByRole("alert")).toContainText("is not valid JSON");
  await raw.fill('{"templateId": "risk-v2", "historyDays": 90}');
  await expect(page.getByTestId("variant-treatment")).toContainText("Valid JSON object");
  await page.screenshot({ path: "test-results/wizard-2-variants.png", fullPage: true });
  await page.getByRole("button", { name: "Next" }).click();

  // Step 3: a reload keeps everything typed so far.
  await step(page, 3);
  await page.reload();
  await wizardReady(page);
  await step(page, 3);
  await page.getByRole("button", { name: "Back" }).click();
  await step(page, 2);
  await expect(page.getByLabel("Treatment configuration JSON")).toHaveValue(/historyDays/);
  await page.getByRole("button", { name: "Back" }).click();
  await step(page, 1);
  await expect(page.getByLabel("Experiment Name")).toHaveValue(name);
  await page.getByRole("button", { name: "Next" }).click();
  await step(page, 2);
  await page.getByRole("button", { name: "Next" }).click();
  await step(page, 3);
  // Traffic: too much in all is refused; then 50/50 again. Targeting takes typed entries.
  await page.getByLabel("Control traffic (%) value").fill("70");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.locator("#allocation-error")).toContainText("at most 100 percent");
  await page.getByLabel("Control traffic (%) value").fill("50");
  await expect(page.locator("#allocation-error")).toHaveCount(0);
  await page.getByLabel("Target specific tenants").check();
  const tenants = page.getByRole("textbox", { name: "Tenant IDs" });
  await tenants.fill("acme");
  await tenants.press("Enter");
  await tenants.fill("globex");
  await tenants.press("Enter");
  await page.getByRole("button", { name: "Remove globex" }).click();
  await expect(page.getByRole("list", { name: "Tenant IDs" })).toHaveText("acme×");
  await page.screenshot({ path: "test-results/wizard-3-traffic.png", fullPage: true });
  await page.getByRole("button", { name: "Next" }).click();

  // Step 4: the criteria row as the spec words it.
  await step(page, 4);
  await page.getByLabel("Primary Success Metric").selectOption("quality");
  await page.getByLabel("Criterion comparison").selectOption(">");
  await expect(page.getByLabel("Criterion comparison").locator("option:checked")).toHaveText("improves by more than");
  await page.getByLabel("Threshold (%)").fill("5");
  await page.getByLabel("Minimum detectable effect (%)").fill("10");
  await page.getByLabel("Confidence level").selectOption("0.95");
  await page.getByLabel("Response Latency").check();
  await page.screenshot({ path: "test-results/wizard-4-metrics.png", fullPage: true });
  await page.getByRole("button", { name: "Next" }).click();

  // Step 5: duration, samples, the summary and the estimate.
  await step(page, 5);
  await page.getByLabel("Minimum Duration (days)").fill("1");
  await page.getByLabel("Minimum Samples Per Variant").fill("20");
  const summary = page.getByTestId("summary");
  await expect(summary).toContainText(name);
  await expect(summary).toContainText("50% / 50%");
  await expect(summary).toContainText("Tenant IDs: acme");
  await expect(summary).toContainText("quality improves by more than 5%");
  await expect(summary).toContainText("10% beyond the threshold");
  await expect(page.getByTestId("estimate")).toContainText("users per variant");
  await page.screenshot({ path: "test-results/wizard-5-review.png", fullPage: true });
  await page.getByRole("button", { name: "Create and Start" }).click();

  // The experiment's page, running.
  await expect(page).toHaveURL(/\/experiments\/[0-9a-f-]{36}$/);
  const id = page.url().split("/").pop()!;
  await expect(page.getByRole("heading", { name })).toBeVisible();
  await expect(page.locator(".title-row .badge")).toHaveText("Active");

  // Traffic through the runtime API: 80 users, two feedback events each. The runtime
  // serves the new experiment within moments of the start (change notification).
  const events = [];
  for (let i = 0; i < 80; i++) {
    for (let k = 0; k < 2; k++) {
      events.push({
        experimentId: id,
        userId: `wizard-user-${i}`,
        tenantId: "acme",
        eventType: "feedback",
        metrics: {
          quality: 0.55 + (i % 7) / 50 + k / 20,
          latency: 700 + (i % 13) * 40,
          userSatisfaction: i % 3 ? "positive" : "neutral",
        },
      });
    }
  }
  await expect
    .poll(async () => {
      const r = await request.post("/api/v1/insights/resolve", {
        headers: auth(),
        data: { tenantId: "acme", userId: "wizard-probe" },
      });
      return JSON.stringify(await r.json()).includes(id);
    })
    .toBe(true);
  const sent = await request.post("/api/v1/insights/events/batch", { headers: auth(), data: { events } });
  expect(sent.status()).toBe(200);
  expect((await sent.json()).stored).toBe(160);

  await page.reload();
  await hydrated(page);
  await expect.poll(() => totalSamples(page)).toBe(80);
  for (const chart of ["chart-quality", "chart-latency", "chart-satisfaction"]) {
    await expect(page.getByTestId(chart).locator("svg")).toBeVisible();
  }
  await page.screenshot({ path: "test-results/wizard-results.png", fullPage: true });

  await page.getByRole("button", { name: "Declare Winner" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("status")).toContainText("declared the winner");
  await page.getByRole("button", { name: /Deploy/ }).click();
  await page.getByLabel("Rollout percentage").fill("25");
  await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("status")).toContainText("25% of users");

  await page.goto("/?tab=completed");
  const card = page.getByTestId("experiment-card").filter({ hasText: name });
  await expect(card).toContainText("Winner deployed");
  await page.screenshot({ path: "test-results/dashboard-completed.png", fullPage: true });
});

test("Create sends what the browser let through to the server, whose refusal lands at the field", async ({ page }) => {
  // Only the server checks the tenant (here: longer than 200 characters).
  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await page.goto("/experiments/new?step=1");
  await wizardReady(page);
  await page.getByRole("button", { name: "Start over" }).click();
  await page.getByLabel("Experiment Name").fill(`Too long tenant ${Date.now()}`);
  await page.getByLabel("Target ID").fill("somewhere");
  await page.getByLabel("Tenant").fill("t".repeat(201));
  for (let n = 1; n <= 4; n++) {
    await page.getByRole("button", { name: "Next" }).click();
    await step(page, n + 1);
  }
  await page.getByRole("button", { name: "Create Experiment" }).click();
  await step(page, 1);
  await expect(page.locator("#tenant-error")).toHaveText("must have 1 to 200 characters");
  await page.getByLabel("Tenant").fill("acme");
  for (let n = 1; n <= 4; n++) {
    await page.getByRole("button", { name: "Next" }).click();
    await step(page, n + 1);
  }
  await page.getByRole("button", { name: "Create Experiment" }).click();
  await expect(page).toHaveURL(/\/experiments\/[0-9a-f-]{36}$/);
  await expect(page.locator(".title-row .badge")).toHaveText("Draft");
  // The wizard starts empty again.
  await page.goto("/experiments/new");
  await wizardReady(page);
  await expect(page.getByLabel("Experiment Name")).toHaveValue("");
});
