// Accounts: the list with status, reason and return time; adding one for every platform
// (a Claude, ChatGPT or Google subscription through its sign-in link); editing (secrets are write-only); group
// bindings; status actions; test; status history and recent errors.

import { get, post, patch, del } from "../api.js";
import { t } from "../i18n.js";
import { h, clear, num, compact, time, badge, table, field, values, notice, attempt, list, windowBars, inFlight, backAt } from "../ui.js";

const PLATFORMS = [
  ["anthropic", "Anthropic API key"],
  ["claude-console", "Claude Console relay"],
  ["claude-oauth", "Claude subscription (sign in)"],
  ["codex-oauth", "ChatGPT subscription for Codex (sign in)"],
  ["gemini-oauth", "Google account for Gemini CLI (sign in)"],
  ["openai", "OpenAI-compatible"],
  ["gemini", "Gemini API key"],
];

/** How each sign-in goes: whose account, and what the operator pastes back. */
const SIGN_IN = {
  "claude-oauth": {
    who: "the subscription's Claude account",
    paste: "Paste the code it shows below",
    label: "Code shown after signing in (CODE#STATE) or the callback address",
  },
  "codex-oauth": {
    who: "the ChatGPT account (Plus, Pro or Team)",
    paste: "The browser is then sent to a localhost address that does not load: copy that whole address from the address bar and paste it below",
    label: "The address the browser was sent to (http://localhost:1455/auth/callback?code=…)",
  },
  "gemini-oauth": {
    who: "the Google account",
    paste: "Paste the authorization code the page shows below",
    label: "Authorization code",
  },
};

export async function render([id, mode]) {
  if (id === "new") return createPage();
  if (id) return mode === "edit" ? editPage(Number(id)) : detailPage(Number(id));
  const accounts = await get("/accounts");
  return h("div", { class: "page", id: "accounts" },
    h("div", { class: "page-head" }, h("h1", {}, "Accounts"),
      h("a", { class: "button primary", href: "#/accounts/new" }, "Add account")),
    table([
      ["Name", (a) => h("a", { href: `#/accounts/${a.id}` }, a.name)],
      ["Platform", (a) => a.platform],
      ["Status", (a) => badge(a.status)],
      ["Why", (a) => a.status_reason || "—", "wrap"],
      ["Back at", (a) => (a.status_until ? backAt(a.status_until) : "—")],
      ["Usage windows", (a) => windowBars(a.windows, { compact: true })],
      ["In flight", (a) => inFlight(a), "num"],
      ["Groups", (a) => a.groups.map((g) => g.group).join(", ") || h("span", { class: "badge badge-temp-error", title: "No group's keys can use it" }, "no group")],
      ["Priority / weight", (a) => `${a.priority} / ${a.weight}`, "num"],
      ["Requests / tokens", (a) => `${num(a.total_requests)} / ${compact(a.total_tokens)}`, "num"],
      ["Last used", (a) => time(a.last_used_at)],
    ], accounts, { empty: "No accounts yet: add one to start relaying.", onRow: (a) => { location.hash = `#/accounts/${a.id}`; } }));
}

/** The group checkboxes with per-group priority and weight overrides. */
function bindingsField(groups, current = [], creating = false) {
  const rows = groups.map((g) => {
    const bound = current.find((b) => b.group === g.name);
    // A new account serves the only group there is unless the operator says otherwise.
    const only = creating && groups.length === 1;
    const box = h("input", { type: "checkbox", id: `bind-${g.id}`, "data-group": g.name, checked: Boolean(bound) || only });
    const prio = h("input", { type: "number", min: 0, placeholder: "account's", value: bound?.priority ?? "", "aria-label": `Priority in ${g.name}` });
    const weight = h("input", { type: "number", min: 1, placeholder: "account's", value: bound?.weight ?? "", "aria-label": `Weight in ${g.name}` });
    const row = h("tr", {}, h("td", {}, box, " ", h("label", { for: `bind-${g.id}` }, g.name)), h("td", {}, prio), h("td", {}, weight));
    row.read = () => (box.checked ? {
      group: g.name,
      priority: prio.value === "" ? null : Number(prio.value),
      weight: weight.value === "" ? null : Number(weight.value),
    } : null);
    return row;
  });
  const wrap = h("fieldset", { class: "bindings" }, h("legend", {}, "Groups it serves"),
    groups.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Group"), h("th", {}, "Priority"), h("th", {}, "Weight"))), h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No groups yet: create one on the Groups page."));
  wrap.read = () => rows.map((r) => r.read()).filter(Boolean);
  return wrap;
}

