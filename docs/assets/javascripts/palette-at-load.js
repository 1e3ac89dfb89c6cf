// When a page loads, the theme applies the reader's palette once more (the page already shows it:
// see overrides/main.html) and marks the body as switching palettes, which turns off transitions
// on every element until the next task. That mark restyles the whole page twice while it loads,
// the costliest style work of a load (Lighthouse, total blocking time), and there is no transition
// to turn off yet. This script, loaded before the theme's, lets that first mark go unset; every
// later switch (the toggle, a change of the system's palette) is marked as the theme does.
(() => {
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this === document.body && name === "data-md-color-switching") {
      Element.prototype.setAttribute = setAttribute;
      return;
    }
    return setAttribute.call(this, name, value);
  };
})();
