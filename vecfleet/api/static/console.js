// Incident search console: reads the form, calls the native search API, renders hits.
// Payload strings only ever reach the page through textContent, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SNIPPET_CHARS = 260;
  const POLL_MS = 1000;
  const BUSY_STATES = new Set(["idle", "embedding", "indexing"]);
  const number = new Intl.NumberFormat("en-US");

  let collection = "incidents";
  let requestNo = 0;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  // ---------------------------------------------------------------- demo status
  function fillFacets(status) {
    const industry = $("industry");
    if (industry.options.length === 1) {
      for (const name of status.industries) {
        const option = el("option", "", name);
        option.value = name;
        industry.append(option);
      }
    }
    const chips = $("severities");
    if (!chips.childElementCount) {
      for (const name of status.severities) {
        const label = el("label", "sev-chip");
        const box = el("input");
        box.type = "checkbox";
        box.name = "severity";
        box.value = name;
        label.append(box, document.createTextNode(name));
        chips.append(label);
      }
    }
  }

  function describeDemo(status) {
    const done = number.format(status.done);
    const total = number.format(status.total);
    switch (status.state) {
      case "ready": return `demo: ${done} incidents ready`;
      case "failed": return `demo load failed: ${status.error}`;
      case "off": return "demo collection off";
      case "embedding": return `embedding demo incidents ${done} / ${total}`;
      case "indexing": return `indexing demo incidents ${done} / ${total}`;
      default: return "demo load starting…";
    }
  }

  async function pollDemo() {
    let status;
    try {
      const response = await fetch("/v1/demo/status", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      status = await response.json();
    } catch (err) {
      $("demo-state").textContent = `demo status unavailable (${err.message})`;
      setTimeout(pollDemo, POLL_MS * 5);
      return;
    }
    collection = status.collection;
    fillFacets(status);
    $("demo").dataset.state = status.state;
    $("demo-state").textContent = describeDemo(status);
    const bar = $("demo-progress");
    bar.max = Math.max(status.total, 1);
    bar.value = status.done;
    if (BUSY_STATES.has(status.state)) setTimeout(pollDemo, POLL_MS);
  }

  // ---------------------------------------------------------------- the request
  function buildFilter() {
    const filter = {};
    const industry = $("industry").value;
    if (industry) filter.industry = { $eq: industry };
    const severities = [...document.querySelectorAll("#severities input:checked")]
      .map((box) => box.value);
    if (severities.length) filter.severity = { $in: severities };
    const date = {};
    if ($("date-from").value) date.$gte = $("date-from").value;
    if ($("date-to").value) date.$lte = $("date-to").value;
    if (Object.keys(date).length) filter.date = date;
    return Object.keys(filter).length ? filter : null;
  }

  async function search() {
    const text = $("q").value.trim();
    if (!text) return;
    const body = { text, limit: Number($("limit").value) };
    const filter = buildFilter();
    if (filter) body.filter = filter;
    const mine = ++requestNo;
    const results = $("results");
    results.dataset.state = "loading";
    const started = performance.now();
    let response, data;
    try {
      response = await fetch(`/v1/collections/${encodeURIComponent(collection)}/search`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      data = await response.json();
    } catch (err) {
      if (mine === requestNo) renderError(`search failed: ${err.message}`);
      return;
    }
    const roundTripMs = performance.now() - started;
    if (mine !== requestNo) return; // a newer search is on its way
    if (!response.ok) {
      const message = data && data.error ? data.error.message : `HTTP ${response.status}`;
      renderError(message);
      return;
    }
    renderResults(data, roundTripMs, filter);
    results.dataset.request = String(mine);
  }

  // ---------------------------------------------------------------- rendering
  function renderError(message) {
    $("error").textContent = message;
    show($("error"), true);
    $("results").replaceChildren();
    $("results").dataset.state = "error";
    show($("meta"), false);
  }

  function snippet(text) {
    if (!text || text.length <= SNIPPET_CHARS) return text || "";
    const cut = text.lastIndexOf(" ", SNIPPET_CHARS);
    return `${text.slice(0, cut > 0 ? cut : SNIPPET_CHARS)}…`;
  }

  function renderHit(hit) {
    const p = hit.payload || {};
    const item = el("li", "hit");
    item.dataset.id = String(hit.id);
    const head = el("div", "hit-head");
    head.append(el("h2", "hit-title", p.title || hit.id), el("span", "hit-score", `score ${hit.score.toFixed(3)}`));
    const facts = el("div", "hit-facts");
    facts.append(el("span", "badge hit-industry", p.industry || "unknown industry"));
    const severity = el("span", "badge sev hit-severity", p.severity || "n/a");
    if (p.severity) severity.classList.add(`sev-${p.severity}`);
    facts.append(severity, el("span", "hit-date", p.date || "undated"));
    if (p.location) facts.append(el("span", "hit-location", p.location));
    if (p.records_affected !== undefined) {
      facts.append(el("span", "hit-records", `${number.format(p.records_affected)} records`));
    }
    item.append(head, facts, el("p", "hit-snippet", snippet(p.narrative)));
    return item;
  }

  function renderPlan(plan) {
    const rows = $("plan").tBodies[0];
    rows.replaceChildren();
    const counts = {};
    for (const step of plan) {
      counts[step.strategy] = (counts[step.strategy] || 0) + 1;
      const tr = el("tr");
      tr.append(
        el("td", "seg", String(step.segment).slice(0, 8)),
        el("td", "", step.strategy),
        el("td", "", number.format(step.rows)),
        el("td", "", number.format(step.candidates)),
        el("td", "", Number(step.selectivity).toFixed(4)),
        el("td", "", step.ef),
      );
      rows.append(tr);
    }
    const parts = Object.entries(counts).map(([name, n]) => `${name} × ${n}`);
    $("plan-summary").textContent = parts.length ? `(${parts.join(", ")})` : "(no segments)";
  }

  function renderResults(data, roundTripMs, filter) {
    show($("error"), false);
    show($("hint"), false);
    const results = $("results");
    results.replaceChildren(...data.hits.map(renderHit));
    results.dataset.state = "done";
    const filtered = filter ? ` · filters: ${Object.keys(filter).join(", ")}` : "";
    $("summary").textContent = `${data.hits.length} result${data.hits.length === 1 ? "" : "s"}${filtered}`;
    const latency = $("latency");
    latency.replaceChildren(
      document.createTextNode("engine "),
      el("strong", "", `${data.took_ms.toFixed(2)} ms`),
      document.createTextNode(" · round trip (embed + HTTP) "),
      el("strong", "", `${roundTripMs.toFixed(1)} ms`),
    );
    renderPlan(data.plan);
    show($("meta"), true);
  }

  // ---------------------------------------------------------------- wiring
  function resetFilters() {
    $("industry").value = "";
    for (const box of document.querySelectorAll("#severities input")) box.checked = false;
    $("date-from").value = "";
    $("date-to").value = "";
    search();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("search").addEventListener("submit", (event) => {
      event.preventDefault();
      search();
    });
    // Any filter change re-runs the current query at once.
    $("search").addEventListener("change", (event) => {
      if (event.target.id !== "q") search();
    });
    $("reset").addEventListener("click", resetFilters);
    pollDemo();
    $("q").focus();
  });
})();
