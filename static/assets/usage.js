// One key's use, as its admin page and the member's own page show it: today / 7 days / 30
// days, a chart per day, use per model, where it stands against each limit, and its recent
// requests.

import { h, num, compact, usd, cost, time, badge, table, barChart } from "./ui.js";
import { blockedText, standingTable } from "./limits.js";
import { t, locale } from "./i18n.js";

/** Sums of `days` (the last `n` of them). */
function span(days, n) {
  return days.slice(-n).reduce((s, d) => ({
    requests: s.requests + d.requests, tokens: s.tokens + d.tokens, cost_nanos: s.cost_nanos + d.cost_nanos,
    unpriced: s.unpriced + (d.unpriced_requests || 0),
  }), { requests: 0, tokens: 0, cost_nanos: 0, unpriced: 0 });
}

const dayLabel = (d) => new Date(`${d.day || d.at}T12:00:00`).toLocaleDateString(locale(), { month: "short", day: "numeric" });

/** The stat cards, charts, limits and per-model table for `days` (oldest first), `models`
 * and `standing`. */
export function usageView({ days, models, standing }) {
  const stat = (label, s) => h("div", { class: "card stat" }, h("span", {}, label), h("strong", {}, compact(s.tokens)),
    h("small", {}, t("{n} requests · {cost}", { n: num(s.requests), cost: cost(s.cost_nanos, s.unpriced, s.requests) })));
  const blocked = blockedText(standing);
  return [
    blocked ? h("div", { class: "card alert", role: "alert", id: "blocked" }, blocked) : null,
    h("div", { class: "stats", id: "usage-stats" },
      stat("Today", span(days, 1)), stat("7 days", span(days, 7)), stat("30 days", span(days, 30))),
    h("div", { class: "charts" },
      barChart("Tokens per day", days, { value: (d) => d.tokens, label: dayLabel, fmt: compact }),
      barChart("Cost per day", days, { value: (d) => d.cost_nanos, label: dayLabel, fmt: usd })),
    h("div", { class: "grid-2" },
      h("section", { class: "card", id: "limits" }, h("h2", {}, "Limits and what is left"),
        standingTable(standing, "No limits: only the group's budgets and the pool's capacity apply.")),
      h("section", { class: "card", id: "models" }, h("h2", {}, "By model (30 days)"),
        table([
          ["Model", (m) => m.model || "—"],
          ["Requests", (m) => num(m.requests), "num"],
          ["Tokens", (m) => compact(m.tokens), "num"],
          ["Cost", (m) => cost(m.cost_nanos, m.unpriced_requests, m.requests), "num"],
        ], models, { empty: "Nothing used in 30 days." }))),
  ];
}

/** A key's recent requests (the member's view: no accounts, no upstream errors). */
export function recentTable(rows) {
  return table([
    ["Time", (r) => time(r.started_at)],
    ["Endpoint", (r) => (r.stream ? `${r.endpoint} · ${t("stream")}` : r.endpoint)],
    ["Model", (r) => r.model || "—"],
    ["Status", (r) => h("span", {}, badge(r.outcome === "ok" ? "OK" : r.outcome), ` ${r.status_code}`)],
    ["Tokens", (r) => compact(r.tokens ?? (r.input_tokens + r.output_tokens + r.cache_creation_input_tokens + r.cache_read_input_tokens)), "num"],
    ["Cost", (r) => (r.unpriced ? t("unpriced") : usd(r.cost_nanos)), "num"],
    ["Client", (r) => r.client || "—"],
  ], rows, { empty: "No requests yet." });
}
