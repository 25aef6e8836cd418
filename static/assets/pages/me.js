// A member's own page: they enter their API key (kept in this tab's session storage only) and
// see their use, each limit with what is left, their group's budgets, recent requests and the
// settings for their tools. Backed by GET /api/me and /api/me/requests with that key alone.

import { h, clear, field, values, time, badge, themeButton, languageButton } from "../ui.js";
import { t, serverText } from "../i18n.js";
import { usageView, recentTable } from "../usage.js";
import { clientSettings } from "../snippets.js";

const STORE = "aicarpool.member-key";

/** GET `path` with the member key; the parsed JSON, or an Error carrying the status. */
async function call(path, key) {
  let resp;
  try {
    resp = await fetch(path, { headers: { authorization: `Bearer ${key}` }, credentials: "omit", cache: "no-store" });
  } catch {
    throw Object.assign(new Error("The gateway cannot be reached."), { status: 0 });
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw Object.assign(new Error(serverText(data?.error?.message) || `${resp.status}`), { status: resp.status });
  return data;
}

function keyForm(message) {
  const error = h("p", { class: "form-error", role: "alert" }, message || "");
  const key = field("Your API key", "key", { type: "password", autocomplete: "off", required: true, placeholder: "acp_…" });
  const form = h("form", { class: "card narrow", id: "me-form" },
    h("h1", {}, "Your usage"),
    h("p", {}, "Enter the API key your team gave you to see what you have used and what is left. It stays in this browser tab only."),
    error, key,
    h("button", { type: "submit", class: "primary" }, "Show my usage"),
    h("p", { class: "hint" }, h("a", { href: "#/login" }, "Sign in as an admin instead")),
    h("p", { class: "actions" }, languageButton("page-language"), themeButton("page-theme")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(STORE, values(form).key);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  });
  queueMicrotask(() => key.input.focus());
  return form;
}

export async function render() {
  const key = sessionStorage.getItem(STORE);
  if (!key) return keyForm();
  let me, recent;
  try {
    [me, recent] = await Promise.all([call("/api/me", key), call("/api/me/requests", key)]);
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem(STORE);
      return keyForm(t("{message}.", { message: e.message }));
    }
    throw e;
  }
  const forget = h("button", { type: "button", id: "forget", onclick: () => {
    sessionStorage.removeItem(STORE);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } }, "Forget my key");
  const k = me.key;
  return h("div", { class: "page", id: "me" },
    h("div", { class: "page-head" }, h("h1", {}, `${k.group}/${k.name}`),
      h("span", { class: "actions" }, badge(k.status), languageButton("page-language"), themeButton("page-theme"), forget)),
    h("p", { class: "hint" }, h("code", {}, `${k.prefix}…`), ` · ${t("last used {when}", { when: time(k.last_used_at) })}`,
      k.expires_at ? ` · ${t("expires {when}", { when: time(k.expires_at) })}` : ""),
    usageView(me),
    h("section", { class: "card", id: "recent" }, h("h2", {}, "Your recent requests"), recentTable(recent)),
    h("section", { class: "card", id: "settings" }, h("h2", {}, "Settings for your tools"), clientSettings(key)));
}
