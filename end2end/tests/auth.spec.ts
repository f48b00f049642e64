import { expect, test } from "@playwright/test";
import { LoginPage, adminToken } from "./pages/login";

test("a signed-out visitor is sent to sign in", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=%2F$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
});

test("after signing in, the visitor lands on the page they asked for", async ({ page }) => {
  const seeded = "/experiments/018f0000-0000-7000-8000-000000000001";
  await page.goto(`${seeded}?action=declare`);
  await expect(page).toHaveURL(/\/login\?next=%2Fexperiments%2F018f0000-0000-7000-8000-000000000001%3Faction%3Ddeclare$/);
  await new LoginPage(page).submit(adminToken());
  await expect(page).toHaveURL(`${seeded}?action=declare`);
  await expect(page.getByRole("heading", { name: "Risk analysis context v2" })).toBeVisible();
});

test("a next that leads off the site is ignored: sign-in lands on the dashboard", async ({ page }) => {
  await page.goto("/login?next=%2F%2Fevil.example%2F");
  await new LoginPage(page).submit(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { name: "A/B Tests" })).toBeVisible();
});

test("a wrong token is refused with a message at the form", async ({ page }) => {
  const login = new LoginPage(page);
  await login.signIn("vdt_not-a-real-token");
  await expect(page.getByRole("alert")).toContainText("not valid");
  await expect(page).toHaveURL(/\/login$/);
});

test("a good token signs in and opens the dashboard", async ({ page }) => {
  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { name: "A/B Tests" })).toBeVisible();
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "__Host-verdict_session");
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe("Strict");
  expect(session?.secure).toBe(true);
  expect(session?.path).toBe("/");
  await page.screenshot({ path: "test-results/signed-in.png" });
});
