// Measures a rendered page for `make slides-check` (tools/course_render.py runs it in headless
// Chromium over the DevTools protocol). Not loaded by the decks themselves.
// window.courseMeasure(): one record per slide of a reveal.js deck (or one for a plain HTML page):
// its size, the elements that overflow or clip, math errors, unrendered $...$, blank, and its links.
(function () {
  "use strict";
  const SKIP = ".MathJax, .MathJax_Display, .MathJax_Preview, .MathJax_SVG, .MJX_Assistive_MathML, "
    + "#MathJax_Message, #MathJax_Hidden, #MathJax_Font_Test, aside.notes, script, style";

  function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }
  function frames() { return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); }

  async function mathDone() {
    // MathJax 2 runs its work through a queue: a callback queued now runs after what is queued.
    for (let i = 0; i < 100 && !(window.MathJax && MathJax.Hub && MathJax.Hub.queue); i++) {
      if (!document.querySelector("script[src*='MathJax.js']")) return;
      await sleep(50);
    }
    if (window.MathJax && MathJax.Hub) {
      await Promise.race([new Promise(r => MathJax.Hub.Queue(r)), sleep(20000)]);
    }
  }

  async function settle() {
    await mathDone();
    await frames();
    if (window.courseFitDone) await window.courseFitDone();
    await frames();
  }

  function visibleTextNodes(root) {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest(SKIP)) continue;
      out.push(n);
    }
    return out;
  }

  function mathProblems(root) {
    const errors = [];
    root.querySelectorAll(".MathJax .merror, .MathJax_Error, .MathJax_SVG .merror").forEach(e => {
      if (!e.closest("aside.notes")) errors.push("error: " + (e.textContent || "").slice(0, 80));
    });
    for (const n of visibleTextNodes(root)) {
      const el = n.parentElement;
      const text = n.textContent;
      if (text.includes("Math Processing Error")) errors.push("Math Processing Error");
      if (el.closest("pre, code, .jp-CodeCell .jp-InputArea, .jp-RenderedText, textarea")) continue;
      const m = text.match(/\$\$?[^$\n]{1,200}\$\$?|\\\(.{1,200}?\\\)|\\\[.{1,200}?\\\]/);
      if (m) errors.push("unrendered: " + m[0].slice(0, 80));
    }
    return errors;
  }

  function overflowing(root, width, height) {
    // Elements cut off: a box that scrolls or clips what it holds, or content past the slide.
    const found = [];
    for (const e of root.querySelectorAll("div, pre, table, p, ul, ol, li, img, blockquote, h1, h2, h3, h4, figure")) {
      if (e.closest(SKIP)) continue;
      const style = getComputedStyle(e);
      if (style.display === "none" || style.visibility === "hidden") continue;
      const clipX = style.overflowX !== "visible" && e.scrollWidth > e.clientWidth + 2;
      const clipY = style.overflowY !== "visible" && e.scrollHeight > e.clientHeight + 2;
      if ((clipX || clipY) && e.clientWidth > 0 && e.clientHeight > 0) {
        found.push({what: (clipX ? "clips wide " : "clips tall ") + describe(e),
                    by: Math.max(clipX ? e.scrollWidth - e.clientWidth : 0, clipY ? e.scrollHeight - e.clientHeight : 0)});
      }
    }
    return found;
  }

  function describe(e) {
    const cls = (e.className && typeof e.className === "string") ? "." + e.className.trim().split(/\s+/).slice(0, 2).join(".") : "";
    return e.tagName.toLowerCase() + cls;
  }

  function links(root) {
    const out = [];
    root.querySelectorAll("a[href], img[src], script[src], link[href], iframe[src], source[src]").forEach(e => {
      const raw = e.getAttribute("href") || e.getAttribute("src") || "";
      if (!raw || raw.startsWith("#") || raw.startsWith("data:") || raw.startsWith("javascript:")) return;
      out.push({raw: raw, url: e.href || e.src, tag: e.tagName.toLowerCase()});
    });
    return out;
  }

  function isBlank(s) {
    const clone = s.cloneNode(true);
    clone.querySelectorAll("aside.notes, script, style, .course-cont").forEach(e => e.remove());
    const text = clone.textContent.replace(/\s+/g, "");
    return !text && !clone.querySelector("img, svg, canvas, video, iframe, table");
  }

  function heading(s) {
    const h = s.querySelector("h1, h2, h3, h4");
    return h ? h.textContent.replace(/¶/g, "").trim().slice(0, 70) : "";
  }

  async function measureDeck() {
    for (let i = 0; i < 200 && !(window.Reveal && Reveal.isReady && Reveal.isReady()); i++) await sleep(50);
    if (!(window.Reveal && Reveal.isReady())) return {error: "reveal.js did not start"};
    const cfg = Reveal.getConfig();
    const width = cfg.width, height = cfg.height;
    await settle();
    const slides = [];
    const horizontal = Reveal.getHorizontalSlides();
    for (let h = 0; h < horizontal.length; h++) {
      const stack = horizontal[h].querySelectorAll(":scope > section");
      const list = stack.length ? Array.from(stack) : [horizontal[h]];
      for (let v = 0; v < list.length; v++) {
        const s = list[v];
        Reveal.slide(h, stack.length ? v : 0);
        await settle();
        const clipped = overflowing(s, width, height);
        let content = 0;                 // how far down the slide its content reaches
        for (const child of s.children) {
          if (child.tagName !== "ASIDE") content = Math.max(content, child.offsetTop + child.offsetHeight);
        }
        slides.push({
          index: stack.length ? h + "/" + v : String(h),
          title: heading(s),
          height: s.scrollHeight, width: s.scrollWidth, content: content,
          fit: parseFloat(s.dataset.fitScale || "1"),
          clipped: clipped.slice(0, 5),
          math: mathProblems(s).slice(0, 5),
          blank: isBlank(s),
          links: links(s),
        });
      }
    }
    return {kind: "deck", width: width, height: height, slides: slides, links: links(document.head),
            font: fontInUse()};
  }

  function fontInUse() {
    try { return MathJax.OutputJax["HTML-CSS"].fontInUse || null; } catch (e) { return null; }
  }

  async function measurePage() {
    await settle();
    return {kind: "page", slides: [{index: "page", title: heading(document.body), height: 0, width: 0, fit: 1,
            clipped: [], math: mathProblems(document.body).slice(0, 10), blank: false,
            links: links(document.body)}], links: links(document.head), font: fontInUse()};
  }

  window.courseMeasure = function () {
    return document.querySelector(".reveal .slides") ? measureDeck() : measurePage();
  };
  window.courseShow = async function (index) {
    const [h, v] = String(index).split("/").map(Number);
    Reveal.slide(h, v || 0);
    await settle();
    return true;
  };
})();
