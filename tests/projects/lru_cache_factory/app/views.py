"""Views: called by the server's worker threads."""
from .settings import get_cache


def product_page(product_id):
    cache = get_cache()
    page = cache.lookup(product_id)
    if page is None:
        page = f"<h1>product {product_id}</h1>"
        cache.store(product_id, page)
    return page


def cache_stats():
    return {"hits": get_cache().hits}
