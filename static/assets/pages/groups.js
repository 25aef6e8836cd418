// Groups (teams): members' keys, shared budgets, and the accounts bound to each.

import { get, post, patch, del } from "../api.js";
import { h, clear, num, compact, usd, cost, pct, badge, table, field, values, notice, attempt, plural } from "../ui.js";
import { standingTable } from "../limits.js";
import { t } from "../i18n.js";

const budgetText = (b) => {
  const parts = [];
  if (b.daily_tokens != null) parts.push(`${compact(b.daily_tokens)} ${t("tokens/day")}`);
  if (b.monthly_tokens != null) parts.push(`${compact(b.monthly_tokens)} ${t("tokens/month")}`);
  if (b.daily_cost_usd != null) parts.push(`$${b.daily_cost_usd}${t("/day")}`);
  if (b.monthly_cost_usd != null) parts.push(`$${b.monthly_cost_usd}${t("/month")}`);
  return parts.length ? `${parts.join(", ")} ${t("(warn at {n}%)", { n: b.warning_percent })}` : t("none");
};

/** Budget inputs; on edit, an emptied field removes that budget. */
function budgetFields(b = {}) {
  return [
    field("Daily tokens", "daily_tokens", { type: "number", min: 1, value: b.daily_tokens ?? "", placeholder: "no budget" }),
    field("Monthly tokens", "monthly_tokens", { type: "number", min: 1, value: b.monthly_tokens ?? "", placeholder: "no budget" }),
    field("Daily cost (USD)", "daily_cost_usd", { inputmode: "decimal", value: b.daily_cost_usd ?? "", placeholder: "no budget" }),
    field("Monthly cost (USD)", "monthly_cost_usd", { inputmode: "decimal", value: b.monthly_cost_usd ?? "", placeholder: "no budget" }),
    field("Warn at (% of a budget)", "warning_percent", { type: "number", min: 1, value: b.warning_percent ?? 80 }),
  ];
}

function budgetBody(v) {
  const out = {};
  for (const k of ["daily_tokens", "monthly_tokens"]) out[k] = v[k] === "" ? null : Number(v[k]);
  for (const k of ["daily_cost_usd", "monthly_cost_usd"]) out[k] = v[k] === "" ? null : v[k];
  if (v.warning_percent !== "") out.warning_percent = Number(v.warning_percent);
  return out;
}

export async function render() {
  const [groups, accounts, keys] = await Promise.all([get("/groups"), get("/accounts"), get("/keys")]);
  const error = h("p", { class: "form-error", role: "alert" });
  const create = h("form", { class: "card form-grid", id: "group-form" },
    h("h2", {}, "New group"), error,
    field("Name", "name", { required: true }), field("Description", "description"), budgetFields());
  create.append(h("button", { type: "submit", class: "primary" }, "Create group"));
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(create);
    const body = { name: v.name, description: v.description, ...budgetBody(v) };
    for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
    const g = await attempt(() => post("/groups", body), error);
    if (g) { notice(t("Created {name}.", { name: g.name })); window.dispatchEvent(new HashChangeEvent("hashchange")); }
  });
  const cards = groups.map((g) => {
    const bound = accounts.filter((a) => a.groups.some((b) => b.group_id === g.id));
    const members = keys.filter((k) => k.group_id === g.id);
    const editHolder = h("div");
    const edit = h("button", { type: "button", onclick: () => {
      if (editHolder.firstChild) { clear(editHolder); return; }
      const err = h("p", { class: "form-error", role: "alert" });
      const form = h("form", { class: "form-grid" }, err, budgetFields(g.budgets),
        h("button", { type: "submit", class: "primary" }, "Save budgets"));
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const saved = await attempt(() => patch(`/groups/${g.id}`, budgetBody(values(form))), err);
        if (saved) { notice("Saved."); window.dispatchEvent(new HashChangeEvent("hashchange")); }
      });
      editHolder.appendChild(form);
    } }, "Edit budgets");
    const rename = h("button", { type: "button", onclick: async () => {
      const name = prompt(t("New name for {name}:", { name: g.name }), g.name);
      if (!name || name === g.name) return;
      const r = await attempt(() => post(`/groups/${g.id}/rename`, { name }));
      if (r) { notice(t("Renamed to {name}.", { name: r.name })); window.dispatchEvent(new HashChangeEvent("hashchange")); }
    } }, "Rename");
    const remove = h("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(t("Delete {name}? Its request log and history stay.", { name: g.name }))) return;
      // A group in use says what deleting it would affect; that is confirmed too.
      let r;
      try {
        r = await del(`/groups/${g.id}`);
      } catch (e) {
        if (e.status !== 409) { notice(e.message, "error"); return; }
        if (!confirm(t("{message}.\n\nDelete it anyway?", { message: e.message }))) return;
        r = await attempt(() => del(`/groups/${g.id}?force=true`));
      }
      if (r) { notice(t("Deleted {name}.", { name: g.name })); window.dispatchEvent(new HashChangeEvent("hashchange")); }
    } }, "Delete");
    return h("section", { class: "card group", "data-group": g.name },
      h("div", { class: "page-head" }, h("h2", {}, g.name), h("span", { class: "actions" }, edit, rename, remove)),
      g.description ? h("p", {}, g.description) : null,
      h("p", {}, h("strong", {}, "Budgets: "), budgetText(g.budgets)),
      g.budget_use?.length ? standingTable({ key: [], group: g.budget_use }) : null,
      editHolder,
      h("h3", {}, t("Accounts ({n})", { n: bound.length })),
      table([
        ["Account", (a) => h("a", { href: `#/accounts/${a.id}` }, a.name)],
        ["Status", (a) => badge(a.status)],
        ["Priority", (a) => String(a.groups.find((b) => b.group_id === g.id).priority ?? a.priority), "num"],
        ["Weight", (a) => String(a.groups.find((b) => b.group_id === g.id).weight ?? a.weight), "num"],
      ], bound, { empty: "No accounts serve this group." }),
      g.fair_share && g.fair_share.length
        ? [h("h3", {}, "Fair share of the subscriptions' 5-hour window"),
          table([
            ["Key", (s) => members.find((k) => k.id === s.key_id)?.name || `#${s.key_id}`],
            ["Used", (s) => pct(s.used), "num"],
            ["Share", (s) => pct(s.share), "num"],
            ["", (s) => (s.used > s.share ? badge("OVER SHARE") : "")],
          ], g.fair_share)]
        : null,
      h("h3", {}, t("Members' keys ({n})", { n: members.length })),
      table([
        ["Key", (k) => k.name],
        ["Status", (k) => badge(k.status)],
        ["Tokens (24 h)", (k) => compact(k.usage.tokens_24h), "num"],
        ["Cost (24 h)", (k) => cost(k.usage.cost_nanos_24h, k.usage.unpriced_requests_24h), "num"],
        ["Cost (all time)", (k) => cost(k.usage.cost_nanos, k.usage.unpriced_requests), "num"],
      ], members, { empty: "No keys in this group." }));
  });
  return h("div", { class: "page", id: "groups" },
    h("h1", {}, "Groups"),
    groups.length ? null : h("p", { class: "empty" }, "No groups yet."),
    cards, create,
    h("p", { class: "hint" }, `${plural(groups.length, "group", "groups")}.`));
}
