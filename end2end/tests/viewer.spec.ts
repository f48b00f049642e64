import { expect, test } from "@playwright/test";
import { LoginPage } from "./pages/login";

// .ci/test makes a viewer token of tenant acme (E2E_VIEWER_TOKEN); the seed has two acme drafts.
function viewerToken(): string {
  const token = process.env.E2E_VIEWER_TOKEN;
  if (!token) throw new Error("E2E_VIEWER_TOKEN is not set: run the suite through .ci/test");
  return token;
}

const DRAFT = "018f0000-0000-7000-8000-000000000002";

test("a viewer sees experiments but no button that changes them, and the server refuses them anyway", async ({
  page,
  request,
}) => {
  await new LoginPage(page).signIn(viewerToken());
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("who")).toContainText("viewer");
  await page.goto("/?tab=drafts");
  await expect(page.locator("[data-hydrated]")).toHaveAttribute("data-hydrated", "true");
  const list = page.getByTestId("experiment-list");
  await expect(list).toContainText("Prompt tone experiment");
  await expect(page.getByRole("link", { name: "New Experiment" })).toHaveCount(0);
  for (const name of ["Pause", "Resume", "Declare Winner", "Deploy"]) {
    await expect(list.getByRole("button", { name })).toHaveCount(0);
    await expect(list.getByRole("link", { name })).toHaveCount(0);
  }
  await expect(list.getByRole("link", { name: "View Details" }).first()).toBeVisible();

  await page.goto(`/experiments/${DRAFT}`);
  await expect(page.getByRole("heading", { name: "Prompt tone experiment" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Actions" }).getByRole("button")).toHaveCount(0);
  await page.screenshot({ path: "test-results/viewer-results.png", fullPage: true });

  // The wizard says why it cannot create.
  await page.goto("/experiments/new?step=5");
  await expect(page.locator("section.wizard")).toHaveAttribute("data-ready", "true");
  await expect(page.getByRole("alert").first()).toContainText("not create them");
  await expect(page.getByRole("button", { name: "Create and Start" })).toBeDisabled();
  // A page opened at step 5 hydrates into the estimate, which needs a valid form first.
  await expect(page.getByTestId("estimate")).toContainText("fix the steps above");

  // The server refuses the viewer whatever the page shows.
  const bearer = { Authorization: `Bearer ${viewerToken()}` };
  const fn = await request.post("/api/fn/change_status", { headers: bearer, data: { id: DRAFT, action: "start" } });
  expect(fn.status()).toBe(403);
  const rest = await request.post(`/api/v1/admin/insights/experiments/${DRAFT}/start`, { headers: bearer });
  expect(rest.status()).toBe(403);
  const created = await request.post("/api/fn/create_experiment", { headers: bearer, data: { input: {} } });
  expect(created.status()).toBe(403);
  const still = await request.get(`/api/v1/admin/insights/experiments/${DRAFT}`, { headers: bearer });
  expect((await still.json()).status).toBe("draft");
});
