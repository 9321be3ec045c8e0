"""The widget in a real browser against the real server: hostile comments stay text, hostile host CSS
cannot hide or break it, and it can be used with a keyboard and a screen reader.

Comments are seeded through an in-process app sharing the live server's Redis and secret key, so the
live server's per-IP comment limit does not get in the way. Payloads try to set ``window.__pwned`` or
open a dialog (which the ``new_page`` fixture turns into a failure); pages are opened with
``bypass_csp`` so that only the widget's and the templates' escaping stands between a payload and
its execution, not the Content-Security-Policy the pages also carry.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from playwright.sync_api import Page, expect

from service import create_app
from service.core.demo import DEMO_POLL, DEMO_QUESTION
from service.schemas import BLANK_CHARACTERS
from tests.conftest import ADMIN_TOKEN, ALLOWED_ORIGIN, ON_CLUSTER

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HOST = "[data-yaynay-poll]"
PWNED = "window.__pwned=1"

# Comment bodies. Each one would run script (set __pwned or open a dialog) or inject markup if it
# were ever treated as HTML, a URL or a template instead of as text.
BODY_PAYLOADS = [
    f"<script>{PWNED}</script>",
    f'<img src=x onerror="{PWNED}">',
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    f"<svg><script>{PWNED}</script></svg>",
    "javascript:alert(1)",
    f'<a href="javascript:{PWNED}">click me</a>',
    "<body onload=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    f'"><script>{PWNED}</script>',
    "'><img src=x onerror=alert(1)>",
    f"</textarea><script>{PWNED}</script>",
    "</p></li></ol></section><script>alert(1)</script>",
    '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "{{7*7}} ${7*7} <%= 7*7 %> {% if 1 %}49{% endif %} #{7*7}",
    "&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62; &amp;lt;",
    '<style>@import "javascript:alert(1)"; * { background: url("javascript:alert(1)") }</style>',
    '<div style="width: expression(alert(1)); behavior: url(x.htc)">css expression</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<details open ontoggle=alert(1)>",
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    '<embed src="javascript:alert(1)">',
    "<marquee onstart=alert(1)>hi</marquee>",
    "<video><source onerror=alert(1)></video>",
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<template><img src=x onerror=alert(1)></template>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<x contenteditable autofocus onfocus=alert(1)>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e \\x3cimg src=x onerror=alert(1)\\x3e",
    "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=alert() )//%0D%0A%0d%0a//</stYle/</titLe/"
    "</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=alert()//>\\x3e",
    "\u202egnp.exe\u202c <img src=x onerror=alert(1)> \u200f\u2066RTL\u2069 \u0085 \ufeff",
    "<scr\x00ipt>alert(1)</scr\x00ipt> null\x00bytes \x07bell \x1b[31mansi",
    "<\u200bscript>alert(1)</script> java\u200bscript:alert(1)",
    "line one\r\n<script>alert(1)</script>\rline three\n\n\tindented",
    "   \t <b onmouseover=alert(1)>bold</b>   \n",
    "\U0001f600\U0001f44d\U0001f3fd <img src=x onerror=alert(1)> \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "</script>\u2028<script>alert(1)</script>\u2029",
    ("<img src=x onerror=alert(1)>" * 200)[:5000],
]

# Author names (at most 80 characters), each given to one of the comments above.
AUTHOR_PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    f"<script>{PWNED}</script>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "{{7*7}}",
    "\u202eevil\u202c <b>bold</b>",
    "\U0001f608 <details open ontoggle=alert(1)>",
    "&lt;b&gt;Bob&lt;/b&gt;",
    "Robert'); DROP TABLE comments;--",
    ("<b onmouseover=alert(1)>" * 4)[:80],
]

# Websites the API accepts: these authors' names become links.
SAFE_WEBSITES = ["https://reader.example/about", 'https://reader.example/?q="><svg/onload=alert(1)>']
HOSTILE_WEBSITES = ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)"]

# What the widget itself puts in its shadow root; anything else came from a comment.
WIDGET_TAGS = {
    "section",
    "h2",
    "h3",
    "div",
    "button",
    "span",
    "p",
    "ol",
    "li",
    "a",
    "time",
    "form",
    "label",
    "small",
    "input",
    "textarea",
}
COMMENT_TAGS = {"li", "p", "span", "a", "time", "button", "ol"}  # button: Reply; ol: replies
EMBED_COMMENT_TAGS = {"li", "p", "span", "time", "a"}  # a: http(s) links in bodies

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def normalised(text: str) -> str:
    """What the API promises to keep of a text: \\n line breaks, no control characters, trimmed of
    blank space as the API document defines it (ECMAScript's \\s, schemas.BLANK)."""
    return _CONTROL_CHARACTERS.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip(BLANK_CHARACTERS)


class Seeder:
    """Writes through an in-process app on the live server's Redis, without its comment rate limit."""

    def __init__(self, client):
        self.client = client

    def poll(self, poll_id: str = DEMO_POLL, question: str = DEMO_QUESTION) -> None:
        response = self.client.put(f"/api/v1/polls/{poll_id}", json={"question": question}, headers=ADMIN)
        assert response.status_code in (200, 201), response.json

    def comment(self, author: str, body: str, thread: str = DEMO_POLL, **fields) -> str:
        response = self.client.post(
            f"/api/v1/threads/{thread}/comments", json={"author": author, "body": body, **fields}
        )
        assert response.status_code == 202, (author, body, response.json)
        return response.json["id"]

    def approve(self, ids: list[str]) -> None:
        decisions = [{"id": comment_id, "action": "approve"} for comment_id in ids]
        response = self.client.post("/api/v1/moderation/decisions", json={"decisions": decisions}, headers=ADMIN)
        assert response.status_code == 200, response.json
        assert [r["id"] for r in response.json["results"] if not r["ok"]] == []

    def published(self, thread: str = DEMO_POLL) -> list[dict]:
        response = self.client.get(f"/api/v1/threads/{thread}/comments?limit=100")
        assert response.status_code == 200, response.json
        return response.json["comments"]


@pytest.fixture
def seed(live_server, redis_url, tmp_path) -> Seeder:
    """A Seeder for the live server's data; the demo poll exists."""
    app = create_app(
        {
            "REDIS_URL": redis_url,
            "REDIS_CLUSTER": ON_CLUSTER,
            "SECRET_KEY": "live-secret",
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "COMMENT_RATE_LIMITS": ["1000/minute"],
            "KEY_PREFIX": "yaynay",
            "VAR_DIR": str(tmp_path / "seed-var"),
        }
    )
    seeder = Seeder(app.test_client())
    seeder.poll()
    return seeder


@pytest.fixture
def hostile_thread(seed) -> list[dict]:
    """Every payload as an approved comment body (some with hostile author names), plus two whose
    authors link to their (valid, one of them hostile-looking) https websites; the published list."""
    ids = []
    for number, body in enumerate(BODY_PAYLOADS):
        author = AUTHOR_PAYLOADS[number] if number < len(AUTHOR_PAYLOADS) else f"Reader {number}"
        ids.append(seed.comment(author, body))
    for number, website in enumerate(SAFE_WEBSITES):
        ids.append(seed.comment(f"Linked reader {number}", f"My site is {website}", website=website))
    seed.approve(ids)
    published = seed.published()
    assert len(published) == len(ids) <= 50  # one page of the widget
    return published


def host(page: Page):
    return page.locator(HOST)


def wait_for_comments(page: Page, count: int) -> None:
    widget = host(page)
    expect(widget.locator("h3").first).to_have_text(f"{count} Response{'' if count == 1 else 's'}")
    expect(widget.locator("ol > li")).to_have_count(count)


def shadow_report(page: Page) -> dict:
    """Tags in the widget's shadow root and in its comment list, inline handlers, and links."""
    return host(page).evaluate("""host => {
        const root = host.shadowRoot;
        const all = [...root.querySelectorAll("*")];
        return {
            tags: [...new Set(all.map(e => e.localName))].sort(),
            commentTags: [...new Set([...root.querySelectorAll("ol *")].map(e => e.localName))].sort(),
            handlers: all.flatMap(e => [...e.attributes].filter(a => /^on/i.test(a.name))
                                       .map(a => `${e.localName}[${a.name}]`)),
            links: [...root.querySelectorAll("ol p.m a")].map(a => ({href: a.getAttribute("href"),
                     rel: a.getAttribute("rel"), text: a.textContent})),
            bodyLinks: [...root.querySelectorAll("ol p.txt a")].map(a => ({href: a.getAttribute("href"),
                     rel: a.getAttribute("rel"), text: a.textContent})),
        };
    }""")


def assert_safe_body_links(links: list[dict]) -> None:
    """Links made from comment bodies: http(s) only, shown as their address, nofollow ugc noopener."""
    assert links  # the linked readers' bodies name their sites
    for link in links:
        assert re.match(r"^https?://", link["href"]), link
        assert link["text"] == link["href"] and link["rel"] == "nofollow ugc noopener", link


def assert_nothing_ran(page: Page) -> None:
    """No payload set __pwned or added an element with an inline handler anywhere in the document."""
    assert page.evaluate("typeof window.__pwned") == "undefined"
    handlers = page.evaluate("""() => [...document.querySelectorAll("*")].flatMap(
        e => [...e.attributes].filter(a => /^on/i.test(a.name)).map(a => `${e.localName}[${a.name}]`))""")
    assert handlers == []


def assert_same_texts(shown: list[str], stored: list[str]) -> None:
    missing = Counter(stored) - Counter(shown)
    extra = Counter(shown) - Counter(stored)
    assert not missing and not extra, {"missing": list(missing), "extra": list(extra)}


def test_the_api_keeps_hostile_comments_verbatim_and_refuses_script_websites(seed, hostile_thread):
    by_body = {comment["body"]: comment for comment in hostile_thread}
    for number, payload in enumerate(BODY_PAYLOADS):
        assert normalised(payload) in by_body, payload
        if number < len(AUTHOR_PAYLOADS):
            assert by_body[normalised(payload)]["author"] == normalised(AUTHOR_PAYLOADS[number])
    for website in HOSTILE_WEBSITES:
        response = seed.client.post(
            f"/api/v1/threads/{DEMO_POLL}/comments",
            json={"author": "Linker", "body": f"See {website}", "website": website},
        )
        assert response.status_code == 422, (website, response.json)
        assert list(response.json["errors"]["json"]) == ["website"]


def test_a_comment_with_a_lone_surrogate_is_refused_not_a_server_error(seed):
    # Valid JSON (RFC 8259 allows the escape), and what JSON.stringify sends for a lone surrogate.
    response = seed.client.post(
        f"/api/v1/threads/{DEMO_POLL}/comments",
        content_type="application/json",
        data=b'{"author": "Surrogate", "body": "half an emoji: \\ud83d"}',
    )
    assert response.status_code in (202, 422), response.get_data(as_text=True)


def test_hostile_comments_render_as_text_in_the_widget(new_page, live_server, hostile_thread):
    page = new_page(f"{live_server}/", bypass_csp=True)
    wait_for_comments(page, len(hostile_thread))
    widget = host(page)

    assert_same_texts(widget.locator("ol > li p.txt").all_text_contents(), [c["body"] for c in hostile_thread])
    assert_same_texts(widget.locator("ol > li .who").all_text_contents(), [c["author"] for c in hostile_thread])

    report = shadow_report(page)
    assert set(report["tags"]) <= WIDGET_TAGS, report["tags"]
    assert set(report["commentTags"]) <= COMMENT_TAGS, report["commentTags"]
    assert report["handlers"] == []
    assert sorted(link["href"] for link in report["links"]) == sorted(SAFE_WEBSITES)
    for link in report["links"]:
        assert {"nofollow", "ugc"} <= set(link["rel"].split()), link
        assert link["text"].startswith("Linked reader")
    assert_safe_body_links(report["bodyLinks"])
    assert_nothing_ran(page)


def test_hostile_comments_render_as_text_on_the_iframe_page(new_page, live_server, hostile_thread):
    page = new_page(f"{live_server}/embed/{DEMO_POLL}", bypass_csp=True)
    comments = page.locator("ol.comments > li")
    expect(comments).to_have_count(len(hostile_thread))

    assert_same_texts(comments.locator(".body").all_text_contents(), [c["body"] for c in hostile_thread])
    assert_same_texts(comments.locator(".author").all_text_contents(), [c["author"] for c in hostile_thread])
    tags = page.evaluate("""() => [...new Set([...document.querySelectorAll("ol.comments *")]
                                              .map(e => e.localName))].sort()""")
    assert set(tags) <= EMBED_COMMENT_TAGS, tags
    assert_safe_body_links(
        page.evaluate("""() => [...document.querySelectorAll("ol.comments .body a")].map(a => ({
            href: a.getAttribute("href"), rel: a.getAttribute("rel"), text: a.textContent}))""")
    )
    # The page's one script is our own static date formatter and resizer.
    foreign = 'script:not([src$="/static/embed-page.js"])'
    assert (
        page.locator(f"{foreign}, iframe, object, embed, svg, math, details, img, base, meta[http-equiv]").count() == 0
    )
    assert_nothing_ran(page)


HOSTILE_CSS = (
    "* { display: none } html, body { display: block } "
    "button { color: white !important; background: white !important } "
    "div { font-size: 2px; color: white }"
)


def open_hostile_article(new_page, live_server) -> Page:
    """A made-up article on the allowed origin whose CSS hides everything and whitens buttons and text."""
    article = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A hostile blog</title><style>{HOSTILE_CSS}</style></head>
<body><h1>Mini backpacks</h1><p>Article text the stylesheet hides.</p><div>Hidden too.</div>
<div data-yaynay-poll="{DEMO_POLL}"></div><script src="{live_server}/widget.js" async></script>
</body></html>"""
    # A public https page reaching the loopback test server needs Chromium's local network permission;
    # a real deployment is public, so real readers are never asked.
    page = new_page(permissions=["local-network-access"])
    page.route(
        f"{ALLOWED_ORIGIN}/article", lambda route: route.fulfill(status=200, content_type="text/html", body=article)
    )
    page.goto(f"{ALLOWED_ORIGIN}/article")
    return page


def computed(locator, *properties: str) -> dict:
    return locator.evaluate(
        "(el, names) => Object.fromEntries(names.map(n => [n, getComputedStyle(el)[n]]))", list(properties)
    )


def test_hostile_host_css_cannot_hide_the_widget(new_page, live_server, seed, output_dir):
    page = open_hostile_article(new_page, live_server)
    widget = host(page)
    question = widget.locator("h2#q")
    expect(question).to_have_text(DEMO_QUESTION)  # the widget reached the live API cross-origin
    expect(page.locator("h1")).to_be_hidden()  # the host page's CSS is in force

    expect(widget).to_be_visible()
    box = widget.bounding_box()
    assert box["width"] >= 200 and box["height"] >= 100, box
    yay = widget.locator("button.yay")
    expect(yay).to_be_visible()
    colours = computed(yay, "color", "backgroundColor")
    assert colours["color"] != colours["backgroundColor"], colours
    expect(question).to_be_visible()
    assert float(computed(question, "fontSize")["fontSize"].removesuffix("px")) >= 12

    yay.click()
    expect(widget.locator("p.total")).to_contain_text("1 vote")
    expect(yay).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(output_dir / "widget-hostile-css.png"), full_page=True)


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two computed ``rgb(...)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", colour)[:3]]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_hostile_host_css_cannot_whiten_or_shrink_the_widget_text(new_page, live_server, seed):
    page = open_hostile_article(new_page, live_server)
    widget = host(page)
    expect(widget.locator("h2#q")).to_have_text(DEMO_QUESTION)
    panel = computed(widget.locator("section.w"), "backgroundColor")["backgroundColor"]
    for selector in ("h2#q", "p.total", "button.nay", "h3 >> nth=0", "label[for=f-body]"):
        style = computed(widget.locator(selector), "color", "fontSize", "backgroundColor")
        background = style["backgroundColor"] if selector.startswith("button") else panel
        assert float(style["fontSize"].removesuffix("px")) >= 12, (selector, style)
        assert contrast(style["color"], background) >= 4.5, (selector, style, background)


def test_the_widget_buttons_are_real_toggle_buttons(new_page, live_server, seed):
    page = new_page(f"{live_server}/")
    widget = host(page)
    yay, nay = widget.locator("button.yay"), widget.locator("button.nay")
    expect(widget.locator("h2#q")).to_have_text(DEMO_QUESTION)
    for button in (yay, nay):
        assert button.evaluate("b => b.localName") == "button"
        expect(button).to_have_attribute("aria-pressed", "false")
    expect(widget.get_by_role("button", name="YAY")).to_have_count(1)

    nay.click()
    expect(nay).to_have_attribute("aria-pressed", "true")
    expect(yay).to_have_attribute("aria-pressed", "false")
    yay.click()
    expect(yay).to_have_attribute("aria-pressed", "true")
    expect(nay).to_have_attribute("aria-pressed", "false")
    expect(widget.locator("p.total")).to_have_text("1 vote · You voted YAY (you can change it)")


def test_a_keyboard_user_can_vote_and_sees_the_focus_and_hears_the_result(new_page, live_server, seed):
    page = new_page(f"{live_server}/")
    widget = host(page)
    yay = widget.locator("button.yay")
    expect(widget.locator("h2#q")).to_have_text(DEMO_QUESTION)
    live_region = widget.locator("[aria-live]")
    expect(live_region).to_have_count(1)
    expect(live_region).to_have_text("")

    focused = "() => document.activeElement?.shadowRoot?.activeElement?.className ?? null"
    for _ in range(20):  # Tab through the page until the YAY button has the focus
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "yay":
            break
    assert page.evaluate(focused) == "yay"
    outline = computed(yay, "outlineStyle", "outlineWidth")
    assert outline["outlineStyle"] != "none" and float(outline["outlineWidth"].removesuffix("px")) >= 2, outline

    page.keyboard.press("Enter")
    expect(yay).to_have_attribute("aria-pressed", "true")
    expect(widget.locator("p.total")).to_contain_text("1 vote")
    expect(live_region).to_contain_text("YAY 100%, NAY 0%")
