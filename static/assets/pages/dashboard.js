// Dashboard: requests, tokens, cost and error rate over 24 h / 7 d / 30 d, accounts by status,
// accounts out of rotation, and who and what spent the most.

import { get } from "../api.js";
import { h, num, compact, usd, cost, pct, badge, table, barChart, stackedChart, windowBars, inFlight, backAt, copy } from "../ui.js";
import { t, locale } from "../i18n.js";

const RANGES = ["24h", "7d", "30d"];

const params = () => new URLSearchParams(location.hash.split("?")[1] || "");

/** The range shown, kept in the address (`#/dashboard?range=7d`) so a reload keeps it. */
function currentRange() {
  const r = params().get("range");
  return RANGES.includes(r) ? r : "24h";
}

/** The tokens chart's breakdown (`by=model` or `by=key` in the address), or none. */
function currentBy() {
  const b = params().get("by");
  return b === "model" || b === "key" ? b : "";
}

const address = (range, by) => `#/dashboard?range=${range}${by ? `&by=${by}` : ""}`;

function bucketLabel(b) {
  if (/^\d+$/.test(b.at)) {
    return new Date(Number(b.at)).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  }
  return b.at;
}

const top = (title, rows) => h("section", { class: "card" }, h("h2", {}, title),
  table([
    ["Name", (r) => r.label],
    ["Requests", (r) => num(r.requests), "num"],
    ["Tokens", (r) => compact(r.input_tokens + r.output_tokens + r.cache_creation_input_tokens + r.cache_read_input_tokens), "num"],
    ["Cost", (r) => cost(r.cost_nanos, r.unpriced_requests, r.requests), "num"],
  ], rows, { empty: "No requests in this period." }));

/** First run: what is left to set up, each step a link, and a first request to paste. */
function checklist(groups, accounts, keys) {
  const used = keys.some((k) => k.last_used_at);
  if (groups.length && accounts.length && keys.length && used) return null;
  const step = (done, text, href, link) => h("li", { class: done ? "done" : "" },
    done ? "✓ " : "○ ", text, done ? "" : [" — ", h("a", { href }, link)]);
  const curl = `curl ${location.origin}/v1/messages \\\n  -H "x-api-key: ACP_KEY" -H "content-type: application/json" \\\n  -d '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}'`;
  const pre = h("pre", {}, curl);
  return h("section", { class: "card", id: "checklist" }, h("h2", {}, "Get started"),
    h("ol", { class: "checklist" },
      step(groups.length > 0, "Create a group (a team whose members share accounts)", "#/groups", "create one"),
      step(accounts.length > 0, "Add an upstream account for it", "#/accounts/new", "add one"),
      step(keys.length > 0, "Issue a member key", "#/keys", "issue one"),
      step(used, "Send a first request with the key", "#/keys", "see the settings")),
    used ? null : [h("p", { class: "hint" }, "A first request, with the key in place of ACP_KEY:"), pre,
      h("button", { type: "button", onclick: () => copy(curl, pre) }, "Copy")]);
}

export async function render() {
  const range = currentRange();
  const by = currentBy();
  const [d, accounts, groups, keys] = await Promise.all([get(`/dashboard?range=${range}${by ? `&by=${by}` : ""}`), get("/accounts"), get("/groups"), get("/keys")]);
  const subscriptions = accounts.filter((a) => a.platform.endsWith("-oauth"));
  const tot = d.total;
  const tokens = tot.input_tokens + tot.output_tokens + tot.cache_creation_input_tokens + tot.cache_read_input_tokens;
  const switcher = h("div", { class: "segmented", role: "group", "aria-label": "Period" },
    RANGES.map((r) => h("button", {
      type: "button", "aria-pressed": String(r === range),
      onclick: () => { location.hash = address(r, by); },
    }, { "24h": "24 hours", "7d": "7 days", "30d": "30 days" }[r])));
  const stat = (label, value, extra) => h("div", { class: "card stat" }, h("span", {}, label), h("strong", {}, value), extra ? h("small", {}, extra) : null);
  return h("div", { class: "page", id: "dashboard" },
    h("div", { class: "page-head" }, h("h1", {}, "Dashboard"), switcher),
    checklist(groups, accounts, keys),
    d.storage_fault
      ? h("div", { class: "card alert", role: "alert", id: "storage-fault" },
        h("strong", {}, "Requests are being refused: "), d.storage_fault,
        h("p", {}, "Free space on the data directory's disk; the gateway stores what it holds and accepts requests again by itself."))
      : null,
    h("div", { class: "stats" },
      stat("Requests", num(tot.requests)),
      stat("Tokens", compact(tokens), t("{in} in · {out} out", { in: compact(tot.input_tokens), out: compact(tot.output_tokens) })),
      stat("Cost", cost(tot.cost_nanos, tot.unpriced_requests, tot.requests), null),
      stat("Error rate", pct(d.error_rate))),
    h("div", { class: "charts" },
      barChart("Requests (errors in red)", d.series, { value: (b) => b.requests, label: bucketLabel, stack: (b) => b.errors, stackName: "errors" }),
      h("div", { id: "tokens-chart" },
        h("div", { class: "segmented", role: "group", "aria-label": "Breakdown" },
          [["", "Total"], ["model", "By model"], ["key", "By key"]].map(([b, l]) => h("button", {
            type: "button", "aria-pressed": String(b === by), onclick: () => { location.hash = address(range, b); },
          }, l))),
        d.breakdown
          ? stackedChart(by === "model" ? "Tokens by model" : "Tokens by key", d.breakdown.series, d.breakdown.labels, { label: bucketLabel, fmt: compact })
          : barChart("Tokens", d.series, { value: (b) => b.tokens, label: bucketLabel, fmt: compact })),
      barChart("Cost", d.series, { value: (b) => b.cost_nanos, label: bucketLabel, fmt: usd })),
    h("div", { class: "grid-2" },
      subscriptions.length
        ? h("section", { class: "card", id: "subscriptions" }, h("h2", {}, "Subscriptions"),
          table([
            ["Account", (a) => h("a", { href: `#/accounts/${a.id}` }, a.name)],
            ["Status", (a) => badge(a.status)],
            ["Usage windows", (a) => windowBars(a.windows)],
            ["In flight", (a) => inFlight(a), "num"],
          ], subscriptions))
        : null,
      h("section", { class: "card", id: "account-health" }, h("h2", {}, "Accounts"),
        h("ul", { class: "status-counts" }, Object.entries(d.accounts_by_status).map(([s, n]) =>
          h("li", {}, badge(s), " ", h("strong", {}, num(n))))),
        d.unhealthy_accounts.length
          ? table([
            ["Account", (a) => h("a", { href: `#/accounts/${a.id}` }, a.name)],
            ["Status", (a) => badge(a.status)],
            ["Why", (a) => a.reason || "—"],
            ["Back", (a) => backAt(a.until)],
          ], d.unhealthy_accounts, { caption: "Out of rotation" })
          : h("p", { class: "empty" }, accounts.length ? "Every account is in rotation." : "No accounts yet.")),
      top("Top keys", d.top_keys),
      top("Top groups", d.top_groups),
      top("Top models", d.top_models),
      top("Top accounts", d.top_accounts)));
}
