// DOM helpers for the admin page: element building (text only, never HTML strings, each
// string looked up in the language's table), number and time formatting in the language's
// locale, status badges, tables, forms, notices and SVG bar charts.

import { t, tr, locale, language, setLanguage } from "./i18n.js";

/** Builds an element. `attrs` keys starting with "on" become listeners; children may be
 * strings, nodes, arrays or null. Text is always inserted as text. */
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "rect", "g", "text", "title", "line"].includes(tag);
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k === "value" && !svg) {
      // The attribute too, so `defaultValue` tells whether a field was changed.
      if (tag === "input") el.setAttribute("value", String(v));
      el.value = v;
    }
    else if (k === "checked" || k === "disabled" || k === "selected") el[k] = Boolean(v);
    else if (k === "placeholder" || k === "title" || k === "aria-label") el.setAttribute(k, tr(String(v)));
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(tr(String(c))));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const intFmt = new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 });
const compactFmt = new Intl.NumberFormat(locale(), { notation: "compact", maximumFractionDigits: 1 });

export const num = (n) => intFmt.format(n || 0);
export const compact = (n) => compactFmt.format(n || 0);

/** Nano-dollars as dollars: cents for large amounts, more digits for small ones. */
export function usd(nanos) {
  const v = (nanos || 0) / 1e9;
  const digits = v !== 0 && Math.abs(v) < 1 ? 4 : 2;
  return "$" + v.toLocaleString(locale(), { minimumFractionDigits: 2, maximumFractionDigits: digits });
}

/**
 * A cost for people: requests without a price say "unpriced", never "$0.00". `requests` (the
 * total) may be left out; then a zero cost with unpriced requests is all unpriced.
 */
export function cost(nanos, unpriced, requests) {
  if (!unpriced) return usd(nanos);
  if (requests === undefined ? !nanos : unpriced >= requests) return t("unpriced");
  return `${usd(nanos)} + ${t("{n} unpriced", { n: num(unpriced) })}`;
}

export const pct = (x) => (x * 100).toLocaleString(locale(), { maximumFractionDigits: 1 }) + "%";

/** An epoch-ms time in the browser's locale and zone, the year only when it is not this
 * one's; "—" when absent. */
export function time(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  return d.toLocaleString(locale(), {
    year: d.getFullYear() === new Date().getFullYear() ? undefined : "numeric",
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

/** "in 4 min" / "3 h ago" relative to now. */
export function relative(ms) {
  if (!ms) return "";
  const d = Math.round((ms - Date.now()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  const a = Math.abs(d);
  if (a < 60) return rtf.format(d, "second");
  if (a < 3600) return rtf.format(Math.round(d / 60), "minute");
  if (a < 86400) return rtf.format(Math.round(d / 3600), "hour");
  return rtf.format(Math.round(d / 86400), "day");
}

/** A subscription's usage windows: a bar per window with its use and reset countdown
 * (`compact` for tables: a shorter bar, the countdown alone). */
export function windowBars(w, { compact = false } = {}) {
  if (!w || (!w["5h"] && !w["7d"] && !w["1d"])) return "—";
  return h("span", { class: "windows" }, [["5h", "5-hour"], ["7d", "7-day"], ["1d", "daily quota"]].map(([k, name]) => {
    const x = w[k];
    if (!x) return null;
    const p = Math.round(x.utilization * 100);
    const width = compact ? 48 : 80;
    const level = p >= 95 ? "bar-bad" : p >= 70 ? "bar-warn" : "bar";
    const said = t("{name} window: {p}% used", { name: t(name), p }) + (x.resets_at ? `, ${t("resets {when}", { when: time(x.resets_at) })}` : "");
    return h("span", { class: "window", title: said },
      h("span", { class: "window-name" }, k),
      h("svg", { class: "chart window-bar", width, height: 8, role: "img", "aria-label": said },
        h("rect", { class: "window-track", x: 0, y: 0, width, height: 8 }),
        h("rect", { class: level, x: 0, y: 0, width: Math.min(width, Math.max(0, (p * width) / 100)), height: 8 })),
      ` ${p}%`, x.resets_at ? ` · ${compact ? relative(x.resets_at) : t("resets {when}", { when: relative(x.resets_at) })}` : "");
  }));
}

/** Requests in flight, against the account's cap when it has one. */
export function inFlight(a) {
  return a.max_concurrency ? `${a.in_flight ?? 0} / ${a.max_concurrency}` : String(a.in_flight ?? 0);
}

/** A status word with a colour class; the text carries the meaning, the colour helps. */
export function badge(status) {
  const s = String(status || "").toLowerCase().replace(/_/g, "-");
  return h("span", { class: `badge badge-${s}` }, String(status || "").replace(/_/g, " "));
}

/** A table from rows and column definitions `[header, row => cell, className?]`. */
export function table(columns, rows, { empty = "Nothing here yet.", onRow, caption } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", { class: "stack" },
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map(([head, , cls]) => h("th", { class: cls, scope: "col" }, head)))),
      h("tbody", {}, rows.map((r) => {
        // On a phone each row is a card of label: value lines (see app.css).
        const tr = h("tr", {}, columns.map(([head, cell, cls]) => h("td", { class: cls, "data-label": head }, cell(r))));
        if (onRow) {
          tr.classList.add("clickable");
          tr.tabIndex = 0;
          tr.addEventListener("click", () => onRow(r));
          tr.addEventListener("keydown", (e) => { if (e.key === "Enter") onRow(r); });
        }
        return tr;
      }))));
}

let fieldSeq = 0;

/** A labelled input. `opts.type` may be "select" (with `options: [[value, label]]`) or
 * "textarea"; the input element is returned as `.input` on the wrapper. */
export function field(label, name, opts = {}) {
  const id = `f-${name}-${++fieldSeq}`;
  let input;
  if (opts.type === "select") {
    input = h("select", { id, name },
      (opts.options || []).map(([v, l]) => h("option", { value: v, selected: String(v) === String(opts.value ?? "") }, l)));
  } else if (opts.type === "textarea") {
    input = h("textarea", { id, name, rows: opts.rows || 3, placeholder: opts.placeholder });
    input.value = opts.value ?? "";
  } else {
    input = h("input", {
      id, name, type: opts.type || "text", value: opts.value ?? "", placeholder: opts.placeholder,
      required: opts.required, autocomplete: opts.autocomplete || "off", min: opts.min, step: opts.step,
      inputmode: opts.inputmode,
    });
  }
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input,
    opts.help ? h("small", {}, opts.help) : null);
  wrap.input = input;
  return wrap;
}

