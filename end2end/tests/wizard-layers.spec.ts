import { expect, test, type APIRequestContext } from "@playwright/test";
import { auth } from "./pages/experiments";
import { LoginPage, adminToken } from "./pages/login";

const EXPERIMENTS = "/api/v1/admin/insights/experiments";

/** Creates an experiment of tenant `tenant` on `targetId` (more fields in `extra`); returns its id. */
async function create(request: APIRequestContext, name: string, tenant: string, targetId: string, extra: object = {}) {
  const created = await request.post(EXPERIMENTS, {
    headers: auth(),
    data: {
      tenantId: tenant,
      name,
      targetType: "context_template",
      targetId,
      control: { name: "Current", configuration: { templateId: "t0" } },
      treatment: { name: "New", configuration: { templateId: "t1" } },
      allocation: { control: 50, treatment: 50 },
      primaryMetric: "quality",
      successCriteria: { metric: "quality", operator: ">", threshold: 5, confidenceLevel: 0.95 },
      minDuration: 1,
      minSamplesPerVariant: 20,
      ...extra,
    },
  });
  expect(created.status(), await created.text()).toBe(201);
  return (await created.json()).experimentId as string;
}

async function start(request: APIRequestContext, id: string) {
  const r = await request.post(`${EXPERIMENTS}/${id}/start`, { headers: auth() });
  expect(r.status(), await r.text()).toBe(200);
  return (await r.json()).experiment;
}

async function resolve(request: APIRequestContext, tenantId: string, userId: string) {
  const r = await request.post("/api/v1/insights/resolve", { headers: auth(), data: { tenantId, userId } });
  expect(r.status()).toBe(200);
  return r.json();
}

test("a second experiment on a busy target: the wizard shows the layer's free share, and the start takes the free slice", async ({
  page,
  request,
}) => {
  const target = `layer-${Date.now()}`;
  const first = await create(request, `Layer first ${Date.now()}`, "acme", target, { layerShare: 50 });
  await start(request, first);

  // The wizard, on the same target: step 3 tells what the layer has free.
  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await page.goto("/experiments/new?step=1");
  await expect(page.locator("section.wizard")).toHaveAttribute("data-ready", "true");
  await page.getByRole("button", { name: "Start over" }).click();
  await page.getByLabel("Experiment Name").fill(`Layer second ${Date.now()}`);
  await page.getByLabel("Hypothesis").fill("A shorter template is as good");
  await page.getByLabel("What are you testing?").selectOption("context_template");
  await page.getByLabel("Target ID").fill(target);
  await page.getByLabel("Tenant").fill("acme");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByTestId("step-2")).toBeVisible();
  await page.getByLabel("Control variant name").fill("Current");
  await page.getByLabel("Control template id").fill("t0");
  await page.getByLabel("Treatment variant name").fill("Shorter");
  await page.getByLabel("Treatment template id").fill("t2");
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByTestId("step-3")).toBeVisible();
  await expect(page.getByTestId("layer-free-share")).toContainText("50% of this target's traffic is free");

  // The second one starts instead of being refused, in the other half of the layer.
  const second = await create(request, `Layer second API ${Date.now()}`, "acme", target);
  const started = await start(request, second);
  expect(started.layerSlice).toEqual({ start: 5000, end: 10000 });
  await page.goto(`/experiments/${second}`);
  await expect(page.locator(".badge-active").first()).toBeVisible();

  // Users are in at most one of them, and both get users.
  const seen = new Set<string>();
  for (let u = 0; u < 120; u++) {
    const answer = await resolve(request, "acme", `layer-user-${u}`);
    const here = (answer.assignments as { targetId: string; experimentId?: string }[]).filter((a) => a.targetId === target);
    expect(here.length).toBeLessThanOrEqual(1);
    if (here[0]?.experimentId) seen.add(here[0].experimentId);
  }
  expect([...seen].sort()).toEqual([first, second].sort());

  // A third finds no slice free: refused, naming the layer's free share.
  const third = await create(request, `Layer third ${Date.now()}`, "acme", target);
  const refused = await request.post(`${EXPERIMENTS}/${third}/start`, { headers: auth() });
  expect(refused.status()).toBe(409);
  expect(await refused.text()).toContain("0%");
  for (const id of [first, second]) {
    expect((await request.post(`${EXPERIMENTS}/${id}/stop`, { headers: auth() })).status()).toBe(200);
  }
});

test("a holdout user resolves to nothing, and the holdout's page compares holdout with exposed", async ({ page, request }) => {
  const tenant = `holdout-e2e-${Date.now()}`;
  const experiment = await create(request, `Under holdout ${Date.now()}`, tenant, `holdout-target-${Date.now()}`);
  await start(request, experiment);
  const made = await request.post("/api/v1/admin/insights/holdouts", {
    headers: auth(),
    data: { name: `Quarter holdout ${Date.now()}`, holdoutPercent: 30, tenantId: tenant },
  });
  expect(made.status(), await made.text()).toBe(201);
  const holdout = (await made.json()).id as string;
  try {
    let held = 0;
    let exposed = 0;
    await expect
      .poll(async () => ((await resolve(request, tenant, "probe")).holdouts ?? []).length, { timeout: 10_000 })
      .toBe(1);
    for (let u = 0; u < 60; u++) {
      const answer = await resolve(request, tenant, `holdout-user-${u}`);
      const arm = answer.holdouts[0].variant as string;
      expect(answer.holdouts[0].experimentId).toBe(holdout);
      if (arm === "holdout") {
        held += 1;
        expect(answer.assignments).toEqual([]);
      } else {
        exposed += 1;
        expect(arm).toBe("exposed");
      }
    }
    expect(held).toBeGreaterThan(0);
    expect(exposed).toBeGreaterThan(0);

    await new LoginPage(page).signIn(adminToken());
    await expect(page).toHaveURL(/\/$/);
    await page.goto(`/experiments/${holdout}`);
    await expect(page.locator("body")).toContainText("holdout");
    await expect(page.locator("body")).toContainText("exposed");
  } finally {
    await request.post(`/api/v1/admin/insights/holdouts/${holdout}/stop`, { headers: auth() });
    await request.post(`${EXPERIMENTS}/${experiment}/stop`, { headers: auth() });
  }
});
