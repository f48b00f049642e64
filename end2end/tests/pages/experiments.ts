import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { adminToken } from "./login";

/** The super_admin token as a bearer header. */
export const auth = () => ({ Authorization: `Bearer ${adminToken()}` });

/** Creates and starts an experiment through the REST API; returns its id. */
export async function liveExperiment(request: APIRequestContext, name: string): Promise<string> {
  const created = await request.post("/api/v1/admin/insights/experiments", {
    headers: auth(),
    data: {
      tenantId: "acme",
      name,
      description: "End-to-end journey",
      hypothesis: "History in the context improves quality",
      targetType: "context_template",
      targetId: `e2e-${Date.now()}`,
      control: { name: "Current", configuration: { templateId: "v1" } },
      treatment: { name: "With history", configuration: { templateId: "v2" } },
      allocation: { control: 50, treatment: 50 },
      primaryMetric: "quality",
      successCriteria: { metric: "quality", operator: ">", threshold: 5, confidenceLevel: 0.95 },
      secondaryMetrics: ["latency"],
      minDuration: 1,
      minSamplesPerVariant: 20,
    },
  });
  expect(created.status()).toBe(201);
  const id = (await created.json()).experimentId as string;
  // The operator's view of /healthz (a super_admin token) shows the runtime's counters.
  const live = async () =>
    (await (await request.get("/healthz", { headers: auth() })).json()).runtime.experiments as number;
  const before = await live();
  const started = await request.post(`/api/v1/admin/insights/experiments/${id}/start`, { headers: auth() });
  expect(started.status()).toBe(200);
  // The runtime picks the start up from a change notification within milliseconds.
  await expect.poll(live, { timeout: 10_000 }).toBe(before + 1);
  return id;
}

/** Sends events through the runtime's batch route and checks that every one was stored. */
export async function sendEvents(request: APIRequestContext, events: object[]) {
  const sent = await request.post("/api/v1/insights/events/batch", { headers: auth(), data: { events } });
  expect(sent.status()).toBe(200);
  expect((await sent.json()).stored).toBe(events.length);
}

/** The users counted in both arms' columns of the results page open in `page`. */
export async function totalSamples(page: Page): Promise<number> {
  const samples = async (arm: string) =>
    Number(await page.getByTestId(`column-${arm}`).getByTestId("samples").innerText());
  return (await samples("control")) + (await samples("treatment"));
}
