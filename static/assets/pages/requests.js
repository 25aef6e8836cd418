// The request log: filtered by key, account, model, status and time, read a page at a time
// from the database (newest first; "Older" continues from the last row shown).

import { get, query } from "../api.js";
import { h, clear, num, usd, time, badge, table, field, values, attempt } from "../ui.js";

const PAGE = 50;

function hashParams() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

export async function render() {
  const p = hashParams();
  const [keys, accounts] = await Promise.all([get("/keys"), get("/accounts")]);
  const toLocal = (ms) => (ms ? new Date(Number(ms) - new Date(Number(ms)).getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "");
  const form = h("form", { class: "card filters", id: "request-filters" },
    field("Key", "key", { type: "select", value: p.get("key") || "", options: [["", "any"], ...keys.map((k) => [k.id, `${k.group}/${k.name}`])] }),
    field("Account", "account", { type: "select", value: p.get("account") || "", options: [["", "any"], ...accounts.map((a) => [a.id, a.name])] }),
    field("Model", "model", { value: p.get("model") || "", placeholder: "any" }),
    field("Status", "status", { value: p.get("status") || "", placeholder: "any, ok, error or 429", type: "select",
      options: [["", "any"], ["ok", "ok"], ["error", "errors"], ["400", "400"], ["401", "401"], ["403", "403"], ["429", "429"], ["500", "500"], ["502", "502"], ["503", "503"], ["504", "504"], ["529", "529"]] }),
    field("From", "from", { type: "datetime-local", value: toLocal(p.get("from")) }),
    field("To", "to", { type: "datetime-local", value: toLocal(p.get("to")) }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Filter"),
      h("a", { class: "button", href: "#/requests" }, "Clear")));
  const filter = () => {
    const v = values(form);
    return {
      key: v.key, account: v.account, model: v.model, status: v.status,
      from: v.from ? new Date(v.from).getTime() : "", to: v.to ? new Date(v.to).getTime() : "",
    };
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/requests${query(filter())}`;
  });
  const results = h("div", { id: "request-results" });
  const pages = [];
  const load = async (before) => {
    const page = await attempt(() => get(`/requests${query({ ...filter(), before, limit: PAGE })}`), results);
    if (!page) return;
    clear(results).append(
      table([
        ["Time", (r) => time(r.started_at)],
        ["Key", (r) => r.key || "—"],
        ["Account", (r) => (r.account_id ? h("a", { href: `#/accounts/${r.account_id}` }, r.account || String(r.account_id)) : "—")],
        ["Model", (r) => (r.upstream_model && r.upstream_model !== r.model ? `${r.model} → ${r.upstream_model}` : r.model || "—") + (r.translated ? " (translated)" : "")],
        ["Status", (r) => h("span", {}, badge(r.outcome === "ok" ? "OK" : r.outcome), ` ${r.status_code}`)],
        ["In / out", (r) => `${num(r.input_tokens)} / ${num(r.output_tokens)}`, "num"],
        ["Cache w / r", (r) => `${num(r.cache_creation_input_tokens)} / ${num(r.cache_read_input_tokens)}`, "num"],
        ["Cost", (r) => (r.unpriced ? "unpriced" : usd(r.cost_nanos)), "num"],
        ["Took", (r) => (r.duration_ms == null ? "—" : h("span", { title: r.first_byte_ms != null ? `first byte after ${num(r.first_byte_ms)} ms` : "" }, `${num(r.duration_ms)} ms`)), "num"],
        ["Client", (r) => r.client || "—"],
        ["Error", (r) => r.error_message || "", "wrap"],
      ], page.rows, { empty: "No requests match." }),
      h("div", { class: "actions pager" },
        pages.length ? h("button", { type: "button", onclick: () => { pages.pop(); load(pages[pages.length - 1]); } }, "← Newer") : null,
        page.next_before ? h("button", { type: "button", id: "older", onclick: () => { pages.push(page.next_before); load(page.next_before); } }, "Older →") : null));
  };
  await load(undefined);
  return h("div", { class: "page", id: "requests" }, h("h1", {}, "Request log"), form, results);
}
