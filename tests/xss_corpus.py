"""A shared XSS corpus: strings a user (or an imported archive) may put in any text field.

Every payload, if it ran, would call ``__xss(<id>)``, call ``alert``, set
``document.title``, or follow a ``javascript:`` / ``data:`` / ``vbscript:`` URL; the
browser harness (``tests/test_security_xss.py``) defines the first three as recorders and
audits every URL the page holds. Kinds: script elements and breakouts from every context a
renderer writes into (attributes, ``<style>``, ``<title>``, ``<textarea>``, ``<code>``,
comments), event-handler attributes that fire without a click (``onerror``, ``onload``,
``onfocus`` with ``autofocus``, ``ontoggle``, ``onanimationstart``, ``onbegin``), links and
sources with unsafe schemes spelled to slip past filters (case, entities, whitespace and
control characters, Markdown inline, image, reference and autolink syntax, the empty-link
form of issue 15), SVG and MathML vectors (including mutation XSS through foreign content),
and broken markup.
"""

from __future__ import annotations

# (id, payload). Ids name the payload in failures; keep them unique.
PAYLOADS: list[tuple[str, str]] = [
    # --- script elements and breakouts -------------------------------------------------------
    ("script", "<script>__xss('script')</script>"),
    ("script-src", "<SCRIPT SRC=data:text/javascript,__xss('script-src')></SCRIPT>"),
    ("script-split", "<scr<script>ipt>__xss('script-split')</scr</script>ipt>"),
    ("double-lt", "<<script>script>__xss('double-lt')<</script>/script>"),
    ("attr-dq", "\"><script>__xss('attr-dq')</script><b x=\""),
    ("attr-sq", "'><script>__xss('attr-sq')</script><b x='"),
    (
        "attr-handler",
        '" onmouseover="__xss(\'attr-handler\')" autofocus onfocus="__xss(\'af\')" x="',
    ),
    ("style-break", "</style><script>__xss('style-break')</script>"),
    ("title-break", "</title><script>__xss('title-break')</script>"),
    ("textarea-break", "</textarea><script>__xss('textarea-break')</script>"),
    ("code-break", "</code></pre><script>__xss('code-break')</script>"),
    ("comment-break", "--><script>__xss('comment-break')</script><!--"),
    ("cdata-break", "]]><script>__xss('cdata-break')</script>"),
    ("svg-text-break", "</text></svg><script>__xss('svg-text-break')</script>"),
    ("rlo", "\u202e<script>__xss('rlo')</script>"),
    (
        "zero-width",
        "<scr\u200bipt>__xss('zero-width')</scr\u200bipt><img src=x oner\u200bror=__xss('zw')>",
    ),
    # --- handlers that fire on their own -----------------------------------------------------
    ("img-onerror", "<img src=x onerror=__xss('img-onerror')>"),
    ("issue-img", '<img/src="x"/onerror="document.title=\'pwned\'">'),
    ("entity-handler", "<img src=x onerror=&#95;&#95;xss&#40;'entity-handler'&#41;>"),
    ("svg-onload", "<svg onload=__xss('svg-onload')>"),
    ("svg-animate", "<svg><animate onbegin=__xss('svg-animate') attributeName=x dur=1s>"),
    ("body-onload", "<body onload=__xss('body-onload')>"),
    ("autofocus", "<input autofocus onfocus=__xss('autofocus')>"),
    ("details-toggle", "<details open ontoggle=__xss('details-toggle')>"),
    (
        "animation",
        '<style>@keyframes x{}</style><b style="animation-name:x" '
        "onanimationstart=\"__xss('animation')\">",
    ),
    ("video-source", "<video><source onerror=\"__xss('video-source')\"></video>"),
    ("marquee", "<marquee onstart=__xss('marquee')>x</marquee>"),
    ("hover", '<div onmouseover="__xss(\'hover\')" style="position:fixed;inset:0">x</div>'),
    (
        "custom-element",
        "<x-y onclick=__xss('custom-element') tabindex=1 autofocus onfocus=__xss('cf')>",
    ),
    # --- frames, objects and navigation ------------------------------------------------------
    ("iframe-js", "<iframe src=\"javascript:parent.__xss('iframe-js')\"></iframe>"),
    (
        "iframe-srcdoc",
        "<iframe srcdoc=\"<script>parent.__xss('iframe-srcdoc')</script>\"></iframe>",
    ),
    ("object", "<object data=\"javascript:__xss('object')\"></object>"),
    ("embed", "<embed src=\"javascript:__xss('embed')\">"),
    ("base", "<base href=\"javascript:__xss('base')//\">"),
    (
        "meta-refresh",
        '<meta http-equiv="refresh" content="0;url=javascript:__xss(\'meta-refresh\')">',
    ),
    ("formaction", "<form><button formaction=\"javascript:__xss('formaction')\">x</button></form>"),
    ("link-css", "<link rel=stylesheet href=\"javascript:__xss('link-css')\">"),
    # --- links in HTML -----------------------------------------------------------------------
    ("a-js", "<a href=\"javascript:__xss('a-js')\">x</a>"),
    ("a-entity", "<a href=\"&#x6A;avascript:__xss('a-entity')\">x</a>"),
    ("a-control", "<a href=\" &#14; javascript:__xss('a-control')\">x</a>"),
    ("bare-js", "javascript:__xss('bare-js')"),
    # --- links in Markdown -------------------------------------------------------------------
    ("md-js", "[click](javascript:__xss('md-js'))"),
    ("md-case-space", "[click]( JaVaScRiPt:__xss('md-case-space') )"),
    ("md-tab", "[click](java\tscript:__xss('md-tab'))"),
    ("md-entity-hex", "[click](&#x6A;avascript:__xss('md-entity-hex'))"),
    ("md-entity-dec", "[click](&#106;avascript:__xss('md-entity-dec'))"),
    ("md-entity-tab", "[click](java&#x09;script:__xss('md-entity-tab'))"),
    ("md-entity-colon", "[click](javascript&colon;__xss('md-entity-colon'))"),
    ("md-angle", "[click](<javascript:__xss('md-angle')>)"),
    ("md-image", "![img](javascript:__xss('md-image'))"),
    ("md-data", "[d](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3MoJ2RhdGEnKTwvc2NyaXB0Pg==)"),
    ("md-vbscript", "[v](vbscript:msgbox('md-vbscript'))"),
    ("md-ref", "[ref]: javascript:__xss('md-ref')\n\n[ref]"),
    ("md-autolink", "<javascript:__xss('md-autolink')>"),
    ("md-title", '[x](https://ok.example "t" onmouseover="__xss(\'md-title\')")'),
    ("md-href-quote", "[x](https://ok.example/\"onmouseover=\"__xss('md-href-quote'))"),
    # issue 15: the empty-link branch emitted the URL as raw HTML.
    ("issue-empty-link", '[](http://x/<img/src="x"/onerror="document.title=\'pwned\'">)'),
    ("empty-link-js", "[](javascript:__xss('empty-link-js'))"),
    ("empty-link-lt", "[](<img src=x onerror=__xss('empty-link-lt')>)"),
    ("empty-link-svg", "[](https://a.b/<svg/onload=__xss('empty-link-svg')>)"),
    ("autolink-break", "https://a.b/\"><img src=x onerror=__xss('autolink-break')>"),
    ("md-code", "`</code><img src=x onerror=__xss('md-code')>`"),
    ("md-bold", "**<img src=x onerror=__xss('md-bold')>**"),
    ("md-em", "_<svg onload=__xss('md-em')>_"),
    ("md-heading", "# <img src=x onerror=__xss('md-heading')>\n- <svg onload=__xss('md-list')>"),
    ("md-fence", "```\n</code></pre><img src=x onerror=__xss('md-fence')>\n```"),
    # --- SVG and MathML ----------------------------------------------------------------------
    ("svg-a", "<svg><a xlink:href=\"javascript:__xss('svg-a')\"><text x=0 y=20>x</text></a></svg>"),
    ("svg-script", "<svg><script>__xss('svg-script')</script></svg>"),
    (
        "svg-foreign",
        "<svg><foreignObject><img src=x onerror=__xss('svg-foreign')></foreignObject></svg>",
    ),
    (
        "svg-use",
        "<svg><use href=\"data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'>"
        "<image href='x' onerror='__xss(1)'/></svg>#x\"/></svg>",
    ),
    ("math-href", "<math href=\"javascript:__xss('math-href')\">x</math>"),
    ("mxss-math", "<math><mtext><table><mglyph><style><img src=x onerror=__xss('mxss-math')>"),
    ("mxss-svg", "<svg></p><style><a id=\"</style><img src=x onerror=__xss('mxss-svg')>\">"),
    # --- broken markup -----------------------------------------------------------------------
    ("unterminated", "<img src=x onerror=__xss('unterminated')//"),
    ("noscript", "<noscript><p title=\"</noscript><img src=x onerror=__xss('noscript')>\">"),
    ("comment", "<!--<img src=\"--><img src=x onerror=__xss('comment')//\">"),
    ("unclosed-title", "<title>"),
    ("unclosed-textarea", "<textarea>"),
    ("unclosed-style", "<style>"),
    ("plaintext", "<plaintext>"),
    ("alert", "<img src=x onerror=alert('alert')>"),
]

IDS = [pid for pid, _ in PAYLOADS]
assert len(set(IDS)) == len(IDS), "payload ids must be unique"
