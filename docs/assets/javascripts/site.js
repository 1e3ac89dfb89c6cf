// Small behaviours the theme leaves out. No math here: formulas are typeset when the site is built.

// What scrolls sideways on a narrow screen stays reachable by keyboard while it does, as the theme
// does for code blocks: display formulas and <pre> blocks without <code> (tabindex="0" set in the
// HTML at build time) and the theme's wrappers around wide tables (added by its script, so named
// here). Elements that fit lose
// the tabindex, so that they are not extra tab stops.
document$.subscribe(() => {
  if (!("ResizeObserver" in window)) return;
  document.querySelectorAll(".md-typeset__scrollwrap").forEach((wrap, index) => {
    wrap.setAttribute("role", "group");
    wrap.setAttribute("aria-label", `Table ${index + 1}`);
  });
  const scrollers = document.querySelectorAll("div.arithmatex, pre[tabindex], .md-typeset__scrollwrap");
  const observer = new ResizeObserver((entries) => {
    // Read every size first, then write: no layout is forced in between.
    const wide = entries.map((entry) => entry.target.scrollWidth > entry.target.clientWidth);
    entries.forEach((entry, i) => {
      if (wide[i]) entry.target.setAttribute("tabindex", "0");
      else entry.target.removeAttribute("tabindex");
    });
  });
  scrollers.forEach((el) => observer.observe(el));
});

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
