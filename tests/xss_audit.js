// Run in a page by tests/test_security_xss.py after the page loaded: waits until the
// trusted control handlers fired (so the payloads' handlers had their chance too), then
// audits the DOM the browser built. Returns what ran, which controls fired, what is
// wrong with the page, and its text.
(async () => {
  const want = __CONTROL_KINDS__;
  const deadline = performance.now() + __DEADLINE_MS__;
  while (!want.every(k => window.__control && window.__control[k]) && performance.now() < deadline) {
    await new Promise(r => setTimeout(r, 25));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await new Promise(r => setTimeout(r, 0));
  const FORBIDDEN = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet',
    'base', 'link', 'meta', 'form', 'input', 'button', 'textarea', 'select', 'option', 'keygen',
    'portal', 'noscript', 'xmp', 'plaintext', 'listing', 'template', 'marquee', 'video', 'audio',
    'source', 'track', 'image', 'feimage', 'foreignobject', 'animate', 'animatemotion',
    'animatetransform', 'set', 'use', 'math', 'handler', 'listener', 'body', 'html', 'head']);
  const URL_ATTRS = new Set(['href', 'xlink:href', 'src', 'action', 'formaction', 'data',
    'poster', 'background', 'ping', 'codebase', 'cite', 'longdesc', 'lowsrc', 'dynsrc',
    'manifest', 'icon']);
  const SAFE = new Set(['http:', 'https:', 'mailto:']);
  const problems = [];
  const where = el => '<' + el.localName + '> ' + (el.outerHTML || '').slice(0, 160);
  const inHead = el => el.closest('head') !== null;
  for (const el of document.querySelectorAll('*')) {
    if (el.closest('[data-control]') || el.hasAttribute('data-harness')) continue;
    const tag = el.localName.toLowerCase();
    const structural = tag === 'html' || tag === 'head' || tag === 'body' ||
      (inHead(el) && (tag === 'meta' || tag === 'title' || tag === 'style'));
    if (FORBIDDEN.has(tag) && !structural) problems.push('element ' + where(el));
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      if (name.startsWith('on')) problems.push('handler ' + name + ' on ' + where(el));
      if (name === 'srcdoc' || name === 'srcset') problems.push(name + ' on ' + where(el));
      if (URL_ATTRS.has(name)) {
        let proto = null;
        try { proto = new URL(a.value, document.baseURI).protocol; } catch (e) { proto = null; }
        if (proto !== null && !SAFE.has(proto)) problems.push(name + '=' + a.value.slice(0, 80) + ' on ' + where(el));
      }
      if (name === 'style' && /url\(|expression|javascript:|@import/i.test(a.value)) problems.push('style on ' + where(el));
    }
    if (tag === 'style' && /url\(|expression|javascript:|@import/i.test(el.textContent)) problems.push('stylesheet ' + where(el));
  }
  return {
    ran: window.__ran ? window.__ran.slice() : ['the harness was replaced'],
    controls: Object.keys(window.__control || {}),
    problems: problems,
    text: (document.head ? document.head.textContent : '') + (document.body ? document.body.textContent : ''),
    url: location.href,
  };
})()
