// The site's search (conf.py: html_search_scorer; Sphinx puts this file into language_data.js,
// which loads after searchtools.js defines Search). It reads Sphinx's own index
// (searchindex.js) but ranks differently, because readers paste errors, ask questions and
// misspell, and Sphinx's search lists only the pages that hold every word typed:
//
// - A pasted traceback loses what no page can hold: URLs, addresses (0x7f3a...), object reprs
//   (<User at 0x...>), digits, punctuation. A contraction (can't, doesn't) is a stopword, not
//   the words "can" and "t".
// - Every remaining word counts for what it is worth: a word few pages hold weighs more (its
//   inverse document frequency), and weighs more again in a page's title, less in a section
//   title. A page is ranked by the sum over the words it holds, so the words that match rank
//   the pages when not all of them do.
// - A word the index does not hold is looked up in British spelling turned American
//   (synchronise -> synchronize, behaviour -> behavior), then as a misspelling: the indexed
//   words one edit away (two for a long word), then as the start of an indexed name.
// - A page's topics (docs/_search/topics.toml, index entries of the page) are the strongest
//   signal: a query that names one, or holds its words in a row, lists that page first.
//
// Each result links to the top of its page and appears once. The words highlighted, under the
// results and on the page a reader opens, are the words that matched, three letters or more.
var Scorer = {
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: { 0: 15, 1: 5, 2: -5 },
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};

