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