/** Values of a form's named inputs, trimmed; empty strings stay empty. */
export function values(form) {
  const out = {};
  for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    if (el.type === "checkbox") out[el.name] = el.checked;
    else out[el.name] = el.value.trim();
  }
  return out;
}

/** A transient message at the top of the page, announced to screen readers. */
export function notice(text, kind = "ok") {
  const box = document.getElementById("notices");
  // The same message again replaces the old one; at most three are shown at once.
  for (const old of [...box.children]) if (old.textContent === text) old.remove();
  while (box.children.length >= 3) box.firstChild.remove();
  const n = h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  box.appendChild(n);
  setTimeout(() => n.remove(), kind === "error" ? 8000 : 4000);
}

/** Runs `fn`, showing its error once: inside `where` when given (a form's error line), else
 * as a notice. An ended session says so on the sign-in page instead. */
export async function attempt(fn, where) {
  try {
    return await fn();
  } catch (e) {
    if (e.signedOut) return undefined;
    if (where) where.textContent = e.message;
    else notice(e.message, "error");
    return undefined;
  }
}

/** `n` with the noun in the right number: "1 group", "3 groups". */
export const plural = (n, one, many) => t(n === 1 ? `{n} ${one}` : `{n} ${many}`, { n: num(n) });

/** When an account out of rotation comes back: the time and how far off, or, once that time
 * has passed, that the recovery check brings it back next. */
export function backAt(until) {
  if (!until) return "—";
  if (until <= Date.now()) return t("due now (at the next recovery check)");
  return `${time(until)} (${relative(until)})`;
}

/** A bar chart of `series` as SVG; `value(b)` is the bar height, `label(b)` its x label and
 * `fmt` formats values. `stack(b)` (optional) is drawn over the bar in the warning colour. */
export function barChart(title, series, { value, label, fmt = num, stack, stackName } = {}) {
  const W = 600, H = 160, P = 28;
  const max = Math.max(1, ...series.map(value));
  const bw = (W - P) / Math.max(1, series.length);
  const total = series.reduce((s, b) => s + value(b), 0);
  const svg = h("svg", {
    viewBox: `0 0 ${W} ${H + 20}`, class: "chart", role: "img",
    "aria-label": `${title}: ${fmt(total)} in total, peak ${fmt(max)}`,
  },
  h("line", { x1: P, y1: H, x2: W, y2: H, class: "axis" }),
  h("text", { x: 0, y: 10, class: "tick" }, fmt(max)),
  h("text", { x: 0, y: H, class: "tick" }, "0"),
  series.map((b, i) => {
    const v = value(b);
    const bh = (v / max) * (H - 12);
    const x = P + i * bw + 1;
    const g = h("g", {},
      h("title", {}, `${label(b)}: ${fmt(v)}${stack ? `, ${stackName} ${fmt(stack(b))}` : ""}`),
      h("rect", { x, y: H - bh, width: Math.max(1, bw - 2), height: bh, class: "bar" }));
    if (stack && stack(b) > 0) {
      const sh = (stack(b) / max) * (H - 12);
      g.appendChild(h("rect", { x, y: H - sh, width: Math.max(1, bw - 2), height: sh, class: "bar-bad" }));
    }
    return g;
  }),
  series.length ? h("text", { x: P, y: H + 16, class: "tick" }, label(series[0])) : null,
  series.length > 4 ? h("text", { x: P + (W - P) / 2, y: H + 16, class: "tick mid" }, label(series[Math.floor(series.length / 2)])) : null,
  series.length ? h("text", { x: W, y: H + 16, class: "tick end" }, label(series[series.length - 1])) : null);
  return h("figure", { class: "card chart-card" }, h("figcaption", {}, title), svg);
}

