// "Run in your browser": the example's code in an editor (CodeMirror 6), run by Pyodide in a Web
// Worker (worker.js), with what each cell showed rendered the way the built page renders it.
// Bundled by esbuild (tools/browser_assets.py) into _static/run/editor.js; control.js imports it
// on the reader's first click.

import { EditorView, basicSetup } from "codemirror";
import { python } from "@codemirror/lang-python";
import { syntaxHighlighting } from "@codemirror/language";
import { Decoration, ViewPlugin, keymap } from "@codemirror/view";
import { Prec } from "@codemirror/state";
import { classHighlighter } from "@lezer/highlight";

const IGNORE_START = /^\s*#\s*sphinx_gallery_start_ignore/;
const IGNORE_END = /^\s*#\s*sphinx_gallery_end_ignore/;

// Lines the built page hides (asserts between the ignore markers) are shown, dimmed, and run.
function ignoredLines(view) {
  const decorations = [];
  let inside = false;
  for (let number = 1; number <= view.state.doc.lines; number++) {
    const line = view.state.doc.line(number);
    if (IGNORE_START.test(line.text)) inside = true;
    if (inside) decorations.push(Decoration.line({ class: "cm-run-hidden-on-page" }).range(line.from));
    if (IGNORE_END.test(line.text)) inside = false;
  }
  return Decoration.set(decorations);
}

const dimIgnored = ViewPlugin.fromClass(
  class {
    constructor(view) {
      this.decorations = ignoredLines(view);
    }
    update(update) {
      if (update.docChanged) this.decorations = ignoredLines(update.view);
    }
  },
  { decorations: (plugin) => plugin.decorations },
);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// rendering.py's nodes (runner.py sends them as trees) as Sphinx's HTML writer writes them.
function literalBlock(tree) {
  const language = tree.language || "none";
  const outer = element("div", [...tree.classes, `highlight-${language}`, "notranslate"].join(" "));
  const inner = element("div", "highlight");
  const pre = element("pre");
  // The lines rendering.py marks (an SQL box's statement that a note points at), wrapped as
  // Pygments wraps Sphinx's hl_lines.
  const marked = new Set(tree.hl_lines || []);
  const lines = (tree.text || "").split("\n");
  lines.forEach((line, index) => {
    const end = index < lines.length - 1 ? "\n" : "";
    if (marked.has(index + 1)) pre.append(element("span", "hll", line + end));
    else pre.append(line + end);
  });
  pre.tabIndex = 0;
  inner.append(pre);
  outer.append(inner);
  return outer;
}

function stateTable(tree) {
  const table = element("table", [...tree.classes, "fits-phone", "docutils", "align-default"].join(" "));
  const group = (tree.children || []).find((child) => child.node === "tgroup");
  const head = group.children.find((child) => child.node === "thead");
  const names = head.children[0].children.map((entry) => text(entry));
  for (const part of group.children) {
    if (part.node !== "thead" && part.node !== "tbody") continue;
    const section = element(part.node);
    part.children.forEach((row, index) => {
      const classes = [...row.classes, index % 2 ? "row-even" : "row-odd"];
      if (part.node === "tbody") classes[classes.length - 1] = index % 2 ? "row-odd" : "row-even";
      const tr = element("tr", classes.join(" "));
      row.children.forEach((entry, column) => {
        const cell = element(part.node === "thead" ? "th" : "td", part.node === "thead" ? "head" : "");
        if (part.node === "tbody") cell.append(element("p", "cell-label", names[column]));
        for (const child of entry.children || []) cell.append(...nodes(child));
        tr.append(cell);
      });
      section.append(tr);
    });
    table.append(section);
  }
  const wrapper = element("div", ["table-wrapper", ...tree.classes, "docutils", "container"].join(" "));
  wrapper.append(table);
  return wrapper;
}

function text(tree) {
  return (tree.text || "") + (tree.children || []).map(text).join("");
}

// Inline nodes inside a paragraph (a state table's values, some marked as changed).
const INLINE_TAGS = { inline: "span", literal: "code", strong: "strong", emphasis: "em" };

function inline(tree) {
  if (tree.node === "Text") return [document.createTextNode(tree.text || "")];
  if (tree.node === "raw") return [];
  const tag = INLINE_TAGS[tree.node] || "span";
  const classes = tree.node === "literal" ? [...tree.classes, "docutils", "literal"] : tree.classes;
  const node = element(tag, classes.join(" "), tree.text || "");
  for (const child of tree.children || []) node.append(...inline(child));
  return [node];
}

function paragraph(tree) {
  const p = element("p", tree.classes.join(" "), tree.text || "");
  for (const child of tree.children || []) p.append(...inline(child));
  return p;
}

function nodes(tree) {
  switch (tree.node) {
    case "fragment":
      return children(tree.children || []);
    case "container": {
      const div = element("div", [...tree.classes, "docutils", "container"].join(" "));
      div.append(...children(tree.children || []));
      return [div];
    }
    case "paragraph":
      return [paragraph(tree)];
    case "bullet_list": {
      const list = element("ul", [...tree.classes, "simple"].join(" "));
      list.append(...children(tree.children || []));
      return [list];
    }
    case "list_item": {
      const item = element("li", tree.classes.join(" "));
      item.append(...children(tree.children || []));
      return [item];
    }
    case "literal_block":
      return [literalBlock(tree)];
    case "table":
      return [stateTable(tree)];
    default:
      return [element("span", tree.classes.join(" "), text(tree))];
  }
}

