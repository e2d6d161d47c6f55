/* Center for Borgerdialog: the search page (/soeg). Searches the static Pagefind index the
   editor's site build writes under /pagefind/ (editor/site/search.py), in the browser: no
   server. Results are built as DOM nodes, never as HTML strings, except the <mark> around
   the hit, which is made here from Pagefind's excerpt. The count is announced through the
   page's role="status" region. Without JavaScript the page's <noscript> offers the lists.
   Two indexes, merged here: the archive (pagefind/) and the articles since (pagefind-nyt/),
   which also holds the archived articles edited since; pagefind-nyt/skjult.json names the
   archive's copies of those, and of the unpublished, which are never shown. */
(function () {
  "use strict";

  var SHOWN = 20;
  var form = document.querySelector("[data-search-form]");
  if (!form) { return; }
  var input = form.querySelector("[data-search-input]");
  var status = document.querySelector("[data-search-status]");
  var list = document.querySelector("[data-search-results]");
  var loading = null;
  var hidden = {};
  var latest = 0;

  function say(message) { status.textContent = message; }

  function index() {
    if (!loading) {
      var recent = form.getAttribute("data-recent");
      // A site built before the list existed has none: then nothing is hidden.
      var skipped = fetch(recent + "skjult.json").then(function (response) {
        return response.ok ? response.json() : [];
      }).catch(function () { return []; });
      loading = Promise.all([import(form.getAttribute("data-index")), skipped]).then(function (both) {
        var pagefind = both[0];
        both[1].forEach(function (id) { hidden[id] = true; });
        return pagefind.options({ baseUrl: "/" }).then(function () {
          return pagefind.mergeIndex(recent);
        }).then(function () { return pagefind; });
      });
    }
    return loading;
  }

  var ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&#39;": "'", "&#x27;": "'" };

  function decode(text) {
    return text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, function (entity) { return ENTITIES[entity]; });
  }

  // Pagefind's excerpt is escaped text with <mark> around the hits: rebuilt as text nodes
  // and <mark> elements, so nothing in an article's text can become markup here.
  function excerpt(parent, html) {
    html.split(/(<mark>|<\/mark>)/).reduce(function (marked, part) {
      if (part === "<mark>") { return true; }
      if (part === "</mark>") { return false; }
      if (part) {
        var node = document.createTextNode(decode(part));
        if (marked) {
          var mark = document.createElement("mark");
          mark.appendChild(node);
          parent.appendChild(mark);
        } else {
          parent.appendChild(node);
        }
      }
      return marked;
    }, false);
  }

  function item(data) {
    var meta = data.meta || {};
    var li = document.createElement("li");
    // Pagefind names a page by its folder ("/artikler/x/"); the site's address has no slash.
    var address = data.url.replace(/\/$/, "");
    var heading = document.createElement("h2");
    var link = document.createElement("a");
    link.href = address;
    link.textContent = meta.title || address;
    heading.appendChild(link);
    li.appendChild(heading);
    var line = document.createElement("p");
    line.className = "meta";
    if (meta.date) {
      var time = document.createElement("time");
      time.setAttribute("datetime", meta.published || "");
      time.textContent = meta.date;
      line.appendChild(time);
    }
    if (meta.category) {
      line.appendChild(document.createTextNode((meta.date ? " · " : "") + meta.category));
    }
    li.appendChild(line);
    var text = document.createElement("p");
    excerpt(text, data.excerpt || "");
    li.appendChild(text);
    return li;
  }

  function show(query, found, total) {
    list.textContent = "";
    found.forEach(function (data) { list.appendChild(item(data)); });
    list.hidden = found.length === 0;
    if (!total) {
      say("Ingen artikler fundet for »" + query + "«. Prøv et andet ord, eller se alle artikler.");
    } else if (total === 1) {
      say("1 artikel fundet for »" + query + "«.");
    } else if (total > found.length) {
      say(total + " artikler fundet for »" + query + "«. Her er de " + found.length + " bedste.");
    } else {
      say(total + " artikler fundet for »" + query + "«.");
    }
  }

  function search(query) {
    var asked = ++latest;
    query = query.trim();
    var address = query ? "?q=" + encodeURIComponent(query) : location.pathname;
    history.replaceState(null, "", address);
    if (!query) {
      list.textContent = "";
      list.hidden = true;
      say("");
      return Promise.resolve();
    }
    return index().then(function (pagefind) {
      return pagefind.search(query);
    }).then(function (answer) {
      if (asked !== latest) { return null; }  // a newer keystroke has its own search
      var results = (answer ? answer.results : []).filter(function (r) { return !hidden[r.id]; });
      return Promise.all(results.slice(0, SHOWN).map(function (r) { return r.data(); })).then(function (found) {
        // The placeholder of an index with no article yet (editor/site/search.py) is never shown.
        var shown = found.filter(function (data) { return data.url.indexOf("/soeg") !== 0; });
        if (asked === latest) { show(query, shown, results.length - (found.length - shown.length)); }
      });
    }).catch(function (error) {
      say("Søgningen kunne ikke indlæses. Prøv igen om lidt, eller se alle artikler.");
      if (window.console) { console.error(error); }  // for whoever looks: the visitor has the sentence
    });
  }

  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { search(input.value); }, 150);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    search(input.value);
  });
  var asked = new URLSearchParams(location.search).get("q");
  if (asked) {
    input.value = asked;
    search(asked);
  }
  form.setAttribute("data-ready", "");
})();