var SiteSearch = (() => {
  // How much a word weighs where it is found, times its rarity; floor: the share of the best
  // score a result needs to be listed.
  const WEIGHT = {
    pageTitle: 3, sectionTitle: 1.5, text: 1, topic: 4, allInTitle: 3, floor: 0.15,
  };
  // Words a question is made of that say nothing about its subject (Sphinx's stopwords aside).
  const FILLER = new Set([
    "can", "could", "will", "get", "gets", "got", "use", "using", "used", "call", "calling",
    "called", "happen", "happens", "work", "works", "anyone", "way", "want", "try", "tried",
    "please", "help", "also", "still", "even", "just",
  ]);
  // British spellings, turned American the way the site's API names and the index spell them.
  const BRITISH = [
    [/isation/g, "ization"], [/ise(d|s|r)?$/g, "ize$1"], [/ising/g, "izing"],
    [/ise_/g, "ize_"], [/yse(d|s)?$/g, "yze$1"], [/(\w{3})our(s|ed|ing)?$/g, "$1or$2"],
    [/our_/g, "or_"], [/tre$/g, "ter"], [/ogue$/g, "og"], [/lled$/g, "led"],
    [/lling$/g, "ling"],
  ];

  // A pasted message, less what no page holds.
  const clean = (query) =>
    query
      .replace(/\bhttps?:\/\/\S+/gi, " ")
      .replace(/<[^<>]*>/g, " ") // object reprs: <User at 0x7f3a...>, <class '...'>
      .replace(/\b0x[0-9a-f]+/gi, " ")
      .replace(/\.\.\.|…/g, " ");

  // The words of a query, lower case, contractions resolved: "session's" is "session",
  // "can't" a stopword.
  const words = (query) => {
    const tokens = clean(query).match(/[\p{L}\p{N}_]+(?:['’][\p{L}]+)*/gu) || [];
    const out = [];
    for (let token of tokens) {
      token = token.toLowerCase().replace(/’/g, "'");
      if (token.includes("'")) {
        if (!/'s$/.test(token) || stopwords.has(token)) continue;
        token = token.slice(0, -2);
      }
      token = token.replace(/^_+|_+$/g, "");
      if (token.length < 2 || /^\d+$/.test(token)) continue;
      if (stopwords.has(token) || FILLER.has(token)) continue;
      out.push(token);
    }
    return out;
  };

  // Optimal string alignment distance, or more than `limit`.
  const distance = (a, b, limit) => {
    if (Math.abs(a.length - b.length) > limit) return limit + 1;
    let before = null;
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const row = [i];
      let best = i;
      for (let j = 1; j <= b.length; j++) {
        const cost = a[i - 1] === b[j - 1] ? 0 : 1;
        let value = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost);
        if (before && i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
          value = Math.min(value, before[j - 2] + 1);
        row.push(value);
        best = Math.min(best, value);
      }
      if (best > limit) return limit + 1;
      before = previous;
      previous = row;
    }
    return previous[b.length];
  };

  let prepared = null;
  const prepare = (index) => {
    if (prepared && prepared.index === index) return prepared;
    const stemmer = new Stemmer();
    const stem = (word) => stemmer.stemWord(word);
    const pages = (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
    const vocabulary = new Map(); // term -> {text: Set(pages), section: Set(pages)}
    const entry = (term) => {
      if (!vocabulary.has(term)) vocabulary.set(term, { text: new Set(), section: new Set() });
      return vocabulary.get(term);
    };
    for (const [term, found] of Object.entries(index.terms))
      pages(found).forEach((page) => entry(term).text.add(page));
    for (const [term, found] of Object.entries(index.titleterms))
      pages(found).forEach((page) => entry(term).section.add(page));
    // The words of each page's own title.
    const titleTerms = index.titles.map(
      (title) => new Set(words(title).flatMap((word) => [word, stem(word)])),
    );
    // Each page's topics: its main index entries (docs/_search/topics.toml), as the terms
    // that name them, whole ("expire_on_commit") and word by word (["expir", "commit"]).
    const topics = [];
    for (const [name, found] of Object.entries(index.indexentries)) {
      const parts = words(name).map(stem);
      const whole = stem(name.toLowerCase().replace(/\W+$/, ""));
      const split = parts.flatMap((part) =>
        part.includes("_") ? words(part.replace(/_/g, " ")).map(stem) : [part],
      );
      for (const [page, , main] of found)
        if (main) topics.push({ page, phrases: [[whole], parts, split].filter((p) => p.length) });
    }
    const count = index.docnames.length;
    const idf = (term) => {
      const found = vocabulary.get(term);
      const df = new Set([...found.text, ...found.section]).size;
      return Math.log(1 + count / Math.max(df, 1));
    };
    const terms = [...vocabulary.keys()];
    prepared = { index, stem, vocabulary, titleTerms, topics, idf, terms };
    return prepared;
  };

  // The indexed terms a word of the query stands for, each with how sure the match is.
  const resolve = (word, data) => {
    const { stem, vocabulary, terms } = data;
    const keys = new Set([word, stem(word)]);
    for (const [pattern, american] of BRITISH) {
      const changed = word.replace(pattern, american);
      if (changed !== word) [changed, stem(changed)].forEach((key) => keys.add(key));
    }
    const exact = [...keys].filter((key) => vocabulary.has(key));
    if (exact.length) return exact.map((term) => ({ term, sure: 1 }));
    // A misspelling: the indexed words closest to the word or to its stem.
    const found = new Map();
    for (const key of keys) {
      const limit = key.length >= 9 ? 2 : key.length >= 4 ? 1 : 0;
      if (!limit) continue;
      for (const term of terms) {
        const d = distance(key, term, limit);
        if (d <= limit) found.set(term, Math.max(found.get(term) || 0, d === 1 ? 0.8 : 0.6));
      }
    }
    if (found.size) return [...found].map(([term, sure]) => ({ term, sure }));
    // The start of a name: "flag" for flag_modified.
    if (word.length >= 4)
      return terms
        .filter((term) => term.startsWith(stem(word)) && term.length > word.length)
        .map((term) => ({ term, sure: 0.4 }));
    return [];
  };

  const containsRun = (sequence, run) => {
    outer: for (let start = 0; start + run.length <= sequence.length; start++) {
      for (let k = 0; k < run.length; k++) if (!sequence[start + k].has(run[k])) continue outer;
      return true;
    }
    return false;
  };

  const rank = (query, index) => {
    const data = prepare(index);
    const queryWords = words(query);
    const resolved = queryWords.map((word) => resolve(word, data));
    const scores = new Map();
    const add = (page, value) => scores.set(page, (scores.get(page) || 0) + value);
    resolved.forEach((candidates) => {
      const best = new Map(); // page -> this word's score on it
      for (const { term, sure } of candidates) {
        const found = data.vocabulary.get(term);
        const weight = sure * data.idf(term);
        const pagesWithTerm = new Set([...found.text, ...found.section]);
        for (const page of pagesWithTerm) {
          const where = data.titleTerms[page].has(term)
            ? WEIGHT.pageTitle
            : found.section.has(page)
              ? WEIGHT.sectionTitle
              : WEIGHT.text;
          best.set(page, Math.max(best.get(page) || 0, weight * where));
        }
      }
      best.forEach((value, page) => add(page, value));
    });
    // Topics: the query names one, or holds its words in a row.
    const sequence = resolved.map(
      (candidates) => new Set(candidates.filter((c) => c.sure >= 0.6).map((c) => c.term)),
    );
    // A topic weighs what its words weigh: a rare name (DetachedInstanceError) a lot, a common
    // word (refresh) little.
    const topical = new Map();
    for (const { page, phrases } of data.topics)
      for (const phrase of phrases.filter((run) => containsRun(sequence, run))) {
        const weight = phrase.reduce((sum, term) => sum + data.idf(term), 0);
        topical.set(page, Math.max(topical.get(page) || 0, weight));
      }
    topical.forEach((weight, page) => add(page, WEIGHT.topic * weight));
    // A page whose title holds every word typed (two or more) comes before the pages whose
    // topic holds one of them: "commit synchronize_session" is the myth page's title.
    if (queryWords.length > 1)
      data.titleTerms.forEach((title, page) => {
        const held = sequence.every((terms) => [...terms].some((term) => title.has(term)));
        if (held) add(page, WEIGHT.allInTitle * sequence.reduce((sum, terms) =>
          sum + Math.max(0, ...[...terms].map(data.idf)), 0));
      });
    const highlight = new Set();
    queryWords.forEach((word, at) => {
      const exact = resolved[at].some((c) => c.sure === 1);
      if (exact && word.length >= 3) highlight.add(word);
      else resolved[at].filter((c) => c.sure >= 0.6 && c.term.length >= 3)
        .forEach((c) => highlight.add(c.term));
    });
    // Pages that hold only a stray word of a long query are left out.
    const floor = WEIGHT.floor * Math.max(0, ...scores.values());
    const results = [...scores]
      .filter(([page, score]) => score >= floor && index.titles[page])
      .map(([page, score]) => [
        index.docnames[page],
        index.titles[page],
        "",
        null,
        Math.round(score * 100) / 100,
        index.filenames[page],
        topical.has(page) ? "index" : "text",
      ])
      .sort((a, b) => b[4] - a[4] || a[1].localeCompare(b[1]));
    return { results, highlight, words: queryWords };
  };

  return { clean, words, distance, rank };
})();

if (typeof Search !== "undefined") {
  Search.query = (query) => {
    const { results, highlight } = SiteSearch.rank(query, Search._index);
    _removeChildren(document.getElementById("search-progress"));
    if (SPHINX_HIGHLIGHT_ENABLED)
      localStorage.setItem("sphinx_highlight_terms", [...highlight].join(" "));
    // _displayNextItem shows the last result first.
    _displayNextItem(results.slice().reverse(), results.length, highlight, highlight);
  };

  // The summary under each result: Sphinx shows the 240 characters around the first word
  // typed, from the whole page, so an example's result began with "Note Go to the end to
  // download the full example code." and the note on which database ran the SQL, and often
  // showed import lines. The summary is taken from the page's prose without that boilerplate
  // (the title, which the result's link shows, Sphinx-Gallery's download note and buttons, the
  // build note, the related pages list, the verified claims), and from its code and SQL only
  // when the prose does not hold the word; it starts at a word; runs of white space read as one
  // space.
  const BOILERPLATE = [
    "h1", ".headerlink", "script", "style", ".sphx-glr-download-link-note", ".sphx-glr-footer",
    ".sphx-glr-signature", ".sql-dialects-note", "#related-pages", ".verified-claims",
    ".verified-on",
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
    const words = [...keywords].map((word) => word.toLowerCase()).filter((w) => w.length >= 3);
    const found = (text) => words.some((word) => text.toLowerCase().includes(word));
    let text = pageText(htmlText, anchor, [...BOILERPLATE, ...NOT_PROSE]);
    if (!found(text)) text = pageText(htmlText, anchor, BOILERPLATE);
    if (text === "") return null;
    const lower = text.toLowerCase();
    const positions = words.map((word) => lower.indexOf(word)).filter((at) => at > -1);
    let start = Math.max((positions.length ? Math.min(...positions) : 0) - 120, 0);
    if (start) start = text.indexOf(" ", start) + 1; // from the start of a word
    const summary = document.createElement("p");
    summary.classList.add("context");
    const tail = start + 240 < text.length ? "..." : "";
    summary.textContent = (start ? "..." : "") + text.substr(start, 240).trim() + tail;
    return summary;
  };
}
