// Small behaviours the theme leaves out. No math here: formulas are typeset when the site is built.

// What scrolls sideways on a narrow screen stays reachable by keyboard while it does, as the theme
// does for code blocks: display formulas and <pre> blocks without <code> (tabindex="0" set in the
// HTML at build time) and the theme's wrappers around tables (added by its script, so named here).
// Elements that fit lose the tabindex, so that they are not extra tab stops. A formula far down the
// page is not laid out yet (content-visibility: auto in site.css): it keeps its tabindex until it
// is, and is measured then.
document$.subscribe(() => {
  if (!("ResizeObserver" in window)) return;
  document.querySelectorAll(".md-typeset__scrollwrap").forEach((wrap, index) => {
    wrap.setAttribute("role", "group");
    wrap.setAttribute("aria-label", `Table ${index + 1}`);
  });
  const scrollers = [
    ...document.querySelectorAll("div.arithmatex, pre[tabindex], .md-typeset__scrollwrap"),
  ];
  const laidOut = (el) =>
    !el.firstElementChild || el.firstElementChild.checkVisibility({ contentVisibilityAuto: true });
  const measure = (elements) => {
    // Read every size first, then write: no layout is forced in between.
    const known = elements.filter(laidOut);
    const wide = known.map((el) => el.scrollWidth > el.clientWidth);
    known.forEach((el, i) => {
      if (wide[i]) el.setAttribute("tabindex", "0");
      else el.removeAttribute("tabindex");
    });
  };
  const observer = new ResizeObserver((entries) => measure(entries.map((entry) => entry.target)));
  scrollers.forEach((el) => {
    observer.observe(el);
    el.addEventListener("contentvisibilityautostatechange", (event) => event.skipped || measure([el]));
  });
});

// An inline formula is never split between lines (site.css); one wider than its paragraph gets a
// line of its own that scrolls sideways, and a tab stop, while it is wider. Measured when its
// paragraph is laid out or resized (after layout: nothing is laid out again to measure it), and not
// while the paragraph is too far down the page to be laid out (content-visibility: auto).
document$.subscribe(() => {
  if (!("ResizeObserver" in window)) return;
  const WIDE = "paraminit-wide";
  const blocks = new Set(
    [...document.querySelectorAll(".md-typeset span.arithmatex")].map((math) => math.parentElement),
  );
  const check = (targets) => {
    const found = [];
    for (const block of targets) {
      for (const math of block.querySelectorAll(":scope > span.arithmatex")) {
        if (!math.checkVisibility({ contentVisibilityAuto: true })) continue;
        const wide = math.classList.contains(WIDE);
        const width = wide ? math.scrollWidth : math.getBoundingClientRect().width;
        found.push([math, width > block.clientWidth + 1]);
      }
    }
    for (const [math, wide] of found) {
      math.classList.toggle(WIDE, wide);
      if (wide) math.setAttribute("tabindex", "0");
      else math.removeAttribute("tabindex");
    }
  };
  const observer = new ResizeObserver((entries) => check(entries.map((entry) => entry.target)));
  blocks.forEach((block) => {
    observer.observe(block);
    block.addEventListener("contentvisibilityautostatechange", (event) => event.skipped || check([block]));
  });
});

// A jump to a heading near the end of a page: the page gets the room below it that the heading
// needs to come up under the header like any other, instead of staying low where the page ends
// (or, as far content is laid out on the way, ending up under the header). Made when a link to the
// heading is followed, and for a page opened at a heading, not on every page load.
const roomFor = (hash) => {
  const id = decodeURIComponent(hash.slice(1));
  const target = id && document.getElementById(id);
  const content = document.querySelector(".md-content__inner");
  if (!target || !content) return false;
  // Room for the whole screen below the heading's top: a little more than the jump needs (it stops
  // the theme's scroll margin above the heading), and the page then does not end at the jump,
  // where the theme's table of contents would highlight the last section instead.
  const top = target.getBoundingClientRect().top + window.scrollY;
  const missing = window.innerHeight - (document.documentElement.scrollHeight - top);
  if (missing <= 0) return false;
  const padding = parseFloat(getComputedStyle(content).paddingBottom) || 0;
  content.style.paddingBottom = `${padding + missing}px`;
  return true;
};
document.addEventListener(
  "click",
  (event) => {
    const link = event.target instanceof Element && event.target.closest('a[href^="#"]');
    if (link && link.hash) roomFor(link.hash);
  },
  true,
);
document$.subscribe(() => {
  if (window.location.hash && roomFor(window.location.hash)) {
    document.getElementById(decodeURIComponent(window.location.hash.slice(1))).scrollIntoView();
  }
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
