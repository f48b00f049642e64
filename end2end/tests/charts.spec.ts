import { expect, test, type Page } from "@playwright/test";
import { sendEvents, totalSamples } from "./pages/experiments";
import { LoginPage, adminToken } from "./pages/login";

type Box = { left: number; top: number; right: number; bottom: number };
type Label = { text: string; px: number; box: Box };
type Chart = { frame: Box; labels: Label[]; role: string | null; title: string; desc: string };

const CHARTS = ["chart-quality", "chart-latency", "chart-satisfaction"];

/** Every text of a chart as displayed: its font size in CSS px (the computed size times the
 * scale the page shows the SVG at) and its box on screen; and the chart's text alternative. */
async function measure(page: Page, testId: string): Promise<Chart> {
  return page
    .getByTestId(testId)
    .locator("svg")
    .evaluate((element) => {
      const svg = element as SVGSVGElement;
      const box = (r: DOMRect) => ({ left: r.left, top: r.top, right: r.right, bottom: r.bottom });
      const frame = svg.getBoundingClientRect();
      const scale = frame.width / svg.viewBox.baseVal.width;
      return {
        frame: box(frame),
        labels: Array.from(svg.querySelectorAll("text")).map((t) => ({
          text: (t.textContent ?? "").trim(),
          px: parseFloat(getComputedStyle(t).fontSize) * scale,
          box: box(t.getBoundingClientRect()),
        })),
        role: svg.getAttribute("role"),
        title: svg.querySelector("title")?.textContent ?? "",
        desc: svg.querySelector("desc")?.textContent ?? "",
      };
    });
}

/** How far two boxes overlap, in px on each axis (negative: apart). */
const overlap = (a: Box, b: Box) => ({
  x: Math.min(a.right, b.right) - Math.max(a.left, b.left),
  y: Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top),
});

test("charts are readable at 1280 and 1024 px: text of at least 12 px, none cut or overlapping, each described in words", async ({
  page,
  request,
}) => {
  // The seeded experiment started three days ago, so its events can span three days (an
  // event may not predate its experiment's start) and the quality chart has a line per arm.
  const id = "018f0000-0000-7000-8000-000000000001";
  const events = [];
  for (let i = 0; i < 60; i++) {
    for (let day = 0; day < 3; day++) {
      events.push({
        experimentId: id,
        userId: `chart-user-${i}`,
        tenantId: "system",
        eventType: "feedback",
        timestamp: new Date(Date.now() - day * 86_400_000 - 60_000).toISOString(),
        metrics: {
          quality: 0.5 + (i % 9) / 40 + day / 50,
          latency: 400 + (i % 17) * 90,
          userSatisfaction: ["positive", "neutral", "negative"][i % 3],
        },
      });
    }
  }
  await sendEvents(request, events);

  await new LoginPage(page).signIn(adminToken());
  await expect(page).toHaveURL(/\/$/);
  await page.goto(`/experiments/${id}`);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  // The page refreshes its figures every 10 s, from results recomputed every 10 s.
  await expect.poll(() => totalSamples(page), { timeout: 30_000 }).toBe(60);

  for (const width of [1280, 1024]) {
    await page.setViewportSize({ width, height: 900 });
    for (const testId of CHARTS) {
      const chart = await measure(page, testId);
      const where = `${testId} at ${width} px`;
      // A text alternative: an image with a title and a description naming both arms.
      expect(chart.role, where).toBe("img");
      expect(chart.title, where).not.toBe("");
      expect(chart.desc, where).toContain("Control:");
      expect(chart.desc, where).toContain("Treatment:");
      // Legend, tick labels and axis names are all there (not an empty chart).
      expect(chart.labels.length, where).toBeGreaterThan(8);
      for (const label of chart.labels) {
        expect(label.px, `${where}: "${label.text}"`).toBeGreaterThanOrEqual(12);
        // Inside the picture (half a pixel for rounding).
        expect(label.box.left, `${where}: "${label.text}" cut on the left`).toBeGreaterThanOrEqual(chart.frame.left - 0.5);
        expect(label.box.right, `${where}: "${label.text}" cut on the right`).toBeLessThanOrEqual(chart.frame.right + 0.5);
        expect(label.box.top, `${where}: "${label.text}" cut at the top`).toBeGreaterThanOrEqual(chart.frame.top - 0.5);
        expect(label.box.bottom, `${where}: "${label.text}" cut at the bottom`).toBeLessThanOrEqual(chart.frame.bottom + 0.5);
      }
      chart.labels.forEach((a, i) =>
        chart.labels.slice(i + 1).forEach((b) => {
          const o = overlap(a.box, b.box);
          expect(o.x > 0.5 && o.y > 0.5, `${where}: "${a.text}" overlaps "${b.text}"`).toBe(false);
        }),
      );
    }
    await page.locator("section.charts").screenshot({ path: `test-results/charts-${width}.png` });
  }
  // Both arms are named on the satisfaction chart, whole.
  const satisfaction = await measure(page, "chart-satisfaction");
  const names = satisfaction.labels.map((l) => l.text);
  expect(names).toContain("Control");
  expect(names).toContain("Treatment");
});
