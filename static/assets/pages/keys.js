// Member keys: issue one (shown exactly once, with settings ready to paste into Claude Code,
// Codex CLI, Gemini CLI and the SDKs), edit limits, revoke, and usage per key.

import { get, post, patch, del } from "../api.js";
import { h, clear, compact, usd, cost, time, badge, table, field, values, notice, attempt, list, copy } from "../ui.js";
import { clientSettings } from "../snippets.js";
import { blockedText, standingShort } from "../limits.js";
import { usageView, recentTable } from "../usage.js";
import { t } from "../i18n.js";

const LIMITS = [
  ["rate_requests", "Requests per window", "number"],
  ["rate_window_minutes", "Window (minutes)", "number"],
  ["concurrency", "Concurrent requests", "number"],
  ["queue", "Queue when busy", "number"],
  ["daily_tokens", "Tokens per day", "number"],
  ["total_tokens", "Tokens in total", "number"],
  ["daily_cost_usd", "Cost per day (USD)", "usd"],
  ["weekly_cost_usd", "Cost per week (USD)", "usd"],
  ["total_cost_usd", "Cost in total (USD)", "usd"],
  ["expires_days_after_first_use", "Expires days after first use", "number"],
];

function limitsText(l) {
  const parts = [];
  if (l.rate_requests) parts.push(`${l.rate_requests}/${l.rate_window_minutes}min`);
  if (l.concurrency) parts.push(t("{n} at once", { n: l.concurrency }));
  if (l.daily_tokens) parts.push(`${compact(l.daily_tokens)} ${t("tokens/day")}`);
  if (l.total_tokens) parts.push(`${compact(l.total_tokens)} ${t("total")}`);
  if (l.daily_cost_usd != null) parts.push(`$${l.daily_cost_usd}${t("/day")}`);
  if (l.weekly_cost_usd != null) parts.push(`$${l.weekly_cost_usd}${t("/week")}`);
  if (l.total_cost_usd != null) parts.push(`$${l.total_cost_usd} ${t("total")}`);
  if (l.expires_at) parts.push(t("expires {when}", { when: time(l.expires_at) }));
  if (l.models?.length) parts.push(`models: ${l.models.join(", ")}`);
  if (l.clients?.length) parts.push(`clients: ${l.clients.join(", ")}`);
  if (l.platforms?.length) parts.push(`platforms: ${l.platforms.join(", ")}`);
  return parts.join(" · ") || t("no limits");
}

/** Inputs for every limit; `l` fills them when editing. */
function limitFields(l = {}) {
  const toLocal = (ms) => (ms ? new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "");
  return [
    ...LIMITS.map(([name, label, kind]) => field(label, name, {
      type: kind === "number" ? "number" : "text", min: 1, inputmode: kind === "usd" ? "decimal" : null,
      value: l[name] ?? "", placeholder: "no limit",
    })),
    field("Expires at", "expires_at", { type: "datetime-local", value: toLocal(l.expires_at) }),
    field("Models (comma-separated; a trailing * matches a prefix)", "models", { value: (l.models || []).join(", "), placeholder: "any" }),
    field("Client tools", "clients", { value: (l.clients || []).join(", "), placeholder: "any: claude-code, codex, gemini-cli, sdk, other" }),
    field("Platforms", "platforms", { value: (l.platforms || []).join(", "), placeholder: "any: anthropic, claude-console, claude-oauth, codex-oauth, openai, gemini, gemini-oauth" }),
  ];
}

function limitBody(v) {
  const out = {};
  for (const [name, , kind] of LIMITS) out[name] = v[name] === "" ? null : kind === "usd" ? v[name] : Number(v[name]);
  out.expires_at = v.expires_at ? new Date(v.expires_at).getTime() : null;
  for (const k of ["models", "clients", "platforms"]) out[k] = list(v[k]);
  return out;
}

function shownOnce(created) {
  const code = h("code", { id: "new-key" }, created.plaintext);
  return h("section", { class: "card once", id: "key-once", role: "alert" },
    h("h2", {}, t("Key for {name}", { name: created.key.name })),
    h("p", {}, h("strong", {}, "Copy it now: it is shown only this once. "), "The gateway keeps only its hash."),
    h("p", { class: "key-line" }, code, " ", h("button", { type: "button", class: "primary", onclick: () => copy(created.plaintext, code) }, "Copy key")),
    clientSettings(created.plaintext),
    h("button", { type: "button", onclick: () => window.dispatchEvent(new HashChangeEvent("hashchange")) }, "Done"));
}

