// Small behaviours the theme leaves out. No math here: formulas are typeset when the site is built.

// A display formula wider than its column (on a phone) scrolls sideways: it stays reachable by
// keyboard (tabindex="0", set in the HTML at build time) only while it does, as the theme does for
// code blocks, so that formulas that fit are not extra tab stops.
(() => {
  const formulas = document.querySelectorAll("div.arithmatex[tabindex]");
  if (!formulas.length || !("ResizeObserver" in window)) return;
  const update = (el) => {
    if (el.scrollWidth > el.clientWidth) el.setAttribute("tabindex", "0");
    else el.removeAttribute("tabindex");
  };
  const observer = new ResizeObserver((entries) => entries.forEach((e) => update(e.target)));
  formulas.forEach((el) => observer.observe(el));
})();

// The drawer and search toggles are hidden checkboxes. HTML does not allow autocomplete="off" on a
// checkbox, which the theme used to stop browsers restoring them checked on back navigation: close
// them here instead when a page is shown again.
window.addEventListener("pageshow", () => {
  for (const id of ["__drawer", "__search"]) {
    const toggle = document.getElementById(id);
    if (toggle && toggle.checked) {
      toggle.checked = false;
      toggle.dispatchEvent(new Event("change"));
    }
  }
});
