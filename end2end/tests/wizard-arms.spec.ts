import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { auth, sendEvents } from "./pages/experiments";
import { LoginPage, adminToken } from "./pages/login";

async function hydrated(page: Page) {
  await expect(page.locator("[data-hydrated]")).toHaveAttribute("data-hydrated", "true");
}

async function wizardReady(page: Page) {
  await expect(page.locator("section.wizard")).toHaveAttribute("data-ready", "true");
}

async function step(page: Page, n: number) {
  await expect(page.getByTestId(`step-${n}`)).toBeVisible();
  await expect(page.getByTestId("step-indicator")).toContainText(`Step ${n} of 5`);
}

/** The arm `userId` resolves to in experiment `id` (or undefined), from the resolve answer. */
async function armOf(request: APIRequestContext, id: string, userId: string): Promise<string | undefined> {
  const r = await request.post("/api/v1/insights/resolve", {
    headers: auth(),
    data: { tenantId: "acme", userId },
  });
  let found: string | undefined;
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (o.experimentId === id && typeof o.variant === "string") found = o.variant;
      Object.values(o).forEach(walk);
    }
  };
  walk(await r.json());
  return found;
}

/** Users per arm as the k-arm table shows them. */
async function samplesByArm(page: Page): Promise<Record<string, number>> {
  const cells = page.getByTestId("arms-table").locator('td[data-metric="samples"]');
  const out: Record<string, number> = {};
  for (const cell of await cells.all()) {
    out[(await cell.getAttribute("data-arm"))!] = Number(await cell.innerText());
  }
  return out;
}

/** Every text in the k-arm table and the charts is at least 12 px, and the table fits its width. */
async function readable(page: Page, where: string) {
  const table = await page.getByTestId("arms-table").evaluate((t) => {
    const scroller = t.parentElement!;
    const sizes = Array.from(t.querySelectorAll("th, td, span"))
      .filter((e) => (e as HTMLElement).innerText?.trim() && !e.closest(".sr-only"))
      .map((e) => ({ text: (e as HTMLElement).innerText.trim(), px: parseFloat(getComputedStyle(e).fontSize) }));
    return { overflow: scroller.scrollWidth - scroller.clientWidth, sizes };
  });
  expect(table.overflow, `${where}: the arms table scrolls sideways`).toBeLessThanOrEqual(1);
  for (const s of table.sizes) expect(s.px, `${where}: "${s.text}"`).toBeGreaterThanOrEqual(12);
  for (const chart of ["chart-quality", "chart-latency", "chart-satisfaction"]) {
    const labels = await page
      .getByTestId(chart)
      .locator("svg")
      .evaluate((element) => {
        const svg = element as SVGSVGElement;
        const frame = svg.getBoundingClientRect();
        const scale = frame.width / svg.viewBox.baseVal.width;
        return Array.from(svg.querySelectorAll("text")).map((t) => {
          const r = t.getBoundingClientRect();
          return {
            text: (t.textContent ?? "").trim(),
            px: parseFloat(getComputedStyle(t).fontSize) * scale,
            inside: r.left >= frame.left - 0.5 && r.right <= frame.right + 0.5 && r.top >= frame.top - 0.5 && r.bottom <= frame.bottom + 0.5,
            box: { left: r.left, right: r.right, top: r.top, bottom: r.bottom },
          };
        });
      });
    for (const l of labels) {
      expect(l.px, `${where} ${chart}: "${l.text}"`).toBeGreaterThanOrEqual(12);
      expect(l.inside, `${where} ${chart}: "${l.text}" is cut`).toBe(true);
    }
    labels.forEach((a, i) =>
      labels.slice(i + 1).forEach((b) => {
        const x = Math.min(a.box.right, b.box.right) - Math.max(a.box.left, b.box.left);
        const y = Math.min(a.box.bottom, b.box.bottom) - Math.max(a.box.top, b.box.top);
        expect(x > 0.5 && y > 0.5, `${where} ${chart}: "${a.text}" overlaps "${b.text}"`).toBe(false);
      }),
    );
  }
}