const mapText = (m) => Object.entries(m || {}).map(([k, v]) => `${k}=${v}`).join("\n");

/** The fields shared by create and edit; `a` is the account being edited, if any. */
function accountFields(platform, a, groups) {
  const editing = Boolean(a);
  const secretLabel = {
    anthropic: "API key", "claude-console": "API key", openai: "API key", gemini: "API key",
  }[platform];
  const f = {
    name: field("Name", "name", { value: a?.name, required: true }),
    description: field("Description", "description", { value: a?.description }),
    base_url: SIGN_IN[platform] ? null : field("Base URL", "base_url", {
      value: a?.base_url, placeholder: "official endpoint",
      help: platform === "claude-console" ? "The relay's address." : "Leave empty for the platform's official endpoint.",
    }),
    secret: secretLabel ? field(secretLabel, "secret", {
      type: "password", autocomplete: "new-password", required: !editing,
      placeholder: editing ? "unchanged (write-only)" : "", help: editing ? "Leave empty to keep the stored secret; it is never shown." : null,
    }) : null,
    user_agent: platform === "claude-console" ? field("User agent", "user_agent", { value: a?.user_agent }) : null,
    priority: field("Priority (lower goes first)", "priority", { type: "number", min: 0, value: a?.priority ?? "" , placeholder: "50" }),
    weight: field("Weight (share within a priority)", "weight", { type: "number", min: 1, value: a?.weight ?? "", placeholder: "1" }),
    proxy: field("Proxy", "proxy", { value: a?.proxy ? proxyText(a.proxy) : "", placeholder: "none — e.g. socks5://user@host:1080" }),
    proxy_password: field("Proxy password", "proxy_password", { type: "password", autocomplete: "new-password", placeholder: editing ? "unchanged" : "" }),
    models: field("Models (comma-separated; empty = any)", "models", { value: (a?.supported_models || []).join(", ") }),
    model_map: field("Model mapping (one FROM=TO per line)", "model_map", { type: "textarea", value: mapText(a?.model_mapping) }),
    max_concurrency: field("Requests in flight at most (empty = no cap)", "max_concurrency", { type: "number", min: 1, value: a?.max_concurrency ?? "" }),
    project: platform === "gemini-oauth" && !editing ? field("Google Cloud project", "project", {
      value: a?.workspace, placeholder: "the one Code Assist assigns",
      help: "Only for a Workspace or paid tier that bills a project of your own.",
    }) : null,
    allow_overage: platform === "claude-oauth" ? field("Extra usage", "allow_overage", {
      type: "select", value: a?.allow_overage ? "true" : "false",
      options: [["false", "Never draw on paid extra usage"], ["true", "Allow paid extra usage"]],
    }) : null,
    responses_api: platform === "openai" ? field("Responses API", "responses_api", {
      type: "select", value: a?.responses_api == null ? "auto" : String(a.responses_api),
      options: [["auto", "Auto (by host)"], ["true", "Served"], ["false", "Not served"]],
      help: "Auto: only OpenAI's own API and Azure OpenAI serve it. Where it is not served, Responses clients (Codex CLI) are translated to chat.",
    }) : null,
  };
  const bindings = bindingsField(groups, a?.groups || [], !a);
  return { f, bindings };
}

function proxyText(p) {
  return `${p.scheme}://${p.username ? `${p.username}@` : ""}${p.host}:${p.port}`;
}

function collect(form, f, bindings, editing) {
  const v = values(form);
  const out = {
    name: v.name,
    description: v.description,
    groups: bindings.read(),
    models: list(v.models),
    model_map: list(v.model_map),
    proxy: v.proxy,
  };
  if (f.base_url) out.base_url = v.base_url;
  if (f.user_agent) out.user_agent = v.user_agent;
  if (v.priority !== "") out.priority = Number(v.priority);
  if (v.weight !== "") out.weight = Number(v.weight);
  if (v.max_concurrency !== "") out.max_concurrency = Number(v.max_concurrency);
  else if (editing) out.max_concurrency = null;
  if (f.allow_overage) out.allow_overage = v.allow_overage === "true";
  if (f.responses_api && v.responses_api === "auto") { if (editing) out.responses_api = null; }
  else if (f.responses_api) out.responses_api = v.responses_api === "true";
  if (f.project && v.project) out.project = v.project;
  if (f.secret && (v.secret || !editing)) out.secret = v.secret;
  if (v.proxy_password) out.proxy_password = v.proxy_password;
  // An unchanged proxy is not sent, so its stored password stays.
  if (editing && v.proxy === f.proxy.input.defaultValue && !v.proxy_password) delete out.proxy;
  if (editing) {
    for (const k of ["description", "base_url", "proxy", "user_agent"]) if (k in out && out[k] === "") out[k] = null;
  }
  return out;
}

