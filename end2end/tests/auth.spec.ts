import { expect, test } from "@playwright/test";
import { LoginPage, adminToken } from "./pages/login";

test("a signed-out visitor is sent to sign in", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
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