/** Bars stacked by label: `series` is `[{at, values: [per label]}]`, `labels` their names
 * (drawn in six colours, the last one grey when it is "other"), with a legend and a value per
 * part on hover. */
export function stackedChart(title, series, labels, { label, fmt = num } = {}) {
  const W = 600, H = 160, P = 28;
  const total = (b) => b.values.reduce((a, v) => a + v, 0);
  const max = Math.max(1, ...series.map(total));
  const bw = (W - P) / Math.max(1, series.length);
  const svg = h("svg", { viewBox: `0 0 ${W} ${H + 20}`, class: "chart", role: "img", "aria-label": title },
    h("line", { x1: P, y1: H, x2: W, y2: H, class: "axis" }),
    h("text", { x: 0, y: 10, class: "tick" }, fmt(max)),
    h("text", { x: 0, y: H, class: "tick" }, "0"),
    series.map((b, i) => {
      let y = H;
      const x = P + i * bw + 1;
      return h("g", {}, b.values.map((v, j) => {
        if (!v) return null;
        const bh = (v / max) * (H - 12);
        y -= bh;
        return h("rect", { x, y, width: Math.max(1, bw - 2), height: bh, class: `part p${j}` },
          h("title", {}, `${label(b)} · ${labels[j]}: ${fmt(v)}`));
      }));
    }),
    series.length ? h("text", { x: P, y: H + 16, class: "tick" }, label(series[0])) : null,
    series.length ? h("text", { x: W, y: H + 16, class: "tick end" }, label(series[series.length - 1])) : null);
  const legend = h("ul", { class: "legend" }, labels.map((l, j) => h("li", {},
    h("svg", { width: 10, height: 10, class: "chart swatch" }, h("rect", { x: 0, y: 0, width: 10, height: 10, class: `part p${j}` })), " ", l)));
  return h("figure", { class: "card chart-card" }, h("figcaption", {}, title), svg, legend);
}

/** A comma- or newline-separated list as an array of non-empty trimmed items. */
export const list = (text) => String(text || "").split(/[,\n]/).map((s) => s.trim()).filter(Boolean);

/** Copies text to the clipboard, falling back to selecting it. */
export async function copy(text, el) {
  try {
    await navigator.clipboard.writeText(text);
    notice("Copied.");
  } catch {
    if (el) {
      const r = document.createRange();
      r.selectNodeContents(el);
      const s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
    }
    notice("Select the text and copy it by hand (the clipboard needs HTTPS).", "warn");
  }
}

const THEMES = ["auto", "dark", "light"];

/** The chosen colour scheme ("auto" follows the system), remembered in this browser. */
export function applyTheme(theme = localStorage.getItem("aicarpool.theme") || "auto") {
  if (theme === "auto") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", theme);
  return theme;
}

/** A button cycling the colour scheme: as the system, dark, light. */
export function themeButton(id = "theme") {
  const label = (x) => tr({ auto: "Theme: system", dark: "Theme: dark", light: "Theme: light" }[x]);
  let current = applyTheme();
  const b = h("button", { type: "button", class: "theme", id, "aria-label": "Colour scheme" }, label(current));
  b.addEventListener("click", () => {
    current = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length];
    localStorage.setItem("aicarpool.theme", current);
    applyTheme(current);
    b.textContent = label(current);
  });
  return b;
}

/** A bar showing `used` of `max`, coloured as it fills (SVG: the page's policy allows no
 * inline styles). */
export function meter(used, max) {
  const share = max > 0 ? Math.min(1, used / max) : 0;
  const level = share >= 1 ? "bar-bad" : share >= 0.8 ? "bar-warn" : "bar";
  const width = 72;
  return h("svg", { class: "chart window-bar", width, height: 8, role: "img", "aria-label": pct(share) },
    h("rect", { class: "window-track", x: 0, y: 0, width, height: 8 }),
    h("rect", { class: level, x: 0, y: 0, width: share * width, height: 8 }));
}

/** A button switching between English and Chinese (remembered in this browser). */
export function languageButton(id = "language") {
  const other = language() === "zh" ? "en" : "zh";
  return h("button", {
    type: "button", class: "theme", id, lang: other === "zh" ? "zh-CN" : "en",
    onclick: () => { setLanguage(other); location.reload(); },
  }, other === "zh" ? "中文" : "English");
}