test("three arms through the wizard, traffic, then the third arm declared and deployed", async ({ page, request }) => {
  const name = `Three arms ${Date.now()}`;
  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  await page.goto("/experiments/new?step=1");
  await wizardReady(page);
  await page.getByRole("button", { name: "Start over" }).click();

  await page.getByLabel("Experiment Name").fill(name);
  await page.getByLabel("Hypothesis").fill("One of two new templates improves quality");
  await page.getByLabel("What are you testing?").selectOption("context_template");
  await page.getByLabel("Target ID").fill(`arms-${Date.now()}`);
  await page.getByLabel("Tenant").fill("acme");
  await page.getByRole("button", { name: "Next" }).click();

  // Step 2: a third arm, keyed c by default; its empty name is refused at its field.
  await step(page, 2);
  await page.getByRole("button", { name: "+ Add a treatment" }).click();
  await expect(page.getByTestId("variant-treatment-2")).toBeVisible();
  await expect(page.getByLabel("Treatment 2 key")).toHaveValue("c");
  await expect(page.getByTestId("arm-count")).toHaveText("3 arms of at most 8");
  await page.getByLabel("Control variant name").fill("Current template");
  await page.getByLabel("Control template id").fill("t-a");
  await page.getByLabel("Treatment key").fill("b");
  await page.getByLabel("Treatment variant name").fill("Template B");
  await page.getByLabel("Treatment template id").fill("t-b");
  await page.getByLabel("Treatment 2 variant name").fill("");
  await page.getByLabel("Treatment 2 template id").fill("t-c");
  await page.getByRole("button", { name: "Next" }).click();
  await step(page, 2);
  await expect(page.locator("#treatment-2-name-error")).toHaveText("must not be empty");
  await page.getByLabel("Treatment 2 variant name").fill("Template C");
  await expect(page.locator("#treatment-2-name-error")).toHaveCount(0);
  // A fourth arm can be removed again.
  await page.getByRole("button", { name: "+ Add a treatment" }).click();
  await expect(page.getByLabel("Treatment 3 key")).toHaveValue("d");
  await page.getByRole("button", { name: "Remove Treatment 3" }).click();
  await expect(page.getByTestId("arm-count")).toHaveText("3 arms of at most 8");
  await page.screenshot({ path: "test-results/arms-wizard-2.png", fullPage: true });
  await page.getByRole("button", { name: "Next" }).click();

  // Step 3: a share per arm; too much in all is refused.
  await step(page, 3);
  await expect(page.getByTestId("allocation-summary")).toContainText("33% control, 33% b, 33% c; 1% are not in the experiment");
  await page.getByLabel("Treatment 2 traffic (%) value").fill("40");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.locator("#allocation-error")).toContainText("the 3 arms together must be at most 100 percent");
  await page.getByLabel("Treatment 2 traffic (%) value").fill("34");
  await expect(page.locator("#allocation-error")).toHaveCount(0);
  await page.screenshot({ path: "test-results/arms-wizard-3.png", fullPage: true });
  await page.getByRole("button", { name: "Next" }).click();
  await step(page, 4);
  await page.getByRole("button", { name: "Next" }).click();

  // Step 5: the summary lists every arm with its share.
  await step(page, 5);
  await page.getByLabel("Minimum Duration (days)").fill("1");
  await page.getByLabel("Minimum Samples Per Variant").fill("20");
  const arms = page.getByTestId("summary-arm");
  await expect(arms).toHaveCount(3);
  await expect(arms.nth(2)).toContainText("Template C (c) — 34%");
  await expect(page.getByTestId("summary")).toContainText("33% / 33% / 34%");
  await page.screenshot({ path: "test-results/arms-wizard-5.png", fullPage: true });
  await page.getByRole("button", { name: "Create and Start" }).click();

  await expect(page).toHaveURL(/\/experiments\/[0-9a-f-]{36}$/);
  const id = page.url().split("/").pop()!;
  await expect(page.locator(".title-row .badge")).toHaveText("Active");

  // Traffic: users learn their arm from resolve; arm c answers best.
  await expect.poll(async () => (await armOf(request, id, "arms-probe")) !== undefined).toBe(true);
  const quality: Record<string, number> = { control: 0.5, b: 0.55, c: 0.75 };
  const events = [];
  for (let i = 0; i < 90; i++) {
    const user = `arms-user-${i}`;
    const arm = (await armOf(request, id, user))!;
    for (let k = 0; k < 2; k++) {
      events.push({
        experimentId: id,
        userId: user,
        tenantId: "acme",
        eventType: "feedback",
        metrics: { quality: quality[arm] + (i % 5) / 100 + k / 50, latency: 600 + (i % 11) * 30, userSatisfaction: i % 3 ? "positive" : "neutral" },
      });
    }
  }
  await sendEvents(request, events);

  await page.reload();
  await hydrated(page);
  await expect
    .poll(async () => Object.values(await samplesByArm(page)).reduce((a, b) => a + b, 0), { timeout: 30_000 })
    .toBe(90);
  expect(Object.keys(await samplesByArm(page))).toEqual(["control", "b", "c"]);
  await expect(page.getByTestId("column-c")).toContainText("Template C");
  await expect(page.getByTestId("recommendation")).toContainText("Recommendation");
  for (const chart of ["chart-quality", "chart-latency", "chart-satisfaction"]) {
    const desc = await page.getByTestId(chart).locator("svg desc").textContent();
    // Each series is named by its arm's key and name.
    for (const arm of ["control · Current…", "b · Template B", "c · Template C"]) expect(desc, chart).toContain(`${arm}:`);
  }
  for (const width of [1280, 1024]) {
    await page.setViewportSize({ width, height: 900 });
    await readable(page, `3 arms at ${width} px`);
    await page.screenshot({ path: `test-results/arms-3-results-${width}.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // Declare arm c (not arm 1) the winner, then deploy it to 25 %.
  await page.getByRole("button", { name: "Declare Winner" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Winner").selectOption("c");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("status")).toContainText("c declared the winner");
  await expect(page.getByTestId("winner")).toContainText("c wins");
  await page.getByRole("button", { name: "Deploy Winner" }).click();
  await expect(page.getByRole("dialog").getByLabel("Winner")).toHaveValue("c");
  await page.getByLabel("Rollout percentage").fill("25");
  await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("status")).toContainText("Deployed c to 25% of users");
  await expect(page.locator(".title-row .badge")).toHaveText("Winner deployed");

  await page.goto("/?tab=completed");
  const card = page.getByTestId("experiment-card").filter({ hasText: name });
  await expect(card).toContainText("Winner deployed");
  await expect(card.getByRole("link", { name: "Deploy c" })).toBeVisible();
});

test("eight arms stay readable at 1280 and 1024 px", async ({ page, request }) => {
  const keys = ["control", "b", "c", "d", "e", "f", "g", "h"];
  const created = await request.post("/api/v1/admin/insights/experiments", {
    headers: auth(),
    data: {
      tenantId: "acme",
      name: `Eight arms ${Date.now()}`,
      description: "Every arm the UI allows",
      hypothesis: "One of seven prompts is better",
      targetType: "prompt",
      targetId: `eight-${Date.now()}`,
      variants: keys.map((key, i) => ({
        key,
        name: i === 0 ? "Current prompt" : `Prompt candidate ${key.toUpperCase()} with a longer name`,
        configuration: { promptId: `p-${key}` },
      })),
      // 100 % in all, so that every user is in one arm.
      allocation: Object.fromEntries(keys.map((k, i) => [k, i < 4 ? 13 : 12])),
      primaryMetric: "quality",
      successCriteria: { metric: "quality", operator: ">", threshold: 5, confidenceLevel: 0.95 },
      secondaryMetrics: ["latency"],
      minDuration: 1,
      minSamplesPerVariant: 10,
    },
  });
  expect(created.status()).toBe(201);
  const id = (await created.json()).experimentId as string;
  expect((await request.post(`/api/v1/admin/insights/experiments/${id}/start`, { headers: auth() })).status()).toBe(200);
  await expect.poll(async () => (await armOf(request, id, "eight-probe")) !== undefined, { timeout: 10_000 }).toBe(true);
  const events = [];
  for (let i = 0; i < 240; i++) {
    events.push({
      experimentId: id,
      userId: `eight-user-${i}`,
      tenantId: "acme",
      eventType: "feedback",
      metrics: { quality: 0.5 + (i % 9) / 40, latency: 400 + (i % 17) * 90, userSatisfaction: ["positive", "neutral", "negative"][i % 3] },
    });
  }
  await sendEvents(request, events);

  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await page.goto(`/experiments/${id}`);
  await hydrated(page);
  await expect
    .poll(async () => Object.values(await samplesByArm(page)).reduce((a, b) => a + b, 0), { timeout: 30_000 })
    .toBe(240);
  expect(Object.keys(await samplesByArm(page))).toEqual(keys);
  for (const width of [1280, 1024]) {
    await page.setViewportSize({ width, height: 900 });
    await readable(page, `8 arms at ${width} px`);
    await page.screenshot({ path: `test-results/arms-8-results-${width}.png`, fullPage: true });
  }
  // Declare offers every arm.
  await page.getByRole("button", { name: "Declare Winner" }).click();
  await expect(page.getByRole("dialog").getByLabel("Winner").locator("option")).toHaveCount(8);
});
