// Typeset math produced by pymdownx.arithmatex (generic: true) with the
// vendored KaTeX (docs/assets/katex/). Material's document$ observable
// emits on first load and after every instant navigation.
document$.subscribe(({ body }) => {
  const options = {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: true,
    // auto-render catches KaTeX parse errors itself and passes them here;
    // the formula stays as raw TeX on the page.
    errorCallback: (msg, err) => console.error(msg, err),
  };
  body.querySelectorAll(".arithmatex").forEach((el) => {
    try {
      renderMathInElement(el, options);
    } catch (err) {
      console.error("KaTeX: failed to render", el, err);
    }
  });
});
