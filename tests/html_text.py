"""What a page's HTML shows, read as the browser reads it: a value is shown as text, never as markup."""

from __future__ import annotations

from html.parser import HTMLParser


class _Read(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.texts.extend(v for _, v in attrs if v)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def assert_shown_as_text(html: str, value: str) -> None:
    """``value`` (markup inside) is in the page as text or as an attribute's value, and made no element of its
    own: no <img>, no handler attribute, no script but ours."""
    page = _Read()
    page.feed(html)
    assert any(value in t for t in page.texts), f"{value!r} is not shown"
    assert not [a for _, a in page.tags if "onerror" in a], "an attribute was injected"
    assert not [t for t, _ in page.tags if t == "img"], "an element was injected"
    scripts = [a for t, a in page.tags if t == "script"]
    assert all((a.get("src") or "").startswith("/admin/static/") or a.get("type") == "application/json"
               for a in scripts), scripts
