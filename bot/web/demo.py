"""GET /: "Example Shop", a fictional shop page with the chat widget; GET /feedback: the rating
form on its own page (for links in e-mails and receipts).

A newcomer runs ``make run``, opens http://127.0.0.1:8080/ and talks to the bot at once. Both
pages embed the widget exactly as a customer's site would: one script tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.core import Core

STYLE = """<style>
body{margin:0;font-family:Georgia,serif;color:#1f2937;background:#fafaf9}
header{background:#14532d;color:#fff;padding:18px 28px}header h1{margin:0;font-size:28px}
nav a{color:#d1fae5;margin-right:16px}main{max-width:960px;margin:0 auto;padding:24px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:18px}
.card{background:#fff;border:1px solid #e7e5e4;border-radius:10px;padding:16px}
.card .price{font-weight:bold;color:#14532d}
.hint{background:#ecfdf5;border-radius:10px;padding:14px}
footer{color:#6b7280;font-size:14px;padding:24px;text-align:center}
</style>"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>Example Shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">""" + STYLE + """</head>
<body><header><h1>Example Shop</h1>
<nav aria-label="Shop"><a href="/">Home</a><a href="#products">Products</a>
<a href="/feedback">Rate us</a></nav></header>
<main>
<p class="hint"><strong>This is crmbot's demo page.</strong> The round button at the bottom
right opens the support chat: ask about delivery, returns, payment or your order, in English,
Swedish or Latvian. Type <code>/human</code> to hand the chat to a person.
Operator pages: <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>.</p>
<h2 id="products">Products</h2>
<div class="grid">
<div class="card"><h3>Linen apron</h3><p>Stone-washed, one size.</p>
<p class="price">29 EUR</p></div>
<div class="card"><h3>Oak cutting board</h3><p>Oiled, 40 × 25 cm.</p>
<p class="price">45 EUR</p></div>
<div class="card"><h3>Enamel mug</h3><p>350 ml, dishwasher safe.</p>
<p class="price">12 EUR</p></div>
<div class="card"><h3>Wool blanket</h3><p>Latvian wool, 130 × 180 cm.</p>
<p class="price">89 EUR</p></div>
</div></main>
<footer>Example Shop is fictional. Powered by crmbot.</footer>
<script src="/widget.js" defer></script>
</body></html>"""

FEEDBACK_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>Example Shop: rate us</title>
<meta name="viewport" content="width=device-width, initial-scale=1">""" + STYLE + """</head>
<body><header><h1>Example Shop</h1></header>
<main><p class="hint">The feedback form opens at the bottom right.</p></main>
<script src="/widget.js" data-open="feedback" defer></script>
</body></html>"""


async def index(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def feedback_page(request: web.Request) -> web.Response:
    return web.Response(text=FEEDBACK_PAGE, content_type="text/html")


def setup(app: web.Application, core: Core) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/feedback", feedback_page)
