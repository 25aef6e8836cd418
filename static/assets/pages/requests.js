// The request log: filtered by key, account, model, status, time or one request's id, read a
// page at a time from the database (newest first; "Older" continues from the last row
// shown); a row opens its every field; the filtered rows export as CSV.

import { get, query } from "../api.js";
import { h, clear, num, usd, time, badge, table, field, values, attempt } from "../ui.js";
import { t } from "../i18n.js";

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
    field("Request id", "request_id", { value: p.get("request_id") || "", placeholder: "from x-aicarpool-request-id" }),
    field("Status", "status", { value: p.get("status") || "", placeholder: "any, ok, error or 429", type: "select",
      options: [["", "any"], ["ok", "ok"], ["error", "errors"], ["400", "400"], ["401", "401"], ["403", "403"], ["429", "429"], ["500", "500"], ["502", "502"], ["503", "503"], ["504", "504"], ["529", "529"]] }),
    field("From", "from", { type: "datetime-local", value: toLocal(p.get("from")) }),
    field("To", "to", { type: "datetime-local", value: toLocal(p.get("to")) }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Filter"),
      h("a", { class: "button", href: "#/requests" }, "Clear")));
  const filter = () => {
    const v = values(form);
    return {
      key: v.key, account: v.account, model: v.model, status: v.status, request_id: v.request_id,
      from: v.from ? new Date(v.from).getTime() : "", to: v.to ? new Date(v.to).getTime() : "",
    };
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/requests${query(filter())}`;
  });
  const results = h("div", { id: "request-results" });
  const detail = h("section", { class: "card", id: "request-detail", hidden: true });
  const show = (r) => {
    detail.hidden = false;
    clear(detail).append(h("div", { class: "page-head" }, h("h2", {}, t("Request {id}", { id: r.request_id })),
      h("button", { type: "button", onclick: () => { detail.hidden = true; } }, "Close")),
    h("dl", { class: "facts" }, Object.entries(r).filter(([k]) => k !== "tried").map(([k, v]) => [h("dt", {}, k.replace(/_/g, " ")),
      h("dd", {}, k === "started_at" ? time(v) : v === null || v === "" ? "—" : String(v))])),
    h("h3", {}, "Attempts that failed first"),
    r.tried?.length
      ? h("ol", { id: "tried" }, r.tried.map((x) => h("li", {},
        h("a", { href: `#/accounts/${x.account_id}` }, accounts.find((a) => a.id === x.account_id)?.name || `#${x.account_id}`),
        ` — ${x.status ?? t("no answer")}: `, x.error)))
      : h("p", { class: "empty" }, "None: the first account tried answered."));
    detail.scrollIntoView({ block: "nearest" });
  };
  const pages = [];
  const load = async (before) => {
    const page = await attempt(() => get(`/requests${query({ ...filter(), before, limit: PAGE })}`), results);
    if (!page) return;
    clear(results).append(
      table([
        ["Time", (r) => time(r.started_at)],
        ["Endpoint", (r) => (r.stream ? `${r.endpoint} · ${t("stream")}` : r.endpoint)],
        ["Key", (r) => r.key || "—"],
        ["Account", (r) => (r.account_id ? h("a", { href: `#/accounts/${r.account_id}` }, r.account || String(r.account_id)) : "—")],
        ["Model", (r) => (r.upstream_model && r.upstream_model !== r.model ? `${r.model} → ${r.upstream_model}` : r.model || "—") + (r.translated ? ` ${t("(translated)")}` : "")],
        ["Status", (r) => h("span", {}, badge(r.outcome === "ok" ? "OK" : r.outcome), ` ${r.status_code}`)],
        ["Tokens in / out", (r) => h("span", { title: t("Cache write / read") }, `${num(r.input_tokens)} / ${num(r.output_tokens)}`,
          r.cache_creation_input_tokens || r.cache_read_input_tokens ? h("div", { class: "hint" }, `${t("cache")} ${num(r.cache_creation_input_tokens)} / ${num(r.cache_read_input_tokens)}`) : null), "num"],
        ["Cost", (r) => (r.unpriced ? t("unpriced") : usd(r.cost_nanos)), "num"],
        ["Took", (r) => (r.duration_ms == null ? "—" : h("span", { title: r.first_byte_ms != null ? t("first byte after {n} ms", { n: num(r.first_byte_ms) }) : "" }, `${num(r.duration_ms)} ms`)), "num"],
        ["Client", (r) => r.client || "—"],
        ["Error", (r) => r.error_message || "", "wrap"],
      ], page.rows, { empty: "No requests match.", onRow: show }),
      h("div", { class: "actions pager" },
        pages.length ? h("button", { type: "button", onclick: () => { pages.pop(); load(pages[pages.length - 1]); } }, "← Newer") : null,
        page.next_before ? h("button", { type: "button", id: "older", onclick: () => { pages.push(page.next_before); load(page.next_before); } }, "Older →") : null));
  };
  await load(undefined);
  const exportLink = h("a", { class: "button", id: "export-csv", href: `/api/admin/requests/export${query(filter())}`, download: "aicarpool-requests.csv" }, "Export CSV");
  return h("div", { class: "page", id: "requests" },
    h("div", { class: "page-head" }, h("h1", {}, "Request log"), exportLink), form, detail, results);
}
