import { expect, type Locator, type Page } from "@playwright/test";

/** The dashboard at `/`. */
export class DashboardPage {
  readonly page: Page;
  readonly heading: Locator;
  readonly list: Locator;

  constructor(page: Page) {
    this.page = page;
    this.heading = page.getByRole("heading", { name: "A/B Tests" });
    this.list = page.getByTestId("experiment-list");
  }

  async goto(path = "/") {
    await this.page.goto(path);
    await expect(this.heading).toBeVisible();
  }

  /** Resolves once the WASM bundle has hydrated the page (an Effect sets the marker). */
  async waitForHydration() {
    await expect(this.page.locator("[data-hydrated]")).toHaveAttribute("data-hydrated", "true");
  }

  tab(name: "Active" | "Completed" | "Drafts"): Locator {
    return this.page.getByRole("tab", { name: new RegExp(`^${name}`) });
  }

  count(key: "active" | "completed" | "drafts"): Locator {
    return this.page.getByTestId(`count-${key}`);
  }

  cards(): Locator {
    return this.list.getByTestId("experiment-card");
  }
}
