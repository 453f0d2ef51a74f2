// "Run in your browser": the example's code in an editor (CodeMirror 6), run by Pyodide in a Web
// Worker (worker.js), with what each cell showed rendered the way the built page renders it.
// Bundled by esbuild (tools/browser_assets.py) into _static/run/editor.js; control.js imports it
// on the reader's first click.

import { EditorView, basicSetup } from "codemirror";
import { python } from "@codemirror/lang-python";
import { syntaxHighlighting } from "@codemirror/language";
import { Decoration, ViewPlugin, keymap } from "@codemirror/view";
import { Prec, StateEffect, StateField, EditorSelection } from "@codemirror/state";
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

// The line where the reader's code raised, marked until the next run or Reset.
const setErrorLine = StateEffect.define();
const errorLine = StateField.define({
  create: () => Decoration.none,
  update(marks, transaction) {
    marks = marks.map(transaction.changes);
    for (const effect of transaction.effects) {
      if (!effect.is(setErrorLine)) continue;
      const number = effect.value;
      marks =
        number && number <= transaction.state.doc.lines
          ? Decoration.set([
              Decoration.line({ class: "cm-run-error-line" }).range(transaction.state.doc.line(number).from),
            ])
          : Decoration.none;
    }
    return marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// SQL highlighted as the page's (Sphinx's Pygments, SQL lexer): the same token classes, so the
// site's own colours apply.
const SQL_KEYWORDS = new Set(
  ("select from where update set insert into values delete returning begin commit rollback " +
    "savepoint release to and or not null is in as on join left right inner outer full cross " +
    "order by group having limit offset distinct union all exists case when then else end " +
    "create table drop alter add column primary key foreign references unique constraint index " +
    "default check if integer varchar text boolean float datetime date time timestamp " +
    "autoincrement like between asc desc with for share nowait skip locked of implicit " +
    "true false cascade view pragma temporary temp using").split(" "),
);
const SQL_TOKENS =
  /(--[^\n]*)|('(?:[^']|'')*')|("(?:[^"]|"")*")|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_$]*)|([ \t]+)|([(),.;])|([-+*\/<>=!|%?:]+)/g;
const SQL_CLASSES = ["c1", "s1", "ss", "mi", null, "w", "p", "o"];

function highlightedSql(line) {
  const parts = [];
  let last = 0;
  for (const match of line.matchAll(SQL_TOKENS)) {
    if (match.index > last) parts.push(line.slice(last, match.index));
    const group = match.slice(1).findIndex((found) => found !== undefined);
    let className = SQL_CLASSES[group];
    if (group === 3 && match[0].includes(".")) className = "mf";
    if (group === 4) className = SQL_KEYWORDS.has(match[0].toLowerCase()) ? "k" : "n";
    parts.push(element("span", className, match[0]));
    last = match.index + match[0].length;
  }
  if (last < line.length) parts.push(line.slice(last));
  return parts;
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
    const parts = language === "sql" ? [...highlightedSql(line), end] : [line + end];
    if (marked.has(index + 1)) {
      const span = element("span", "hll");
      span.append(...parts);
      pre.append(span);
    } else pre.append(...parts);
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


// Where the page shows each of its cells' output: after the cell's code, past the SQL boxes,
// printed output, state table and claims the build put there (every element up to the next
// paragraph, heading, section or code cell).
const CODE_CELL = ".highlight-Python";

function pageCells(root) {
  const article = root.closest("article") || document.body;
  return [...article.querySelectorAll(CODE_CELL)].filter((block) => !block.closest(".run-here"));
}

function outputOf(block) {
  const outputs = [];
  for (let next = block.nextElementSibling; next; next = next.nextElementSibling) {
    if (!["DIV", "DETAILS", "IMG", "FIGURE"].includes(next.tagName)) break;
    if (next.matches(CODE_CELL) || next.matches(".run-here, .run-here-cell")) break;
    outputs.push(next);
  }
  return outputs;
}

function sectionTitle(block) {
  const heading = block.closest("section")?.querySelector("h1, h2, h3, h4");
  return heading ? heading.textContent.replace(/\u00b6$/, "").trim() : "";
}

// What a cell showed, as text, to tell whether the reader's run showed the same as the page.
const SHOWN = ".sql-box pre, .sphx-glr-script-out pre, .orm-state-box table, .verified-claim";

function shownText(elements) {
  return elements
    .flatMap((node) => [...(node.matches(SHOWN) ? [node] : []), ...node.querySelectorAll(SHOWN)])
    .map((node) => node.textContent.replace(/\s+/g, ""))
    .join("\n");
}

// Each of the run's cells matched with one of the page's: the cells whose text is unchanged
// pair up in order (a longest common subsequence), and each edited or added cell goes with the
// page's cell it replaced, else with the page's cell before it.
function matchCells(pageTexts, runTexts) {
  const n = pageTexts.length;
  const m = runTexts.length;
  const table = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      table[i][j] =
        pageTexts[i] === runTexts[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
  const pairs = [];
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (pageTexts[i] === runTexts[j]) pairs.push([i++, j++]);
    else if (table[i + 1][j] >= table[i][j + 1]) i++;
    else j++;
  }
  const match = new Array(m);
  let previous = [-1, -1];
  for (const [i, j] of [...pairs, [n, m]]) {
    const freePage = [];
    for (let k = previous[0] + 1; k < i; k++) freePage.push(k);
    for (let k = previous[1] + 1, used = 0; k < j; k++, used++)
      match[k] = freePage.length ? freePage[Math.min(used, freePage.length - 1)] : Math.max(previous[0], 0);
    if (j < m) match[j] = i;
    previous = [i, j];
  }
  return match;
}

function lines(source, [first, last]) {
  return source.split("\n").slice(first - 1, last).join("\n").trim();
}

// The claims the reader's change broke: the page's hidden checks that failed in this run.
function brokenClaims(cell, goTo) {
  const box = element("div", "run-here-broken");
  box.append(element("p", "run-here-broken-title", "With your change, the page's claim no longer holds:"));
  const list = element("ul", "run-here-broken-list");
  for (const broken of cell.broken_claims) {
    const item = element("li", "run-here-broken-claim", broken.claim);
    item.append(" ", goTo(broken.line, `line ${broken.line}`));
    list.append(item);
  }
  box.append(list);
  return box;
}

function cellBody(cell, goTo) {
  const parts = [...children(cell.trees)];
  if (cell.state) parts.push(...nodes(cell.state));
  if (cell.claims) parts.push(...nodes(cell.claims));
  if (cell.broken_claims?.length) parts.push(brokenClaims(cell, goTo));
  if (cell.stderr && cell.stderr.trim()) {
    parts.push(literalBlock({ classes: ["run-here-stderr"], text: cell.stderr.trimEnd() }));
  }
  if (cell.error) {
    const box = element("div", "run-here-error");
    const title = element("p", "run-here-error-title", "Your code raised here");
    if (cell.error_line) title.append(" (", goTo(cell.error_line, `line ${cell.error_line}`), ")");
    title.append(":");
    box.append(title, literalBlock({ classes: [], text: cell.error }));
    parts.push(box);
  }
  return parts;
}

// The run panel: put where the "Run in your browser" button was, with the progress there while
// Python loads (control.js started the worker on the click; `early()` is its latest progress).
export async function start(root, base, worker, early = () => null) {
  const stylesheet = element("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = base + "run.css";
  document.head.append(stylesheet);
  const link = document.querySelector(".sphx-glr-download-python a[href$='.py']");
  const original = await (await fetch(link.href)).text();

  const panel = element("div", "run-here-panel");
  const bar = element("div", "run-here-bar");
  const run = element("button", "run-here-run", "Run");
  const reset = element("button", "run-here-reset", "Reset");
  const fold = element("button", "run-here-fold", "Hide the editor and results");
  run.type = reset.type = fold.type = "button";
  run.disabled = true;
  const meter = element("progress", "run-here-progress");
  meter.max = 1;
  meter.value = 0;
  meter.setAttribute("aria-label", "Loading Python");
  const status = element("p", "run-here-status");
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  bar.append(run, reset, fold, meter, status);

  const area = element("div", "run-here-area");
  area.id = "run-here-area";
  fold.setAttribute("aria-controls", area.id);
  fold.setAttribute("aria-expanded", "true");
  const touch = matchMedia("(hover: none) and (pointer: coarse)").matches;
  const shortcut = /Mac|iPhone|iPad/.test(navigator.platform) ? "Cmd+Enter" : "Ctrl+Enter";
  const label = element(
    "p",
    "run-here-editor-label",
    `The example's code: edit it, then Run${touch ? "" : ` (${shortcut})`}. Dimmed lines are hidden on the page and run too.`,
  );
  label.id = "run-here-editor-label";
  const editorBox = element("div", "run-here-editor");
  const results = element("div", "run-here-results");
  area.append(label, editorBox, results);
  panel.append(bar, area);
  root.querySelector(".run-here-size")?.remove();
  const button = root.querySelector(".run-here-button");
  // The bar takes the button's place on the screen too: where the reader's eyes are.
  const place = button ? button.getBoundingClientRect().top : null;
  const keepInPlace = () => {
    if (place !== null) scrollBy({ top: bar.getBoundingClientRect().top - place, behavior: "instant" });
  };
  if (button) button.replaceWith(panel);
  else root.prepend(panel);

  const downloadText = (progress) => {
    if (!progress || !progress.total) return `Loading Python, SQLite and SQLAlchemy (${root.dataset.downloadMb} MB, once)\u2026`;
    const mb = (bytes) => (bytes / 1e6).toFixed(1);
    const text = progress.text.startsWith("Downloading")
      ? `${progress.text}: ${mb(progress.done)} of ${mb(progress.total)} MB (once)`
      : progress.text;
    return text + "\u2026";
  };
  const showProgress = (progress) => {
    if (root.dataset.runs) return;
    status.textContent = downloadText(progress);
    if (progress && progress.total) meter.value = progress.done / progress.total;
  };

  let runs = 0;
  const pending = new Map();
  worker.onmessage = ({ data }) => {
    if (data.progress) return showProgress(data.progress);
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

  // From the results to the editor: a button that puts the cursor on a line and shows it.
  const goTo = (number, text) => {
    const jump = element("button", "run-here-line", text);
    jump.type = "button";
    jump.addEventListener("click", () => showLine(number));
    return jump;
  };
  function showLine(number, last = number) {
    const doc = view.state.doc;
    const from = doc.line(Math.min(number, doc.lines)).from;
    const to = doc.line(Math.min(last, doc.lines)).to;
    view.dispatch({
      selection: EditorSelection.single(from, number === last ? from : to),
      effects: EditorView.scrollIntoView(from, { y: "center" }),
    });
    view.focus();
  }

  const blocks = pageCells(root);
  let pageSpans = null;
  function clearResults() {
    for (const slot of document.querySelectorAll(".run-here-cell")) slot.remove();
    results.replaceChildren();
    view.dispatch({ effects: setErrorLine.of(null) });
  }

  // Under each of the page's cells, what the reader's run of it showed (folded when it is what
  // the page shows); when the page's cells cannot be matched, all of it under the editor.
  function showCells(cells, spans, source) {
    const placed = pageSpans && pageSpans.length === blocks.length && blocks.length > 0;
    const match = placed
      ? matchCells(pageSpans.map((span) => lines(original, span)), spans.map((span) => lines(source, span)))
      : null;
    const slots = new Map();
    const notable = [];
    cells.forEach((cell, index) => {
      const at = placed ? match[index] : `alone-${index}`;
      let slot = slots.get(at);
      if (!slot) {
        slot = element("details", "run-here-cell");
        slot.id = `run-here-cell-${index + 1}`;
        const summary = element("summary", "run-here-cell-title");
        slot.append(summary);
        slot.cells = [];
        slots.set(at, slot);
        if (placed) {
          const block = blocks[at];
          const outputs = outputOf(block);
          (outputs.at(-1) || block).after(slot);
          slot.pageText = shownText(outputs);
          slot.section = sectionTitle(block);
        } else results.append(slot);
      }
      const part = element("div", "run-here-cell-part");
      const where = element("p", "run-here-cell-lines", `Cell ${index + 1}, lines ${cell.first_line}\u2013${cell.last_line}: `);
      const show = element("button", "run-here-line", "show in the editor");
      show.type = "button";
      show.addEventListener("click", () => showLine(cell.first_line, cell.last_line));
      where.append(show);
      part.append(where, ...cellBody(cell, goTo));
      slot.append(part);
      slot.cells.push(cell);
    });
    for (const slot of slots.values()) {
      const summary = slot.querySelector("summary");
      const raised = slot.cells.some((cell) => cell.error);
      const broken = slot.cells.some((cell) => cell.broken_claims?.length);
      const same = slot.pageText !== undefined && !raised && !broken && shownText([...slot.querySelectorAll(".run-here-cell-part")]) === slot.pageText;
      const kind = raised ? "raised" : broken ? "broken" : same ? "same" : "differs";
      slot.dataset.outcome = kind;
      const what = {
        raised: "raised an exception",
        broken: "a claim of the page no longer holds",
        same: "the same as the page",
        differs: placed ? "differs from the page" : "its results",
      }[kind];
      summary.textContent = `Your run in your browser${slot.section ? ` (\u201c${slot.section}\u201d)` : ""}: ${what}`;
      slot.setAttribute("aria-label", summary.textContent);
      slot.open = kind !== "same";
      if (kind !== "same") notable.push(slot);
    }
    return notable;
  }

  async function execute() {
    const source = view.state.doc.toString();
    const id = ++runs;
    run.disabled = true;
    if (id === 1) showProgress(early());
    else status.textContent = "Running\u2026";
    root.dataset.state = "running";
    const started = performance.now();
    const answer = await new Promise((resolve) => {
      pending.set(id, resolve);
      worker.postMessage({ id, source, original });
    });
    run.disabled = false;
    meter.hidden = true;
    clearResults();
    if (fold.getAttribute("aria-expanded") === "false") fold.click();
    if (answer.failure) {
      status.textContent = `The run failed: ${answer.failure}`;
      root.dataset.state = "failed";
      root.dataset.runs = String(id);
      return;
    }
    answer.result = { ...JSON.parse(answer.json), seconds: answer.seconds, versions: answer.versions, phases: answer.phases };
    const { cells, count } = answer.result;
    pageSpans ??= answer.result.page_spans;
    const notable = showCells(cells, answer.result.spans || [], source);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    const failed = cells.find((cell) => cell.error);
    const brokenCount = cells.reduce((sum, cell) => sum + (cell.broken_claims?.length || 0), 0);
    const where = cells.length && notable.length ? " See " : "";
    status.replaceChildren();
    if (answer.result.error) {
      const box = element("div", "run-here-error");
      box.append(literalBlock({ classes: [], text: answer.result.error }));
      results.append(box);
      status.append(`The code does not compile${answer.result.error_line ? "" : " (see below)"}`);
      if (answer.result.error_line) status.append(": ", goTo(answer.result.error_line, `line ${answer.result.error_line}`));
      status.append(".");
    } else if (failed) {
      const raised = failed.error.trim().split("\n").at(-1);
      status.append(`Cell ${cells.length} of ${count} raised ${raised.length > 120 ? raised.slice(0, 119) + "\u2026" : raised}`);
      if (failed.error_line) status.append(" at ", goTo(failed.error_line, `line ${failed.error_line}`));
      status.append("; the cells after it did not run.");
    } else if (brokenCount) {
      status.append(
        `Ran ${count} cells in ${seconds} s; with your change, ${brokenCount} of the page's claims ` +
          `no longer ${brokenCount === 1 ? "holds" : "hold"}.`,
      );
    } else {
      status.append(`Ran ${count} cells in your browser in ${seconds} s.`);
    }
    if (where) {
      const first = element("a", "run-here-jump", notable[0].section ? `\u201c${notable[0].section}\u201d` : "the results below");
      first.href = `#${notable[0].id}`;
      status.append(where, first, notable.length > 1 ? ` and ${notable.length - 1} more.` : ".");
    }
    const errorAt = failed?.error_line || answer.result.error_line;
    if (errorAt) view.dispatch({ effects: setErrorLine.of(errorAt) });
    root.dataset.state = failed || answer.result.error ? "raised" : brokenCount ? "claims-broken" : "done";
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
      errorLine,
      EditorView.contentAttributes.of({ "aria-labelledby": label.id, tabindex: "0" }),
      Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (execute(), true) }])),
    ],
  });
  keepInPlace();
  run.addEventListener("click", execute);
  reset.addEventListener("click", () => {
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: original } });
    clearResults();
    status.textContent = "The original code is back, and the results are cleared: Run shows the page's again.";
    root.dataset.state = "reset";
  });
  fold.addEventListener("click", () => {
    const open = fold.getAttribute("aria-expanded") === "true";
    fold.setAttribute("aria-expanded", String(!open));
    fold.textContent = open ? "Show the editor and results" : "Hide the editor and results";
    area.hidden = open;
    for (const slot of document.querySelectorAll(".run-here-cell")) slot.hidden = open;
  });
  root.runHere = { view, execute, original };
  await execute();
  run.focus({ preventScroll: true });
}
