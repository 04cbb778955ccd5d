// Typeset the formulas of the docs with the vendored KaTeX (docs/javascripts/katex/).
//
// pymdownx.arithmatex in generic mode leaves every formula as its LaTeX source inside
// <span class="arithmatex">\( ... \)</span> (inline) or <div class="arithmatex">\[ ... \]</div>
// (display). Only those elements are rendered, so a "$" or "\(" in code or prose is left alone.
(function () {
  "use strict";

  var delimiters = [
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ];

  function typeset(root) {
    if (typeof renderMathInElement !== "function") {
      return; // KaTeX failed to load: leave the LaTeX source readable
    }
    var nodes = (root || document).querySelectorAll(".arithmatex");
    for (var i = 0; i < nodes.length; i++) {
      renderMathInElement(nodes[i], { delimiters: delimiters, throwOnError: false });
    }
  }

  if (typeof document$ !== "undefined" && document$ && document$.subscribe) {
    // Material for MkDocs: emits on the first load and after every instant navigation
    document$.subscribe(function () {
      typeset(document);
    });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      typeset(document);
    });
  } else {
    typeset(document);
  }
})();
