"""Markdown to one self-contained HTML page (markdown-it-py): CSS inline, images embedded as data URIs.

The page loads nothing from anywhere: every local image the markdown shows (``![plot](muvera/plot.png)``,
relative to ``base_dir``) becomes a ``data:image/png;base64,...`` URI, so ``index.html`` can be mailed,
attached to a CI run or opened from any folder. Headings get GitHub's anchor ids (:func:`slug`), so a table
of contents written as ``[MUVERA](#muvera)`` works both here and in the markdown on GitHub. Raw HTML in
the markdown is escaped, not passed through.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path
from typing import Any

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #1f2328;
       max-width: 1400px; margin: 2rem auto; padding: 0 1.5rem; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { margin-top: 1.6rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; display: block; overflow-x: auto;
        max-width: 100%; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; }
th { white-space: normal; vertical-align: bottom; }  /* long headers wrap; numbers never do */
td { white-space: nowrap; max-width: 36rem; overflow: hidden; text-overflow: ellipsis; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfcfd; }
td:first-child { font-weight: 500; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em;
       background: #f3f4f6; padding: .1em .3em; border-radius: 4px; }
pre { background: #f6f8fa; padding: .8rem 1rem; border-radius: 6px; overflow-x: auto; }
pre code { background: none; padding: 0; }
img { max-width: 100%; height: auto; display: block; margin: .8rem 0; border: 1px solid #eaeef2; }
blockquote { margin: 0; padding: .2rem 1rem; color: #59636e; border-left: 4px solid #d0d7de; }
"""


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to ``-`` (``"2. MUVERA: FDE"`` ->
    ``"2-muvera-fde"``)."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def data_uri(path: Path) -> str:
    """``data:<mime>;base64,<bytes>`` of a local file."""
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def is_local(src: str) -> bool:
    """Whether ``src`` names a local file (not ``http:``, ``data:``, an anchor or an absolute URL)."""
    return bool(src) and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^#|^/", src)


def markdown_to_html(markdown: str, base_dir: str | Path, title: str) -> str:
    """A whole HTML document for ``markdown``; local images (relative to ``base_dir``) embedded.

    Raises:
        FileNotFoundError: an image the markdown shows does not exist (callers check images first).
    """
    from markdown_it import MarkdownIt

    base = Path(base_dir)
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(markdown)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and i + 1 < len(tokens):
            token.attrSet("id", slug(tokens[i + 1].content))
        for child in token.children or ():
            src = str(child.attrGet("src") or "")
            if child.type == "image" and is_local(src):
                child.attrSet("src", data_uri(base / src))
    body = md.renderer.render(tokens, md.options, {})
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def image_links(markdown: str) -> list[str]:
    """The local image sources of ``markdown`` in order (``![..](src)``), as markdown-it parses them."""
    from markdown_it import MarkdownIt

    found: list[Any] = []
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        found += [c.attrGet("src") for c in token.children or () if c.type == "image"]
    return [str(src) for src in found if is_local(str(src))]
