// Page-wide behaviour: auto-submitting filters, clean URLs, keyboard row navigation.
// Never writes user data as HTML: rows come from the server already escaped.

const DEBOUNCE_MS = 400;

function submit(form) {
  if (form.requestSubmit) form.requestSubmit();
  else form.submit();
}

// Selects marked data-autosubmit (project picker, time ranges) submit their form on change.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.matches("select[data-autosubmit]")) submit(el.form);
  else if (el.form && el.form.id === "filters" && !el.classList.contains("live")) submit(el.form);
});

// Text filters on the trace list apply after a pause in typing.
let timer = 0;
document.addEventListener("input", (event) => {
  const el = event.target;
  if (!el.classList || !el.classList.contains("live") || !el.form) return;
  clearTimeout(timer);
  timer = setTimeout(() => submit(el.form), DEBOUNCE_MS);
});

// Drop empty fields from htmx GETs so the pushed URL only holds what is set.
document.addEventListener("htmx:configRequest", (event) => {
  const params = event.detail.formData;
  if (!params) return;
  const form = event.detail.elt;
  if (form && form.elements) {
    for (const el of form.elements) {
      if (el.dataset.default !== undefined && el.value === el.dataset.default) params.delete(el.name);
    }
  }
  for (const key of Array.from(new Set(params.keys()))) {
    const values = params.getAll(key).filter((v) => typeof v !== "string" || v.trim() !== "");
    params.delete(key);
    for (const v of values) params.append(key, v);
  }
});

// Plain (non-htmx) GET forms: leave empty fields out of the URL too.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.method !== "get" || form.hasAttribute("hx-get")) return;
  for (const el of form.elements) {
    if (el.name && el.value === "" && el.type !== "submit") el.disabled = true;
  }
  setTimeout(() => { for (const el of form.elements) el.disabled = false; }, 0);
});

// Tables of links: arrow keys move between rows, a click anywhere on a row opens it.
function rowLink(row) {
  return row && row.querySelector("td.name a");
}
document.addEventListener("keydown", (event) => {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const link = event.target.closest && event.target.closest("table[data-nav-table] td.name a");
  if (!link) return;
  const row = link.closest("tr");
  const next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
  const target = rowLink(next);
  if (target) {
    event.preventDefault();
    target.focus();
  }
});
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.target.closest("a, button, input, select")) return;
  if (window.getSelection && String(window.getSelection())) return;
  const row = event.target.closest("table[data-nav-table] tbody tr");
  const link = rowLink(row);
  if (link) link.click();
});
