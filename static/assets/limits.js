// A key's standing against its limits and its group's budgets, as the gateway counts them:
// used / limit with a bar, what is left, when it resets, and the sentence saying what holds
// the key back. The admin's keys and groups pages and the member's own page share it.

import { h, num, compact, usd, time, table, meter } from "./ui.js";
import { t } from "./i18n.js";

const KEY_NAMES = {
  daily_tokens: ["Tokens today", "daily token limit"],
  total_tokens: ["Tokens in total", "total token limit"],
  daily_cost: ["Cost today", "daily cost limit"],
  weekly_cost: ["Cost this week", "weekly cost limit"],
  total_cost: ["Cost in total", "total cost limit"],
  window_requests: ["Requests in the window", "request rate limit"],
  concurrency: ["Requests in flight", "concurrency limit"],
};
const GROUP_NAMES = {
  daily_tokens: ["Group tokens today", "daily token budget"],
  monthly_tokens: ["Group tokens this month", "monthly token budget"],
  daily_cost: ["Group cost today", "daily cost budget"],
  monthly_cost: ["Group cost this month", "monthly cost budget"],
};

/** A value in its unit. */
export function amount(n, unit) {
  if (unit === "usd_nanos") return usd(n);
  if (unit === "tokens") return compact(n);
  return num(n);
}

/** "Blocked by its daily cost limit until 2 Dec, 00:00", or null when nothing holds it back. */
export function blockedText(standing) {
  const b = standing?.blocked;
  if (!b) return null;
  if (b.by === "expired") return t("Blocked: the key has expired");
  const [, phrase] = (b.of === "group" ? GROUP_NAMES : KEY_NAMES)[b.by] || ["", b.by];
  const whose = b.of === "group" ? "the group's" : "its";
  const vars = { what: t(phrase), when: time(b.until) };
  return t(b.until ? `Blocked by ${whose} {what} until {when}` : `Blocked by ${whose} {what}`, vars);
}

/** Every limit and budget the key has, as a table; `empty` when it has none. */
export function standingTable(standing, empty = "No limits.") {
  const rows = [
    ...(standing?.key || []).map((u) => ({ ...u, name: KEY_NAMES[u.limit]?.[0] || u.limit })),
    ...(standing?.group || []).map((u) => ({ ...u, name: GROUP_NAMES[u.limit]?.[0] || u.limit })),
  ];
  return table([
    ["Limit", (u) => u.name],
    ["Used", (u) => h("span", {}, meter(u.used, u.max), `${amount(u.used, u.unit)} / ${amount(u.max, u.unit)}`)],
    ["Left", (u) => amount(Math.max(0, u.max - u.used), u.unit), "num"],
    ["Resets", (u) => (u.resets_at ? time(u.resets_at) : "—")],
  ], rows, { empty });
}

/** The tightest limit in a few words, for a table cell: "Tokens today 40% · blocked". */
export function standingShort(standing) {
  const all = [...(standing?.key || []), ...(standing?.group || [])].filter((u) => u.unit !== "in_flight");
  if (!all.length) return null;
  const top = all.reduce((a, b) => (b.used / b.max > a.used / a.max ? b : a));
  const names = standing.key.includes(top) ? KEY_NAMES : GROUP_NAMES;
  return h("span", {}, meter(top.used, top.max), `${t(names[top.limit]?.[0] || top.limit)}: ${amount(top.used, top.unit)} / ${amount(top.max, top.unit)}`);
}