// A <details> that rendering.py opens and closes with two raw nodes around the boxes it folds.
const DETAILS = /^<details class="([^"]*)"><summary>(.*)<\/summary>$/;

function children(list) {
  const result = [];
  let folded = null;
  for (const tree of list) {
    if (tree.node === "raw") {
      const opening = DETAILS.exec(tree.text || "");
      if (opening) {
        folded = element("details", opening[1]);
        folded.append(element("summary", "", opening[2]));
        result.push(folded);
      } else if (tree.text === "</details>") {
        folded = null;
      }
      continue;
    }
    (folded || { append: (...n) => result.push(...n) }).append(...nodes(tree));
  }
  return result;
}

function cellResult(cell, index, source) {
  const section = element("section", "run-here-cell");
  const firstCode = source
    .split("\n")
    .slice(cell.first_line - 1, cell.last_line)
    .find((line) => line.trim() && !line.trim().startsWith("#"));
  const title = element("p", "run-here-cell-title", `Cell ${index + 1}, lines ${cell.first_line}\u2013${cell.last_line}`);
  section.setAttribute("aria-label", title.textContent);
  if (firstCode) {
    title.append(": ");
    title.append(element("code", "", firstCode.trim()));
  }
  section.append(title);
  section.append(...children(cell.trees));
  if (cell.state) section.append(...nodes(cell.state));
  if (cell.claims) section.append(...nodes(cell.claims));
  if (cell.stderr && cell.stderr.trim()) {
    section.append(literalBlock({ classes: ["run-here-stderr"], text: cell.stderr.trimEnd() }));
  }
  if (cell.error) {
    const box = element("div", "run-here-error");
    box.append(element("p", "run-here-error-title", `Cell ${index + 1} raised:`));
    box.append(literalBlock({ classes: [], text: cell.error }));
    section.append(box);
  }
  return section;
}

// The worker: control.js started it on the click (Python loads while the editor does).
export async function start(root, base, worker) {
  const stylesheet = element("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = base + "run.css";
  document.head.append(stylesheet);
  const link = document.querySelector(".sphx-glr-download-python a[href$='.py']");
  const original = await (await fetch(link.href)).text();

  const panel = element("div", "run-here-panel");
  const label = element("p", "run-here-editor-label", "The example's code: edit it, then Run (Ctrl+Enter). Dimmed lines are hidden on the page and run too.");
  label.id = "run-here-editor-label";
  const editorBox = element("div", "run-here-editor");
  const buttons = element("div", "run-here-buttons");
  const run = element("button", "run-here-run", "Run");
  const reset = element("button", "run-here-reset", "Reset");
  run.type = reset.type = "button";
  buttons.append(run, reset);
  const status = element("p", "run-here-status");
  status.setAttribute("role", "status");
  const results = element("div", "run-here-results");
  panel.append(label, editorBox, buttons, status, results);
  root.querySelector(".run-here-button")?.remove();
  root.append(panel);

  let runs = 0;
  const pending = new Map();
  worker.onmessage = ({ data }) => {
    pending.get(data.id)?.(data);
    pending.delete(data.id);
  };
  // The worker itself broke (its script did not load, or threw outside a run): every waiting
  // run ends with that message instead of waiting for ever. The browser logs the error too.
  worker.onerror = (event) => {
    const failure = `the worker stopped: ${event.message || "its script did not load"}`;
    for (const [id, resolve] of pending) resolve({ id, failure });
    pending.clear();
  };

  async function execute() {
    const source = view.state.doc.toString();
    const id = ++runs;
    run.disabled = true;
    const loading = `Loading Python, SQLite and SQLAlchemy (about ${root.dataset.downloadMb} MB, once)\u2026`;
    status.textContent = id === 1 ? loading : "Running\u2026";
    root.dataset.state = "running";
    const started = performance.now();
    const answer = await new Promise((resolve) => {
      pending.set(id, resolve);
      worker.postMessage({ id, source });
    });
    run.disabled = false;
    results.replaceChildren();
    if (answer.failure) {
      status.textContent = `The run failed: ${answer.failure}`;
      root.dataset.state = "failed";
      root.dataset.runs = String(id);
      return;
    }
    answer.result = { ...JSON.parse(answer.json), seconds: answer.seconds, versions: answer.versions, phases: answer.phases };
    const { cells, count } = answer.result;
    if (answer.result.error) {
      const box = element("div", "run-here-error");
      box.append(literalBlock({ classes: [], text: answer.result.error }));
      results.append(box);
    }
    cells.forEach((cell, index) => results.append(cellResult(cell, index, source)));
    const failed = cells.find((cell) => cell.error);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    status.textContent = failed
      ? `Cell ${cells.length} of ${count} raised (see below); the cells after it did not run.`
      : answer.result.error
        ? "The code does not compile (see below)."
        : `Ran ${count} cells in your browser in ${seconds} s.`;
    root.dataset.state = failed || answer.result.error ? "raised" : "done";
    root.dataset.runs = String(id);
    root.runHere.last = answer.result;
  }

  const view = new EditorView({
    doc: original,
    parent: editorBox,
    extensions: [
      basicSetup,
      python(),
      syntaxHighlighting(classHighlighter),
      dimIgnored,
      EditorView.contentAttributes.of({ "aria-labelledby": label.id, tabindex: "0" }),
      Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (execute(), true) }])),
    ],
  });
  run.addEventListener("click", execute);
  reset.addEventListener("click", () => {
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: original } });
    status.textContent = "The original code is back.";
  });
  root.runHere = { view, execute, original };
  await execute();
  run.focus();
}
