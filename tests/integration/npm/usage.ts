import type { components, paths } from "./schema";

type Report = components["schemas"]["ImportReport"];
type Page = paths["/api/v1/applications"]["get"]["responses"][200]["content"]["application/json"];
type Feed = paths["/api/v1/events"]["get"]["responses"][200]["content"]["application/json"];

export function summary(report: Report, page: Page, feed: Feed): string {
  const ids: number[] = page.items.map((item) => item.id);
  return `${report.kind}: ${report.created} created; ${ids.length} applications; next ${feed.next_after}`;
}
