// Small DOM helpers the dashboard's modules share.

export const $ = (id) => document.getElementById(id);

/**
 * Build an element: el("a", { href, class: "x", dataset: { id }, onclick }, "text", child).
 * Children that are null, undefined or false are left out, so optional parts read inline.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name.startsWith("aria-") || name === "role" || name === "colspan") node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/** A status badge: the text is the status, the colour comes from its class. */
export function badge(status) {
  return el("span", { class: `badge ${status}`, textContent: status });
}

/**
 * A progress bar whose colour follows the job's status (a FAILED job's bar is red, never the
 * blue of a running one). A styled div with the progressbar role rather than <progress>, whose
 * colour browsers do not let a page set reliably.
 */
export function progressBar(job, label) {
  const value = Math.max(0, Math.min(100, job.progress ?? 0));
  return el(
    "span",
    {
      class: `bar ${job.status}`,
      role: "progressbar",
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": String(value),
      "aria-label": label,
    },
    el("span", { class: "bar-fill", style: `width: ${value}%` }),
  );
}