async function createPage() {
  const groups = await get("/groups");
  const page = h("div", { class: "page", id: "account-new" }, h("h1", {}, "Add account"));
  const platform = field("Platform", "platform", { type: "select", options: PLATFORMS, value: "anthropic" });
  const holder = h("div");
  const draw = () => clear(holder).appendChild(createForm(platform.input.value, groups));
  platform.input.addEventListener("change", draw);
  page.append(h("div", { class: "card" }, platform), holder);
  draw();
  return page;
}

function createForm(platform, groups) {
  const { f, bindings } = accountFields(platform, null, groups);
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "card form-grid", id: "account-form" }, error, Object.values(f), bindings);
  const sign = SIGN_IN[platform];
  if (sign) {
    const link = h("div", { class: "oauth-link" });
    const code = field(sign.label, "code", { required: true });
    const start = h("button", { type: "button", onclick: async () => {
      const l = await attempt(() => post("/oauth/start", { platform }), error);
      if (!l) return;
      clear(link).append(
        h("p", {}, t("1. Open this link, sign in with {who} and approve:", { who: t(sign.who) })),
        h("p", {}, h("a", { href: l.url, target: "_blank", rel: "noopener noreferrer", class: "break" }, l.url)),
        h("p", {}, t("2. {paste} (the link works until {when}).", { paste: t(sign.paste), when: time(l.expires_at) })));
    } }, "Get sign-in link");
    form.append(h("div", { class: "oauth" }, h("h2", {}, "Sign in to the subscription"), start, link, code));
    form.append(h("button", { type: "submit", class: "primary" }, "Add subscription"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const account = collect(form, f, bindings, false);
      const a = await attempt(() => post("/oauth/exchange", { code: values(form).code, account: { ...account, platform } }), error);
      if (a) { notice(t("Added {name}.", { name: a.name })); location.hash = `#/accounts/${a.id}`; }
    });
    return form;
  }
  form.append(h("button", { type: "submit", class: "primary" }, "Add account"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { ...collect(form, f, bindings, false), platform };
    const a = await attempt(() => post("/accounts", body), error);
    if (a) { notice(t("Added {name}.", { name: a.name })); location.hash = `#/accounts/${a.id}`; }
  });
  return form;
}

async function editPage(id) {
  const [{ account: a }, groups] = await Promise.all([get(`/accounts/${id}`), get("/groups")]);
  const { f, bindings } = accountFields(a.platform, a, groups);
  const error = h("p", { class: "form-error", role: "alert" });
  // Fills the model list from what the upstream offers now; saved with the form.
  const fetchModels = h("button", { type: "button", id: "fetch-models", onclick: async () => {
    const r = await attempt(() => post(`/accounts/${id}/models`, {}), error);
    if (!r) return;
    f.models.input.value = r.models.join(", ");
    notice(r.models.length ? t("The upstream offers {n} model(s); save to keep them.", { n: r.models.length }) : "The upstream lists no models.");
  } }, "Fetch models");
  f.models.append(fetchModels);
  const form = h("form", { class: "card form-grid", id: "account-form" }, error, Object.values(f), bindings,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Save"),
      h("a", { class: "button", href: `#/accounts/${id}` }, "Cancel")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = collect(form, f, bindings, true);
    const saved = await attempt(() => patch(`/accounts/${id}`, body), error);
    if (saved) { notice("Saved."); location.hash = `#/accounts/${id}`; }
  });
  return h("div", { class: "page", id: "account-edit" }, h("h1", {}, t("Edit {name}", { name: a.name })), form);
}

