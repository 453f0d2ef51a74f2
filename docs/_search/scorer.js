// The site's search ranking (conf.py: html_search_scorer). Sphinx scores a page by the best of
// its matches, so every page whose title has one of the words typed ties with the page whose
// title has them all, and ties go alphabetically: "commit synchronize_session" listed the bulk
// DELETE page first. A result whose title holds every word typed now comes before the others.
// The rest are Sphinx's own default weights.
var Scorer = {
  score: (result) => {
    const [, title, , , score] = result;
    const query = new URLSearchParams(window.location.search).get("q") || "";
    const words = query.toLowerCase().match(/\w+/g) || [];
    const inTitle = new Set((title || "").toLowerCase().match(/\w+/g) || []);
    const allInTitle = words.length > 1 && words.every((word) => inTitle.has(word));
    return allInTitle ? score + 20 : score;
  },
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: { 0: 15, 1: 5, 2: -5 },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};

// The summary under each result: Sphinx shows the 240 characters around the first word typed,
// from the whole page, so an example's result began with "Note Go to the end to download the
// full example code." and the note on which database ran the SQL, and often showed import lines.
// The summary is now taken from the page's prose without that boilerplate (Sphinx-Gallery's
// download note and buttons, the build note, the related pages list), and from its code and
// SQL only when the prose does not hold the word; runs of white space read as one space.
// (language_data.js, which carries this file, loads after searchtools.js defines Search.)
if (typeof Search !== "undefined") {
  const BOILERPLATE = [
    ".headerlink", "script", "style", ".sphx-glr-download-link-note", ".sphx-glr-footer",
    ".sphx-glr-signature", ".sql-dialects-note", "#related-pages",
  ];
  const NOT_PROSE = [
    "div[class^='highlight']", ".sql-box", ".sql-folded", ".sql-dialects", ".orm-state-box",
    ".sphx-glr-script-out", "pre",
  ];
  const pageText = (htmlString, anchor, removed) => {
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    page.querySelectorAll(removed.join(", ")).forEach((element) => element.remove());
    const main = page.querySelector('[role="main"]');
    const part = (anchor && main && main.querySelector(anchor)) || main;
    return part ? part.textContent.replace(/\s+/g, " ").trim() : "";
  };
  Search.makeSearchSummary = (htmlText, keywords, anchor) => {
    const words = [...keywords].map((word) => word.toLowerCase());
    const found = (text) => words.some((word) => text.toLowerCase().includes(word));
    let text = pageText(htmlText, anchor, [...BOILERPLATE, ...NOT_PROSE]);
    if (!found(text)) text = pageText(htmlText, anchor, BOILERPLATE);
    if (text === "") return null;
    const lower = text.toLowerCase();
    const positions = words.map((word) => lower.indexOf(word)).filter((at) => at > -1);
    const start = Math.max((positions.length ? Math.min(...positions) : 0) - 120, 0);
    const summary = document.createElement("p");
    summary.classList.add("context");
    summary.textContent =
      (start ? "..." : "") + text.substr(start, 240).trim() + (start + 240 < text.length ? "..." : "");
    return summary;
  };
}
