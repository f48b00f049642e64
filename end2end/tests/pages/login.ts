import { expect, type Page } from "@playwright/test";

/** The sign-in page at `/login`. */
export class LoginPage {
  constructor(readonly page: Page) {}

  async signIn(token: string) {
    await this.page.goto("/login");
    await this.submit(token);
  }

  /** Signs in on the sign-in page already open (after a redirect to it, say). */
  async submit(token: string) {
    await expect(this.page.locator("[data-hydrated]")).toHaveAttribute("data-hydrated", "true");
    await this.page.getByLabel("API token").fill(token);
    await this.page.getByRole("button", { name: "Sign in" }).click();
  }
}

/** The super_admin token the test command made for this run. */
export function adminToken(): string {
  const token = process.env.E2E_TOKEN;
  if (!token) throw new Error("E2E_TOKEN is not set: run the suite through .ci/test");
  return token;
}