async function detailPage(id) {
  const d = await get(`/accounts/${id}`);
  const a = d.account;
  const out = h("div", { class: "test-result", "aria-live": "polite" });
  const act = (action, label, cls = "") => h("button", { type: "button", class: cls, onclick: async () => {
    const r = await attempt(() => post(`/accounts/${id}/status`, { action }));
    if (r) { notice(t("{name}: {status}.", { name: a.name, status: t(r.status.replace(/_/g, " ")) })); window.dispatchEvent(new HashChangeEvent("hashchange")); }
  } }, label);
  const test = h("button", { type: "button", onclick: async () => {
    out.textContent = "Testing…";
    const r = await attempt(() => post(`/accounts/${id}/test`, {}), out);
    if (r) {
      clear(out).append(badge(r.ok ? "OK" : "FAILED"), " ", t("{status} in {ms} ms with {model}: {message}; now", { status: r.status ?? t("no answer"), ms: r.latency_ms, model: r.model, message: r.message || "fine" }), " ", badge(r.account_status));
    }
  } }, "Test");
  const info = [
    ["Platform", a.platform],
    ["Status", h("span", {}, badge(a.status), a.status_reason ? ` — ${a.status_reason}` : "")],
    ["Back at", a.status_until ? backAt(a.status_until) : "—"],
    ["Last error", a.last_error_at ? `${time(a.last_error_at)} (${a.error_count} in the window)` : "—"],
    ["Usage windows", a.platform.endsWith("-oauth") || a.windows ? windowBars(a.windows) : null],
    [a.platform === "codex-oauth" ? "ChatGPT account" : "Google Cloud project", a.workspace || null],
    ["Token refresh", a.refresh_failing_since ? `failing since ${time(a.refresh_failing_since)}, last error: ${a.refresh_error || "unknown"}` : null],
    ["Extra usage", a.platform === "claude-oauth" ? (a.allow_overage ? "allowed" : "never: it takes no new traffic while drawing on it") : null],
    ["Responses API", a.platform === "openai" ? (a.responses_api == null ? "auto (by host)" : a.responses_api ? "served" : "not served: translated to chat") : null],
    ["In flight", inFlight(a)],
    ["Base URL", a.base_url || "official endpoint"],
    ["Proxy", a.proxy ? proxyText(a.proxy) : "none"],
    ["Groups", a.groups.map((g) => `${g.group}${g.priority != null || g.weight != null ? ` (priority ${g.priority ?? a.priority}, weight ${g.weight ?? a.weight})` : ""}`).join(", ") || "—"],
    ["Priority / weight", `${a.priority} / ${a.weight}`],
    ["Models", a.supported_models.join(", ") || "any"],
    ["Model mapping", mapText(a.model_mapping) || "none"],
    ["Token expires", a.oauth_expires_at ? time(a.oauth_expires_at) : null],
    ["Requests / tokens", `${num(a.total_requests)} / ${compact(a.total_tokens)}`],
    ["Last used", time(a.last_used_at)],
    ["Created", time(a.created_at)],
  ].filter(([, v]) => v !== null);
  return h("div", { class: "page", id: "account-detail" },
    h("div", { class: "page-head" }, h("h1", {}, a.name), badge(a.status)),
    h("div", { class: "actions card" },
      a.status === "DISABLED" || a.status === "MAINTENANCE" ? act("enable", "Enable", "primary") : null,
      ["ERROR", "TEMP_ERROR", "RATE_LIMITED"].includes(a.status) ? act("recover", "Recover", "primary") : null,
      a.status !== "DISABLED" ? act("disable", "Disable") : null,
      a.status !== "MAINTENANCE" ? act("maintenance", "Maintenance") : null,
      test,
      h("a", { class: "button", href: `#/accounts/${id}/edit` }, "Edit"),
      h("a", { class: "button", href: `#/requests?account=${id}` }, "Requests"),
      h("button", { type: "button", class: "danger", id: "delete-account", onclick: async () => {
        if (!confirm(t("Delete {name}? It leaves rotation and every group now; its request log and history stay.", { name: a.name }))) return;
        const r = await attempt(() => del(`/accounts/${id}`));
        if (r) { notice(t("Deleted {name}.", { name: a.name })); location.hash = "#/accounts"; }
      } }, "Delete"),
      out),
    h("section", { class: "card" }, h("dl", { class: "facts" }, info.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
    h("section", { class: "card" }, h("h2", {}, "Status history"),
      table([
        ["When", (c) => time(c.at)],
        ["From", (c) => (c.from ? badge(c.from) : "—")],
        ["To", (c) => badge(c.to)],
        ["Why", (c) => c.reason || "—", "wrap"],
        ["By", (c) => c.actor],
      ], d.history, { empty: "No status changes." })),
    h("section", { class: "card" }, h("h2", {}, "Recent errors"),
      table([
        ["When", (r) => time(r.started_at)],
        ["Status", (r) => String(r.status_code)],
        ["Outcome", (r) => r.outcome],
        ["Model", (r) => r.model || "—"],
        ["Message", (r) => r.error_message || "—", "wrap"],
      ], d.errors, { empty: "No failed requests." })));
}
