// The audit log: who changed what and when, newest first, a page at a time.

import { get, query } from "../api.js";
import { h, clear, time, table, attempt } from "../ui.js";

function describe(d) {
  if (!d) return "";
  return Object.entries(d).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("; ");
}

export async function render() {
  const results = h("div", { id: "audit-results" });
  const pages = [];
  const load = async (before) => {
    const page = await attempt(() => get(`/audit${query({ before, limit: 50 })}`), results);
    if (!page) return;
    clear(results).append(
      table([
        ["When", (r) => time(r.at)],
        ["Who", (r) => r.actor],
        ["What", (r) => r.action],
        ["Target", (r) => (r.target_type ? `${r.target_type} ${r.target_id}` : "—")],
        ["Detail", (r) => describe(r.detail), "wrap"],
      ], page.rows, { empty: "Nothing has been changed yet." }),
      h("div", { class: "actions pager" },
        pages.length ? h("button", { type: "button", onclick: () => { pages.pop(); load(pages[pages.length - 1]); } }, "← Newer") : null,
        page.next_before ? h("button", { type: "button", onclick: () => { pages.push(page.next_before); load(page.next_before); } }, "Older →") : null));
  };
  await load(undefined);
  return h("div", { class: "page", id: "audit" }, h("h1", {}, "Audit log"), results);
}
