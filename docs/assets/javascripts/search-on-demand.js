// The search index holds the text of every page (more bytes than any one page's HTML), and the
// theme requests it as soon as any page loads, although most readers never search. This
// script, loaded before the theme's, holds that one request back until search is opened: from the
// search box, its button on a phone, or the keys "/", "s" and "f" (the theme opens search by
// checking the hidden #__search box, which fires "change"). Search then works as before; a
// reader who never opens it never downloads the index. Nothing else is touched.
(() => {
  const INDEX = /\/search\/search_index\.json$/;
  const held = new WeakSet();
  const waiting = [];
  let opened = false;
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;

  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    if (INDEX.test(new URL(url, document.baseURI).pathname)) held.add(this);
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (...args) {
    if (!opened && held.has(this)) {
      waiting.push(() => send.apply(this, args));
      return;
    }
    return send.apply(this, args);
  };

  const release = () => {
    if (opened) return;
    opened = true;
    for (const go of waiting.splice(0)) go();
  };
  document.addEventListener("change", (event) => {
    if (event.target.id === "__search" && event.target.checked) release();
  });
  document.addEventListener("focusin", (event) => {
    if (event.target instanceof Element && event.target.closest(".md-search")) release();
  });
})();