export async function render([id, mode]) {
  if (id && mode === "edit") return editPage(Number(id));
  if (id) return keyPage(Number(id));
  const [keys, groups] = await Promise.all([get("/keys"), get("/groups")]);
  const page = h("div", { class: "page", id: "keys" });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "card form-grid", id: "key-form" },
    h("h2", {}, "New key"), error,
    field("Group", "group", { type: "select", options: groups.map((g) => [g.name, g.name]) }),
    field("Member / key name", "name", { required: true }),
    h("details", {}, h("summary", {}, "Limits (optional)"), h("div", { class: "form-grid" }, limitFields())),
    h("button", { type: "submit", class: "primary" }, "Create key"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(form);
    const body = { group: v.group, name: v.name, ...limitBody(v) };
    for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
    const created = await attempt(() => post("/keys", body), error);
    if (created) {
      clear(page).append(h("h1", {}, "Keys"), shownOnce(created));
      page.querySelector("#key-once button.primary").focus();
    }
  });
  const revoke = async (k) => {
    if (!confirm(t("Revoke {name}? Its holder loses access at once.", { name: `${k.group}/${k.name}` }))) return;
    const r = await attempt(() => post(`/keys/${k.id}/revoke`, {}));
    if (r) { notice(t("Revoked {name}.", { name: k.name })); window.dispatchEvent(new HashChangeEvent("hashchange")); }
  };
  page.append(...[
    h("h1", {}, "Keys"),
    groups.length ? null : h("p", { class: "empty" }, "Create a group first: every key belongs to one."),
    table([
      ["Key", (k) => h("span", {}, h("a", { href: `#/keys/${k.id}` }, h("strong", {}, k.name)), h("br"), h("code", {}, `${k.prefix}…`))],
      ["Group", (k) => k.group],
      ["Status", (k) => h("span", {}, badge(k.status), blockedText(k.standing) ? h("div", { class: "blocked" }, blockedText(k.standing)) : null)],
      ["Limits", (k) => h("span", {}, limitsText(k.limits), standingShort(k.standing) ? h("div", {}, standingShort(k.standing)) : null), "wrap"],
      ["Tokens 24 h / all", (k) => `${compact(k.usage.tokens_24h)} / ${compact(k.usage.tokens)}`, "num"],
      ["Cost 24 h / all", (k) => `${cost(k.usage.cost_nanos_24h, k.usage.unpriced_requests_24h)} / ${cost(k.usage.cost_nanos, k.usage.unpriced_requests)}`, "num"],
      ["Last used", (k) => time(k.last_used_at)],
      ["", (k) => h("span", { class: "row-actions" },
        h("a", { class: "button", href: `#/requests?key=${k.id}` }, "Requests"),
        k.status === "active" ? h("a", { class: "button", href: `#/keys/${k.id}/edit` }, "Limits") : null,
        k.status === "active" ? h("button", { type: "button", class: "danger", onclick: () => revoke(k) }, "Revoke") : null)],
    ], keys, { empty: "No keys yet." }),
    groups.length ? form : null].filter(Boolean));
  return page;
}

async function editPage(id) {
  const keys = await get("/keys");
  const k = keys.find((x) => x.id === id);
  if (!k) return h("p", { class: "empty" }, "No such key.");
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "card form-grid", id: "key-edit" }, error, limitFields(k.limits),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save limits"),
      h("a", { class: "button", href: "#/keys" }, "Cancel")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const saved = await attempt(() => patch(`/keys/${id}`, limitBody(values(form))), error);
    if (saved) { notice("Saved."); location.hash = "#/keys"; }
  });
  return h("div", { class: "page" }, h("h1", {}, t("Limits of {name}", { name: `${k.group}/${k.name}` })), form);
}

/** One key: where it stands, its use by day and model, recent requests, settings to paste. */
async function keyPage(id) {
  const [u, page] = await Promise.all([get(`/keys/${id}/usage`), get(`/requests?key=${id}&limit=20`)]);
  const k = u.key;
  return h("div", { class: "page", id: "key-detail" },
    h("div", { class: "page-head" }, h("h1", {}, `${k.group}/${k.name}`),
      h("span", { class: "actions" }, badge(k.status),
        k.status === "active" ? h("a", { class: "button", href: `#/keys/${k.id}/edit` }, "Limits") : null,
        h("a", { class: "button", href: `#/requests?key=${k.id}` }, "All requests"),
        h("button", { type: "button", id: "rename-key", onclick: async () => {
          const name = prompt(t("New name for {name}:", { name: k.name }), k.name);
          if (!name || name === k.name) return;
          const r = await attempt(() => post(`/keys/${k.id}/rename`, { name }));
          if (r) { notice(t("Renamed to {name}.", { name: r.name })); window.dispatchEvent(new HashChangeEvent("hashchange")); }
        } }, "Rename"),
        h("button", { type: "button", class: "danger", id: "delete-key", onclick: async () => {
          if (!confirm(t("Delete {name}? It stops working at once; its request log and history stay.", { name: `${k.group}/${k.name}` }))) return;
          const r = await attempt(() => del(`/keys/${k.id}`));
          if (r) { notice(t("Deleted {name}.", { name: k.name })); location.hash = "#/keys"; }
        } }, "Delete"))),
    h("p", { class: "hint" }, h("code", {}, `${k.prefix}…`), ` · ${t("created {when} · last used {used}", { when: time(k.created_at), used: time(k.last_used_at) })}`),
    usageView(u),
    h("section", { class: "card" }, h("h2", {}, "Recent requests"), recentTable(page.rows)),
    h("section", { class: "card" }, h("h2", {}, "Settings for its holder"),
      h("p", { class: "hint" }, "The key itself was shown once when it was made; put it where these say ACP_KEY."),
      clientSettings("ACP_KEY")));
}
